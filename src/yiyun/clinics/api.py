"""Remote clinic JSON API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from yiyun.clinics import board, drugs, service, visits
from yiyun.clinics.models import ClinicVisit
from yiyun.clinics.schemas import (
    BookingCreate,
    NoteIn,
    PrescriptionCreate,
    PrescriptionRead,
    SessionCreate,
    SessionRead,
    SignIn,
    SlotRead,
    VisitRead,
)
from yiyun.web import stepup
from yiyun.web.deps import CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.params import Id

router = APIRouter()
VisitStep = Literal["check_in", "cancel", "no_show", "mark_urgent"]


def _visit(v: ClinicVisit) -> VisitRead:
    return VisitRead.model_validate(v)


@router.get("/clinics/sessions", response_model=list[SessionRead])
async def list_sessions(
    session: DbSession, principal: CurrentPrincipal, mine: bool = False
) -> list[SessionRead]:
    """Clinic sessions from today on (published ones, or the caller's own with `mine`)."""
    views = await board.upcoming_sessions(session=session, principal=principal, mine=mine)
    return [SessionRead.model_validate(v.clinic) for v in views]


@router.post("/clinics/sessions", response_model=SessionRead, status_code=201)
async def publish(
    data: SessionCreate, request: Request, session: DbSession, ctx: PatientCtx
) -> SessionRead:
    clinic = await service.publish(session=session, bus=request.app.state.bus, ctx=ctx, data=data)
    return SessionRead.model_validate(clinic)


@router.get("/clinics/sessions/{session_id}")
async def get_session(
    session_id: Id, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A session and its slots (free or not; who booked is not shown)."""
    clinic = await service.get_session(session=session, session_id=session_id)
    slots = await service.slots_of(session, clinic.id)
    return {
        **SessionRead.model_validate(clinic).model_dump(mode="json"),
        "slots": [
            SlotRead(
                id=s.id,
                session_id=s.session_id,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                free=s.visit_id is None,
            ).model_dump(mode="json")
            for s in slots
        ],
    }


@router.post("/clinics/sessions/{session_id}/bookings", response_model=VisitRead, status_code=201)
async def book(
    session_id: Id, data: BookingCreate, request: Request, session: DbSession, ctx: PatientCtx
) -> VisitRead:
    """Book a patient into a slot (or the walk-in queue); needs telemedicine consent."""
    visit = await service.book(
        session=session, bus=request.app.state.bus, ctx=ctx, session_id=session_id, data=data
    )
    return _visit(visit)


@router.post("/clinics/sessions/{session_id}/call-next", response_model=VisitRead)
async def call_next(
    session_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> VisitRead:
    """Call the first checked-in patient of the queue; opens the video visit."""
    visit = await visits.call(
        session=session, bus=request.app.state.bus, ctx=ctx, session_id=session_id
    )
    return _visit(visit)


@router.post("/clinics/sessions/{session_id}/{action}", response_model=SessionRead)
async def session_step(
    session_id: Id,
    action: Literal["close", "cancel"],
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
) -> SessionRead:
    clinic = await service.step_session(
        session=session, bus=request.app.state.bus, ctx=ctx, session_id=session_id, action=action
    )
    return SessionRead.model_validate(clinic)


@router.get("/clinics/visits", response_model=list[VisitRead])
async def list_visits(
    session: DbSession,
    principal: CurrentPrincipal,
    state: str | None = None,
    day: Literal["today", "upcoming", "all"] = "all",
) -> list[VisitRead]:
    """The caller's visits: a specialist's clinics, a community centre's bookings."""
    work = await board.worklist(session=session, principal=principal, state=state, day=day)
    return [_visit(r.visit) for r in work.rows]


@router.get("/clinics/visits/{visit_id}", response_model=VisitRead)
async def get_visit(visit_id: Id, session: DbSession, ctx: PatientCtx) -> VisitRead:
    return _visit(await service.get_visit(session=session, ctx=ctx, visit_id=visit_id))


@router.post("/clinics/visits/{visit_id}/call", response_model=VisitRead)
async def call(visit_id: Id, request: Request, session: DbSession, ctx: PatientCtx) -> VisitRead:
    """Call this checked-in patient (out of queue order)."""
    visit = await service.get_visit(session=session, ctx=ctx, visit_id=visit_id)
    called = await visits.call(
        session=session,
        bus=request.app.state.bus,
        ctx=ctx,
        session_id=visit.session_id,
        visit_id=visit.id,
    )
    return _visit(called)


@router.post("/clinics/visits/{visit_id}/note", response_model=VisitRead)
async def note(
    visit_id: Id, data: NoteIn, request: Request, session: DbSession, ctx: PatientCtx
) -> VisitRead:
    visit = await visits.write_note(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id, note=data.note
    )
    return _visit(visit)


@router.post("/clinics/visits/{visit_id}/complete", response_model=VisitRead)
async def complete(
    visit_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> VisitRead:
    visit = await visits.complete(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id
    )
    return _visit(visit)


@router.post(
    "/clinics/visits/{visit_id}/prescriptions", response_model=PrescriptionRead, status_code=201
)
async def draft(
    visit_id: Id, data: PrescriptionCreate, request: Request, session: DbSession, ctx: PatientCtx
) -> PrescriptionRead:
    """Draft prescription advice (narcotic and psychotropic drugs are refused)."""
    rx = await visits.draft_prescription(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id, data=data
    )
    return PrescriptionRead.model_validate(rx)


@router.post("/clinics/visits/{visit_id}/{action}", response_model=VisitRead)
async def visit_step(
    visit_id: Id, action: VisitStep, request: Request, session: DbSession, ctx: PatientCtx
) -> VisitRead:
    """Check in, cancel, record a no-show, or mark urgent (moves up the queue)."""
    visit = await service.step_visit(
        session=session, bus=request.app.state.bus, ctx=ctx, visit_id=visit_id, action=action
    )
    return _visit(visit)


@router.post("/clinics/prescriptions/{prescription_id}/sign", response_model=PrescriptionRead)
async def sign(
    prescription_id: Id, data: SignIn, request: Request, session: DbSession, ctx: PatientCtx
) -> PrescriptionRead:
    """Sign: needs a TOTP check within the last 10 minutes (`code` here, or `POST
    /auth/step-up` before); a code already used is refused."""
    await stepup.confirm(request, session, ctx, data.code)
    rx = await visits.sign_prescription(
        session=session, bus=request.app.state.bus, ctx=ctx, prescription_id=prescription_id
    )
    return PrescriptionRead.model_validate(rx)


@router.post("/clinics/prescriptions/{prescription_id}/withdraw", response_model=PrescriptionRead)
async def withdraw(
    prescription_id: Id, request: Request, session: DbSession, ctx: PatientCtx
) -> PrescriptionRead:
    rx = await visits.withdraw_prescription(
        session=session, bus=request.app.state.bus, ctx=ctx, prescription_id=prescription_id
    )
    return PrescriptionRead.model_validate(rx)


@router.get("/clinics/drugs")
async def drug_list(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The drug list with classes and whether each may be prescribed remotely."""
    return [
        {
            "code": d.code,
            "name": d.name,
            "name_en": d.name_en,
            "class": d.drug_class.value,
            "remote_allowed": d.remote_allowed,
        }
        for d in drugs.DRUGS.values()
    ]
