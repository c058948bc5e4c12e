"""Domain events and pushes, published on the bus only once their transaction commits.

`publish_after_commit()` puts a message in the session's outbox; nothing is sent yet.
When the session's outermost transaction commits, the outbox is published in order (one
background task per commit). A rolled-back transaction drops what it queued, and so does
a rolled-back SAVEPOINT (only what was queued inside it); a committed SAVEPOINT keeps its
messages waiting for the outer commit. The database stays the source of truth: a reader
that missed an event reads the rows.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from yiyun.core.bus import EventBus, Message

logger = logging.getLogger(__name__)

_OUTBOX = "yiyun_outbox"
_inflight: set[asyncio.Task[None]] = set()

Queued = tuple[SessionTransaction | None, EventBus, str, Message]


def _sync(session: AsyncSession | Session) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def publish_after_commit(
    session: AsyncSession | Session, bus: EventBus, channel: str, message: Message
) -> None:
    """Publish `message` on `channel` when the session's transaction commits (never before)."""
    sync = _sync(session)
    owner = sync.get_nested_transaction() or sync.get_transaction()
    outbox: list[Queued] = sync.info.setdefault(_OUTBOX, [])
    outbox.append((owner, bus, channel, message))


def pending(session: AsyncSession | Session) -> list[tuple[str, Message]]:
    """What would be published if the session committed now (channel, message)."""
    return [(channel, message) for _, _, channel, message in _sync(session).info.get(_OUTBOX, [])]


async def settle() -> None:
    """Wait until every publication started by a commit has been handed to the bus."""
    loop = asyncio.get_running_loop()
    while mine := [t for t in _inflight if t.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)


async def _publish(items: list[tuple[EventBus, str, Message]]) -> None:
    for bus, channel, message in items:
        try:
            await bus.publish(channel, message)
        except Exception as exc:
            logger.warning("event on %s not published: %s", channel, type(exc).__name__)


def _after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a SAVEPOINT was released: its messages wait for the outer commit
    queued: list[Queued] = session.info.pop(_OUTBOX, [])
    if not queued:
        return
    task = asyncio.get_running_loop().create_task(
        _publish([(bus, channel, message) for _, bus, channel, message in queued])
    )
    _inflight.add(task)
    task.add_done_callback(_inflight.discard)


def _within(owner: SessionTransaction | None, ended: SessionTransaction) -> bool:
    if owner is None:
        return ended.parent is None
    node: SessionTransaction | None = owner
    while node is not None:
        if node is ended:
            return True
        node = node.parent
    return False


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    queued: list[Queued] | None = session.info.get(_OUTBOX)
    if queued:
        queued[:] = [item for item in queued if not _within(item[0], previous)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # The outermost transaction is over (committed and published, rolled back or
        # closed): nothing it queued may leak into the session's next transaction.
        session.info.pop(_OUTBOX, None)


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
