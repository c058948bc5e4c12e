"""Imaging use cases: bring DICOM in (upload, zip, STOW-RS, PACS pull), link studies to
patients (with reconciliation when identifiers disagree), and read them under the
patient access policy. Every read and write of a study is audited."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.storage import BlobStore
from yiyun.imaging import dicom
from yiyun.imaging.models import Instance, Study, StudyMatch
from yiyun.records import access as records_access
from yiyun.records.access import Ctx
from yiyun.records.files import clean_filename
from yiyun.records.models import Patient, PatientRecordNo

PID_CONTEXT = "dicom-patient-id"
NAME_CONTEXT = "dicom-patient-name"
ZIP_MAGIC = b"PK\x03\x04"
# The patient module (group 0010) is kept out of the stored metadata: it lives encrypted
# on the study and is added back for callers allowed to read it.
PATIENT_GROUP = 0x0010


def is_zip(data: bytes) -> bool:
    return data[:4] == ZIP_MAGIC


def unpack(filename: str, data: bytes, *, max_bytes: int, max_files: int) -> list[bytes]:
    """The DICOM files of one upload: a single Part 10 file or a zip of a folder.

    Refused with a reason: empty, too large (also once unpacked), not DICOM, a zip with
    too many files or none that is DICOM. Other files in a zip (DICOMDIR, notes) are
    skipped."""
    clean_filename(filename)
    if not data:
        raise InvalidInput("the file is empty", code="upload.empty")
    if len(data) > max_bytes:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": max_bytes}
        )
    if not is_zip(data):
        if not (len(data) > 132 and data[128:132] == b"DICM"):
            raise InvalidInput(
                "only DICOM files or a zip of them are accepted", code="imaging.not_dicom"
            )
        return [data]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except zipfile.BadZipFile as exc:
        raise InvalidInput("the zip file is damaged", code="imaging.bad_zip") from exc
    if len(members) > max_files:
        raise InvalidInput(
            "the zip holds too many files",
            code="imaging.zip_too_many",
            details={"max_files": max_files},
        )
    if sum(m.file_size for m in members) > max_bytes:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": max_bytes}
        )
    found: list[bytes] = []
    for member in members:
        with archive.open(member) as fh:
            head = fh.read(132)
            if len(head) == 132 and head[128:132] == b"DICM":
                found.append(head + fh.read(max_bytes))
    if not found:
        raise InvalidInput("the zip holds no DICOM file", code="imaging.zip_empty")
    return found


# --- who may see what -------------------------------------------------------------------


def visible_query(ctx: Ctx) -> Select[Any]:
    """Studies the caller may read: those of patients it may read (institution scope or
    a relationship), and unmatched studies its institution brought in."""
    patients = records_access.visible_query(ctx.principal).with_only_columns(Patient.id)
    scope = policy.scope(ctx.principal, Action.READ_PATIENT)
    return select(Study).where(
        or_(
            Study.patient_id.in_(patients),
            (Study.patient_id.is_(None)) & scope.where(Study.institution_id),
        )
    )


async def _audit_study(
    session: AsyncSession,
    ctx: Ctx,
    action: str,
    study: Study,
    patient: Patient | None,
    *,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> None:
    if patient is not None:
        await records_access.record(
            session,
            ctx,
            action,
            patient,
            outcome=outcome,
            entity_type="imaging_study",
            entity_id=study.id,
            details=details,
        )
        return
    await audit.record(
        session=session,
        actor=ctx.actor,
        action=action,
        outcome=outcome,
        entity_type="imaging_study",
        entity_id=study.id,
        subject_institutions=frozenset({study.institution_id}),
        details=details,
    )


def _not_found() -> NotFound:
    return NotFound("study not found", code="imaging.study_not_found")


async def load_study(
    *,
    session: AsyncSession,
    ctx: Ctx,
    study_id: int | None = None,
    study_uid: str | None = None,
    action: Action = Action.READ_PATIENT,
    audit_as: str | None = "imaging.study.read",
) -> tuple[Study, Patient | None]:
    """A study the caller may read (or write); outsiders get 404 and a denied entry."""
    if study_id is not None:
        study = await session.get(Study, study_id)
    else:
        study = await session.scalar(select(Study).where(Study.study_uid == study_uid))
    if study is None:
        raise _not_found()
    patient: Patient | None = None
    if study.patient_id is not None:
        try:
            patient = await records_access.load_patient(
                session=session, ctx=ctx, patient_id=study.patient_id, action=action
            )
        except NotFound as exc:
            err = _not_found()
            err.keep_changes = exc.keep_changes  # the denied entry is kept
            raise err from None
    elif not policy.allows(ctx.principal, action, Target.of(study.institution_id)):
        await _audit_study(session, ctx, str(action), study, None, outcome="denied")
        err = _not_found()
        err.keep_changes = True
        raise err
    if audit_as:
        await _audit_study(session, ctx, audit_as, study, patient)
    return study, patient


# --- bringing studies in ----------------------------------------------------------------


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    return str(ds.get(keyword, "") or "").strip()[:limit]


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def metadata_json(ds: Dataset) -> dict[str, Any]:
    """DICOM JSON of the dataset without pixel data and without the patient module."""
    clean = Dataset()
    for element in ds:
        if element.tag.group == PATIENT_GROUP or element.tag.group >= 0x7FE0:
            continue
        if element.VR in ("OB", "OW", "OF", "OD", "OL", "UN") and element.tag.group != 0x0002:
            continue
        clean.add(element)
    return clean.to_json_dict()


async def _candidate(session: AsyncSession, ctx: Ctx, dicom_pid: str) -> Patient | None:
    """The patient the file's Patient ID names, among those the caller may write: the
    MPI number, or a record number at the caller's institution."""
    if not dicom_pid:
        return None
    writable = records_access.visible_query(ctx.principal, Action.WRITE_PATIENT)
    by_record_no = exists().where(
        PatientRecordNo.patient_id == Patient.id,
        PatientRecordNo.institution_id == ctx.principal.institution_id,
        PatientRecordNo.record_no == dicom_pid,
    )
    query = writable.where(or_(Patient.mpi == dicom_pid, by_record_no)).limit(2)
    found = list((await session.scalars(query)).all())
    return found[0] if len(found) == 1 else None


