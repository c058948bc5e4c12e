"""Patient pages: find and register, the patient chart, documents and consents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth.policy import Action, Target, allows
from yiyun.core.pagination import PageParams
from yiyun.org import service as org_service
from yiyun.records import break_glass, guardians, service
from yiyun.records.enums import ConsentPurpose, DocumentKind, GuardianRelation, Sex
from yiyun.records.schemas import ConsentCreate, DocumentCreate, PatientCreate
from yiyun.web.deps import AppSettings, DbSession, PatientCtx, Store
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/patients", response_class=HTMLResponse)
async def patients(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    params = PageParams(page=page_no, size=25)
    rows, total = await service.search(session=session, ctx=ctx, q=q, params=params)
    reads = [await service.to_read(session, p, ctx.cipher) for p in rows]
    institutions, _ = await org_service.list_institutions(
        session=session, params=PageParams(size=200)
    )
    return page(
        request,
        ctx.principal,
        "records/patients.html",
        {
            "patients": reads,
            "total": total,
            "q": q or "",
            "page_no": page_no,
            "pages": max(1, -(-total // params.size)),
            "institutions": {i.id: i for i in institutions},
            "can_register": allows(
                ctx.principal, Action.REGISTER_PATIENT, Target.of(ctx.principal.institution_id)
            ),
            "sexes": list(Sex),
            "relations": list(GuardianRelation),
        },
    )


@router.get("/patients/guardians", response_class=HTMLResponse)
async def guardian_search(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    guardian_q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Adults matching what was typed, to pick as a minor's guardian (htmx partial)."""
    rows = await guardians.candidates(session=session, ctx=ctx, q=guardian_q)
    found = [await service.to_read(session, p, ctx.cipher) for p in rows]
    return page(
        request,
        ctx.principal,
        "records/_guardian_results.html",
        {"found": found, "q": guardian_q.strip()},
    )


@router.get("/patients/guardians/picker", response_class=HTMLResponse)
async def guardian_picker(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    chosen: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    """The guardian field: empty with a search box, or showing the chosen person."""
    guardians.require_registrar(ctx)
    guardian = None
    if chosen is not None:
        patient = await service.read(session=session, ctx=ctx, patient_id=chosen)
        guardian = await service.to_read(session, patient, ctx.cipher)
    return page(request, ctx.principal, "records/_guardian_picker.html", {"guardian": guardian})


@router.post("/patients")
async def register(
    session: DbSession,
    ctx: PatientCtx,
    name: Annotated[str, Form(max_length=200)],
    id_number: Annotated[str, Form(max_length=32)] = "",
    sex: Annotated[str, Form(max_length=10)] = "",
    birth_on: Annotated[str, Form(max_length=10)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    guardian_id: Annotated[str, Form(max_length=12)] = "",
    guardian_relation: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        data = PatientCreate.model_validate(
            {
                "name": name,
                "id_number": id_number.strip() or None,
                "sex": sex or None,
                "birth_on": birth_on or None,
                "phone": phone.strip() or None,
                "address": address,
                "guardian_id": guardian_id.strip() or None,
                "guardian_relation": guardian_relation or None,
            }
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    patient = await service.register(session=session, ctx=ctx, data=data)
    return see_other(f"/patients/{patient.id}?done=registered")


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
async def chart(request: Request, patient_id: Id, session: DbSession, ctx: PatientCtx) -> Response:
    patient = await service.read(session=session, ctx=ctx, patient_id=patient_id)
    read = await service.to_read(session, patient, ctx.cipher)
    documents = await service.list_documents(session=session, ctx=ctx, patient_id=patient_id)
    consents = await service.list_consents(session=session, ctx=ctx, patient_id=patient_id)
    institutions, _ = await org_service.list_institutions(
        session=session, params=PageParams(size=200)
    )
    writable = allows(ctx.principal, Action.WRITE_PATIENT, Target(service.institutions_of(patient)))
    return page(
        request,
        ctx.principal,
        "records/patient.html",
        {
            "p": read,
            "documents": documents,
            "consents": consents,
            "institutions": {i.id: i for i in institutions},
            "writable": writable,
            "purposes": list(ConsentPurpose),
            "doc_kinds": [DocumentKind.SUMMARY, DocumentKind.LAB_RESULT],
        },
    )


@router.post("/patients/{patient_id}/documents")
async def add_document(
    patient_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    kind: Annotated[DocumentKind, Form()],
    title: Annotated[str, Form(max_length=200)],
    body: Annotated[str, Form(max_length=100_000)],
) -> Response:
    try:
        data = DocumentCreate(kind=kind, title=title, body=body)
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.add_document(session=session, ctx=ctx, patient_id=patient_id, data=data)
    return see_other(f"/patients/{patient_id}?done=saved#documents")


@router.post("/patients/{patient_id}/attachments")
async def upload(
    patient_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    limit = settings.storage.max_upload_bytes
    data = await file.read(limit + 1)
    await service.upload_document(
        session=session,
        ctx=ctx,
        store=store,
        patient_id=patient_id,
        title=title,
        filename=file.filename or "upload",
        data=data,
        max_bytes=limit,
    )
    return see_other(f"/patients/{patient_id}?done=uploaded#documents")


@router.post("/patients/{patient_id}/consents")
async def grant_consent(
    patient_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    purpose: Annotated[ConsentPurpose, Form()],
    target_institution_id: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    target = int(target_institution_id) if target_institution_id.isdecimal() else None
    try:
        data = ConsentCreate(purpose=purpose, target_institution_id=target, note=note)
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.grant_consent(session=session, ctx=ctx, patient_id=patient_id, data=data)
    return see_other(f"/patients/{patient_id}?done=consent#consents")


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw")
async def withdraw_consent(
    patient_id: Id, consent_id: Id, session: DbSession, ctx: PatientCtx
) -> Response:
    await service.withdraw_consent(
        session=session, ctx=ctx, patient_id=patient_id, consent_id=consent_id
    )
    return see_other(f"/patients/{patient_id}?done=withdrawn#consents")


@router.get("/break-glass", response_class=HTMLResponse)
async def break_glass_page(request: Request, session: DbSession, ctx: PatientCtx) -> Response:
    """Emergency access: the form, and the caller's grants that hold now."""
    grants = await break_glass.mine(session=session, principal=ctx.principal)
    return page(request, ctx.principal, "records/break_glass.html", {"grants": grants})


@router.post("/break-glass")
async def break_the_glass(
    session: DbSession,
    ctx: PatientCtx,
    patient_number: Annotated[str, Form(min_length=1, max_length=20)],
    reason: Annotated[str, Form(max_length=500)],
    minutes: Annotated[int, Form(ge=break_glass.MIN_MINUTES, le=break_glass.MAX_MINUTES)] = 30,
) -> Response:
    grant = await break_glass.open_by_number(
        session=session, ctx=ctx, number=patient_number, reason=reason, minutes=minutes
    )
    return see_other(f"/patients/{grant.patient_id}")


@router.post("/break-glass/{grant_id}/end")
async def end_break_glass(grant_id: Id, session: DbSession, ctx: PatientCtx) -> Response:
    await break_glass.end_grant(session=session, ctx=ctx, grant_id=grant_id)
    return see_other("/break-glass?done=ended")
