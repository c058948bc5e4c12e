"""Consultation pages: worklists per role, the request form, the case page with the
record beside the meeting link, the dispatcher's assignment, answers, opinion, decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from yiyun.auth import step_up
from yiyun.auth.policy import Action
from yiyun.collab.docs import Access
from yiyun.consult import casework, icd10, opinion, service, workflow
from yiyun.consult.models import Consult, Urgency
from yiyun.consult.schemas import Amend, Assign, ConsultCreate, Diagnosis, OpinionDraft
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound, PermissionDenied
from yiyun.meetings.schedule_pages import local_input, parse_local
from yiyun.org import specialties
from yiyun.org.enums import Role
from yiyun.org.models import Institution
from yiyun.records.access import Ctx, visible_query
from yiyun.records.models import Document, Patient
from yiyun.web import stepup
from yiyun.web.deps import AppSettings, DbSession, PatientCtx, Store
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
Long = Annotated[str, Form(max_length=8000)]
Short = Annotated[str, Form(max_length=500)]
Code = Annotated[str, Form(max_length=16)]

STATE_LABELS = {
    "draft": "Draft",
    "requested": "Waiting for experts",
    "assigned": "Experts asked",
    "accepted": "Accepted",
    "in_session": "In session",
    "reported": "Opinion signed",
    "closed": "Closed",
    "cancelled": "Cancelled",
}
URGENCY_LABELS = {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine"}
VIEW_LABELS = {
    "mine": "My requests",
    "institution": "My institution",
    "invited": "Invitations to me",
    "dispatch": "Telemedicine centre",
    "all": "All consultations",
}
ANSWER_LABELS = {
    "pending": "Waiting for answer",
    "accepted": "Accepted",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
}
TITLE_LABELS = {
    "chief_physician": "Chief physician",
    "associate_chief_physician": "Associate chief physician",
    "attending_physician": "Attending physician",
    "resident_physician": "Resident physician",
}


async def _names(session: DbSession, consults: list[Consult]) -> dict[str, dict[int, Any]]:
    patient_ids = {c.patient_id for c in consults}
    inst_ids = {c.institution_id for c in consults}
    patients = {}
    if patient_ids:
        rows = await session.execute(
            select(Patient.id, Patient.name).where(Patient.id.in_(patient_ids))
        )
        patients = {i: service.mask_name(n) for i, n in rows.all()}
    insts = {}
    if inst_ids:
        found = await session.scalars(select(Institution).where(Institution.id.in_(inst_ids)))
        insts = {i.id: i for i in found.all()}
    return {"patients": patients, "institutions": insts}


def _labels(locale_ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "state_labels": STATE_LABELS,
        "urgency_labels": URGENCY_LABELS,
        "view_labels": VIEW_LABELS,
        "answer_labels": ANSWER_LABELS,
        "title_labels": TITLE_LABELS,
        "specialty_label": specialties.label,
        "number": service.number,
        **locale_ctx,
    }


@router.get("/consults", response_class=HTMLResponse)
async def worklist(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    view: Annotated[str | None, Query(max_length=16)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    urgency: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    principal = ctx.principal
    if not service.views_for(principal):
        raise NotFound("no such list", code="consult.no_view")
    state = state if state in {*STATE_LABELS, "active"} else None
    urgency = urgency if urgency in URGENCY_LABELS else None
    found = await service.worklist(
        session=session, principal=principal, view=view, state=state, urgency=urgency, limit=100
    )
    context = {
        "found": found,
        "views": service.views_for(principal),
        "state": state or "",
        "urgency": urgency or "",
        "names": await _names(session, found.items),
        "may_request": principal.has(Role.COMMUNITY_DOCTOR, Role.SPECIALIST),
        "may_calendar": principal.has(Role.SPECIALIST, Role.DISPATCHER),
        "now": now(),
    }
    template = (
        "consult/_worklist.html"
        if request.headers.get("hx-target") == "worklist"
        else "consult/worklist.html"
    )
    return page(request, principal, template, _labels(context))


@router.get("/consults/new", response_class=HTMLResponse)
async def new_form(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    patient_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    principal = ctx.principal
    if not principal.has(Role.COMMUNITY_DOCTOR, Role.SPECIALIST):
        raise PermissionDenied(
            "only a doctor can request a consultation", code="consult.doctor_only"
        )
    patients = list(
        (
            await session.scalars(
                visible_query(principal, Action.WRITE_PATIENT)
                .where(Patient.home_institution_id == principal.institution_id)
                .order_by(Patient.name)
                .limit(300)
            )
        ).all()
    )
    docs: list[Document] = []
    if patient_id is not None and any(p.id == patient_id for p in patients):
        docs = list(
            (
                await session.scalars(
                    select(Document)
                    .where(Document.patient_id == patient_id)
                    .order_by(Document.created_at.desc())
                    .limit(50)
                )
            ).all()
        )
    context = {
        "patients": patients,
        "patient_id": patient_id,
        "docs": docs,
        "mask": service.mask_name,
        "specialties": specialties.SPECIALTIES,
        "urgencies": [u.value for u in Urgency],
    }
    return page(request, principal, "consult/new.html", _labels(context))


@router.post("/consults")
async def create(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    patient_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    reason: Short,
    specialty: Code,
    urgency: Code = "routine",
    kind: Code = "single",
    purpose: Short = "",
    summary: Long = "",
    min_title: Code = "",
    document_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    try:
        data = ConsultCreate(
            patient_id=patient_id,
            reason=reason,
            specialty=specialty,
            urgency=urgency,
            kind=kind,
            purpose=purpose,
            summary=summary.replace("\r\n", "\n"),
            min_title=min_title or None,
            document_ids=document_ids or [],
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    consult = await service.create(
        session=session, ctx=ctx, bus=request.app.state.bus, data=data, settings=settings.consult
    )
    return see_other(f"/consults/{consult.id}?done=saved")


async def _detail(session: DbSession, ctx: Ctx, consult_id: int) -> dict[str, Any]:
    principal = ctx.principal
    consult = await service.get(session=session, principal=principal, consult_id=consult_id)
    experts = await service.experts_of(session, consult.id)
    clinical = service.sees_clinical(principal, consult, experts)
    users = await service._users(
        session,
        [consult.requester_id, *(e.expert_id for e in experts), consult.dispatcher_id or 0],
    )
    names = await _names(session, [consult])
    allowed = [
        a
        for a in workflow.MACHINE.allowed(consult.state)
        if workflow.MACHINE.may(principal, consult, a)
    ]
    mine = next((e for e in experts if e.expert_id == principal.user_id), None)
    panel = None
    if service.may_read_record(principal, consult, experts):
        panel = await opinion.panel(session=session, ctx=ctx, consult_id=consult.id)
    elif clinical:
        await service.audit_read(session, ctx, consult, "consult.read")
    ops = await opinion.opinions(session, consult.id) if clinical else []
    draft = next((o for o in ops if o.signed_at is None), None)
    signed = [o for o in ops if o.signed_at is not None]
    candidates = []
    if "assign" in allowed:
        candidates = await service.candidates(
            session=session, principal=principal, consult_id=consult.id
        )
    return {
        "c": consult,
        "experts": experts,
        "users": users,
        "names": names,
        "clinical": clinical,
        "allowed": allowed,
        "mine": mine,
        "panel": panel,
        "draft": draft,
        "signed": signed,
        "candidates": candidates,
        "discussion": casework.access_of(principal, consult, experts) > Access.NONE,
        "fresh": await step_up.is_recent(session, principal),
        "starts_local": local_input(consult.scheduled_at)
        or local_input(now().replace(second=0, microsecond=0)),
        "final": consult.state in workflow.FINAL_STATES,
        "inviting": names["institutions"].get(consult.institution_id),
    }


@router.get("/consults/{consult_id}", response_class=HTMLResponse)
async def detail(consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx) -> Response:
    context = await _detail(session, ctx, consult_id)
    return page(request, ctx.principal, "consult/detail.html", _labels(context))


def _back(consult_id: int, done: str = "saved") -> Response:
    return see_other(f"/consults/{consult_id}?done={done}")


@router.post("/consults/{consult_id}/submit")
async def submit(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx, settings: AppSettings
) -> Response:
    await service.submit(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        settings=settings.consult,
    )
    return _back(consult_id)


@router.post("/consults/{consult_id}/assign")
async def assign(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    starts_local: Annotated[str, Form(max_length=32)],
    expert_ids: Annotated[list[int] | None, Form()] = None,
    duration_minutes: Annotated[int, Form(ge=10, le=240)] = 30,
) -> Response:
    try:
        data = Assign(
            expert_ids=expert_ids or [],
            starts_at=parse_local(starts_local),
            duration_minutes=duration_minutes,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.assign(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        data=data,
        settings=settings.consult,
    )
    return _back(consult_id)


@router.post("/consults/{consult_id}/answer")
async def answer(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    accept: Annotated[str, Form(max_length=8)],
    reason: Short = "",
) -> Response:
    await service.answer(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        accept=accept == "yes",
        reason=reason,
        settings=settings.consult,
    )
    return _back(consult_id)


@router.post("/consults/{consult_id}/start")
async def start(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    totp_code: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    await stepup.confirm(request, session, ctx, totp_code)
    consult = await service.start(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        settings=settings.consult,
    )
    return see_other(f"/consults/{consult_id}?done=saved#meeting-{consult.meeting_id}")


def _draft(findings: str, diagnoses: str, recommendations: str, follow_up: str) -> dict[str, Any]:
    codes = [c.strip() for c in diagnoses.replace("，", ",").replace("、", ",").split(",")]
    return {
        "findings": findings.replace("\r\n", "\n"),
        "diagnoses": [Diagnosis(code=c) for c in codes if c][:10],
        "recommendations": recommendations.replace("\r\n", "\n"),
        "follow_up": follow_up.replace("\r\n", "\n"),
    }


@router.post("/consults/{consult_id}/opinion")
async def save_opinion(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    findings: Long = "",
    diagnoses: Short = "",
    recommendations: Long = "",
    follow_up: Long = "",
    sign: Annotated[str, Form(max_length=8)] = "",
    totp_code: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the draft; with `sign`, sign it at once (TOTP step-up if not recent)."""
    try:
        data = OpinionDraft(**_draft(findings, diagnoses, recommendations, follow_up))
    except ValidationError as exc:
        raise invalid(exc) from None
    await opinion.save_draft(session=session, ctx=ctx, consult_id=consult_id, data=data)
    if sign:
        await stepup.confirm(request, session, ctx, totp_code)
        await opinion.sign(
            session=session,
            ctx=ctx,
            bus=request.app.state.bus,
            store=store,
            consult_id=consult_id,
        )
        return _back(consult_id, "opinion_signed")
    return _back(consult_id)


