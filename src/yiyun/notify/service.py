"""Notify people: store in their inbox (same transaction as the cause) and push live.

The push happens after the transaction commits (a session `after_commit` hook), so a
rolled-back change never rings anyone, and the database stays the source of truth: a
client that was offline reads its inbox on the next page load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.notify.models import Notification

logger = logging.getLogger(__name__)
_PENDING = "yiyun_pending_push"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def payload(row: Notification) -> dict[str, Any]:
    return {
        "type": "notification",
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "link": row.link,
        "data": row.data,
        "urgent": row.urgent,
        "created_at": row.created_at.isoformat(),
    }


async def notify(
    *,
    session: AsyncSession,
    bus: EventBus,
    user_ids: Iterable[int],
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
    data: dict[str, Any] | None = None,
    urgent: bool = False,
) -> list[Notification]:
    """Create one notification per user; they are pushed when the transaction commits."""
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            title=title[:200],
            body=body[:1000],
            link=link,
            data=data or {},
            urgent=urgent,
            created_at=now(),
        )
        for uid in dict.fromkeys(user_ids)
    ]
    session.add_all(rows)
    await session.flush()
    pending: list[tuple[EventBus, int, dict[str, Any]]] = session.sync_session.info.setdefault(
        _PENDING, []
    )
    pending.extend((bus, r.user_id, payload(r)) for r in rows)
    return rows


def _push_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    loop = asyncio.get_running_loop()
    for bus, user_id, message in pending:
        task = loop.create_task(bus.publish(user_channel(user_id), message))
        task.add_done_callback(_log_failure)


def _drop_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("live push failed: %s", type(task.exception()).__name__)


def install_hooks() -> None:
    from sqlalchemy import event

    if not event.contains(Session, "after_commit", _push_after_commit):
        event.listen(Session, "after_commit", _push_after_commit)
        event.listen(Session, "after_rollback", _drop_on_rollback)


install_hooks()


async def inbox(*, session: AsyncSession, user_id: int, limit: int = 30) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def unread_count(*, session: AsyncSession, user_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(await session.scalar(query) or 0)


async def push_unread(*, session: AsyncSession, bus: EventBus, user_id: int) -> None:
    """After this transaction commits, tell the user's open pages their unread count
    (the bell), as the `hello` on connecting does."""
    count = await unread_count(session=session, user_id=user_id)
    pending: list[tuple[EventBus, int, dict[str, Any]]] = session.sync_session.info.setdefault(
        _PENDING, []
    )
    pending.append((bus, user_id, {"type": "hello", "unread": count}))


async def mark_read(*, session: AsyncSession, user_id: int, ids: list[int] | None = None) -> int:
    stmt = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await session.execute(stmt.values(read_at=now()))
    return int(getattr(result, "rowcount", 0) or 0)
