"""Lecture attendance from the meeting's recorded stays: who was there, when, for how
long, from which site; per-site figures for the organiser and each learner's own."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.errors import NotFound, PermissionDenied
from yiyun.meetings.models import Attendance, Meeting
from yiyun.org.models import Institution, Terminal, User


@dataclass
class Stay:
    """One person's (or one site terminal's) time in a meeting, overlapping
    connections counted once."""

    identity: str
    name: str
    user_id: int | None
    institution_id: int | None
    site: str
    first_joined: datetime
    last_left: datetime | None  # None: still connected
    seconds: float
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return int(self.seconds // 60)


@dataclass(frozen=True)
class Site:
    institution_id: int | None
    name: str
    people: int
    terminals: int
    minutes: int


def merged_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Length of the union of [start, end) spans, in seconds."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        elif end > current[1]:
            current = (current[0], end)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def _end(row: Attendance, meeting: Meeting, at: datetime) -> datetime:
    """An open stay ends with the meeting (its node may have died), or now."""
    if row.left_at is not None:
        return row.left_at
    return meeting.ended_at or at


async def get_meeting(session: AsyncSession, meeting_id: int) -> Meeting:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("no such meeting", code="meeting.not_found")
    return meeting


def may_organise(principal: Principal, meeting: Meeting) -> bool:
    return principal.user_id == meeting.host_id or allows(
        principal, Action.MANAGE_TEACHING, Target.of(meeting.institution_id)
    )


def require_organiser(principal: Principal, meeting: Meeting) -> None:
    if not may_organise(principal, meeting):
        raise PermissionDenied(
            "only the organiser or an administrator sees a lecture's attendance",
            code="learning.organiser_only",
        )


async def stays(
    session: AsyncSession, meeting: Meeting, *, user_id: int | None = None
) -> list[Stay]:
    """Everyone's stays in the meeting (or one user's), longest first."""
    query = select(Attendance).where(Attendance.meeting_id == meeting.id)
    if user_id is not None:
        query = query.where(Attendance.user_id == user_id)
    rows = list(await session.scalars(query.order_by(Attendance.joined_at)))
    at = now()
    names = await _names(session, rows)
    by: dict[str, list[Attendance]] = defaultdict(list)
    for row in rows:
        by[row.identity].append(row)
    out: list[Stay] = []
    for identity, group in by.items():
        spans = [(r.joined_at, max(r.joined_at, _end(r, meeting, at))) for r in group]
        first = group[0]
        still = any(r.left_at is None and meeting.ended_at is None for r in group)
        out.append(
            Stay(
                identity=identity,
                name=names["u", first.user_id] if first.user_id else names["t", first.terminal_id],
                user_id=first.user_id,
                institution_id=first.institution_id,
                site=names["i", first.institution_id],
                first_joined=first.joined_at,
                last_left=None if still else max(e for _s, e in spans),
                seconds=merged_seconds(spans),
                spans=spans,
            )
        )
    out.sort(key=lambda s: (-s.seconds, s.first_joined))
    return out


async def _names(
    session: AsyncSession, rows: list[Attendance]
) -> defaultdict[tuple[str, int | None], str]:
    names: defaultdict[tuple[str, int | None], str] = defaultdict(lambda: "—")
    users = {r.user_id for r in rows if r.user_id}
    terminals = {r.terminal_id for r in rows if r.terminal_id}
    sites = {r.institution_id for r in rows if r.institution_id}
    if users:
        for uid, name in await session.execute(
            select(User.id, User.display_name).where(User.id.in_(users))
        ):
            names["u", uid] = name
    if terminals:
        for tid, name in await session.execute(
            select(Terminal.id, Terminal.name).where(Terminal.id.in_(terminals))
        ):
            names["t", tid] = name
    if sites:
        for iid, name in await session.execute(
            select(Institution.id, Institution.name).where(Institution.id.in_(sites))
        ):
            names["i", iid] = name
    return names


def by_site(people: list[Stay]) -> list[Site]:
    """Per-site attendance: people and terminals that came, and their minutes."""
    groups: dict[int | None, list[Stay]] = defaultdict(list)
    for stay in people:
        groups[stay.institution_id].append(stay)
    sites = [
        Site(
            institution_id=iid,
            name=group[0].site,
            people=sum(1 for s in group if s.user_id is not None),
            terminals=sum(1 for s in group if s.user_id is None),
            minutes=int(sum(s.seconds for s in group) // 60),
        )
        for iid, group in groups.items()
    ]
    sites.sort(key=lambda s: (-(s.people + s.terminals), s.name))
    return sites


async def attended_minutes(session: AsyncSession, meeting_id: int, user_id: int) -> int:
    meeting = await get_meeting(session, meeting_id)
    mine = await stays(session, meeting, user_id=user_id)
    return mine[0].minutes if mine else 0


@dataclass(frozen=True)
class MyLecture:
    meeting_id: int
    title: str
    first_joined: datetime
    minutes: int


async def my_record(session: AsyncSession, user_id: int, *, limit: int = 200) -> list[MyLecture]:
    """The meetings a staff member attended, newest first, with their minutes."""
    meeting_ids = list(
        await session.scalars(
            select(Attendance.meeting_id)
            .where(Attendance.user_id == user_id)
            .group_by(Attendance.meeting_id)
            .order_by(func.min(Attendance.joined_at).desc())
            .limit(limit)
        )
    )
    out: list[MyLecture] = []
    for mid in meeting_ids:
        meeting = await get_meeting(session, mid)
        mine = await stays(session, meeting, user_id=user_id)
        if mine:
            out.append(MyLecture(mid, meeting.title, mine[0].first_joined, mine[0].minutes))
    out.sort(key=lambda m: m.first_joined, reverse=True)
    return out