@dataclass
class Ingested:
    study: Study
    instance: Instance
    new_study: bool


async def ingest(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    data: bytes,
    patient_id: int | None = None,
    source: str = "upload",
    authorised: bool = False,
) -> Ingested:
    """Store one DICOM object and file it under its study.

    A new study is linked when the file's Patient ID names exactly one patient the caller
    may write and (when the upload was made for a patient) it is that patient; otherwise
    it waits, unmatched, for the institution's staff to reconcile it. `authorised`: the
    caller has checked access to the study already (objects the co-reading wrote).
    """
    if patient_id is None and not authorised:
        policy.require(ctx.principal, Action.WRITE_PATIENT, policy.own(ctx.principal))
    intended = (
        await records_access.load_patient(
            session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
        )
        if patient_id is not None
        else None
    )
    ds = dicom.parse(data)
    sop_uid = str(ds.SOPInstanceUID)
    study_uid = str(ds.StudyInstanceUID)
    study = await session.scalar(select(Study).where(Study.study_uid == study_uid))
    new_study = study is None
    if study is None:
        dicom_pid = _text(ds, "PatientID", 64)
        candidate = await _candidate(session, ctx, dicom_pid)
        linked = candidate is not None and (intended is None or intended.id == candidate.id)
        study = Study(
            study_uid=study_uid,
            patient_id=candidate.id if linked and candidate else None,
            institution_id=ctx.principal.institution_id,
            match=StudyMatch.LINKED if linked else StudyMatch.UNMATCHED,
            proposed_patient_id=None if linked or intended is None else intended.id,
            dicom_patient_id_enc=ctx.cipher.encrypt(dicom_pid, context=PID_CONTEXT),
            dicom_patient_name_enc=ctx.cipher.encrypt(
                _text(ds, "PatientName", 200), context=NAME_CONTEXT
            ),
            study_date=_text(ds, "StudyDate", 8),
            description=_text(ds, "StudyDescription", 200),
            accession=_text(ds, "AccessionNumber", 32),
            source=source,
            created_by_id=ctx.principal.user_id,
        )
        session.add(study)
        await session.flush()
    elif not authorised:
        await load_study(
            session=session, ctx=ctx, study_id=study.id, action=Action.WRITE_PATIENT, audit_as=None
        )
    existing = await session.scalar(select(Instance).where(Instance.sop_uid == sop_uid))
    if existing is not None:
        if existing.study_id != study.id:
            raise InvalidInput(
                "this object is already filed under another study",
                code="imaging.sop_conflict",
            )
        return Ingested(study, existing, new_study)
    digest = hashlib.sha256(data).hexdigest()
    key = f"imaging/{study.id}/{secrets.token_hex(8)}-{digest[:16]}.dcm"
    modality = _text(ds, "Modality", 16)
    instance = Instance(
        study_id=study.id,
        series_uid=str(ds.SeriesInstanceUID)[:64],
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription", 200),
        modality=modality,
        sop_uid=sop_uid[:64],
        sop_class_uid=str(ds.SOPClassUID)[:64],
        instance_number=_int(ds, "InstanceNumber"),
        frames=_int(ds, "NumberOfFrames") or 1,
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        transfer_syntax=str(ds.file_meta.get("TransferSyntaxUID", ""))[:64],
        blob_key=key,
        size_bytes=len(data),
        meta=json.dumps(metadata_json(ds), separators=(",", ":")),
    )
    session.add(instance)
    mods = set(filter(None, study.modalities.split("\\"))) | ({modality} if modality else set())
    study.modalities = "\\".join(sorted(mods))[:64]
    await session.flush()
    await store.put(key, data)
    patient = await session.get(Patient, study.patient_id) if study.patient_id else None
    await _audit_study(
        session,
        ctx,
        "imaging.instance.store",
        study,
        patient,
        details={"source": source, "sop_class": instance.sop_class_uid, "size": len(data)},
    )
    return Ingested(study, instance, new_study)


