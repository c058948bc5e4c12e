"""Doctors' pages for light consultation: the pool and "my questions" worklists (live),
a question's thread with claim, reply (with attachments), release and video visit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, PermissionDenied
from yiyun.inquiry import service, workflow
from yiyun.inquiry.models import InquiryState
from yiyun.web.blobs import private_file
from yiyun.web.deps import (
    AppSettings,
    CurrentActor,
    CurrentPrincipal,
    DbSession,
    PatientCtx,
    ResidentKeys,
    Store,
)
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id

router = APIRouter()

STATE_LABELS = {
    "open": "Waiting in the pool",
    "claimed": "Reply owed",
    "answered": "Answered",
    "closed": "Closed",
    "withdrawn": "Withdrawn",
}


def _state(value: str | None) -> InquiryState | None:
    if not value:
        return None
    try:
        return InquiryState(value)
    except ValueError:
        raise InvalidInput(
            "a field has an invalid value", code="form.invalid", details={"field": "state"}
        ) from None


@router.get("/inquiries", response_class=HTMLResponse)
async def worklist(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    view: str = "",
    state: str = "",
    department_id: int | None = None,
) -> Response:
    if not principal.has(*workflow.DOCTOR_ROLES):
        raise PermissionDenied("only doctors see the question pool", code="inquiry.pool_only")
    doctor = True
    view = view or service.POOL
    rows = await service.worklist(
        session=session,
        principal=principal,
        view=view,
        state=_state(state),
        department_id=department_id,
    )
    ctx: dict[str, Any] = {
        "rows": rows,
        "view": view,
        "state": state,
        "counts": await service.counts(session, principal),
        "names": await service.names(session, rows),
        "labels": STATE_LABELS,
        "doctor": doctor,
        "departments": await service.departments_of(session, [principal.institution_id]),
        "department_id": department_id,
        "now": now(),
    }
    template = "inquiry/_rows.html" if request.headers.get("hx-request") else "inquiry/list.html"
    return page(request, principal, template, ctx)


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def show(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    inquiry = await service.for_staff(
        session=session, principal=principal, actor=actor, inquiry_id=inquiry_id
    )
    thread = await service.thread(session, inquiry)
    allowed = {
        a
        for a in workflow.MACHINE.allowed(inquiry.state)
        if workflow.MACHINE.may(principal, inquiry, a)
    }
    return page(
        request,
        principal,
        "inquiry/show.html",
        {
            "t": thread,
            "allowed": allowed,
            "labels": STATE_LABELS,
            "file_base": f"/inquiries/{inquiry.id}/files/",
        },
    )


@router.post("/inquiries/{inquiry_id}/claim")
async def claim(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    await service.claim(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        inquiry_id=inquiry_id,
    )
    return see_other(f"/inquiries/{inquiry_id}?done=saved")


@router.post("/inquiries/{inquiry_id}/release")
async def release(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    await service.release(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        inquiry_id=inquiry_id,
    )
    return see_other("/inquiries?done=saved")


@router.post("/inquiries/{inquiry_id}/reply")
async def reply(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    store: Store,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    body: Annotated[str, Form(max_length=4000)],
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> Response:
    uploads = []
    for f in files:
        data = await f.read()
        if f.filename or data:
            uploads.append(service.Upload(filename=f.filename or "file", data=data))
    await service.reply(
        session=session,
        bus=request.app.state.bus,
        store=store,
        cfg=settings.inquiry,
        principal=principal,
        actor=actor,
        inquiry_id=inquiry_id,
        body=body,
        uploads=uploads,
    )
    return see_other(f"/inquiries/{inquiry_id}?done=saved")


@router.post("/inquiries/{inquiry_id}/video")
async def video(
    inquiry_id: Id,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    ctx: PatientCtx,
    keys: ResidentKeys,
) -> Response:
    inquiry = await service.video(
        session=session,
        bus=request.app.state.bus,
        ctx=ctx,
        meetings_cfg=settings.meetings,
        keys=keys,
        inquiry_id=inquiry_id,
    )
    return see_other(f"/meetings/{inquiry.meeting_id}")


@router.get("/inquiries/{inquiry_id}/files/{file_id}")
async def file(
    inquiry_id: Id,
    file_id: Id,
    request: Request,
    session: DbSession,
    store: Store,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    inquiry = await service.for_staff(
        session=session, principal=principal, actor=actor, inquiry_id=inquiry_id
    )
    row = await service.file_for(session, inquiry, file_id)
    return await private_file(request, store, row.blob_key, row.content_type)
