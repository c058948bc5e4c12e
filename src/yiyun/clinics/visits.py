"""The specialist's side of a remote visit: the queue, calling the next patient (which
opens the video visit), the visit note, and prescription advice drafted then signed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import step_up
from yiyun.clinics import drugs, workflow
from yiyun.clinics.models import (
    ClinicSession,
    ClinicVisit,
    Prescription,
    PrescriptionState,
    VisitState,
)
from yiyun.clinics.schemas import PrescriptionCreate
from yiyun.clinics.service import get_session, get_visit
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.meetings import schedule as meetings_schedule
from yiyun.meetings.schemas import MeetingCreate, Subject
from yiyun.records import service as records_service

SUBJECT_TYPE = "clinic.visit"


def queue_key(visit: ClinicVisit) -> tuple[bool, datetime, datetime, int]:
    """Queue order: urgent cases first, then by booked time, then by arrival."""
    arrived = as_utc(visit.checked_in_at) if visit.checked_in_at else as_utc(visit.expected_at)
    return (not visit.urgent, as_utc(visit.expected_at), arrived, visit.id)


def queue_order(visits: Iterable[ClinicVisit]) -> list[ClinicVisit]:
    return sorted(visits, key=queue_key)


def waiting_minutes(visit: ClinicVisit, at: datetime) -> int | None:
    if visit.checked_in_at is None:
        return None
    end = as_utc(visit.called_at) if visit.called_at else at
    return max(0, int((end - as_utc(visit.checked_in_at)).total_seconds() // 60))


async def session_visits(session: AsyncSession, session_id: int) -> list[ClinicVisit]:
    rows = await session.scalars(select(ClinicVisit).where(ClinicVisit.session_id == session_id))
    return queue_order(rows)


async def call(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    session_id: int,
    visit_id: int | None = None,
) -> ClinicVisit:
    """Call a checked-in patient (the first in the queue unless one is named); opens the
    video visit with the booking centre's doctor, linked to the visit."""
    clinic = await get_session(session=session, session_id=session_id)
    visits = await session_visits(session, clinic.id)
    if visit_id is not None:
        chosen = next((v for v in visits if v.id == visit_id), None)
        if chosen is None:
            raise NotFound("clinic visit not found", code="clinic.visit_not_found")
    else:
        workflow.SESSION.check(clinic, "close", ctx.principal)  # the holder only
        waiting = [v for v in visits if v.state is VisitState.CHECKED_IN]
        if not waiting:
            raise Conflict("no patient is waiting", code="clinic.queue_empty")
        chosen = waiting[0]
    workflow.VISIT.check(chosen, "call", ctx.principal)
    busy = next((v for v in visits if v.state is VisitState.IN_VISIT), None)
    if busy is not None:
        raise Conflict(
            "finish the current visit before calling the next patient",
            code="clinic.visit_in_progress",
            details={"visit_id": busy.id},
        )
    await workflow.step_visit(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        visit=chosen,
        action="call",
    )
    meeting = await _open_meeting(session, bus, ctx, clinic, chosen)
    chosen.meeting_id = meeting
    await session.flush()
    return chosen


async def _open_meeting(
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    clinic: ClinicSession,
    visit: ClinicVisit,
) -> int:
    try:
        data = MeetingCreate(title=f"{clinic.title} · {visit.id}")
    except ValidationError:
        raise InvalidInput(
            "the clinic's title cannot be a meeting title", code="clinic.bad_title"
        ) from None
    meeting = await meetings_schedule.create(
        session=session,
        ctx=ctx,
        data=data,
        bus=bus,
        subject=Subject(type=SUBJECT_TYPE, id=visit.id),
        invitee_ids=[visit.booked_by_id],
    )
    return meeting.id


async def write_note(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, visit_id: int, note: str
) -> ClinicVisit:
    visit = await get_visit(session=session, ctx=ctx, visit_id=visit_id)
    await workflow.step_visit(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        visit=visit,
        action="write_note",
        details={"length": len(note)},
    )
    visit.note = note
    return visit


