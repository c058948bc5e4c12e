"""Remote consultation JSON API (and the step-up endpoint it relies on)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from yiyun.auth import service as auth_service
from yiyun.auth import step_up
from yiyun.consult import calendar, direct, icd10, opinion, service, workflow
from yiyun.consult.models import Consult
from yiyun.consult.schemas import (
    Amend,
    Answer,
    Assign,
    AvailabilityCreate,
    AvailabilityRead,
    Cancel,
    CandidateRead,
    ConsultCreate,
    ConsultDetail,
    ConsultRead,
    Decide,
    ExpertRead,
    OpinionDraft,
    OpinionRead,
    StepUp,
    Take,
    WorklistRead,
)
from yiyun.consult.service import Worklist
from yiyun.web.deps import AppSettings, CurrentPrincipal, DbSession, PatientCtx, Store, client_ip
from yiyun.web.params import Id

router = APIRouter()


@router.post("/auth/step-up", status_code=204)
async def step_up_now(
    data: StepUp, request: Request, session: DbSession, ctx: PatientCtx, settings: AppSettings
) -> Response:
    """Confirm it is you with a TOTP code: starting and signing consultations need it
    within the last 10 minutes."""
    await step_up.verify(
        session=session,
        cfg=settings.security,
        principal=ctx.principal,
        actor=ctx.actor,
        code=data.totp_code,
        attempt=auth_service.Attempt(request.app.state.limiter, client_ip(request)),
    )
    return Response(status_code=204)


def _read(consult: Consult) -> ConsultRead:
    return ConsultRead.model_validate(consult)


def _worklist(found: Worklist) -> WorklistRead:
    return WorklistRead(
        counts=found.counts, items=[_read(c) for c in found.items], total=found.total
    )


@router.get("/consults", response_model=WorklistRead)
async def list_consults(
    session: DbSession,
    principal: CurrentPrincipal,
    view: Literal["mine", "institution", "invited", "dispatch", "all"] | None = None,
    state: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z_]+$")] = None,
    urgency: Literal["emergency", "urgent", "routine"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> WorklistRead:
    """The caller's worklist (by role by default) with counts per state."""
    found = await service.worklist(
        session=session,
        principal=principal,
        view=view,
        state=state,
        urgency=urgency,
        limit=limit,
        offset=offset,
    )
    return _worklist(found)


@router.post("/consults", response_model=ConsultRead, status_code=201)
async def create_consult(
    data: ConsultCreate,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
) -> ConsultRead:
    consult = await service.create(
        session=session, ctx=ctx, bus=request.app.state.bus, data=data, settings=settings.consult
    )
    return _read(consult)


@router.get("/consults/availability", response_model=list[AvailabilityRead])
async def list_availability(
    session: DbSession, principal: CurrentPrincipal, expert_id: Id | None = None
) -> list[AvailabilityRead]:
    """A calendar for the next two weeks: the caller's, or (dispatchers) an expert's."""
    rows = await calendar.listing(session=session, principal=principal, expert_id=expert_id)
    return [AvailabilityRead.model_validate(r) for r in rows]


@router.post("/consults/availability", response_model=AvailabilityRead, status_code=201)
async def add_availability(
    data: AvailabilityCreate, session: DbSession, ctx: PatientCtx
) -> AvailabilityRead:
    """Publish a window of one's calendar (Asia/Shanghai when no zone is given)."""
    row = await calendar.add(session=session, ctx=ctx, data=data)
    return AvailabilityRead.model_validate(row)


@router.delete("/consults/availability/{window_id}", status_code=204)
async def remove_availability(window_id: Id, session: DbSession, ctx: PatientCtx) -> Response:
    await calendar.remove(session=session, ctx=ctx, window_id=window_id)
    return Response(status_code=204)


@router.get("/consults/{consult_id}", response_model=ConsultDetail)
async def get_consult(consult_id: Id, session: DbSession, ctx: PatientCtx) -> ConsultDetail:
    consult = await service.get(session=session, principal=ctx.principal, consult_id=consult_id)
    experts = await service.experts_of(session, consult.id)
    clinical = service.sees_clinical(ctx.principal, consult, experts)
    ops = await opinion.opinions(session, consult.id) if clinical else []
    if clinical:
        await service.audit_read(session, ctx, consult, "consult.read")
    return ConsultDetail(
        **_read(consult).model_dump(),
        summary=consult.summary if clinical else "",
        decision=consult.decision if clinical else "",
        allowed=[
            a
            for a in workflow.MACHINE.allowed(consult.state)
            if workflow.MACHINE.may(ctx.principal, consult, a)
        ],
        experts=[ExpertRead.model_validate(e) for e in experts],
        opinions=[OpinionRead.model_validate(o) for o in ops],
    )


@router.post("/consults/{consult_id}/submit", response_model=ConsultRead)
async def submit(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx, settings: AppSettings
) -> ConsultRead:
    consult = await service.submit(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        settings=settings.consult,
    )
    return _read(consult)


