"""Demo residents and light consultations in every state, at two community centres and
the lead hospital, so each worklist shows something. Idempotent (residents by number).

The named demo doctors see them: `doctor` (c001, general practice), `doctor2` (c002) and
`specialist` (the lead hospital's cardiology). Residents sign in with their number and an
SMS code, which the console SMS channel writes to the server log outside production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import transaction
from yiyun.core.statemachine import seed
from yiyun.demo import data
from yiyun.inquiry.models import Inquiry, InquiryMessage, InquiryState
from yiyun.org.models import Department, Institution, User
from yiyun.records import resident_id
from yiyun.records.access import ID_CONTEXT, mask_phone
from yiyun.records.models import Patient
from yiyun.resident import service as resident_service
from yiyun.resident.models import Resident

S = InquiryState
DEMO_PHONE = "13900000001"  # the printed demo resident (linked to a patient record)


@dataclass(frozen=True)
class DemoResident:
    phone: str
    name: str
    centre: str  # institution code
    institution: str


# (resident phone, pool institution code, department code, state, doctor username, title,
#  question, answer, hours ago asked)
QUESTIONS = [
    ("13900000001", "c001", "GP", S.OPEN, None, "血压早上偏高怎么办",
     "最近一周早上量血压在145/95左右，晚上正常，需要调整药吗？", None, 3),
    ("13900000001", "h01", "CARD", S.ANSWERED, "specialist", "心慌胸闷是否需要做心电图",
     "爬楼梯时偶尔心慌胸闷，休息几分钟缓解。",
     "建议尽快到社康做一次心电图，如症状加重及时就诊。", 30),
    ("13900000001", "c001", "GP", S.CLOSED, "doctor", "孩子发烧38度能否先观察",
     "孩子5岁，发烧38度，精神还好。", "精神好可先物理降温观察，超过38.5度可用退烧药。", 72),
    ("13900000002", "c001", "GP", S.CLAIMED, "doctor", "降糖药漏服一次怎么办",
     "昨天晚上的二甲双胍忘记吃了，今天需要补吗？", None, 20),
    ("13900000002", "c001", None, S.OPEN, None, "皮疹两天不退",
     "手臂上起了红色皮疹，有点痒，已经两天了。", None, 30),
    ("13900000003", "c002", "GP", S.OPEN, None, "膝盖疼能否做理疗",
     "上下楼梯膝盖疼，想问社康能不能做理疗。", None, 5),
    ("13900000003", "c002", "GP", S.ANSWERED, "doctor2", "高血压药可以换吗",
     "吃氨氯地平后脚踝有点肿。", "这是常见副作用，请带药盒来社康，我们评估是否换药。", 26),
    ("13900000004", "c002", "GP", S.WITHDRAWN, None, "体检报告怎么看",
     "体检报告里有个指标偏高。", None, 50),
    ("13900000004", "h01", "CARD", S.OPEN, None, "心脏支架术后能运动吗",
     "去年放了支架，现在能不能慢跑？", None, 2),
]  # fmt: skip

RESIDENTS = [
    ("13900000001", "c001", None),  # linked to the centre's first patient record
    ("13900000002", "c001", ("440305", 1968, 3)),
    ("13900000003", "c002", ("440305", 1975, 7)),
    ("13900000004", "c002", ("440305", 1959, 11)),
]
NAMES = {"13900000002": "黄丽萍", "13900000003": "吴国强", "13900000004": "郑秀兰"}


async def _resident(
    db: AsyncSession, cipher: FieldCipher, phone: str, centre: Institution, spec: object
) -> Resident:
    keys = resident_service.Keys(cipher=cipher, secret_key="")
    found = await resident_service.by_phone(db, keys, phone)
    if found is not None:
        return found
    patient = None
    if spec is None:
        patient = await db.scalar(
            select(Patient)
            .where(Patient.home_institution_id == centre.id, Patient.id_number_hash.is_not(None))
            .order_by(Patient.id)
            .limit(1)
        )
    if patient is not None and patient.id_number_enc and patient.id_number_hash:
        name, id_hash, id_enc = patient.name, patient.id_number_hash, patient.id_number_enc
        masked = patient.id_number_masked or ""
    else:
        area, year, seq = spec if isinstance(spec, tuple) else ("440305", 1980, 1)
        number = resident_id.make(area, now().date().replace(year=year, month=3, day=12), seq)
        name = NAMES.get(phone, "李明")
        id_hash = cipher.lookup_hash(number, context=ID_CONTEXT)
        id_enc, masked = cipher.encrypt(number, context=ID_CONTEXT), resident_id.mask(number)
        patient = None
    resident = Resident(
        phone_hash=resident_service.phone_hash(keys, phone),
        phone_enc=cipher.encrypt(phone, context=resident_service.PHONE_CONTEXT),
        phone_masked=mask_phone(phone),
        name=name,
        id_number_hash=id_hash,
        id_number_enc=id_enc,
        id_number_masked=masked,
        institution_id=centre.id,
        patient_id=patient.id if patient else None,
        active=True,
    )
    db.add(resident)
    await db.flush()
    return resident


async def seed_inquiries(
    factory: async_sessionmaker[AsyncSession], cipher: FieldCipher, *, reply_hours: float = 24
) -> list[DemoResident]:
    """Demo residents and their questions; returns the residents to print."""
    codes = {data.code_of(key): key for key in ("c001", "c002", "h01")}
    async with transaction(factory) as db:
        found = await db.scalars(select(Institution).where(Institution.code.in_(list(codes))))
        insts = {codes[i.code]: i for i in found.all()}
        if set(insts) != {"c001", "c002", "h01"}:
            return []
        depts = {
            (d.institution_id, d.code): d.id
            for d in (
                await db.scalars(
                    select(Department).where(
                        Department.institution_id.in_([i.id for i in insts.values()])
                    )
                )
            ).all()
        }
        users = {
            u.username: u
            for u in (
                await db.scalars(
                    select(User).where(User.username.in_(["doctor", "doctor2", "specialist"]))
                )
            ).all()
        }
        residents: dict[str, Resident] = {}
        printed = []
        for phone, code, spec in RESIDENTS:
            residents[phone] = await _resident(db, cipher, phone, insts[code], spec)
            printed.append(DemoResident(phone, residents[phone].name, code, insts[code].name))
        have = set(
            (
                await db.scalars(
                    select(Inquiry.title).where(
                        Inquiry.resident_id.in_([r.id for r in residents.values()])
                    )
                )
            ).all()
        )
        at = now()
        for phone, code, dept, state, doctor, title, question, answer, hours in QUESTIONS:
            if title in have or (doctor and doctor not in users):
                continue
            inst, asked = insts[code], at - timedelta(hours=hours)
            resident = residents[phone]
            inquiry = Inquiry(
                resident_id=resident.id,
                institution_id=inst.id,
                department_id=depts.get((inst.id, dept)) if dept else None,
                patient_id=resident.patient_id,
                title=title,
                claimed_by_id=users[doctor].id if doctor else None,
                claimed_at=asked + timedelta(hours=1) if doctor else None,
                reply_due_at=asked + timedelta(hours=reply_hours),
                answered_at=asked + timedelta(hours=2) if answer else None,
                closed_at=asked + timedelta(hours=5) if state is S.CLOSED else None,
                rating=5 if state is S.CLOSED else None,
                rating_comment="回复很及时，谢谢医生" if state is S.CLOSED else "",
                created_at=asked,
                updated_at=asked + timedelta(hours=2 if answer else 0),
            )
            seed(inquiry, state)
            db.add(inquiry)
            await db.flush()
            db.add(
                InquiryMessage(
                    inquiry_id=inquiry.id, from_resident=True, body=question, created_at=asked
                )
            )
            if answer and doctor:
                db.add(
                    InquiryMessage(
                        inquiry_id=inquiry.id,
                        from_resident=False,
                        author_id=users[doctor].id,
                        body=answer,
                        created_at=asked + timedelta(hours=2),
                    )
                )
        return printed
