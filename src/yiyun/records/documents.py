"""Clinical documents and attachments on a patient's record (every access audited)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.storage import BlobStore
from yiyun.records.access import Ctx, load_patient, record
from yiyun.records.enums import DocumentKind
from yiyun.records.files import check_upload
from yiyun.records.models import Document
from yiyun.records.schemas import DocumentCreate

# Writing a document of this kind needs this action (anything else: `WRITE_PATIENT`).
ACTION_FOR_KIND = {DocumentKind.OPINION: Action.ADD_OPINION}


async def list_documents(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> list[Document]:
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    rows = (
        await session.scalars(
            select(Document)
            .where(Document.patient_id == patient_id)
            .order_by(Document.created_at.desc())
        )
    ).all()
    await record(session, ctx, "document.list", patient)
    return list(rows)


async def add_document(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, data: DocumentCreate
) -> Document:
    """A written document; a signed opinion needs `ADD_OPINION`, anything else a writer."""
    if data.kind == DocumentKind.ATTACHMENT:
        raise InvalidInput("attachments are uploaded as files", code="document.use_upload")
    action = ACTION_FOR_KIND.get(data.kind, Action.WRITE_PATIENT)
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id, action=action)
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
    await record(session, ctx, "document.create", patient, entity_type="document", entity_id=doc.id)
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
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
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
    await record(
        session,
        ctx,
        "document.upload",
        patient,
        entity_type="document",
        entity_id=doc.id,
        details={"content_type": checked.content_type, "size": checked.size},
    )
    return doc


async def read_document_file(
    *, session: AsyncSession, ctx: Ctx, store: BlobStore, patient_id: int, document_id: int
) -> tuple[Document, bytes]:
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    doc = await session.get(Document, document_id)
    if doc is None or doc.patient_id != patient_id or doc.blob_key is None:
        raise NotFound("document not found", code="document.not_found")
    data = await store.get(doc.blob_key)
    await record(
        session, ctx, "document.download", patient, entity_type="document", entity_id=doc.id
    )
    return doc, data
