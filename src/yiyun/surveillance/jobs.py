"""Periodic surveillance work: the daily detection run and the escalation sweep.

`run_due()` does whatever is due and returns at once; `Runner` calls it every
`tick_seconds` from the app's lifespan. Several app nodes may run it side by side: each
job is claimed with a conditional UPDATE of its row in `surveillance_job` (`due_at <=
now` → `due_at = next`), and only the node whose UPDATE changed the row runs the job.
A failed run is retried after `retry_minutes`. After downtime the daily run catches up on
the days it missed (at most `catch_up_days`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.surveillance import detection
from yiyun.surveillance.config import SurveillanceSettings
from yiyun.surveillance.models import DISTRICT_TZ, JobClaim, local_date

logger = logging.getLogger(__name__)
DETECT, ESCALATE = "detect", "escalate"


def next_daily(at: datetime, daily_at: time) -> datetime:
    """The first `daily_at` (district time) strictly after `at`."""
    local = at.astimezone(DISTRICT_TZ)
    candidate = datetime.combine(local.date(), daily_at, tzinfo=DISTRICT_TZ)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _ensure(factory: async_sessionmaker[AsyncSession], name: str, due_at: datetime) -> None:
    # Another node may create the row first (IntegrityError); that row is as good.
    with contextlib.suppress(IntegrityError):
        async with transaction(factory) as session:
            if await session.get(JobClaim, name) is None:
                session.add(JobClaim(name=name, due_at=due_at, result={}))


async def _claim(
    factory: async_sessionmaker[AsyncSession], name: str, at: datetime, node: str, next_at: datetime
) -> dict[str, Any] | None:
    """Move the job's due time on if it is due; the previous result if this node won."""
    async with transaction(factory) as session:
        previous = await session.scalar(select(JobClaim.result).where(JobClaim.name == name))
        claimed = await session.execute(
            update(JobClaim)
            .where(JobClaim.name == name, JobClaim.due_at <= at)
            .values(due_at=next_at, claimed_at=at, claimed_by=node)
        )
        return dict(previous or {}) if getattr(claimed, "rowcount", 0) == 1 else None


async def _finish(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    result: dict[str, Any],
    retry_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"finished_at": clock_now(), "result": result}
    if retry_at is not None:
        values["due_at"] = retry_at
    async with transaction(factory) as session:
        await session.execute(update(JobClaim).where(JobClaim.name == name).values(**values))


async def _detect(
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus | None,
    cfg: SurveillanceSettings,
    at: datetime,
    previous: dict[str, Any],
) -> dict[str, Any]:
    as_of = detection.default_as_of(at)
    last = previous.get("as_of")
    missed = (as_of - date.fromisoformat(last)).days if isinstance(last, str) else 1
    lookback = max(cfg.lookback_days, min(missed, cfg.catch_up_days))
    async with transaction(factory) as session:
        summary = await detection.run(
            session=session,
            bus=bus,
            as_of=as_of,
            config=cfg.model_copy(update={"lookback_days": lookback}),
            now=at,
        )
    return {
        "as_of": as_of.isoformat(),
        "signals": summary.signals,
        "alerts_created": summary.alerts_created,
        "alerts_merged": summary.alerts_merged,
        "seconds": summary.seconds,
    }


async def run_due(
    *,
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus | None,
    config: SurveillanceSettings | None = None,
    now: datetime | None = None,
    node: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the jobs that are due and this node claims; returns what each run did."""
    cfg = config or SurveillanceSettings()
    at = now or clock_now()
    me = node or node_name()
    today_run = datetime.combine(local_date(at), cfg.daily_at, tzinfo=DISTRICT_TZ)
    await _ensure(factory, DETECT, today_run)  # first start after 06:00: run today at once
    await _ensure(factory, ESCALATE, at)
    ran: dict[str, dict[str, Any]] = {}
    every = timedelta(minutes=cfg.escalate_every_minutes)
    for name, next_at in ((DETECT, next_daily(at, cfg.daily_at)), (ESCALATE, at + every)):
        previous = await _claim(factory, name, at, me, next_at)
        if previous is None:
            continue
        try:
            if name == DETECT:
                result = await _detect(factory, bus, cfg, at, previous)
            else:
                async with transaction(factory) as session:
                    count = await detection.escalate(
                        session=session, bus=bus, now=at, after_hours=cfg.escalate_after_hours
                    )
                result = {"escalated": count}
        except Exception:  # a failed run is retried, and the loop keeps going
            logger.exception("surveillance job %s failed; retrying later", name)
            retry = at + timedelta(minutes=cfg.retry_minutes)
            await _finish(factory, name, {**previous, "error": True}, retry_at=retry)
            continue
        await _finish(factory, name, result)
        ran[name] = result
    return ran


class Runner:
    """Calls `run_due` every `tick_seconds` until stopped (start it in the app lifespan)."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus | None,
        config: SurveillanceSettings | None = None,
    ) -> None:
        self.factory, self.bus = factory, bus
        self.config = config or SurveillanceSettings()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.config.jobs_enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="surveillance-jobs")

    async def _loop(self) -> None:
        while True:
            try:
                await run_due(factory=self.factory, bus=self.bus, config=self.config)
            except Exception:  # the database may be briefly away; try again next tick
                logger.exception("surveillance jobs tick failed")
            await asyncio.sleep(self.config.tick_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
