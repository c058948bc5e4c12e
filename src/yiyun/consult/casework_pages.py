"""The case-discussion workspace page of a consultation (`/consults/{id}/discussion`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.collab.docs import Access
from yiyun.consult import casework, opinion, service
from yiyun.web.deps import DbSession, PatientCtx
from yiyun.web.pagekit import page
from yiyun.web.params import Id

router = APIRouter()


@router.get("/consults/{consult_id}/discussion", response_class=HTMLResponse)
async def discussion(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> Response:
    access = await casework.workspace(session, ctx.principal, consult_id)
    consult = await service.get(session=session, principal=ctx.principal, consult_id=consult_id)
    experts = await service.experts_of(session, consult.id)
    studies, documents = [], []
    if service.may_read_record(ctx.principal, consult, experts):
        panel = await opinion.panel(session=session, ctx=ctx, consult_id=consult.id)
        documents = panel.documents
        studies = await casework.studies(session, consult)
    else:  # read-only readers see the discussion, not the record behind it
        await service.audit_read(session, ctx, consult, "consult.read")
    context = {
        "c": consult,
        "case": {
            "ws": "/ws/docs/case-notes",
            "key": str(consult.id),
            "readonly": access < Access.WRITE,
        },
        "studies": studies,
        "documents": documents,
        "timeline": await casework.timeline(session, consult),
    }
    return page(request, ctx.principal, "consult/discussion.html", context)
