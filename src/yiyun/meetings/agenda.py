"""Meetings as a day's work: what is on today in the district, and whether a meeting
can be joined yet (a scheduled meeting opens `join_early_minutes` before its start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core.clock import district, now
from yiyun.meetings import workflow
from yiyun.meetings.models import Meeting


@dataclass(frozen=True)
class JoinState:
    """`joinable` now, or the moment joining opens (`opens_at`, None when it never will)."""

    joinable: bool
    opens_at: datetime | None = None


def join_state(meeting: Meeting, *, early_minutes: int, at: datetime | None = None) -> JoinState:
    if meeting.state == workflow.OPEN:
        return JoinState(True)
    if meeting.state != workflow.SCHEDULED:
        return JoinState(False)
    opens = workflow.join_opens_at(meeting, early_minutes)
    if (at or now()) >= opens:
        return JoinState(True)
    return JoinState(False, opens)


def district_day(at: datetime) -> tuple[datetime, datetime]:
    """The district's calendar day around `at`, as a UTC interval [start, end)."""
    start = district(at).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return start, start + timedelta(days=1)


async def today_in_district(
    session: AsyncSession, *, at: datetime | None = None, limit: int = 50
) -> list[Meeting]:
    """Meetings happening now or scheduled for today (district time), soonest first."""
    start, end = district_day(at or now())
    query = select(Meeting).where(
        or_(
            Meeting.state == workflow.OPEN,
            Meeting.starts_at.is_not(None)
            & (Meeting.starts_at >= start)
            & (Meeting.starts_at < end),
        ),
        Meeting.state != workflow.CANCELLED,
    )
    rows = list((await session.scalars(query.limit(limit * 2))).all())
    return sorted(rows, key=workflow.starts_at)[:limit]
