"""Referral pages: the worklist (in and out, counts, filters), a new referral, detail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from yiyun.auth.policy import Action, Target, allows, own, require
from yiyun.core.clock import DISTRICT_TZ
from yiyun.core.errors import InvalidInput
from yiyun.meetings import schedule as meetings_schedule
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Department, Institution
from yiyun.records.models import Patient
from yiyun.referrals import service, workflow
from yiyun.referrals.models import ReferralState
from yiyun.referrals.schemas import Decision, ReferralDown, ReferralUp
from yiyun.web.deps import CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
STATES = tuple(s.value for s in ReferralState)


def _when(value: str, field: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=DISTRICT_TZ)
    except ValueError:
        message = "enter a date and a time"
        raise InvalidInput(
            message, code="form.invalid", details={"field": field, "reasons": [message]}
        ) from None


@router.get("/referrals", response_class=HTMLResponse)
async def worklist(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    box: str = "all",
    state: str | None = None,
    direction: str | None = None,
) -> Response:
    require(principal, Action.REFER, own(principal))
    box = box if box in ("all", "in", "out") else "all"
    state = state if state in STATES else None
    direction = direction if direction in ("up", "down") else None
    work = await service.worklist(
        session=session, principal=principal, box=box, state=state, direction=direction
    )
    context = {
        "work": work,
        "box": box,
        "state": state,
        "direction": direction,
        "states": STATES,
    }
    return page(request, principal, "referrals/worklist.html", context)


@router.get("/referrals/new", response_class=HTMLResponse)
async def new(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    direction: str = "up",
    parent: int | None = None,
) -> Response:
    require(principal, Action.REFER, own(principal))
    direction = "down" if direction == "down" else "up"
    kinds = (
        (InstitutionKind.LEAD_HOSPITAL, InstitutionKind.HOSPITAL)
        if direction == "up"
        else (InstitutionKind.COMMUNITY_HEALTH_CENTRE,)
    )
    targets = list(
        await session.scalars(
            select(Institution)
            .where(
                Institution.kind.in_(kinds),
                Institution.active.is_(True),
                Institution.id != principal.institution_id,
            )
            .order_by(Institution.name)
        )
    )
    departments = list(
        await session.scalars(
            select(Department)
            .where(Department.institution_id.in_([t.id for t in targets]))
            .order_by(Department.institution_id, Department.name)
        )
    )
    context: dict[str, object] = {
        "direction": direction,
        "targets": targets,
        "departments": departments,
        "parent": None,
        "patient_number": "",
    }
    if parent is not None:
        found = await service.get(session=session, principal=principal, referral_id=parent)
        context["parent"] = found
        context["patient_number"] = await session.scalar(
            select(Patient.mpi).where(Patient.id == found.patient_id)
        )
    return page(request, principal, "referrals/new.html", context)


@router.post("/referrals")
async def create(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    direction: Annotated[str, Form(pattern="^(up|down)$")],
    patient_number: Annotated[str, Form(max_length=40)],
    to_institution_id: Annotated[int, Form(gt=0, le=2**31 - 1)],
    reason: Annotated[str, Form(max_length=500)],
    summary: Annotated[str, Form(max_length=8000)],
    care_plan: Annotated[str, Form(max_length=8000)] = "",
    appointment: Annotated[str, Form(max_length=20)] = "",
    to_department_id: Annotated[str, Form(max_length=12)] = "",
    parent_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    require(ctx.principal, Action.REFER, own(ctx.principal))
    bus = request.app.state.bus
    parent = int(parent_id) if parent_id.strip().isdecimal() else None
    if parent is not None:
        found = await service.get(session=session, principal=ctx.principal, referral_id=parent)
        patient_id = found.patient_id
    else:
        patient_id = await meetings_schedule.patient_id_by_number(
            session=session, ctx=ctx, number=patient_number
        )
    when = _when(appointment, "appointment")
    try:
        if direction == "up":
            up = ReferralUp.model_validate(
                {
                    "patient_id": patient_id,
                    "to_institution_id": to_institution_id,
                    "to_department_id": int(to_department_id)
                    if to_department_id.strip().isdecimal()
                    else None,
                    "reason": reason,
                    "summary": summary,
                    "appointment_at": when,
                }
            )
            referral = await service.refer_up(session=session, bus=bus, ctx=ctx, data=up)
        else:
            down = ReferralDown.model_validate(
                {
                    "patient_id": patient_id,
                    "to_institution_id": to_institution_id,
                    "parent_id": parent,
                    "reason": reason,
                    "summary": summary,
                    "care_plan": care_plan,
                    "appointment_at": when,
                }
            )
            referral = await service.refer_down(session=session, bus=bus, ctx=ctx, data=down)
    except ValidationError as exc:
        raise invalid(exc) from None
    return see_other(f"/referrals/{referral.id}?done=created")


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
async def detail(
    referral_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> Response:
    referral = await service.read_with_audit(session=session, ctx=ctx, referral_id=referral_id)
    patient = await session.get(Patient, referral.patient_id)
    sites = {
        i.id: i
        for i in await session.scalars(
            select(Institution).where(
                Institution.id.in_([referral.from_institution_id, referral.to_institution_id])
            )
        )
    }
    department = (
        await session.get(Department, referral.to_department_id)
        if referral.to_department_id
        else None
    )
    principal = ctx.principal
    allowed = [
        a
        for a in workflow.MACHINE.allowed(referral.state)
        if workflow.MACHINE.may(principal, referral, a)
    ]
    receiver = allows(principal, Action.REFER, Target.of(referral.to_institution_id))
    context = {
        "referral": referral,
        "patient": patient,
        "sites": sites,
        "department": department,
        "actions": allowed,
        "can_read_record": receiver
        or allows(principal, Action.READ_PATIENT, Target.of(referral.from_institution_id)),
        "refer_down": receiver
        and referral.direction.value == "up"
        and referral.state is ReferralState.ARRIVED,
    }
    return page(request, principal, "referrals/detail.html", context)


@router.post("/referrals/{referral_id}/{action}")
async def decide(
    referral_id: Id,
    action: str,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    reason: Annotated[str, Form(max_length=500)] = "",
    appointment: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        data = Decision(reason=reason, appointment_at=_when(appointment, "appointment"))
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.decide(
        session=session,
        bus=request.app.state.bus,
        ctx=ctx,
        referral_id=referral_id,
        action=action,
        data=data,
    )
    return see_other(f"/referrals/{referral_id}?done=saved")
