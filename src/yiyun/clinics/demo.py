"""Demo remote clinics and referrals in every state, across several institutions, so
every worklist shows something on `make run`. Idempotent (keyed by session titles)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.clinics.models import (
    ClinicSession,
    ClinicSlot,
    ClinicVisit,
    Prescription,
    PrescriptionState,
    SessionState,
    VisitState,
)
from yiyun.core.clock import now
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Department, Institution, User, UserRole
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent, Patient
from yiyun.referrals.models import Direction, Referral, ReferralState

TODAY_TITLE = "心内科远程门诊（示例）"
VS, RS = VisitState, ReferralState


async def _user(db: AsyncSession, name: str) -> User | None:
    return await db.scalar(select(User).where(User.username == name))


async def _patients(db: AsyncSession, institution_id: int, count: int, by: int) -> list[int]:
    ids = list(
        (
            await db.scalars(
                select(Patient.id)
                .where(Patient.home_institution_id == institution_id)
                .order_by(Patient.id)
                .limit(count)
            )
        ).all()
    )
    for pid in ids:
        has = await db.scalar(
            select(Consent.id).where(
                Consent.patient_id == pid,
                Consent.purpose == ConsentPurpose.TELEMEDICINE,
                Consent.withdrawn_at.is_(None),
            )
        )
        if has is None:
            db.add(
                Consent(
                    patient_id=pid,
                    purpose=ConsentPurpose.TELEMEDICINE,
                    granted_at=now() - timedelta(days=30),
                    granted_by_id=by,
                    note="远程医疗知情同意（演示数据）",
                )
            )
    await db.flush()
    return ids


async def _consent_id(db: AsyncSession, patient_id: int) -> int:
    found = await db.scalar(
        select(Consent.id).where(
            Consent.patient_id == patient_id, Consent.purpose == ConsentPurpose.TELEMEDICINE
        )
    )
    if found is None:
        raise LookupError("demo consent missing")
    return found


async def _session(
    db: AsyncSession,
    specialist: User,
    title: str,
    start: datetime,
    hours: int,
    state: SessionState,
    specialty: str = "03.04",
) -> tuple[ClinicSession, list[ClinicSlot]]:
    clinic = ClinicSession(
        institution_id=specialist.institution_id,
        specialist_id=specialist.id,
        specialty=specialty,
        title=title,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        slot_minutes=15,
        walk_in_capacity=3,
        state=state,
        created_at=start - timedelta(days=3),
    )
    db.add(clinic)
    await db.flush()
    slots = [
        ClinicSlot(
            session_id=clinic.id,
            starts_at=start + timedelta(minutes=15 * n),
            ends_at=start + timedelta(minutes=15 * (n + 1)),
        )
        for n in range(hours * 4)
    ]
    db.add_all(slots)
    await db.flush()
    return clinic, slots


async def _visit(
    db: AsyncSession,
    clinic: ClinicSession,
    slot: ClinicSlot | None,
    patient_id: int,
    booker: User,
    state: VisitState,
    *,
    urgent: bool = False,
    note: str = "",
) -> ClinicVisit:
    expected = slot.starts_at if slot else clinic.starts_at
    stamp = now()
    visit = ClinicVisit(
        session_id=clinic.id,
        slot_id=slot.id if slot else None,
        patient_id=patient_id,
        specialist_id=clinic.specialist_id,
        institution_id=booker.institution_id,
        booked_by_id=booker.id,
        consent_id=await _consent_id(db, patient_id),
        reason="高血压控制不佳" if not urgent else "胸闷加重，需尽快评估",
        urgent=urgent,
        walk_in=slot is None,
        state=state,
        booked_at=expected - timedelta(days=2),
        expected_at=expected,
        checked_in_at=min(expected, stamp) - timedelta(minutes=10)
        if state in (VS.CHECKED_IN, VS.IN_VISIT, VS.COMPLETED)
        else None,
        called_at=expected if state in (VS.IN_VISIT, VS.COMPLETED) else None,
        finished_at=expected + timedelta(minutes=15)
        if state in (VS.COMPLETED, VS.NO_SHOW, VS.CANCELLED)
        else None,
        note=note,
    )
    db.add(visit)
    await db.flush()
    if slot is not None and state not in (VS.CANCELLED, VS.NO_SHOW):
        slot.visit_id = visit.id
    return visit


async def _other_specialist(db: AsyncSession, not_at: int) -> User | None:
    return await db.scalar(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Institution, Institution.id == User.institution_id)
        .where(
            UserRole.role == Role.SPECIALIST,
            User.institution_id != not_at,
            Institution.kind.in_((InstitutionKind.HOSPITAL, InstitutionKind.LEAD_HOSPITAL)),
        )
        .order_by(User.id)
        .limit(1)
    )


async def seed_clinics(factory: async_sessionmaker[AsyncSession]) -> int:
    """Create the demo clinics and referrals unless they exist; returns rows created."""
    async with factory.begin() as db:
        if await db.scalar(select(ClinicSession.id).where(ClinicSession.title == TODAY_TITLE)):
            return 0
        specialist, doctor, doctor2 = (
            await _user(db, "specialist"),
            await _user(db, "doctor"),
            await _user(db, "doctor2"),
        )
        if specialist is None or doctor is None or doctor2 is None:
            return 0
        other = await _other_specialist(db, specialist.institution_id) or specialist
        mine = await _patients(db, doctor.institution_id, 8, doctor.id)
        theirs = await _patients(db, doctor2.institution_id, 4, doctor2.id)
        if not mine or not theirs:
            return 0
        # A small demo (few patients per centre) repeats patients rather than show nothing.
        mine = [mine[n % len(mine)] for n in range(8)]
        theirs = [theirs[n % len(theirs)] for n in range(4)]
        stamp = now().replace(second=0, microsecond=0)
        start = stamp.replace(minute=0) - timedelta(hours=1)
        created = 0
        # Today's clinic: a visit in every state, from two community centres.
        today, slots = await _session(db, specialist, TODAY_TITLE, start, 4, SessionState.PUBLISHED)
        plan = [
            (
                slots[0],
                mine[0],
                doctor,
                VS.COMPLETED,
                False,
                "血压 150/95，调整为氨氯地平 5mg qd。",
            ),
            (slots[1], mine[1], doctor, VS.NO_SHOW, False, ""),
            (slots[2], mine[2], doctor, VS.CANCELLED, False, ""),
            (slots[4], mine[3], doctor, VS.CHECKED_IN, False, ""),
            (slots[6], mine[4], doctor, VS.CHECKED_IN, True, ""),
            (slots[8], mine[5], doctor, VS.BOOKED, False, ""),
            (None, mine[6], doctor, VS.BOOKED, False, ""),
            (slots[5], theirs[0], doctor2, VS.CHECKED_IN, False, ""),
            (slots[9], theirs[1], doctor2, VS.BOOKED, False, ""),
        ]
        for slot, pid, booker, state, urgent, note in plan:
            visit = await _visit(db, today, slot, pid, booker, state, urgent=urgent, note=note)
            created += 1
            if state is VS.COMPLETED:
                db.add(
                    Prescription(
                        visit_id=visit.id,
                        state=PrescriptionState.SIGNED,
                        items=[
                            {
                                "code": "AMLO5",
                                "name": "苯磺酸氨氯地平片 5mg",
                                "class": "ordinary",
                                "dose": "1 片",
                                "frequency": "每日一次",
                                "days": 14,
                            }
                        ],
                        advice="低盐饮食，每日监测血压。",
                        drafted_by_id=specialist.id,
                        drafted_at=visit.expected_at + timedelta(minutes=10),
                        signed_at=visit.expected_at + timedelta(minutes=12),
                    )
                )
        # Tomorrow at another hospital; yesterday's closed clinic; a cancelled one.
        tomorrow, tslots = await _session(
            db,
            other,
            "呼吸科远程门诊（示例）",
            start + timedelta(days=1),
            3,
            SessionState.PUBLISHED,
            "03.02",
        )
        await _visit(db, tomorrow, tslots[0], mine[7], doctor, VS.BOOKED)
        await _visit(db, tomorrow, tslots[1], theirs[2], doctor2, VS.BOOKED)
        past, pslots = await _session(
            db,
            specialist,
            "心内科远程门诊（上周示例）",
            start - timedelta(days=6),
            2,
            SessionState.CLOSED,
        )
        await _visit(db, past, pslots[0], theirs[3], doctor2, VS.COMPLETED, note="病情稳定。")
        await _session(
            db,
            specialist,
            "心内科远程门诊（停诊示例）",
            start + timedelta(days=2),
            2,
            SessionState.CANCELLED,
        )
        created += 4
        created += await _referrals(db, specialist, doctor, doctor2, other, mine, theirs, stamp)
        return created


async def _referrals(
    db: AsyncSession,
    specialist: User,
    doctor: User,
    doctor2: User,
    other: User,
    mine: list[int],
    theirs: list[int],
    stamp: datetime,
) -> int:
    hospital, centre = specialist.institution_id, doctor.institution_id
    dept = await db.scalar(
        select(Department.id).where(
            Department.institution_id == hospital, Department.code == "CARD"
        )
    )
    summary = "反复胸闷 2 周，活动后加重；心电图 ST 段压低。"
    ups = [
        (mine[0], RS.REQUESTED, ""),
        (mine[1], RS.ACCEPTED, ""),
        (mine[2], RS.REJECTED, "本院心内科床位已满，建议转区二院"),
        (mine[3], RS.ARRIVED, ""),
        (mine[4], RS.COMPLETED, ""),
        (mine[5], RS.CANCELLED, "患者选择就近就医"),
    ]
    rows: list[Referral] = []
    for n, (pid, state, why) in enumerate(ups):
        created = stamp - timedelta(days=6 - n)
        rows.append(
            Referral(
                direction=Direction.UP,
                patient_id=pid,
                from_institution_id=centre,
                to_institution_id=hospital,
                to_department_id=dept,
                specialty="03.04",
                reason="胸痛待查，需冠脉评估",
                summary=summary,
                appointment_at=stamp + timedelta(days=1 + n)
                if n < 2
                else created + timedelta(days=1),
                state=state,
                requested_by_id=doctor.id,
                decided_by_id=specialist.id if state is not RS.REQUESTED else None,
                decision_reason=why,
                created_at=created,
                decided_at=created + timedelta(hours=2) if state is not RS.REQUESTED else None,
                arrived_at=created + timedelta(days=1)
                if state in (RS.ARRIVED, RS.COMPLETED)
                else None,
                completed_at=created + timedelta(days=4) if state is RS.COMPLETED else None,
            )
        )
    db.add_all(rows)
    await db.flush()
    completed_up = rows[4]
    plan = "阿司匹林 100mg qd、阿托伐他汀 20mg qn；每周随访血压心率；1 个月后心内科复诊。"
    downs = [
        Referral(
            direction=Direction.DOWN,
            patient_id=completed_up.patient_id,
            from_institution_id=hospital,
            to_institution_id=centre,
            parent_id=completed_up.id,
            reason="PCI 术后病情稳定，转回社区康复",
            summary="冠心病 PCI 术后第 5 天，恢复良好。",
            care_plan=plan,
            state=RS.COMPLETED,
            requested_by_id=specialist.id,
            created_at=stamp - timedelta(days=2),
            completed_at=stamp - timedelta(days=1),
        ),
        Referral(
            direction=Direction.DOWN,
            patient_id=rows[3].patient_id,
            from_institution_id=hospital,
            to_institution_id=centre,
            parent_id=rows[3].id,
            reason="病情稳定，转回社区随访",
            summary="不稳定型心绞痛，药物治疗后症状缓解。",
            care_plan=plan,
            state=RS.REQUESTED,
            requested_by_id=specialist.id,
            created_at=stamp - timedelta(hours=3),
        ),
        Referral(
            direction=Direction.UP,
            patient_id=theirs[0],
            from_institution_id=doctor2.institution_id,
            to_institution_id=other.institution_id,
            reason="慢阻肺急性加重",
            summary="咳嗽咳痰加重 3 天，血氧 92%。",
            appointment_at=stamp + timedelta(days=1),
            state=RS.REQUESTED,
            requested_by_id=doctor2.id,
            created_at=stamp - timedelta(hours=5),
        ),
    ]
    db.add_all(downs)
    return len(rows) + len(downs)
