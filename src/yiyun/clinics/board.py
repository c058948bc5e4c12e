"""What the clinic pages list: worklists with counts, a session's queue, and the
waiting-area board of a community centre (masked names, for a large screen)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.clinics.models import ClinicSession, ClinicSlot, ClinicVisit, SessionState, VisitState
from yiyun.clinics.visits import queue_order, waiting_minutes
from yiyun.core.clock import DISTRICT_TZ, district, now
from yiyun.org.models import Institution, User
from yiyun.records.models import Patient


def mask_name(name: str) -> str:
    """张三明 → 张*明, 张三 → 张*: enough for a patient to know their turn, no more."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def visible(principal: Principal) -> ColumnElement[bool]:
    """Visits a principal may list: their own clinics' and their own centre's bookings."""
    conditions: list[ColumnElement[bool]] = [ClinicVisit.specialist_id == principal.user_id]
    if allows(principal, Action.BOOK_CLINIC, Target.of(principal.institution_id)):
        conditions.append(ClinicVisit.institution_id == principal.institution_id)
    return or_(false(), *conditions)


def visible_to(principal: Principal, visit: ClinicVisit) -> bool:
    """The single-visit form of `visible`."""
    return visit.specialist_id == principal.user_id or allows(
        principal, Action.BOOK_CLINIC, Target.of(visit.institution_id)
    )


@dataclass(frozen=True)
class Row:
    visit: ClinicVisit
    clinic: ClinicSession
    patient_name: str
    site_name: str
    specialist_name: str
    waiting: int | None


@dataclass(frozen=True)
class Worklist:
    rows: list[Row]
    counts: dict[str, int]
    total: int


def day_bounds(day: datetime) -> tuple[datetime, datetime]:
    start = day.astimezone(DISTRICT_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


async def _rows(session: AsyncSession, visits: list[ClinicVisit], at: datetime) -> list[Row]:
    if not visits:
        return []
    sessions = {
        s.id: s
        for s in await session.scalars(
            select(ClinicSession).where(ClinicSession.id.in_({v.session_id for v in visits}))
        )
    }
    names = dict(
        (
            await session.execute(
                select(Patient.id, Patient.name).where(
                    Patient.id.in_({v.patient_id for v in visits})
                )
            )
        ).all()
    )
    sites = dict(
        (
            await session.execute(
                select(Institution.id, Institution.name).where(
                    Institution.id.in_({v.institution_id for v in visits})
                )
            )
        ).all()
    )
    people = dict(
        (
            await session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_({v.specialist_id for v in visits})
                )
            )
        ).all()
    )
    return [
        Row(
            visit=v,
            clinic=sessions[v.session_id],
            patient_name=names.get(v.patient_id, ""),
            site_name=sites.get(v.institution_id, ""),
            specialist_name=people.get(v.specialist_id, ""),
            waiting=waiting_minutes(v, at),
        )
        for v in visits
    ]


async def worklist(
    *,
    session: AsyncSession,
    principal: Principal,
    state: str | None = None,
    day: str | None = None,
    limit: int = 200,
) -> Worklist:
    """The caller's visits (specialist: their clinics; centre: its bookings), by day."""
    at = now()
    query = select(ClinicVisit).where(visible(principal))
    if day == "today":
        start, end = day_bounds(at)
        query = query.where(ClinicVisit.expected_at >= start, ClinicVisit.expected_at < end)
    elif day == "upcoming":
        query = query.where(ClinicVisit.expected_at >= day_bounds(at)[0])
    sub = query.subquery()
    count_rows = await session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
    counts = {str(s): int(n) for s, n in count_rows.all()}
    if state:
        query = query.where(ClinicVisit.state == state)
    visits = list(
        await session.scalars(query.order_by(ClinicVisit.expected_at.desc()).limit(limit))
    )
    return Worklist(
        rows=await _rows(session, visits, at), counts=counts, total=sum(counts.values())
    )