async def complete(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, visit_id: int
) -> ClinicVisit:
    visit = await get_visit(session=session, ctx=ctx, visit_id=visit_id)
    workflow.VISIT.check(visit, "complete", ctx.principal)
    if not visit.note.strip():
        message = "write the visit note before completing the visit"
        raise InvalidInput(
            message, code="clinic.note_missing", details={"field": "note", "reasons": [message]}
        )
    drafts = await session.scalar(
        select(Prescription.id).where(
            Prescription.visit_id == visit.id, Prescription.state == PrescriptionState.DRAFT
        )
    )
    if drafts is not None:
        raise Conflict("sign or withdraw the draft prescription first", code="clinic.draft_open")
    await workflow.step_visit(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        visit=visit,
        action="complete",
    )
    return visit


# --- prescription advice ----------------------------------------------------------------


def check_items(items: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Each item names a drug of the list that may be prescribed remotely."""
    unknown = [str(i["code"]) for i in items if str(i["code"]) not in drugs.DRUGS]
    if unknown:
        message = "a drug is not on the list"
        raise InvalidInput(
            message,
            code="clinic.unknown_drug",
            details={"field": "items", "codes": unknown, "reasons": [message]},
        )
    refused = [str(i["code"]) for i in items if not drugs.DRUGS[str(i["code"])].remote_allowed]
    if refused:
        message = "narcotic and psychotropic drugs may not be prescribed in a remote visit"
        raise InvalidInput(
            message,
            code="clinic.drug_not_remote",
            details={"field": "items", "codes": refused, "reasons": [message]},
        )
    return [
        {
            **i,
            "name": drugs.DRUGS[str(i["code"])].name,
            "class": drugs.DRUGS[str(i["code"])].drug_class.value,
        }
        for i in items
    ]


async def draft_prescription(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    visit_id: int,
    data: PrescriptionCreate,
) -> Prescription:
    visit = await get_visit(session=session, ctx=ctx, visit_id=visit_id)
    workflow.VISIT.check(visit, "write_note", ctx.principal)  # in the visit, its specialist
    items = check_items([i.model_dump() for i in data.items])
    rx = Prescription(
        visit_id=visit.id,
        state=PrescriptionState.DRAFT,
        items=items,
        advice=data.advice,
        drafted_by_id=ctx.principal.user_id,
        drafted_at=now(),
    )
    session.add(rx)
    await session.flush()
    await workflow.PRESCRIPTION.audit(
        session=session,
        actor=ctx.actor,
        action="clinic.prescription.draft",
        entity_type="clinic_prescription",
        entity_id=rx.id,
        patient_id=visit.patient_id,
        institution_id=visit.institution_id,
        details={"items": len(items)},
    )
    return rx


async def get_prescription(
    *, session: AsyncSession, ctx: records_service.Ctx, prescription_id: int
) -> tuple[Prescription, ClinicVisit]:
    rx = await session.get(Prescription, prescription_id)
    if rx is None:
        raise NotFound("prescription not found", code="clinic.prescription_not_found")
    try:
        visit = await get_visit(session=session, ctx=ctx, visit_id=rx.visit_id)
    except NotFound:
        raise NotFound("prescription not found", code="clinic.prescription_not_found") from None
    return rx, visit


async def prescriptions_of(session: AsyncSession, visit_id: int) -> list[Prescription]:
    rows = await session.scalars(
        select(Prescription).where(Prescription.visit_id == visit_id).order_by(Prescription.id)
    )
    return list(rows)


async def sign_prescription(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    prescription_id: int,
) -> Prescription:
    """Sign: the drafter, strong authentication within the last minutes (the one step-up,
    `auth.step_up`: a code is good once), and drugs allowed remotely."""
    rx, visit = await get_prescription(session=session, ctx=ctx, prescription_id=prescription_id)
    workflow.PRESCRIPTION.check(rx, "sign", ctx.principal)
    check_items(rx.items)
    await step_up.require_recent(session, ctx.principal)
    await workflow.step_prescription(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        rx=rx,
        visit=visit,
        action="sign",
    )
    return rx


async def withdraw_prescription(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, prescription_id: int
) -> Prescription:
    rx, visit = await get_prescription(session=session, ctx=ctx, prescription_id=prescription_id)
    await workflow.step_prescription(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        rx=rx,
        visit=visit,
        action="withdraw",
    )
    return rx
