"""Notify people: store in their inbox (same transaction as the cause) and push live.

The one way to word a notification: `title` and `body` are either data shown as they are
(a meeting title someone typed) or an `i18n.text.Text`, rendered for each recipient in
their own language (`User.locale`, Chinese by default) before it is stored and pushed.
The push goes out after the transaction commits (`core.events`), so a rolled-back change
never rings anyone, and the database stays the source of truth: a client that was
offline reads its inbox on the next page load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import i18n
from yiyun.core import events
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.i18n.text import Text, render
from yiyun.notify.models import Notification
from yiyun.org.models import User


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


async def locales_of(session: AsyncSession, user_ids: list[int]) -> dict[int, str]:
    """Each user's language (a supported locale; the default when unset)."""
    found: dict[int, str] = {}
    for chunk in range(0, len(user_ids), 500):
        rows = await session.execute(
            select(User.id, User.locale).where(User.id.in_(user_ids[chunk : chunk + 500]))
        )
        for uid, locale in rows:
            found[uid] = i18n.normalise(locale) or i18n.DEFAULT_LOCALE
    return {uid: found.get(uid, i18n.DEFAULT_LOCALE) for uid in user_ids}


async def notify(
    *,
    session: AsyncSession,
    bus: EventBus,
    user_ids: Iterable[int],
    kind: str,
    title: str | Text,
    body: str | Text = "",
    link: str | None = None,
    data: dict[str, Any] | None = None,
    urgent: bool = False,
) -> list[Notification]:
    """Create one notification per user, worded in each user's language; they are pushed
    when the transaction commits."""
    recipients = list(dict.fromkeys(user_ids))
    if not recipients:
        return []
    worded = isinstance(title, Text) or isinstance(body, Text)
    locales = await locales_of(session, recipients) if worded else {}
    texts: dict[str, tuple[str, str]] = {}
    at = now()
    rows: list[Notification] = []
    for uid in recipients:
        locale = locales.get(uid, i18n.DEFAULT_LOCALE)
        if locale not in texts:
            texts[locale] = (render(title, locale)[:200], render(body, locale)[:1000])
        rows.append(
            Notification(
                user_id=uid,
                kind=kind,
                title=texts[locale][0],
                body=texts[locale][1],
                link=link,
                data=data or {},
                urgent=urgent,
                created_at=at,
            )
        )
    session.add_all(rows)
    await session.flush()
    for row in rows:
        events.publish_after_commit(session, bus, user_channel(row.user_id), payload(row))
    return rows


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
    events.publish_after_commit(
        session, bus, user_channel(user_id), {"type": "hello", "unread": count}
    )


async def mark_read(*, session: AsyncSession, user_id: int, ids: list[int] | None = None) -> int:
    stmt = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await session.execute(stmt.values(read_at=now()))
    return int(getattr(result, "rowcount", 0) or 0)
