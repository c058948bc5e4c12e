"""Answer deadlines (SLA) by urgency: reminders, then escalation to the dispatchers.

A submitted request must be assigned, and an assigned one answered, before `due_at`
(`ConsultSettings.sla`: emergency 30 min, urgent 4 h, routine 48 h by default). When a
quarter of the time is left, whoever must act is reminded (the dispatchers for a
request waiting for experts, the experts who have not answered); once it has passed,
the dispatchers are told it is overdue (urgent notification). Each consultation is
claimed with a conditional UPDATE of `reminded_at` / `escalated_at` (NULL → now) in the
transaction that writes the notifications, so with several app nodes each goes out once.
The tick is claimed through `core.jobs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.consult import service
from yiyun.consult.config import ConsultSettings
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultState
from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, district
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.i18n.text import Text

logger = logging.getLogger(__name__)
JOB = "consult-sla"
WAITING = (ConsultState.REQUESTED.value, ConsultState.ASSIGNED.value)


@dataclass(frozen=True)
class Context:
    factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    config: ConsultSettings


def remind_from(consult: Consult, config: ConsultSettings) -> datetime:
    """When the reminder is due: `remind_at_fraction_left` of the deadline before it."""
    assert consult.due_at is not None  # noqa: S101 (only asked about waiting requests)
    sla = config.sla(consult.urgency.value)
    return as_utc(consult.due_at) - sla * config.remind_at_fraction_left


async def _claim(session: AsyncSession, consult_id: int, column: str, at: datetime) -> bool:
    done = await session.execute(
        update(Consult)
        .where(
            Consult.id == consult_id,
            Consult.state.in_(WAITING),
            getattr(Consult, column).is_(None),
        )
        .values({column: at})
        .execution_options(synchronize_session=False)
    )
    return getattr(done, "rowcount", 0) == 1


async def _pending_experts(session: AsyncSession, consult_id: int) -> list[int]:
    rows = await session.scalars(
        select(ConsultExpert.expert_id).where(
            ConsultExpert.consult_id == consult_id, ConsultExpert.answer == Answer.PENDING.value
        )
    )
    return list(rows.all())


async def _act(ctx: Context, consult_id: int, kind: str, at: datetime) -> bool:
    async with transaction(ctx.factory) as session:
        column = "escalated_at" if kind == "escalate" else "reminded_at"
        if not await _claim(session, consult_id, column, at):
            return False
        consult = await session.get(Consult, consult_id)
        if consult is None:  # pragma: no cover - claimed a moment ago
            return False
        dispatchers = await service.dispatcher_ids(session)
        if kind == "escalate":
            users = dispatchers
            title = Text("Overdue consultation ({urgency})", urgency=service.urgency_text(consult))
            body = Text("The answer deadline has passed; please act now")
        else:
            experts = await _pending_experts(session, consult.id)
            users = experts if consult.state is ConsultState.ASSIGNED else dispatchers
            title = Text(
                "Consultation waiting for an answer ({urgency})",
                urgency=service.urgency_text(consult),
            )
            body = Text(
                "Answer by {when} (Beijing time)",
                when=f"{district(as_utc(consult.due_at or at)):%Y-%m-%d %H:%M}",
            )
        await service.tell(
            session,
            ctx.bus,
            consult,
            users,
            f"consult.{kind}",
            title,
            body,
            urgent=kind == "escalate",
        )
        await audit.record(
            session=session,
            actor=audit.SYSTEM,
            action=f"consult.sla_{kind}",
            entity_type="consult",
            entity_id=consult.id,
            institution_id=consult.institution_id,
            details={"state": consult.state.value, "notified": len(users)},
        )
    return True


async def send_due(ctx: Context, *, at: datetime | None = None) -> dict[str, int]:
    """Remind and escalate every waiting consultation that is due."""
    at = at or clock_now()
    async with ctx.factory() as session:
        waiting = list(
            (
                await session.scalars(
                    select(Consult).where(
                        Consult.state.in_(WAITING),
                        Consult.due_at.is_not(None),
                        (Consult.reminded_at.is_(None)) | (Consult.escalated_at.is_(None)),
                    )
                )
            ).all()
        )
    out = {"reminded": 0, "escalated": 0}
    for consult in waiting:
        if consult.escalated_at is None and as_utc(consult.due_at or at) <= at:
            out["escalated"] += await _act(ctx, consult.id, "escalate", at)
        elif (
            consult.reminded_at is None
            and consult.escalated_at is None
            and remind_from(consult, ctx.config) <= at
        ):
            out["reminded"] += await _act(ctx, consult.id, "remind", at)
    return out


async def run_due(
    ctx: Context, *, at: datetime | None = None, node: str | None = None
) -> dict[str, Any]:
    """One tick: claim the job (one node at a time) and act on what is due."""
    at = at or clock_now()
    await jobs.ensure(ctx.factory, JOB, at)
    every = ctx.config.tick_seconds
    previous = await jobs.claim(
        ctx.factory,
        JOB,
        at=at,
        node=node or jobs.node_name(),
        next_at=at + timedelta(seconds=every),
    )
    if previous is None:
        return {}
    done = await send_due(ctx, at=at)
    result: dict[str, Any] = {**done, "at": as_utc(at).isoformat()}
    await jobs.finish(ctx.factory, JOB, result)
    if done["reminded"] or done["escalated"]:
        logger.info("consultation SLA: %s", done)
    return result


class Runner(jobs.Periodic):
    """Checks the deadlines every `tick_seconds` (started in the app lifespan)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        super().__init__(
            JOB, self._tick, every_seconds=ctx.config.tick_seconds, enabled=ctx.config.jobs_enabled
        )

    async def _tick(self) -> None:
        await run_due(self.ctx)