@router.get("/consults/{consult_id}/candidates", response_model=list[CandidateRead])
async def candidates(
    consult_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[CandidateRead]:
    """Specialists for the request: eligible and free first (dispatchers)."""
    found = await service.candidates(session=session, principal=principal, consult_id=consult_id)
    return [
        CandidateRead(
            user_id=c.user.id,
            display_name=c.user.display_name,
            institution_id=c.user.institution_id,
            title=c.user.title.value if c.user.title else None,
            specialties=sorted(c.codes),
            eligible=c.refusal is None,
            refusal=c.refusal,
            busy=c.busy,
        )
        for c in found
    ]


@router.post("/consults/{consult_id}/assign", response_model=ConsultRead)
async def assign(
    consult_id: Id,
    data: Assign,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
) -> ConsultRead:
    consult = await service.assign(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        data=data,
        settings=settings.consult,
    )
    return _read(consult)


@router.post("/consults/{consult_id}/take", response_model=ConsultRead)
async def take(
    consult_id: Id, data: Take, request: Request, session: DbSession, ctx: PatientCtx
) -> ConsultRead:
    """The invited department's specialist accepts directly, at a time of their calendar."""
    consult = await direct.take(
        session=session, ctx=ctx, bus=request.app.state.bus, consult_id=consult_id, data=data
    )
    return _read(consult)


@router.post("/consults/{consult_id}/answer", response_model=ConsultRead)
async def answer(
    consult_id: Id,
    data: Answer,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
) -> ConsultRead:
    consult = await service.answer(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        accept=data.accept,
        reason=data.reason,
        settings=settings.consult,
    )
    return _read(consult)


@router.post("/consults/{consult_id}/cancel", response_model=ConsultRead)
async def cancel(
    consult_id: Id, data: Cancel, request: Request, session: DbSession, ctx: PatientCtx
) -> ConsultRead:
    consult = await service.cancel(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        reason=data.reason,
    )
    return _read(consult)


@router.post("/consults/{consult_id}/start", response_model=ConsultRead)
async def start(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx, settings: AppSettings
) -> ConsultRead:
    """Open the meeting for exactly the participants (needs a TOTP step-up within 10 min)."""
    consult = await service.start(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        settings=settings.consult,
    )
    return _read(consult)


@router.put("/consults/{consult_id}/opinion", response_model=OpinionRead)
async def save_opinion(
    consult_id: Id, data: OpinionDraft, session: DbSession, ctx: PatientCtx
) -> OpinionRead:
    draft = await opinion.save_draft(session=session, ctx=ctx, consult_id=consult_id, data=data)
    return OpinionRead.model_validate(draft)


@router.post("/consults/{consult_id}/sign", response_model=OpinionRead)
async def sign(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx, store: Store
) -> OpinionRead:
    """Sign the drafted opinion (TOTP step-up within 10 min): a PAdES-signed PDF."""
    done = await opinion.sign(
        session=session, ctx=ctx, bus=request.app.state.bus, store=store, consult_id=consult_id
    )
    return OpinionRead.model_validate(done.opinion)


@router.post("/consults/{consult_id}/amend", response_model=OpinionRead)
async def amend(
    consult_id: Id,
    data: Amend,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
) -> OpinionRead:
    done = await opinion.amend(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        store=store,
        consult_id=consult_id,
        data=data,
    )
    return OpinionRead.model_validate(done.opinion)


@router.get("/consults/{consult_id}/opinions/{opinion_id}/pdf")
async def opinion_pdf(
    consult_id: Id, opinion_id: Id, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    op, data = await opinion.opinion_pdf(
        session=session, ctx=ctx, store=store, consult_id=consult_id, opinion_id=opinion_id
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="opinion-{consult_id}-v{op.version}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/consults/{consult_id}/decide", response_model=ConsultRead)
async def decide(
    consult_id: Id, data: Decide, request: Request, session: DbSession, ctx: PatientCtx
) -> ConsultRead:
    consult = await service.decide(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        decision=data.decision,
    )
    return _read(consult)


@router.get("/consults/{consult_id}/record")
async def record_panel(consult_id: Id, session: DbSession, ctx: PatientCtx) -> dict[str, object]:
    """The patient summary and attached documents beside the video (audited)."""
    p = await opinion.panel(session=session, ctx=ctx, consult_id=consult_id)
    return {
        "patient": {"name": p.patient_masked, "sex": p.patient_sex, "age": p.patient_age},
        "summary": p.summary,
        "documents": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "title": d.title,
                "body": d.body,
                "has_file": d.blob_key is not None,
                "sha256": d.sha256,
            }
            for d in p.documents
        ],
    }


@router.get("/icd10")
async def icd10_search(
    principal: CurrentPrincipal, q: Annotated[str, Query(max_length=50)] = ""
) -> list[dict[str, str]]:
    """ICD-10 codes by code prefix or name (for the opinion form)."""
    del principal
    return [{"code": c.code, "name": c.name, "name_en": c.name_en} for c in icd10.search(q)]