@router.post("/consults/{consult_id}/amend")
async def amend(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    amend_reason: Short,
    findings: Long = "",
    diagnoses: Short = "",
    recommendations: Long = "",
    follow_up: Long = "",
    totp_code: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        data = Amend(
            amend_reason=amend_reason,
            **_draft(findings, diagnoses, recommendations, follow_up),
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    await stepup.confirm(request, session, ctx, totp_code)
    await opinion.amend(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        store=store,
        consult_id=consult_id,
        data=data,
    )
    return _back(consult_id, "opinion_signed")


@router.post("/consults/{consult_id}/decide")
async def decide(
    consult_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    decision: Annotated[str, Form(max_length=4000)],
) -> Response:
    if len(decision.strip()) < 2:
        raise InvalidInput(
            "write the treatment decision",
            code="consult.decision_required",
            details={"field": "decision"},
        )
    await service.decide(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        decision=decision.strip().replace("\r\n", "\n"),
    )
    return _back(consult_id)


@router.post("/consults/{consult_id}/cancel")
async def cancel(
    consult_id: Id, request: Request, session: DbSession, ctx: PatientCtx, reason: Short
) -> Response:
    if len(reason.strip()) < 2:
        raise InvalidInput(
            "say why you cancel", code="consult.reason_required", details={"field": "reason"}
        )
    await service.cancel(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        consult_id=consult_id,
        reason=reason.strip(),
    )
    return _back(consult_id)


@router.get("/consults/{consult_id}/opinions/{opinion_id}.pdf")
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


@router.get("/consults/{consult_id}/documents/{document_id}")
async def attached(
    consult_id: Id, document_id: Id, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    doc, data = await opinion.attached_file(
        session=session, ctx=ctx, store=store, consult_id=consult_id, document_id=document_id
    )
    return Response(
        data,
        media_type=doc.content_type or "application/octet-stream",
        headers={"Content-Disposition": "inline", "Cache-Control": "no-store"},
    )


@router.get("/consults-icd10", response_class=HTMLResponse)
async def icd10_options(
    request: Request, ctx: PatientCtx, q: Annotated[str, Query(max_length=50)] = ""
) -> Response:
    """ICD-10 suggestions for the opinion form (a <datalist> fragment)."""
    codes = icd10.search(q, limit=30) if q else list(icd10.catalogue().values())
    return page(request, ctx.principal, "consult/_icd10.html", {"codes": codes})