@dataclass(frozen=True)
class SessionView:
    clinic: ClinicSession
    specialist_name: str
    free_slots: int
    booked: int


async def upcoming_sessions(
    *, session: AsyncSession, principal: Principal, mine: bool = False, limit: int = 100
) -> list[SessionView]:
    """Published sessions from today on (their own, for a specialist who asks)."""
    start = day_bounds(now())[0]
    query = select(ClinicSession).where(ClinicSession.ends_at >= start)
    if mine:
        query = query.where(ClinicSession.specialist_id == principal.user_id)
    else:
        query = query.where(ClinicSession.state == SessionState.PUBLISHED)
    clinics = list(await session.scalars(query.order_by(ClinicSession.starts_at).limit(limit)))
    if not clinics:
        return []
    ids = [c.id for c in clinics]
    free = dict(
        (
            await session.execute(
                select(ClinicSlot.session_id, func.count())
                .where(ClinicSlot.session_id.in_(ids), ClinicSlot.visit_id.is_(None))
                .group_by(ClinicSlot.session_id)
            )
        ).all()
    )
    booked = dict(
        (
            await session.execute(
                select(ClinicVisit.session_id, func.count())
                .where(
                    ClinicVisit.session_id.in_(ids),
                    ClinicVisit.state.not_in((VisitState.CANCELLED,)),
                )
                .group_by(ClinicVisit.session_id)
            )
        ).all()
    )
    people = dict(
        (
            await session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_({c.specialist_id for c in clinics})
                )
            )
        ).all()
    )
    return [
        SessionView(
            clinic=c,
            specialist_name=people.get(c.specialist_id, ""),
            free_slots=int(free.get(c.id, 0)),
            booked=int(booked.get(c.id, 0)),
        )
        for c in clinics
    ]


async def session_queue(
    *, session: AsyncSession, principal: Principal, clinic: ClinicSession
) -> list[Row]:
    """A session's visits in queue order, as far as the caller may see them."""
    visits = await session.scalars(
        select(ClinicVisit).where(ClinicVisit.session_id == clinic.id, visible(principal))
    )
    ordered = sorted(queue_order(visits), key=lambda v: SHOWN_FIRST.index(v.state))
    return await _rows(session, ordered, now())


# A session's page lists who is being seen, who waits, who is still to come, then the rest.
SHOWN_FIRST = (
    VisitState.IN_VISIT,
    VisitState.CHECKED_IN,
    VisitState.BOOKED,
    VisitState.COMPLETED,
    VisitState.NO_SHOW,
    VisitState.CANCELLED,
)


@dataclass(frozen=True)
class BoardLine:
    number: int
    masked: str
    specialist: str
    state: str
    expected: str
    waiting: int | None


async def waiting_board(*, session: AsyncSession, institution_id: int) -> list[BoardLine]:
    """Today's visits of one community centre, in queue order, names masked."""
    at = now()
    start, end = day_bounds(at)
    visits = list(
        await session.scalars(
            select(ClinicVisit).where(
                ClinicVisit.institution_id == institution_id,
                ClinicVisit.expected_at >= start,
                ClinicVisit.expected_at < end,
                ClinicVisit.state.in_(
                    (VisitState.BOOKED, VisitState.CHECKED_IN, VisitState.IN_VISIT)
                ),
            )
        )
    )
    rows = await _rows(session, queue_order(visits), at)
    order = {VisitState.IN_VISIT: 0, VisitState.CHECKED_IN: 1, VisitState.BOOKED: 2}
    rows.sort(key=lambda r: order[r.visit.state])
    return [
        BoardLine(
            number=i + 1,
            masked=mask_name(r.patient_name),
            specialist=r.specialist_name,
            state=r.visit.state.value,
            expected=district(r.visit.expected_at).strftime("%H:%M"),
            waiting=r.waiting,
        )
        for i, r in enumerate(rows)
    ]


def tally(rows: list[Row]) -> Counter[str]:
    return Counter(r.visit.state.value for r in rows)
