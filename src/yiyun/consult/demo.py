"""Demo consultations in every state across several community health centres, so each
worklist (requesting doctor, dispatcher, specialist, authority) shows something.
Idempotent: nothing is added once the demo has consultations."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.consult import pdf, signing
from yiyun.consult.models import (
    Answer,
    Availability,
    Consult,
    ConsultExpert,
    ConsultKind,
    Opinion,
    Urgency,
)
from yiyun.consult.opinion import SEX_ZH, TITLES_ZH, URGENCY_ZH
from yiyun.consult.service import mask_name, number
from yiyun.core.clock import DISTRICT_TZ, district, now
from yiyun.core.crypto import FieldCipher
from yiyun.core.storage import LocalStore
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.records.access import age_on
from yiyun.records.enums import ConsentPurpose, DocumentKind
from yiyun.records.models import Consent, Document, Patient
from yiyun.settings import Settings, blob_keys, secret

# (state, urgency, kind, reason, hours from now of the booking, diagnosis codes)
CASES = (
    ("draft", "routine", "single", "血糖控制不佳，拟请内分泌科会诊", None, ()),
    ("requested", "emergency", "single", "急性胸痛2小时，心电图ST段改变", None, ()),
    ("requested", "urgent", "mdt", "多发慢病合并用药复杂，请多学科会诊", None, ()),
    ("assigned", "urgent", "single", "反复头晕伴血压波动", 3, ()),
    ("accepted", "routine", "single", "冠心病支架术后胸闷复发", 0.25, ()),
    ("in_session", "urgent", "single", "心衰加重，评估调整药物", -0.2, ()),
    ("reported", "routine", "single", "高血压合并糖尿病，评估降压方案", -26, ("I10", "E11.9")),
    ("closed", "routine", "single", "心律不齐待查", -72, ("I48",)),
    ("cancelled", "routine", "single", "患者已自行前往上级医院就诊", None, ()),
)
OPINION_TEXT = {
    "findings": "血压 162/98 mmHg，心电图示窦性心律、左室高电压；空腹血糖 8.6 mmol/L。",
    "recommendations": "氨氯地平 5 mg 每日一次，联合二甲双胍 0.5 g 每日两次；低盐低脂饮食。",
    "follow_up": "两周后社区复诊血压、血糖；三个月复查糖化血红蛋白。",
}


async def _doctors(db: AsyncSession) -> list[User]:
    rows = await db.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Institution, Institution.id == User.institution_id)
        .where(
            UserRole.role == Role.COMMUNITY_DOCTOR,
            Institution.kind == InstitutionKind.COMMUNITY_HEALTH_CENTRE,
            User.active.is_(True),
        )
        .order_by(User.username)
        .limit(4)
    )
    return list(rows.all())


async def _user(db: AsyncSession, username: str) -> User | None:
    return await db.scalar(select(User).where(User.username == username))


async def seed_consults(factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Add the demo consultations (none if there are any already); returns how many."""
    async with factory() as db, db.begin():
        if await db.scalar(select(func.count()).select_from(Consult)):
            return 0
        doctors = await _doctors(db)
        expert = await _user(db, "specialist")
        dispatcher = await _user(db, "dispatcher")
        if not doctors or expert is None or dispatcher is None:
            return 0
        cipher = FieldCipher(secret(settings.security.data_key))
        store = LocalStore(settings.storage.path, blob_keys(settings.security))
        at = now()
        made = 0
        for i, (state, urgency, kind, reason, hours, codes) in enumerate(CASES):
            doctor = doctors[i % len(doctors)]
            patient = await db.scalar(
                select(Patient)
                .where(Patient.home_institution_id == doctor.institution_id)
                .order_by(Patient.id)
                .offset(i // len(doctors))
                .limit(1)
            )
            if patient is None:
                continue
            consent = await db.scalar(
                select(Consent).where(
                    Consent.patient_id == patient.id,
                    Consent.purpose == ConsentPurpose.TELEMEDICINE,
                    Consent.withdrawn_at.is_(None),
                )
            )
            if consent is None:
                consent = Consent(
                    patient_id=patient.id,
                    purpose=ConsentPurpose.TELEMEDICINE,
                    granted_at=at - timedelta(days=3),
                    granted_by_id=doctor.id,
                    note="示例远程医疗知情同意（演示数据）",
                )
                db.add(consent)
                await db.flush()
            docs = (
                await db.scalars(
                    select(Document.id).where(Document.patient_id == patient.id).limit(2)
                )
            ).all()
            created = at - timedelta(hours=abs(hours or 1) + 2)
            sla = settings.consult.sla(urgency)
            booked = at + timedelta(hours=hours) if hours is not None else None
            consult = Consult(
                state=state,
                kind=ConsultKind(kind),
                urgency=Urgency(urgency),
                patient_id=patient.id,
                institution_id=doctor.institution_id,
                requester_id=doctor.id,
                reason=reason,
                purpose="明确诊断并指导下一步治疗（示例数据）",
                summary="病情摘要（示例数据）：" + reason + "。既往高血压病史，规律服药。",
                specialty="03.04",
                # Waiting requests invite the expert's department (it may accept directly).
                department_id=expert.department_id if state == "requested" else None,
                document_ids=list(docs),
                consent_id=None if state == "draft" else consent.id,
                created_at=created,
                submitted_at=None if state == "draft" else created,
                due_at=created + sla if state in ("requested", "assigned") else None,
                dispatcher_id=dispatcher.id if booked else None,
                scheduled_at=booked,
                duration_minutes=30,
                started_at=booked if state in ("in_session", "reported", "closed") else None,
                decision="按会诊意见调整用药，两周后复诊（示例数据）" if state == "closed" else "",
                decided_by_id=doctor.id if state == "closed" else None,
                closed_at=at - timedelta(hours=48) if state == "closed" else None,
                cancelled_at=created if state == "cancelled" else None,
                cancel_reason="患者已转诊（示例数据）" if state == "cancelled" else "",
            )
            db.add(consult)
            await db.flush()
            if booked is not None:
                answer = Answer.PENDING if state == "assigned" else Answer.ACCEPTED
                db.add(
                    ConsultExpert(
                        consult_id=consult.id,
                        expert_id=expert.id,
                        institution_id=expert.institution_id,
                        answer=answer,
                        starts_at=booked,
                        ends_at=booked + timedelta(minutes=30),
                        assigned_by_id=dispatcher.id,
                        assigned_at=created,
                        answered_at=None if answer is Answer.PENDING else created,
                    )
                )
                if answer is Answer.ACCEPTED:
                    consult.accepted_by_id = expert.id
            if codes:
                await _signed_opinion(db, cipher, store, consult, patient, expert, doctor, codes)
            made += 1
        await _calendars(db, at)
        return made


async def _calendars(db: AsyncSession, at: datetime) -> None:
    """Every specialist's calendar: 08:00-17:30 Beijing time for the next 14 days."""
    experts = (
        await db.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.SPECIALIST, User.active.is_(True))
        )
    ).all()
    today = district(at).date()
    for offset in range(14):
        day = today + timedelta(days=offset)
        opens = datetime.combine(day, time(8, 0), DISTRICT_TZ)
        closes = datetime.combine(day, time(17, 30), DISTRICT_TZ)
        db.add_all(
            Availability(expert_id=e, starts_at=opens, ends_at=closes, created_at=at)
            for e in experts
        )


