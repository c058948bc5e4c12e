"""The reply SLA: escalate questions whose reply is overdue (`inquiry.reply_hours`).

A tick is claimed through `core.jobs` (one node scans at a time); each inquiry is then
escalated in its own transaction by a conditional UPDATE of `escalated_at`, so a retried
or doubled run escalates nothing twice. Escalation tells the claiming doctor, or, for a
question nobody took, the pool's doctors and the institution's administrators.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.inquiry import service
from yiyun.inquiry.config import InquirySettings

logger = logging.getLogger(__name__)
JOB = "inquiry-sla"


@dataclass(frozen=True)
class Context:
    factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    config: InquirySettings


async def escalate_due(ctx: Context, *, at: datetime | None = None) -> int:
    at = at or clock_now()
    async with ctx.factory() as session:
        due = await service.overdue_ids(session, at)
    escalated = 0
    for inquiry_id in due:
        async with transaction(ctx.factory) as session:
            if await service.escalate(session=session, bus=ctx.bus, inquiry_id=inquiry_id, at=at):
                escalated += 1
    return escalated


async def run_due(
    ctx: Context, *, at: datetime | None = None, node: str | None = None
) -> dict[str, Any]:
    at = at or clock_now()
    await jobs.ensure(ctx.factory, JOB, at)
    every = timedelta(seconds=ctx.config.tick_seconds)
    previous = await jobs.claim(
        ctx.factory, JOB, at=at, node=node or jobs.node_name(), next_at=at + every
    )
    if previous is None:
        return {}
    escalated = await escalate_due(ctx, at=at)
    result = {"escalated": escalated, "at": as_utc(at).isoformat()}
    await jobs.finish(ctx.factory, JOB, result)
    if escalated:
        logger.info("inquiry SLA: %d escalated", escalated)
    return result


class Runner(jobs.Periodic):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        super().__init__(
            JOB, self._tick, every_seconds=ctx.config.tick_seconds, enabled=ctx.config.jobs_enabled
        )

    async def _tick(self) -> None:
        await run_due(self.ctx)
