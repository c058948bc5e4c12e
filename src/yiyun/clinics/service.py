"""Remote clinic use cases: publish a session, book into it, check in, queue steps.

The specialist's side of a visit (call, note, prescription) is in `visits.py`; lists,
counts and the waiting-area board in `board.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, own, require
from yiyun.clinics import workflow
from yiyun.clinics.models import (
    ClinicSession,
    ClinicSlot,
    ClinicVisit,
    SessionState,
    VisitState,
)
from yiyun.clinics.schemas import BookingCreate, SessionCreate
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.org import specialties
from yiyun.records import access as records_access
from yiyun.records import service as records_service
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent

MAX_SLOTS = 96
MAX_AHEAD = timedelta(days=120)
MAX_LENGTH = timedelta(hours=12)
# Patients check in at the centre on the day: from a few hours before the session.
CHECK_IN_FROM = timedelta(hours=4)
START_SLACK = timedelta(minutes=5)
# Visits that hold their place in a session (a cancelled or missed one frees it).
HOLDING = (VisitState.BOOKED, VisitState.CHECKED_IN, VisitState.IN_VISIT, VisitState.COMPLETED)
OPEN_VISIT = (VisitState.BOOKED, VisitState.CHECKED_IN, VisitState.IN_VISIT)


def _bad(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field": field, "reasons": [message]})


def slot_times(starts_at: datetime, ends_at: datetime, minutes: int) -> list[datetime]:
    """The start of each whole slot between the two times."""
    step, out, at = timedelta(minutes=minutes), [], starts_at
    while at + step <= ends_at:
        out.append(at)
        at += step
    return out


async def publish(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    data: SessionCreate,
    at: datetime | None = None,
) -> ClinicSession:
    """A specialist publishes a clinic session on one day, cut into slots."""
    principal = ctx.principal
    require(principal, Action.HOLD_CLINIC, own(principal))
    at = at or now()
    starts, ends = as_utc(data.starts_at), as_utc(data.ends_at)
    if starts < at - START_SLACK:
        raise _bad("starts_at", "the start time is in the past", "clinic.start_in_past")
    if starts > at + MAX_AHEAD:
        raise _bad("starts_at", "the start time is too far ahead", "clinic.too_far")
    if ends <= starts:
        raise _bad("ends_at", "the end must be after the start", "clinic.end_before_start")
    if ends - starts > MAX_LENGTH:
        raise _bad("ends_at", "a clinic session lasts at most 12 hours", "clinic.too_long")
    times = slot_times(starts, ends, data.slot_minutes)
    if not times and data.walk_in_capacity == 0:
        raise _bad("slot_minutes", "the session has no room for a slot", "clinic.no_slots")
    if len(times) > MAX_SLOTS:
        raise _bad("slot_minutes", "too many slots in one session", "clinic.too_many_slots")
    overlap = await session.scalar(
        select(ClinicSession.id).where(
            ClinicSession.specialist_id == principal.user_id,
            ClinicSession.state == SessionState.PUBLISHED,
            ClinicSession.starts_at < ends,
            ClinicSession.ends_at > starts,
        )
    )
    if overlap is not None:
        raise Conflict(
            "you already hold a clinic at this time", code="clinic.overlap", details={"id": overlap}
        )
    clinic = ClinicSession(
        institution_id=principal.institution_id,
        specialist_id=principal.user_id,
        specialty=specialties.require(data.specialty, field="specialty", optional=True),
        title=data.title,
        starts_at=starts,
        ends_at=ends,
        slot_minutes=data.slot_minutes,
        walk_in_capacity=data.walk_in_capacity,
        state=SessionState.PUBLISHED,
        created_at=at,
    )
    session.add(clinic)
    await session.flush()
    step = timedelta(minutes=data.slot_minutes)
    session.add_all(ClinicSlot(session_id=clinic.id, starts_at=t, ends_at=t + step) for t in times)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="clinic.session.publish",
        entity_type="clinic_session",
        entity_id=clinic.id,
        details={"slots": len(times), "walk_in": data.walk_in_capacity},
    )
    workflow.SESSION.announce(
        session=session,
        bus=bus,
        entity_id=clinic.id,
        action="publish",
        before=None,
        after=clinic.state,
        at=at,
        extra={"session_id": clinic.id, "specialist_id": clinic.specialist_id},
    )
    return clinic


async def get_session(*, session: AsyncSession, session_id: int) -> ClinicSession:
    """A published session's times and specialist are no secret among staff."""
    clinic = await session.get(ClinicSession, session_id)
    if clinic is None:
        raise NotFound("clinic session not found", code="clinic.session_not_found")
    return clinic


async def slots_of(session: AsyncSession, session_id: int) -> list[ClinicSlot]:
    rows = await session.scalars(
        select(ClinicSlot).where(ClinicSlot.session_id == session_id).order_by(ClinicSlot.starts_at)
    )
    return list(rows)


async def step_session(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, session_id: int, action: str
) -> ClinicSession:
    clinic = await get_session(session=session, session_id=session_id)
    await workflow.step_session(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        clinic=clinic,
        action=action,
    )
    if action == "cancel":
        # Every open booking of a cancelled session is cancelled with it.
        visits = await session.scalars(
            select(ClinicVisit).where(
                ClinicVisit.session_id == clinic.id,
                ClinicVisit.state.in_((VisitState.BOOKED, VisitState.CHECKED_IN)),
            )
        )
        for visit in visits:
            await workflow.step_visit(
                session=session,
                bus=bus,
                principal=None,
                actor=ctx.actor,
                visit=visit,
                action="cancel",
                details={"why": "session_cancelled"},
            )
            await _free_slot(session, visit)
    return clinic


