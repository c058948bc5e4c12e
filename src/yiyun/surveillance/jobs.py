"""Periodic surveillance work: the daily detection run and the escalation sweep.

`run_due()` does whatever is due and returns at once; `Runner` calls it every
`tick_seconds` from the app's lifespan. Several app nodes may run it side by side: each
job is claimed through `core.jobs` (a conditional UPDATE of its row, `due_at <= now` →
`due_at = next`), and only the node whose UPDATE changed the row runs the job.
A failed run is retried after `retry_minutes`. After downtime the daily run catches up on
the days it missed (at most `catch_up_days`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.surveillance import detection
from yiyun.surveillance.config import SurveillanceSettings
from yiyun.surveillance.models import DISTRICT_TZ, local_date

logger = logging.getLogger(__name__)
DETECT, ESCALATE = "detect", "escalate"


def next_daily(at: datetime, daily_at: time) -> datetime:
    """The first `daily_at` (district time) strictly after `at`."""
    local = at.astimezone(DISTRICT_TZ)
    candidate = datetime.combine(local.date(), daily_at, tzinfo=DISTRICT_TZ)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


node_name = jobs.node_name


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
    await jobs.ensure(factory, DETECT, today_run)  # first start after 06:00: run today at once
    await jobs.ensure(factory, ESCALATE, at)
    ran: dict[str, dict[str, Any]] = {}
    every = timedelta(minutes=cfg.escalate_every_minutes)
    for name, next_at in ((DETECT, next_daily(at, cfg.daily_at)), (ESCALATE, at + every)):
        previous = await jobs.claim(factory, name, at=at, node=me, next_at=next_at)
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
            await jobs.finish(factory, name, {**previous, "error": True}, retry_at=retry)
            continue
        await jobs.finish(factory, name, result)
        ran[name] = result
    return ran


class Runner(jobs.Periodic):
    """Calls `run_due` every `tick_seconds` until stopped (start it in the app lifespan)."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus | None,
        config: SurveillanceSettings | None = None,
    ) -> None:
        self.factory, self.bus = factory, bus
        self.config = config or SurveillanceSettings()
        super().__init__(
            "surveillance-jobs",
            self._tick,
            every_seconds=self.config.tick_seconds,
            enabled=self.config.jobs_enabled,
        )

    async def _tick(self) -> None:
        await run_due(factory=self.factory, bus=self.bus, config=self.config)
