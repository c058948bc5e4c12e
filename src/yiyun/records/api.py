"""Patient records JSON API. Every call is scoped by the policy and audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.pagination import Page
from yiyun.records import break_glass, files, resident_id, schemas, service
from yiyun.records.schemas import (
    BreakGlassCreate,
    BreakGlassRead,
    ConsentCreate,
    ConsentRead,
    DocumentCreate,
    DocumentRead,
    PatientCreate,
    PatientRead,
    PatientUpdate,
)
from yiyun.web.deps import AppSettings, DbSession, PatientCtx, Store
from yiyun.web.params import Id, Paging

router = APIRouter()


@router.get("/patients", response_model=Page[PatientRead])
async def search_patients(
    session: DbSession,
    params: Paging,
    ctx: PatientCtx,
    q: Annotated[str | None, Query(max_length=100, description="name, MPI or record no")] = None,
) -> Page[PatientRead]:
    rows, total = await service.search(session=session, ctx=ctx, q=q, params=params)
    items = [await service.to_read(session, p, ctx.cipher) for p in rows]
    return Page.of(items, total, params)


@router.post("/patients/lookup", response_model=PatientRead)
async def lookup_by_id_number(
    session: DbSession,
    ctx: PatientCtx,
    id_number: Annotated[
        str,
        Form(
            min_length=1,
            max_length=32,
            description=schemas.ID_NUMBER_DOC,
            json_schema_extra={"pattern": resident_id.SHAPE_PATTERN, "format": resident_id.FORMAT},
        ),
    ],
) -> PatientRead:
    """Find a patient by full resident ID number (sent in the body, never in the URL)."""
    patient = await service.find_by_id_number(session=session, ctx=ctx, id_number=id_number)
    if patient is None:  # the unanswered lookup is audited too
        raise NotFound("patient not found", code="patient.not_found", keep_changes=True)
    return await service.to_read(session, patient, ctx.cipher)


@router.post(
    "/patients",
    response_model=PatientRead,
    status_code=201,
)
async def register_patient(data: PatientCreate, session: DbSession, ctx: PatientCtx) -> PatientRead:
    patient = await service.register(session=session, ctx=ctx, data=data)
    return await service.to_read(session, patient, ctx.cipher)


@router.get("/patients/{patient_id}", response_model=PatientRead)
async def read_patient(patient_id: Id, session: DbSession, ctx: PatientCtx) -> PatientRead:
    patient = await service.read(session=session, ctx=ctx, patient_id=patient_id)
    return await service.to_read(session, patient, ctx.cipher)


@router.patch("/patients/{patient_id}", response_model=PatientRead)
async def update_patient(
    patient_id: Id, data: PatientUpdate, session: DbSession, ctx: PatientCtx
) -> PatientRead:
    patient = await service.update(session=session, ctx=ctx, patient_id=patient_id, data=data)
    return await service.to_read(session, patient, ctx.cipher)


@router.get("/patients/{patient_id}/documents", response_model=list[DocumentRead])
async def list_documents(patient_id: Id, session: DbSession, ctx: PatientCtx) -> list[DocumentRead]:
    rows = await service.list_documents(session=session, ctx=ctx, patient_id=patient_id)
    return [DocumentRead.model_validate(d) for d in rows]


@router.post("/patients/{patient_id}/documents", response_model=DocumentRead, status_code=201)
async def add_document(
    patient_id: Id, data: DocumentCreate, session: DbSession, ctx: PatientCtx
) -> DocumentRead:
    doc = await service.add_document(session=session, ctx=ctx, patient_id=patient_id, data=data)
    return DocumentRead.model_validate(doc)


@router.post("/patients/{patient_id}/attachments", response_model=DocumentRead, status_code=201)
async def upload_attachment(
    patient_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    file: Annotated[
        UploadFile,
        File(description=files.ACCEPTED_DOC, json_schema_extra={"minLength": 1}),
    ],
    title: Annotated[str, Form(max_length=200)] = "",
) -> DocumentRead:
    """Upload a PDF, image, DICOM or text file; the content decides its type."""
    limit = settings.storage.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": limit}
        )
    doc = await service.upload_document(
        session=session,
        ctx=ctx,
        store=store,
        patient_id=patient_id,
        title=title,
        filename=file.filename or "upload",
        data=data,
        max_bytes=limit,
    )
    return DocumentRead.model_validate(doc)


@router.get("/patients/{patient_id}/documents/{document_id}/file")
async def download_attachment(
    patient_id: Id, document_id: Id, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    doc, data = await service.read_document_file(
        session=session, ctx=ctx, store=store, patient_id=patient_id, document_id=document_id
    )
    return Response(
        data,
        media_type=doc.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="document-{doc.id}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/patients/{patient_id}/consents", response_model=list[ConsentRead])
async def list_consents(patient_id: Id, session: DbSession, ctx: PatientCtx) -> list[ConsentRead]:
    rows = await service.list_consents(session=session, ctx=ctx, patient_id=patient_id)
    return [ConsentRead.model_validate(c) for c in rows]


@router.post("/patients/{patient_id}/consents", response_model=ConsentRead, status_code=201)
async def grant_consent(
    patient_id: Id, data: ConsentCreate, session: DbSession, ctx: PatientCtx
) -> ConsentRead:
    row = await service.grant_consent(session=session, ctx=ctx, patient_id=patient_id, data=data)
    return ConsentRead.model_validate(row)


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw", response_model=ConsentRead)
async def withdraw_consent(
    patient_id: Id, consent_id: Id, session: DbSession, ctx: PatientCtx
) -> ConsentRead:
    row = await service.withdraw_consent(
        session=session, ctx=ctx, patient_id=patient_id, consent_id=consent_id
    )
    return ConsentRead.model_validate(row)


@router.post("/patients/{patient_id}/break-glass", response_model=BreakGlassRead, status_code=201)
async def break_the_glass(
    patient_id: Id, data: BreakGlassCreate, session: DbSession, ctx: PatientCtx
) -> BreakGlassRead:
    """Emergency read access to one patient: reasoned, 5 to 120 minutes, audited."""
    grant = await break_glass.open_grant(
        session=session, ctx=ctx, patient_id=patient_id, reason=data.reason, minutes=data.minutes
    )
    return BreakGlassRead.model_validate(grant)


@router.get("/break-glass", response_model=list[BreakGlassRead])
async def my_break_glass(session: DbSession, ctx: PatientCtx) -> list[BreakGlassRead]:
    """The caller's emergency accesses that hold now."""
    rows = await break_glass.mine(session=session, principal=ctx.principal)
    return [BreakGlassRead.model_validate(r) for r in rows]


@router.post("/break-glass/{grant_id}/end", response_model=BreakGlassRead)
async def end_break_glass(grant_id: Id, session: DbSession, ctx: PatientCtx) -> BreakGlassRead:
    """End one's own emergency access before it lapses (audited)."""
    grant = await break_glass.end_grant(session=session, ctx=ctx, grant_id=grant_id)
    return BreakGlassRead.model_validate(grant)