async def _signed_opinion(
    db: AsyncSession,
    cipher: FieldCipher,
    store: LocalStore,
    consult: Consult,
    patient: Patient,
    expert: User,
    doctor: User,
    codes: tuple[str, ...],
) -> None:
    from yiyun.consult import icd10

    diagnoses = [{"code": c, "name": icd10.catalogue()[c].name} for c in codes]
    signed_at = (consult.scheduled_at or now()) + timedelta(minutes=40)
    op = Opinion(
        consult_id=consult.id,
        version=1,
        author_id=expert.id,
        diagnoses=diagnoses,
        created_at=signed_at,
        signed_at=signed_at,
        **OPINION_TEXT,
    )
    db.add(op)
    await db.flush()
    inviting = await db.get(Institution, consult.institution_id)
    consulting = await db.get(Institution, expert.institution_id)
    page = pdf.OpinionPage(
        number=number(consult),
        version=1,
        supersedes=None,
        amend_reason="",
        inviting_institution=inviting.name if inviting else "",
        consulting_institution=consulting.name if consulting else "",
        requester=doctor.display_name,
        patient_masked=mask_name(patient.name),
        patient_sex=SEX_ZH.get(patient.sex.value, ""),
        patient_age=age_on(patient.birth_on, now().date()),
        patient_mpi=patient.mpi,
        urgency=URGENCY_ZH[consult.urgency.value],
        specialty="心血管内科专业",
        reason=consult.reason,
        purpose=consult.purpose,
        findings=op.findings,
        diagnoses=[(d["code"], d["name"]) for d in diagnoses],
        recommendations=op.recommendations,
        follow_up=op.follow_up,
        signer=expert.display_name,
        signer_title=TITLES_ZH.get(expert.title.value if expert.title else "", ""),
        signed_at=signed_at,
    )
    identity = await signing.signer_for(db, cipher, expert)
    ca = await signing.ensure_ca(db, cipher)
    data = await signing.sign_pdf(
        await pdf.render(page),
        signing.pair_of(identity, cipher),
        ca.cert_pem.encode("ascii"),
        reason=f"远程会诊意见 {page.number}",
    )
    digest = hashlib.sha256(data).hexdigest()
    op.sha256, op.pdf_key = digest, f"consult/{consult.id}/opinion-1-{digest[:16]}.pdf"
    await store.put(op.pdf_key, data)
    ids = []
    for inst in (consult.institution_id, expert.institution_id):
        key = f"documents/{patient.id}/demo-{consult.id}-{inst}-{digest[:16]}"
        doc = Document(
            patient_id=patient.id,
            institution_id=inst,
            kind=DocumentKind.OPINION,
            title=f"远程会诊意见 {page.number}",
            body="",
            blob_key=key,
            filename=f"{page.number}-v1.pdf",
            content_type="application/pdf",
            size_bytes=len(data),
            sha256=digest,
            created_by_id=expert.id,
        )
        db.add(doc)
        await db.flush()
        await store.put(key, data)
        ids.append(doc.id)
    op.document_ids = ids
    consult.reported_at = signed_at
