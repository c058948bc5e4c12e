"""Patient use cases: register, find, read, update, reveal the ID number.

Every read and write of patient data writes an audit entry in the same transaction.
"""

from __future__ import annotations

import secrets

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target, require
from yiyun.core import textsearch
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import Conflict, InvalidInput
from yiyun.core.pagination import PageParams, paginate
from yiyun.org.models import Institution
from yiyun.records import resident_id
from yiyun.records.access import (
    ID_CONTEXT,
    PHONE_CONTEXT,
    Ctx,
    age_on,
    institutions_of,
    load_patient,
    mask_phone,
    record,
    visible_query,
)
from yiyun.records.enums import Sex
from yiyun.records.models import Patient, PatientRecordNo
from yiyun.records.schemas import (
    ADULT_AGE,
    GuardianRead,
    PatientCreate,
    PatientRead,
    PatientUpdate,
    RecordNoRead,
)


async def _guardian(session: AsyncSession, patient: Patient) -> GuardianRead | None:
    if patient.guardian_id is None:
        return None
    guardian = await session.get(Patient, patient.guardian_id)
    if guardian is None:
        return None
    return GuardianRead(id=guardian.id, name=guardian.name, relation=patient.guardian_relation)


async def to_read(session: AsyncSession, patient: Patient, cipher: FieldCipher) -> PatientRead:
    today = now().date()
    age = age_on(patient.birth_on, today)
    phone = cipher.decrypt(patient.phone_enc, context=PHONE_CONTEXT) if patient.phone_enc else None
    return PatientRead(
        id=patient.id,
        mpi=patient.mpi,
        name=patient.name,
        sex=patient.sex,
        birth_on=patient.birth_on,
        age=age,
        id_number_masked=patient.id_number_masked,
        phone_masked=mask_phone(phone) if phone else None,
        address=patient.address,
        home_institution_id=patient.home_institution_id,
        record_numbers=[RecordNoRead.model_validate(r) for r in patient.record_numbers],
        guardian=await _guardian(session, patient),
        minor=age < ADULT_AGE,
    )


async def _next_mpi(session: AsyncSession) -> str:
    for _ in range(10):
        candidate = "P" + secrets.token_hex(5).upper()
        if not await session.scalar(select(Patient.id).where(Patient.mpi == candidate)):
            return candidate
    raise Conflict("could not allocate a patient number", code="patient.mpi_exhausted")


async def _record_no(session: AsyncSession, institution: Institution, wanted: str | None) -> str:
    if wanted is not None:
        taken = await session.scalar(
            select(PatientRecordNo.id).where(
                PatientRecordNo.institution_id == institution.id,
                PatientRecordNo.record_no == wanted,
            )
        )
        if taken:
            raise Conflict(
                "this record number is in use at the institution",
                code="patient.duplicate_record_no",
            )
        return wanted
    for _ in range(10):
        candidate = f"{institution.code[-4:]}-{secrets.randbelow(10**8):08d}"
        if not await session.scalar(
            select(PatientRecordNo.id).where(
                PatientRecordNo.institution_id == institution.id,
                PatientRecordNo.record_no == candidate,
            )
        ):
            return candidate
    raise Conflict("could not allocate a record number", code="patient.record_no_exhausted")


def _parse_id(id_number: str) -> resident_id.ResidentId:
    try:
        return resident_id.parse(id_number)
    except resident_id.ResidentIdError as exc:
        raise InvalidInput(
            str(exc), code="patient.bad_id_number", details={"field": "id_number"}
        ) from exc


async def find_by_id_number(*, session: AsyncSession, ctx: Ctx, id_number: str) -> Patient | None:
    """Exact lookup by resident ID number through its keyed hash (audited)."""
    parsed = _parse_id(id_number)
    digest = ctx.cipher.lookup_hash(parsed.number, context=ID_CONTEXT)
    patient = await session.scalar(select(Patient).where(Patient.id_number_hash == digest))
    if patient is None:
        await audit.record(
            session=session,
            actor=ctx.actor,
            action="patient.lookup",
            outcome="not_found",
            entity_type="patient",
        )
        return None
    return await read(session=session, ctx=ctx, patient_id=patient.id)  # audited as a read


async def _refuse_duplicate(session: AsyncSession, ctx: Ctx, existing: Patient) -> Conflict:
    """The ID number is on a master record: say so without saying where, and audit the try.

    A caller who may read that record learns its id (it is theirs to see). Anyone else
    gets one answer naming no institution, record or patient; the attempt is audited for
    the patient's own institutions to see.
    """
    visible = policy.allows(
        ctx.principal, Action.READ_PATIENT, Target(institutions_of(existing))
    ) or await policy.related_to_patient(session, ctx.principal, existing.id, Action.READ_PATIENT)
    await record(
        session,
        ctx,
        "patient.register",
        existing,
        outcome="duplicate",
        details={"visible": visible},
    )
    if visible:
        err = Conflict(
            "a patient with this ID number is already registered",
            code="patient.duplicate_id_number",
            details={"patient_id": existing.id},
        )
    else:
        err = Conflict(
            "this person already has a record in the consortium",
            code="patient.registered_in_consortium",
        )
    err.keep_changes = True  # the attempt stays in the audit log
    return err


