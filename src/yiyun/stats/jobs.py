"""The statistics jobs, each claimed once across app nodes (`core.jobs`):

- `stats-rollup` every `rollup_every_minutes`: refresh the rollups of the recent days;
- `stats-scan` daily at `scan_at` (district time): the space-time scan of yesterday;
- `stats-report` on `report_day` of each month: the previous month's PDF report.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import DISTRICT_TZ
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.stats import clusters, rollup
from yiyun.stats.config import StatsSettings

logger = logging.getLogger(__name__)
SCAN, REPORT = "stats-scan", "stats-report"

# The monthly report writer (set by the app: it needs the blob store); month → stored key.
ReportMaker = Callable[[date], Awaitable[str]]


def next_daily(at: datetime, daily_at: time) -> datetime:
    local = at.astimezone(DISTRICT_TZ)
    candidate = datetime.combine(local.date(), daily_at, tzinfo=DISTRICT_TZ)
    return candidate if candidate > local else candidate + timedelta(days=1)


def next_monthly(at: datetime, day: int, daily_at: time) -> datetime:
    local = at.astimezone(DISTRICT_TZ)
    candidate = datetime.combine(local.date().replace(day=day), daily_at, tzinfo=DISTRICT_TZ)
    if candidate <= local:
        month = local.date().replace(day=1) + timedelta(days=32)
        candidate = datetime.combine(month.replace(day=day), daily_at, tzinfo=DISTRICT_TZ)
    return candidate


async def _once(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    at: datetime,
    next_at: datetime,
    node: str,
    work: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
) -> dict[str, Any] | None:
    previous = await jobs.claim(factory, name, at=at, node=node, next_at=next_at)
    if previous is None:
        return None
    try:
        result = await work(previous)
    except Exception:
        logger.exception("statistics job %s failed; retrying later", name)
        await jobs.finish(
            factory, name, {**previous, "error": True}, retry_at=at + timedelta(minutes=10)
        )
        return None
    await jobs.finish(factory, name, result)
    return result


async def run_due(
    *,
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus | None,
    config: StatsSettings | None = None,
    report: ReportMaker | None = None,
    now: datetime | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    cfg = config or StatsSettings()
    at = now or clock_now()
    me = node or jobs.node_name()
    ran: dict[str, Any] = {}
    done = await rollup.run_due(
        factory=factory,
        now=at,
        node=me,
        every_minutes=cfg.rollup_every_minutes,
        lookback_days=cfg.lookback_days,
    )
    if done is not None:
        ran[rollup.JOB] = done
    await jobs.ensure(factory, SCAN, next_daily(at, cfg.scan_at))

    async def scan(_previous: dict[str, Any]) -> dict[str, Any]:
        as_of = at.astimezone(DISTRICT_TZ).date() - timedelta(days=1)
        async with transaction(factory) as session:
            summary = await clusters.run(session=session, bus=bus, as_of=as_of, config=cfg, at=at)
        return {
            "as_of": as_of.isoformat(),
            "significant": summary.significant,
            "alerts_created": summary.alerts_created,
            "seconds": summary.seconds,
        }

    result = await _once(factory, SCAN, at, next_daily(at, cfg.scan_at), me, scan)
    if result is not None:
        ran[SCAN] = result
    if report is not None:
        await jobs.ensure(factory, REPORT, next_monthly(at, cfg.report_day, time(7, 0)))

        async def monthly(_previous: dict[str, Any]) -> dict[str, Any]:
            local = at.astimezone(DISTRICT_TZ).date()
            month = (local.replace(day=1) - timedelta(days=1)).replace(day=1)
            return {"month": month.strftime("%Y-%m"), "key": await report(month)}

        nxt = next_monthly(at, cfg.report_day, time(7, 0))
        result = await _once(factory, REPORT, at, nxt, me, monthly)
        if result is not None:
            ran[REPORT] = result
    return ran


class Runner(jobs.Periodic):
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus | None,
        config: StatsSettings,
        report: ReportMaker | None = None,
    ) -> None:
        self.factory, self.bus, self.config, self.report = factory, bus, config, report
        super().__init__(
            "stats-jobs", self._tick, every_seconds=config.tick_seconds, enabled=config.jobs_enabled
        )

    async def _tick(self) -> None:
        await run_due(factory=self.factory, bus=self.bus, config=self.config, report=self.report)
