"""Patient use cases: register, find, read, update, documents and consents.

Every read and write of patient data writes an audit entry in the same transaction.
Access goes through `auth.policy.require_patient`: institution scope or a registered
relationship; outsiders get "not found" and a denied entry in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, require, require_patient, sees_all_institutions
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import Conflict, InvalidInput, NotFound, YiyunError
from yiyun.core.pagination import PageParams, paginate
from yiyun.core.storage import BlobStore
from yiyun.org.models import Institution
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose, DocumentKind, Sex
from yiyun.records.files import check_upload
from yiyun.records.models import Consent, Document, Patient, PatientRecordNo
from yiyun.records.schemas import (
    ADULT_AGE,
    ConsentCreate,
    DocumentCreate,
    GuardianRead,
    PatientCreate,
    PatientRead,
    PatientUpdate,
    RecordNoRead,
)

ID_CONTEXT = "resident-id"
PHONE_CONTEXT = "patient-phone"


@dataclass(frozen=True)
class Ctx:
    """What every patient use case needs: who, from where, and the field cipher."""

    principal: Principal
    actor: Actor
    cipher: FieldCipher


def age_on(birth_on: date, today: date) -> int:
    return today.year - birth_on.year - ((today.month, today.day) < (birth_on.month, birth_on.day))


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def institutions_of(patient: Patient) -> frozenset[int]:
    return frozenset(
        {patient.home_institution_id, *(r.institution_id for r in patient.record_numbers)}
    )


def visible_query(principal: Principal) -> Select[Patient]:
    """Patients the principal may list: everyone, or those of their own institution."""
    query = select(Patient)
    if sees_all_institutions(principal, Action.READ_PATIENT):
        return query
    inst = principal.institution_id
    registered_here = exists().where(
        PatientRecordNo.patient_id == Patient.id, PatientRecordNo.institution_id == inst
    )
    return query.where(or_(Patient.home_institution_id == inst, registered_here))


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


async def _deny(
    session: AsyncSession, ctx: Ctx, action: str, patient_id: int, err: YiyunError
) -> YiyunError:
    await audit.record(
        session=session,
        actor=ctx.actor,
        action=action,
        outcome="denied",
        entity_type="patient",
        entity_id=patient_id,
        patient_id=patient_id,
    )
    err.keep_changes = True
    return err


async def load_patient(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, action: Action = Action.READ_PATIENT
) -> Patient:
    """Fetch a patient the principal may access; audit a denial, raise NotFound for outsiders."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("patient not found", code="patient.not_found")
    try:
        await require_patient(
            session,
            ctx.principal,
            action,
            patient_id=patient.id,
            institutions=institutions_of(patient),
        )
    except YiyunError as err:
        raise await _deny(session, ctx, str(action), patient.id, err) from None
    return patient


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


async def find_by_id_number(*, session: AsyncSession, ctx: Ctx, id_number: str) -> Patient | None:
    """Exact lookup by resident ID number through its keyed hash (audited)."""
    try:
        parsed = resident_id.parse(id_number)
    except resident_id.ResidentIdError as exc:
        raise InvalidInput(
            str(exc), code="patient.bad_id_number", details={"field": "id_number"}
        ) from exc
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
        try:
            parsed = resident_id.parse(data.id_number)
        except resident_id.ResidentIdError as exc:
            raise InvalidInput(
                str(exc), code="patient.bad_id_number", details={"field": "id_number"}
            ) from exc
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
        if await session.scalar(select(Patient.id).where(Patient.id_number_hash == digest)):
            raise Conflict(
                "a patient with this ID number is already registered",
                code="patient.duplicate_id_number",
            )
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
        created_by_id=ctx.principal.user_id,
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
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.register",
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        institution_id=inst_id,
    )
    return patient


async def read(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> Patient:
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.read",
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


async def search(
    *, session: AsyncSession, ctx: Ctx, q: str | None = None, params: PageParams | None = None
) -> tuple[list[Patient], int]:
    """List visible patients; `q` matches name, patient number or record number."""
    require(ctx.principal, Action.LIST_PATIENTS)
    query = visible_query(ctx.principal).order_by(Patient.id.desc())
    if q:
        text_q = q.strip()[:100]
        like = f"%{text_q}%"
        by_record = exists().where(
            PatientRecordNo.patient_id == Patient.id, PatientRecordNo.record_no == text_q
        )
        query = query.where(or_(Patient.name.ilike(like), Patient.mpi == text_q.upper(), by_record))
    rows, total = await paginate(session, query, params or PageParams())
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.list",
        entity_type="patient",
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
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.update",
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"fields": sorted(data.model_dump(exclude_unset=True))},
    )
    return patient


