"""Experts' availability calendars (Asia/Shanghai) and the booking checks on them.

A specialist publishes windows in which they can hold consultations; an expert's windows
never overlap. Booking an expert (the dispatcher's assignment or the invited department's
direct acceptance) needs a window that holds the whole slot, and no other live booking of
that expert overlapping it (no double booking); either refusal is a 409 naming the
expert, the time, the state and the action.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth.principal import Principal
from yiyun.consult.models import Answer, Availability, Consult, ConsultExpert, ConsultState
from yiyun.consult.schemas import AvailabilityCreate
from yiyun.core.clock import DISTRICT_TZ, as_utc, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yiyun.org.enums import Role
from yiyun.records.access import Ctx

C = ConsultState
LIVE_ANSWERS = (Answer.PENDING, Answer.ACCEPTED)
BOOKED_STATES = (C.ASSIGNED, C.ACCEPTED, C.IN_SESSION)
MAX_WINDOW = timedelta(hours=14)
HORIZON = timedelta(days=92)


def local(value: datetime) -> datetime:
    """A time as given: with its zone, or a district (Asia/Shanghai) wall-clock time."""
    return as_utc(value if value.tzinfo is not None else value.replace(tzinfo=DISTRICT_TZ))


async def windows(
    session: AsyncSession, expert_id: int, start: datetime, end: datetime
) -> list[Availability]:
    """The expert's windows that overlap [start, end), in time order."""
    rows = await session.scalars(
        select(Availability)
        .where(
            Availability.expert_id == expert_id,
            Availability.starts_at < end,
            Availability.ends_at > start,
        )
        .order_by(Availability.starts_at)
    )
    return list(rows.all())


async def add(*, session: AsyncSession, ctx: Ctx, data: AvailabilityCreate) -> Availability:
    """A specialist publishes a window of their own calendar."""
    if not ctx.principal.has(Role.SPECIALIST):
        raise PermissionDenied(
            "only a specialist keeps a consultation calendar", code="consult.specialist_only"
        )
    starts_at, ends_at = local(data.starts_at), local(data.ends_at)
    if ends_at <= starts_at or ends_at - starts_at > MAX_WINDOW:
        raise InvalidInput(
            "the window must end after it starts, within 14 hours",
            code="consult.bad_window",
            details={"field": "ends_at"},
        )
    if ends_at <= now() or starts_at > now() + HORIZON:
        raise InvalidInput(
            "the window must lie within the next three months",
            code="consult.window_out_of_range",
            details={"field": "starts_at"},
        )
    clash = await windows(session, ctx.principal.user_id, starts_at, ends_at)
    if clash:
        raise Conflict(
            "this window overlaps one you already published",
            code="consult.window_overlap",
            details={
                "starts_at": as_utc(clash[0].starts_at).isoformat(),
                "ends_at": as_utc(clash[0].ends_at).isoformat(),
            },
        )
    row = Availability(
        expert_id=ctx.principal.user_id, starts_at=starts_at, ends_at=ends_at, created_at=now()
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consult.availability.add",
        entity_type="consult_availability",
        entity_id=row.id,
        details={"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
    )
    return row


async def remove(*, session: AsyncSession, ctx: Ctx, window_id: int) -> None:
    """A specialist withdraws one of their windows (bookings already made stay)."""
    row = await session.get(Availability, window_id)
    if row is None or row.expert_id != ctx.principal.user_id:
        raise NotFound("availability window not found", code="consult.window_not_found")
    await session.delete(row)
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consult.availability.remove",
        entity_type="consult_availability",
        entity_id=window_id,
    )


async def listing(
    *, session: AsyncSession, principal: Principal, expert_id: int | None, days: int = 14
) -> list[Availability]:
    """A calendar from today: one's own, or (dispatchers) any expert's."""
    who = expert_id or principal.user_id
    if who != principal.user_id and not principal.has(Role.DISPATCHER):
        raise PermissionDenied(
            "only a dispatcher sees other experts' calendars", code="consult.dispatcher_only"
        )
    start = now() - timedelta(hours=12)
    return await windows(session, who, start, start + timedelta(days=days))


async def booking_at(
    session: AsyncSession,
    expert_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    exclude_consult: int | None = None,
) -> ConsultExpert | None:
    """A live booking of the expert that overlaps [starts_at, ends_at)."""
    query = (
        select(ConsultExpert)
        .join(Consult, Consult.id == ConsultExpert.consult_id)
        .where(
            ConsultExpert.expert_id == expert_id,
            ConsultExpert.answer.in_(LIVE_ANSWERS),
            Consult.state.in_([s.value for s in BOOKED_STATES]),
            ConsultExpert.starts_at < ends_at,
            ConsultExpert.ends_at > starts_at,
        )
        .limit(1)
    )
    if exclude_consult is not None:
        query = query.where(ConsultExpert.consult_id != exclude_consult)
    return await session.scalar(query)


async def covered(
    session: AsyncSession, expert_id: int, starts_at: datetime, ends_at: datetime
) -> bool:
    """Whether one of the expert's windows holds the whole slot."""
    found = await session.scalar(
        select(Availability.id)
        .where(
            Availability.expert_id == expert_id,
            Availability.starts_at <= starts_at,
            Availability.ends_at >= ends_at,
        )
        .limit(1)
    )
    return found is not None


async def require_free(
    session: AsyncSession,
    consult: Consult,
    expert_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    action: str,
) -> None:
    """409 unless the expert published the slot and holds no other booking in it."""
    where = {
        "expert_id": expert_id,
        "starts_at": starts_at.isoformat(),
        "state": consult.state.value,
        "action": action,
    }
    if not await covered(session, expert_id, starts_at, ends_at):
        raise Conflict(
            "the expert is not available at that time (outside their calendar)",
            code="consult.not_available",
            details=where,
        )
    clash = await booking_at(session, expert_id, starts_at, ends_at, exclude_consult=consult.id)
    if clash is not None:
        raise Conflict(
            "the expert is already booked at that time",
            code="consult.double_booked",
            details=where
            | {
                "booked_from": as_utc(clash.starts_at).isoformat(),
                "booked_until": as_utc(clash.ends_at).isoformat(),
            },
        )