async def audit_study(
    session: AsyncSession,
    ctx: Ctx,
    action: str,
    study: Study,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry about a study (naming its patient, or its institution)."""
    patient = await session.get(Patient, study.patient_id) if study.patient_id else None
    await _audit_study(session, ctx, action, study, patient, details=details)


async def ingest_many(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    files: Iterable[bytes],
    patient_id: int | None = None,
    source: str = "upload",
) -> list[Ingested]:
    return [
        await ingest(
            session=session, ctx=ctx, store=store, data=d, patient_id=patient_id, source=source
        )
        for d in files
    ]


# --- reading -----------------------------------------------------------------------------


async def list_studies(
    *, session: AsyncSession, ctx: Ctx, patient_id: int | None = None, limit: int = 100
) -> list[Study]:
    query = visible_query(ctx)
    if patient_id is not None:
        query = query.where(Study.patient_id == patient_id)
    query = query.order_by(Study.study_date.desc(), Study.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def instances(
    session: AsyncSession, study: Study, *, series_uid: str | None = None
) -> list[Instance]:
    query = select(Instance).where(Instance.study_id == study.id)
    if series_uid is not None:
        query = query.where(Instance.series_uid == series_uid)
    query = query.order_by(Instance.series_number, Instance.series_uid, Instance.instance_number)
    return list((await session.scalars(query)).all())


async def instance_of(
    session: AsyncSession, study: Study, sop_uid: str, series_uid: str | None = None
) -> Instance:
    found = await session.scalar(
        select(Instance).where(Instance.study_id == study.id, Instance.sop_uid == sop_uid)
    )
    if found is None or (series_uid is not None and found.series_uid != series_uid):
        raise NotFound("instance not found", code="imaging.instance_not_found")
    return found


async def counts(session: AsyncSession, study_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(series, instances) per study."""
    if not study_ids:
        return {}
    rows = await session.execute(
        select(
            Instance.study_id,
            func.count(func.distinct(Instance.series_uid)),
            func.count(Instance.id),
        )
        .where(Instance.study_id.in_(study_ids))
        .group_by(Instance.study_id)
    )
    return {int(s): (int(a), int(b)) for s, a, b in rows.all()}


def dicom_identity(ctx: Ctx, study: Study) -> tuple[str, str]:
    """The file's Patient ID and name (decrypted, for callers allowed to read the study)."""
    pid = ctx.cipher.decrypt(study.dicom_patient_id_enc, context=PID_CONTEXT)
    name = ctx.cipher.decrypt(study.dicom_patient_name_enc, context=NAME_CONTEXT)
    return pid, name


# --- reconciliation -----------------------------------------------------------------------


async def unmatched(*, session: AsyncSession, ctx: Ctx) -> list[Study]:
    """Unmatched studies the caller's institution brought in (its clinical staff link them)."""
    policy.require(ctx.principal, Action.WRITE_PATIENT, policy.own(ctx.principal))
    query = (
        select(Study)
        .where(Study.patient_id.is_(None), Study.institution_id == ctx.principal.institution_id)
        .order_by(Study.id.desc())
    )
    return list((await session.scalars(query)).all())


async def linkable(*, session: AsyncSession, ctx: Ctx, study_id: int) -> Study:
    """A study the caller's institution brought in, for its clinicians to reconcile."""
    study = await session.get(Study, study_id)
    if (
        study is None
        or study.institution_id != ctx.principal.institution_id
        or not policy.allows(ctx.principal, Action.WRITE_PATIENT, Target.of(study.institution_id))
    ):
        raise _not_found()
    return study


async def patient_by_number(*, session: AsyncSession, ctx: Ctx, number: str) -> Patient:
    """A patient the caller may write, by MPI or record number at its institution."""
    by_record_no = exists().where(
        PatientRecordNo.patient_id == Patient.id,
        PatientRecordNo.institution_id == ctx.principal.institution_id,
        PatientRecordNo.record_no == number,
    )
    query = records_access.visible_query(ctx.principal, Action.WRITE_PATIENT).where(
        or_(Patient.mpi == number, by_record_no)
    )
    patient: Patient | None = await session.scalar(query.limit(1))
    if patient is None:
        raise InvalidInput("no patient with this number", code="imaging.no_such_patient")
    return patient


async def link(*, session: AsyncSession, ctx: Ctx, study_id: int, patient_id: int) -> Study:
    """File an unmatched study under a patient the caller may write (audited on both)."""
    study = await linkable(session=session, ctx=ctx, study_id=study_id)
    if study.patient_id is not None:
        raise InvalidInput("this study is already linked", code="imaging.already_linked")
    patient = await records_access.load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    study.patient_id = patient.id
    study.match = StudyMatch.LINKED
    study.proposed_patient_id = None
    await session.flush()
    await _audit_study(session, ctx, "imaging.study.link", study, patient)
    return study
