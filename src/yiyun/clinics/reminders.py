"""Reminders before a remote visit: shortly before a booked visit, the booking centre's
doctor and the specialist are told in the app (in each one's language), once.

One node runs each tick (`core.jobs` claim); each visit is claimed with its own
conditional UPDATE of `reminded_at`, so a retried run reminds nobody twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.clinics.models import ClinicSession, ClinicVisit, VisitState
from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, district, now
from yiyun.core.db import transaction
from yiyun.i18n.text import Text
from yiyun.notify import service as notify_service

JOB = "clinic-reminders"
AHEAD = timedelta(minutes=30)
TICK_SECONDS = 60


async def remind_due(
    session: AsyncSession, bus: EventBus, *, at: datetime, ahead: timedelta = AHEAD
) -> int:
    """Remind every booked or checked-in visit starting within `ahead`; returns how many."""
    due = list(
        await session.scalars(
            select(ClinicVisit).where(
                ClinicVisit.state.in_((VisitState.BOOKED, VisitState.CHECKED_IN)),
                ClinicVisit.reminded_at.is_(None),
                ClinicVisit.expected_at > at,
                ClinicVisit.expected_at <= at + ahead,
            )
        )
    )
    sent = 0
    for visit in due:
        claimed = await session.execute(
            update(ClinicVisit)
            .where(ClinicVisit.id == visit.id, ClinicVisit.reminded_at.is_(None))
            .values(reminded_at=at)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue
        clinic = await session.get(ClinicSession, visit.session_id)
        title = clinic.title if clinic else ""
        await notify_service.notify(
            session=session,
            bus=bus,
            user_ids=[visit.booked_by_id, visit.specialist_id],
            kind="clinic.reminder",
            title=Text(
                "Remote clinic visit at {time}",
                time=district(as_utc(visit.expected_at)).strftime("%H:%M"),
            ),
            body=Text(
                "{clinic}: check the patient in at the centre before the visit.", clinic=title
            ),
            link=f"/clinics/visits/{visit.id}",
        )
        sent += 1
    return sent


async def run_due(
    factory: async_sessionmaker[AsyncSession], bus: EventBus, *, at: datetime | None = None
) -> dict[str, Any]:
    """One tick: claim the job (one node at a time) and send what is due."""
    at = at or now()
    await jobs.ensure(factory, JOB, at)
    every = timedelta(seconds=TICK_SECONDS)
    if await jobs.claim(factory, JOB, at=at, node=jobs.node_name(), next_at=at + every) is None:
        return {}
    async with transaction(factory) as session:
        sent = await remind_due(session, bus, at=at)
    result = {"reminded": sent, "at": at.isoformat()}
    await jobs.finish(factory, JOB, result)
    return result


class Runner(jobs.Periodic):
    def __init__(
        self, factory: async_sessionmaker[AsyncSession], bus: EventBus, *, enabled: bool = True
    ) -> None:
        self.factory, self.bus = factory, bus
        super().__init__(JOB, self._tick, every_seconds=TICK_SECONDS, enabled=enabled)

    async def _tick(self) -> None:
        await run_due(self.factory, self.bus)