async def reveal_id_number(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> str | None:
    """The full resident ID number, for staff who must see it (audited separately)."""
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.reveal_id",
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    if patient.id_number_enc is None:
        return None
    return ctx.cipher.decrypt(patient.id_number_enc, context=ID_CONTEXT)


# --- documents -------------------------------------------------------------------------


async def list_documents(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> list[Document]:
    await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    rows = (
        await session.scalars(
            select(Document)
            .where(Document.patient_id == patient_id)
            .order_by(Document.created_at.desc())
        )
    ).all()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="document.list",
        entity_type="patient",
        entity_id=patient_id,
        patient_id=patient_id,
    )
    return list(rows)


async def add_document(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, data: DocumentCreate
) -> Document:
    if data.kind == DocumentKind.ATTACHMENT:
        raise InvalidInput("attachments are uploaded as files", code="document.use_upload")
    await load_patient(session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT)
    doc = Document(
        patient_id=patient_id,
        institution_id=ctx.principal.institution_id,
        kind=data.kind,
        title=data.title,
        body=data.body,
        created_by_id=ctx.principal.user_id,
    )
    session.add(doc)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="document.create",
        entity_type="document",
        entity_id=doc.id,
        patient_id=patient_id,
    )
    return doc


async def upload_document(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    patient_id: int,
    title: str,
    filename: str,
    data: bytes,
    max_bytes: int,
) -> Document:
    """Store a checked attachment; the blob is written only after every check passes."""
    await load_patient(session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT)
    checked = check_upload(filename, data, max_bytes=max_bytes)
    title = title.strip()[:200] or checked.filename
    digest = hashlib.sha256(data).hexdigest()
    key = f"documents/{patient_id}/{secrets.token_hex(8)}-{digest[:16]}"
    doc = Document(
        patient_id=patient_id,
        institution_id=ctx.principal.institution_id,
        kind=DocumentKind.ATTACHMENT,
        title=title,
        body="",
        blob_key=key,
        filename=checked.filename,
        content_type=checked.content_type,
        size_bytes=checked.size,
        sha256=digest,
        created_by_id=ctx.principal.user_id,
    )
    session.add(doc)
    await session.flush()
    await store.put(key, data)
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="document.upload",
        entity_type="document",
        entity_id=doc.id,
        patient_id=patient_id,
        details={"content_type": checked.content_type, "size": checked.size},
    )
    return doc


async def read_document_file(
    *, session: AsyncSession, ctx: Ctx, store: BlobStore, patient_id: int, document_id: int
) -> tuple[Document, bytes]:
    await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    doc = await session.get(Document, document_id)
    if doc is None or doc.patient_id != patient_id or doc.blob_key is None:
        raise NotFound("document not found", code="document.not_found")
    data = await store.get(doc.blob_key)
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="document.download",
        entity_type="document",
        entity_id=doc.id,
        patient_id=patient_id,
    )
    return doc, data


# --- consents --------------------------------------------------------------------------


async def list_consents(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> list[Consent]:
    await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    rows = (
        await session.scalars(
            select(Consent)
            .where(Consent.patient_id == patient_id)
            .order_by(Consent.granted_at.desc())
        )
    ).all()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consent.list",
        entity_type="patient",
        entity_id=patient_id,
        patient_id=patient_id,
    )
    return list(rows)


async def has_consent(
    *,
    session: AsyncSession,
    patient_id: int,
    purpose: ConsentPurpose,
    target_institution_id: int | None = None,
) -> bool:
    """Whether an unwithdrawn consent for the purpose is on record (later domains ask)."""
    query = select(Consent.id).where(
        Consent.patient_id == patient_id, Consent.purpose == purpose, Consent.withdrawn_at.is_(None)
    )
    if target_institution_id is not None:
        query = query.where(Consent.target_institution_id == target_institution_id)
    return (await session.scalar(query.limit(1))) is not None


async def grant_consent(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, data: ConsentCreate
) -> Consent:
    await load_patient(session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT)
    if data.purpose == ConsentPurpose.SHARING and data.target_institution_id is None:
        raise InvalidInput(
            "sharing consent names the receiving institution",
            code="consent.target_required",
            details={"field": "target_institution_id"},
        )
    if data.purpose != ConsentPurpose.SHARING and data.target_institution_id is not None:
        raise InvalidInput(
            "only sharing consent names an institution",
            code="consent.unexpected_target",
            details={"field": "target_institution_id"},
        )
    if (
        data.target_institution_id is not None
        and await session.get(Institution, data.target_institution_id) is None
    ):
        raise InvalidInput(
            "institution does not exist",
            code="consent.bad_target",
            details={"field": "target_institution_id"},
        )
    if await has_consent(
        session=session,
        patient_id=patient_id,
        purpose=data.purpose,
        target_institution_id=data.target_institution_id,
    ):
        raise Conflict("this consent is already on record", code="consent.duplicate")
    consent = Consent(
        patient_id=patient_id,
        purpose=data.purpose,
        target_institution_id=data.target_institution_id,
        granted_at=now(),
        granted_by_id=ctx.principal.user_id,
        note=data.note,
    )
    session.add(consent)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consent.grant",
        entity_type="consent",
        entity_id=consent.id,
        patient_id=patient_id,
        details={"purpose": data.purpose.value},
    )
    return consent


async def withdraw_consent(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, consent_id: int
) -> Consent:
    await load_patient(session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT)
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.patient_id != patient_id:
        raise NotFound("consent not found", code="consent.not_found")
    if consent.withdrawn_at is not None:
        raise Conflict("consent was already withdrawn", code="consent.already_withdrawn")
    consent.withdrawn_at = now()
    consent.withdrawn_by_id = ctx.principal.user_id
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consent.withdraw",
        entity_type="consent",
        entity_id=consent.id,
        patient_id=patient_id,
        details={"purpose": consent.purpose.value},
    )
    return consent
