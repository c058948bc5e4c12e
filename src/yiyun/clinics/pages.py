"""Remote clinic pages: worklists, a session's queue, a visit, the waiting-area board."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth.policy import Action, Target, allows, own, require
from yiyun.clinics import board, drugs, service, visits
from yiyun.clinics.schemas import BookingCreate, PrescriptionCreate, SessionCreate
from yiyun.core.clock import DISTRICT_TZ, district, now
from yiyun.core.errors import InvalidInput
from yiyun.meetings import schedule as meetings_schedule
from yiyun.org import service as org_service
from yiyun.org.models import User
from yiyun.web import stepup
from yiyun.web.deps import CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
STATES = ("booked", "checked_in", "in_visit", "completed", "no_show", "cancelled")


def _local(day: str, clock: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=DISTRICT_TZ)
    except ValueError:
        message = "enter a date and a time"
        raise InvalidInput(
            message, code="form.invalid", details={"field": field, "reasons": [message]}
        ) from None


@router.get("/clinics", response_class=HTMLResponse)
async def worklist(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    state: str | None = None,
    day: str = "today",
) -> Response:
    """Sessions to book into, the caller's own sessions, and the visits they see."""
    holds = allows(principal, Action.HOLD_CLINIC, own(principal))
    books = allows(principal, Action.BOOK_CLINIC, own(principal))
    if not (holds or books):
        require(principal, Action.HOLD_CLINIC, own(principal))
    day = day if day in ("today", "upcoming", "all") else "today"
    state = state if state in STATES else None
    work = await board.worklist(session=session, principal=principal, state=state, day=day)
    sessions = await board.upcoming_sessions(session=session, principal=principal, mine=holds)
    context = {
        "work": work,
        "sessions": sessions,
        "holds": holds,
        "books": books,
        "state": state,
        "day": day,
        "states": STATES,
    }
    return page(request, principal, "clinics/worklist.html", context)