async def _consent(session: AsyncSession, patient_id: int) -> Consent:
    consent = await session.scalar(
        select(Consent)
        .where(
            Consent.patient_id == patient_id,
            Consent.purpose == ConsentPurpose.TELEMEDICINE,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.granted_at.desc())
        .limit(1)
    )
    if consent is None:
        message = "the patient's telemedicine consent is not on record"
        raise InvalidInput(
            message,
            code="clinic.consent_missing",
            details={"field": "patient_id", "missing": "telemedicine", "reasons": [message]},
        )
    return consent


async def book(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    session_id: int,
    data: BookingCreate,
    at: datetime | None = None,
) -> ClinicVisit:
    """A community centre books its patient into a slot (one booking wins) or the walk-in
    queue; the patient's telemedicine consent must be on record and is linked."""
    principal = ctx.principal
    require(principal, Action.BOOK_CLINIC, own(principal))
    at = at or now()
    clinic = await get_session(session=session, session_id=session_id)
    if clinic.state is not SessionState.PUBLISHED:
        raise workflow.SESSION.illegal(clinic.state, "book")
    if as_utc(clinic.ends_at) <= at:
        raise Conflict("this clinic session is over", code="clinic.session_over")
    patient = await records_service.load_patient(
        session=session, ctx=ctx, patient_id=data.patient_id, action=Action.WRITE_PATIENT
    )
    consent = await _consent(session, patient.id)
    already = await session.scalar(
        select(ClinicVisit.id).where(
            ClinicVisit.session_id == clinic.id,
            ClinicVisit.patient_id == patient.id,
            ClinicVisit.state.in_(OPEN_VISIT),
        )
    )
    if already is not None:
        raise Conflict(
            "the patient is already booked into this session", code="clinic.already_booked"
        )
    slot: ClinicSlot | None = None
    if data.slot_id is not None:
        slot = await session.get(ClinicSlot, data.slot_id)
        if slot is None or slot.session_id != clinic.id:
            raise _bad("slot_id", "no such slot in this session", "clinic.unknown_slot")
        if as_utc(slot.starts_at) < at - START_SLACK:
            raise Conflict("this slot is in the past", code="clinic.slot_past")
    else:
        walk_ins = await session.scalar(
            select(func.count())
            .select_from(ClinicVisit)
            .where(
                ClinicVisit.session_id == clinic.id,
                ClinicVisit.walk_in.is_(True),
                ClinicVisit.state.in_(HOLDING),
            )
        )
        if int(walk_ins or 0) >= clinic.walk_in_capacity:
            raise Conflict("the walk-in queue is full", code="clinic.walk_in_full")
    visit = ClinicVisit(
        session_id=clinic.id,
        slot_id=slot.id if slot else None,
        patient_id=patient.id,
        specialist_id=clinic.specialist_id,
        institution_id=principal.institution_id,
        booked_by_id=principal.user_id,
        consent_id=consent.id,
        reason=data.reason,
        urgent=data.urgent,
        walk_in=slot is None,
        state=VisitState.BOOKED,
        booked_at=at,
        expected_at=slot.starts_at if slot else clinic.starts_at,
    )
    session.add(visit)
    await session.flush()
    if slot is not None:
        # The database decides between two bookings of one slot: only the UPDATE that
        # still finds it free changes the row; the loser's transaction is rolled back.
        claimed = await session.execute(
            update(ClinicSlot)
            .where(ClinicSlot.id == slot.id, ClinicSlot.visit_id.is_(None))
            .values(visit_id=visit.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this slot has just been booked", code="clinic.slot_taken")
    await records_access.record(
        session,
        ctx,
        "clinic.visit.book",
        patient,
        entity_type="clinic_visit",
        entity_id=visit.id,
        details={"session_id": clinic.id, "walk_in": visit.walk_in, "consent_id": consent.id},
    )
    workflow.VISIT.announce(
        session=session,
        bus=bus,
        entity_id=visit.id,
        action="book",
        before=None,
        after=visit.state,
        at=at,
        extra=workflow.visit_fields(visit),
    )
    return visit


def may_see_visit(principal: object, visit: ClinicVisit) -> bool:
    return workflow._either(principal, visit)


async def get_visit(
    *, session: AsyncSession, ctx: records_service.Ctx, visit_id: int
) -> ClinicVisit:
    """A visit, for its specialist and the booking centre's staff; 404 for anyone else."""
    visit = await session.get(ClinicVisit, visit_id)
    if visit is None or not may_see_visit(ctx.principal, visit):
        raise NotFound("clinic visit not found", code="clinic.visit_not_found")
    return visit


async def _free_slot(session: AsyncSession, visit: ClinicVisit) -> None:
    if visit.slot_id is not None:
        await session.execute(
            update(ClinicSlot)
            .where(ClinicSlot.id == visit.slot_id, ClinicSlot.visit_id == visit.id)
            .values(visit_id=None)
            .execution_options(synchronize_session=False)
        )


SITE_ACTIONS = ("check_in", "cancel", "no_show", "mark_urgent")


async def step_visit(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    visit_id: int,
    action: str,
) -> ClinicVisit:
    """Check in, cancel, record a no-show, or move an urgent case up the queue."""
    visit = await get_visit(session=session, ctx=ctx, visit_id=visit_id)
    if action not in SITE_ACTIONS:
        raise workflow.VISIT.illegal(visit.state, action)
    if action == "check_in":
        clinic = await get_session(session=session, session_id=visit.session_id)
        at = now()
        if not as_utc(clinic.starts_at) - CHECK_IN_FROM <= at <= as_utc(clinic.ends_at):
            raise Conflict("patients check in on the day of the clinic", code="clinic.not_today")
    await workflow.step_visit(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        visit=visit,
        action=action,
    )
    if action in ("cancel", "no_show"):
        await _free_slot(session, visit)
    return visit
