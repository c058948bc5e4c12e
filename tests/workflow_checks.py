"""Shared checks for workflow tables: take one step in a real transaction and report what
the database and the bus saw, before and after the commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.core import events
from yiyun.core.bus import EventBus, Subscription
from yiyun.core.errors import PermissionDenied, YiyunError
from yiyun.core.statemachine import Machine


class Fail(Exception):
    """Raised after a step to make the surrounding transaction roll back."""


@dataclass
class Outcome:
    error: YiyunError | None = None
    audit_in_transaction: int = 0  # audit rows for the step, read inside its transaction
    queued_in_transaction: int = 0  # events waiting in the session's outbox before commit
    published_before_commit: int = 0
    published: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""  # the stored state afterwards
    audited: int = 0  # audit rows for the step afterwards


async def _audit_rows(
    session: AsyncSession, machine: Machine[Any, Any], entity_id: int, action: str
) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.entity_type == machine.entity_type,
            AuditEvent.entity_id == str(entity_id),
            AuditEvent.action == f"{machine.audit_prefix}.{action}",
        )
    )
    queued = sum(
        1
        for entry in audit.queued(session)
        if entry.entity_type == machine.entity_type
        and entry.entity_id == str(entity_id)
        and entry.action == f"{machine.audit_prefix}.{action}"
    )
    return int(count or 0) + queued


async def published_so_far(bus: EventBus, sub: Subscription, channel: str) -> list[dict[str, Any]]:
    """Every message published on `channel` until now, without waiting for time: a marker
    is published behind them and read back (a channel delivers in order on every bus)."""
    marker = {"test_marker": uuid4().hex}
    await bus.publish(channel, marker)
    seen: list[dict[str, Any]] = []
    while (message := await sub.get(timeout=5.0)) != marker:
        assert message is not None, f"the marker on {channel} never came back"
        seen.append(message)
    return seen


async def attempt(
    app: Any,
    *,
    machine: Machine[Any, Any],
    model: type[Any],
    entity_id: int,
    action: str,
    step: Callable[[AsyncSession, Any], Awaitable[object]],
    roll_back: bool = False,
) -> Outcome:
    """Run `step(session, entity)` in its own transaction (rolled back when `roll_back`)."""
    bus = app.state.bus
    out = Outcome()
    async with bus.subscribe(machine.channel) as sub:
        async with app.state.sessions() as session:
            try:
                async with session.begin():
                    entity = await session.get(model, entity_id)
                    await step(session, entity)
                    out.audit_in_transaction = await _audit_rows(
                        session, machine, entity_id, action
                    )
                    out.queued_in_transaction = sum(
                        1 for channel, _ in events.pending(session) if channel == machine.channel
                    )
                    out.published_before_commit = len(
                        await published_so_far(bus, sub, machine.channel)
                    )
                    if roll_back:
                        raise Fail
            except YiyunError as exc:
                out.error = exc
            except Fail:
                pass
        await events.settle()
        out.published = await published_so_far(bus, sub, machine.channel)
    async with app.state.sessions() as session:
        entity = await session.get(model, entity_id)
        out.state = str(entity.state)
        out.audited = await _audit_rows(session, machine, entity_id, action)
    return out


def assert_legal(out: Outcome, *, to: str, action: str, entity_id: int) -> None:
    """A legal step: state set, audited in its own transaction, published once after commit."""
    assert out.error is None, out.error
    assert out.state == to
    assert out.audit_in_transaction == 1 and out.audited == 1
    assert out.queued_in_transaction == 1 and out.published_before_commit == 0
    assert len(out.published) == 1, out.published
    message = out.published[0]
    assert (message["id"], message["action"], message["state"]) == (entity_id, action, to)


def assert_illegal(out: Outcome, *, state: str, action: str, code: str) -> None:
    """An illegal step: a 409 naming state and action; nothing stored, nothing published."""
    assert out.error is not None, f"{action} from {state} was allowed"
    assert out.error.status == 409 and out.error.code == code
    assert out.error.details == {"state": state, "action": action}
    assert out.error.message == f"cannot {action} when state is {state}"
    assert out.state == state and out.audited == 0 and out.published == []


def assert_rolled_back(out: Outcome, *, state: str) -> None:
    """A step whose transaction rolled back: audited inside it, then nothing at all."""
    assert out.error is None
    assert out.audit_in_transaction == 1 and out.queued_in_transaction == 1
    assert out.state == state and out.audited == 0 and out.published == []


def assert_refused(out: Outcome, *, state: str, code: str | None = None, prefix: str = "") -> None:
    """A step the caller may not take: PermissionDenied (with `code`, or a code starting
    with `prefix`), the state unchanged, nothing audited, nothing published."""
    assert isinstance(out.error, PermissionDenied), out.error
    if code is not None:
        assert out.error.code == code
    assert out.error.code.startswith(prefix)
    assert out.state == state and out.audited == 0 and out.published == []