@router.post("/clinics/sessions")
async def publish(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    title: Annotated[str, Form(max_length=200)],
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    slot_minutes: Annotated[int, Form(ge=5, le=120)] = 15,
    walk_in_capacity: Annotated[int, Form(ge=0, le=100)] = 0,
    specialty: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        data = SessionCreate(
            title=title,
            specialty=specialty,
            starts_at=_local(day, start, "start"),
            ends_at=_local(day, end, "end"),
            slot_minutes=slot_minutes,
            walk_in_capacity=walk_in_capacity,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    clinic = await service.publish(session=session, bus=request.app.state.bus, ctx=ctx, data=data)
    return see_other(f"/clinics/sessions/{clinic.id}?done=created")


@router.get("/clinics/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(
    session_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    clinic = await service.get_session(session=session, session_id=session_id)
    slots = await service.slots_of(session, clinic.id)
    queue = await board.session_queue(session=session, principal=principal, clinic=clinic)
    specialist = await session.get(User, clinic.specialist_id)
    context = {
        "clinic": clinic,
        "slots": slots,
        "queue": queue,
        "specialist": specialist,
        "holder": principal.user_id == clinic.specialist_id,
        "books": allows(principal, Action.BOOK_CLINIC, own(principal)),
        "counts": board.tally(queue),
    }
    return page(request, principal, "clinics/session.html", context)


@router.post("/clinics/sessions/{session_id}/book")
async def book(
    session_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    patient_number: Annotated[str, Form(max_length=40)],
    slot_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    urgent: Annotated[bool, Form()] = False,
) -> Response:
    require(ctx.principal, Action.BOOK_CLINIC, own(ctx.principal))
    patient_id = await meetings_schedule.patient_id_by_number(
        session=session, ctx=ctx, number=patient_number
    )
    try:
        data = BookingCreate(
            patient_id=patient_id,
            slot_id=int(slot_id) if slot_id.strip() else None,
            reason=reason,
            urgent=urgent,
        )
    except (ValidationError, ValueError) as exc:
        raise invalid(exc) from None
    await service.book(
        session=session, bus=request.app.state.bus, ctx=ctx, session_id=session_id, data=data
    )
    return see_other(f"/clinics/sessions/{session_id}?done=booked")


@router.post("/clinics/sessions/{session_id}/call-next")
async def call_next(
    session_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> Response:
    visit = await visits.call(
        session=session, bus=request.app.state.bus, ctx=ctx, session_id=session_id
    )
    return see_other(f"/clinics/visits/{visit.id}")


@router.get("/clinics/visits/{visit_id}", response_class=HTMLResponse)
async def visit_page(
    visit_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> Response:
    visit = await service.get_visit(session=session, ctx=ctx, visit_id=visit_id)
    clinic = await service.get_session(session=session, session_id=visit.session_id)
    rows = await board._rows(session, [visit], visit.booked_at)
    context = {
        "row": rows[0],
        "visit": visit,
        "clinic": clinic,
        "specialist": ctx.principal.user_id == visit.specialist_id,
        "site": allows(ctx.principal, Action.BOOK_CLINIC, Target.of(visit.institution_id)),
        "prescriptions": await visits.prescriptions_of(session, visit.id),
        "drugs": list(drugs.DRUGS.values()),
    }
    return page(request, ctx.principal, "clinics/visit.html", context)


@router.post("/clinics/visits/{visit_id}/note")
async def note(
    visit_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    note: Annotated[str, Form(min_length=1, max_length=8000)],
) -> Response:
    await visits.write_note(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id, note=note
    )
    return see_other(f"/clinics/visits/{visit_id}?done=saved")


@router.post("/clinics/visits/{visit_id}/prescriptions")
async def draft(
    visit_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    code: Annotated[str, Form(max_length=16)],
    dose: Annotated[str, Form(max_length=60)],
    frequency: Annotated[str, Form(max_length=60)],
    days: Annotated[int, Form(ge=1, le=90)],
    advice: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        data = PrescriptionCreate.model_validate(
            {
                "items": [{"code": code, "dose": dose, "frequency": frequency, "days": days}],
                "advice": advice,
            }
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    await visits.draft_prescription(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id, data=data
    )
    return see_other(f"/clinics/visits/{visit_id}?done=saved")


@router.post("/clinics/prescriptions/{prescription_id}/sign")
async def sign(
    prescription_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    code: Annotated[str, Form(pattern=r"^\s*([0-9]{6})?\s*$")] = "",
) -> Response:
    await stepup.confirm(request, session, ctx, code)
    rx = await visits.sign_prescription(
        session=session, bus=request.app.state.bus, ctx=ctx, prescription_id=prescription_id
    )
    return see_other(f"/clinics/visits/{rx.visit_id}?done=signed")


@router.post("/clinics/visits/{visit_id}/{action}")
async def visit_step(
    visit_id: Id, action: str, request: Request, session: DbSession, ctx: PatientCtx
) -> Response:
    bus = request.app.state.bus
    if action == "complete":
        visit = await visits.complete(session=session, bus=bus, ctx=ctx, visit_id=visit_id)
    elif action == "call":
        found = await service.get_visit(session=session, ctx=ctx, visit_id=visit_id)
        visit = await visits.call(
            session=session, bus=bus, ctx=ctx, session_id=found.session_id, visit_id=found.id
        )
    else:
        visit = await service.step_visit(
            session=session, bus=bus, ctx=ctx, visit_id=visit_id, action=action
        )
    back = request.headers.get("referer", "")
    if "/clinics/sessions/" in back and action != "call":
        return see_other(f"/clinics/sessions/{visit.session_id}?done=saved")
    return see_other(f"/clinics/visits/{visit.id}?done=saved")


@router.get("/clinics/waiting", response_class=HTMLResponse)
async def waiting(
    request: Request, session: DbSession, principal: CurrentPrincipal, kiosk: bool = False
) -> Response:
    """The waiting-area board of the caller's community centre (masked names)."""
    require(principal, Action.BOOK_CLINIC, own(principal))
    lines = await board.waiting_board(session=session, institution_id=principal.institution_id)
    site = await org_service.get_institution(
        session=session, institution_id=principal.institution_id
    )
    template = "clinics/waiting_kiosk.html" if kiosk else "clinics/waiting.html"
    context = {
        "lines": lines,
        "site": site,
        "kiosk": kiosk,
        "now_local": district(now()).strftime("%Y-%m-%d %H:%M"),
    }
    return page(request, principal, template, context)