async def register(*, session: AsyncSession, ctx: Ctx, data: PatientCreate) -> Patient:
    inst_id = data.institution_id or ctx.principal.institution_id
    require(ctx.principal, Action.REGISTER_PATIENT, Target.of(inst_id))
    institution = await session.get(Institution, inst_id)
    if institution is None:
        raise InvalidInput(
            "institution does not exist",
            code="patient.bad_institution",
            details={"field": "institution_id"},
        )
    sex, birth_on, id_fields = data.sex, data.birth_on, {}
    if data.id_number is not None:
        parsed = _parse_id(data.id_number)
        if birth_on is not None and birth_on != parsed.birth_on:
            raise InvalidInput(
                "birth date does not match the ID number",
                code="patient.birth_mismatch",
                details={"field": "birth_on"},
            )
        if sex is not None and sex.value != parsed.sex:
            raise InvalidInput(
                "sex does not match the ID number",
                code="patient.sex_mismatch",
                details={"field": "sex"},
            )
        sex, birth_on = Sex(parsed.sex), parsed.birth_on
        digest = ctx.cipher.lookup_hash(parsed.number, context=ID_CONTEXT)
        existing = await session.scalar(select(Patient).where(Patient.id_number_hash == digest))
        if existing is not None:
            raise await _refuse_duplicate(session, ctx, existing)
        id_fields = {
            "id_number_hash": digest,
            "id_number_enc": ctx.cipher.encrypt(parsed.number, context=ID_CONTEXT),
            "id_number_masked": parsed.masked,
        }
    if sex is None or birth_on is None:
        raise InvalidInput(
            "sex and birth date are required without an ID number",
            code="patient.missing_demographics",
        )
    if birth_on > now().date():
        raise InvalidInput(
            "birth date is in the future",
            code="patient.birth_in_future",
            details={"field": "birth_on"},
        )
    if age_on(birth_on, now().date()) < ADULT_AGE and data.guardian_id is None:
        raise InvalidInput(
            "a minor needs a guardian",
            code="patient.guardian_required",
            details={"field": "guardian_id"},
        )
    if data.guardian_id is not None:
        guardian = await load_patient(session=session, ctx=ctx, patient_id=data.guardian_id)
        if age_on(guardian.birth_on, now().date()) < ADULT_AGE:
            raise InvalidInput(
                "the guardian must be an adult",
                code="patient.minor_guardian",
                details={"field": "guardian_id"},
            )
    patient = Patient(
        mpi=await _next_mpi(session),
        name=data.name,
        sex=sex,
        birth_on=birth_on,
        address=data.address,
        home_institution_id=inst_id,
        guardian_id=data.guardian_id,
        guardian_relation=data.guardian_relation if data.guardian_id else None,
        created_by_id=None if ctx.principal.is_partner else ctx.principal.user_id,
        **id_fields,
        phone_enc=ctx.cipher.encrypt(data.phone, context=PHONE_CONTEXT) if data.phone else None,
    )
    patient.record_numbers = [
        PatientRecordNo(
            institution_id=inst_id, record_no=await _record_no(session, institution, data.record_no)
        )
    ]
    session.add(patient)
    await session.flush()
    await record(session, ctx, "patient.register", patient)
    return patient


async def read(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> Patient:
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    await record(session, ctx, "patient.read", patient)
    return patient


async def search(
    *, session: AsyncSession, ctx: Ctx, q: str | None = None, params: PageParams | None = None
) -> tuple[list[Patient], int]:
    """List visible patients; `q` matches name, patient number or record number."""
    require(ctx.principal, Action.LIST_PATIENTS, policy.own(ctx.principal))
    query = visible_query(ctx.principal).order_by(Patient.id.desc())
    if q:
        text_q = q.strip()[:100]
        by_record = exists().where(
            PatientRecordNo.patient_id == Patient.id, PatientRecordNo.record_no == text_q
        )
        query = query.where(
            or_(textsearch.contains(text_q, Patient.name), Patient.mpi == text_q.upper(), by_record)
        )
    rows, total = await paginate(session, query, params or PageParams())
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.list",
        entity_type="patient",
        subject_institutions=frozenset().union(*(institutions_of(p) for p in rows)),
        details={
            "query": bool(q),
            "returned": len(rows),
            "patient_ids": [p.id for p in rows][:200],
        },
    )
    return rows, total


async def _check_guardian(
    session: AsyncSession, ctx: Ctx, patient: Patient, guardian_id: int | None
) -> None:
    """The registration rules, on change: minors keep a guardian, who is another adult."""
    if guardian_id is None:
        if age_on(patient.birth_on, now().date()) < ADULT_AGE:
            raise InvalidInput(
                "a minor needs a guardian",
                code="patient.guardian_required",
                details={"field": "guardian_id"},
            )
        return
    if guardian_id == patient.id:
        raise InvalidInput(
            "a patient cannot be their own guardian",
            code="patient.self_guardian",
            details={"field": "guardian_id"},
        )
    guardian = await load_patient(session=session, ctx=ctx, patient_id=guardian_id)
    if age_on(guardian.birth_on, now().date()) < ADULT_AGE:
        raise InvalidInput(
            "the guardian must be an adult",
            code="patient.minor_guardian",
            details={"field": "guardian_id"},
        )


async def update(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, data: PatientUpdate
) -> Patient:
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    changes = data.model_dump(exclude_unset=True)
    if "guardian_id" in changes:
        await _check_guardian(session, ctx, patient, changes["guardian_id"])
    if "phone" in changes:
        phone = changes.pop("phone")
        patient.phone_enc = ctx.cipher.encrypt(phone, context=PHONE_CONTEXT) if phone else None
    for key, value in changes.items():
        setattr(patient, key, value)
    await session.flush()
    fields = sorted(data.model_dump(exclude_unset=True))
    await record(session, ctx, "patient.update", patient, details={"fields": fields})
    return patient


async def reveal_id_number(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> str | None:
    """The full resident ID number, for staff who must see it (audited separately)."""
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    await record(session, ctx, "patient.reveal_id", patient)
    if patient.id_number_enc is None:
        return None
    return ctx.cipher.decrypt(patient.id_number_enc, context=ID_CONTEXT)
