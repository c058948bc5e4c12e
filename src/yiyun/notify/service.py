"""Notify people: store in their inbox (same transaction as the cause) and push live.

The one way to word a notification: `title` and `body` are either data shown as they are
(a meeting title someone typed) or an `i18n.text.Text`, rendered for each recipient in
their own language (`User.locale`, Chinese by default) before it is stored and pushed.
The push goes out after the transaction commits (`core.events`), so a rolled-back change
never rings anyone, and the database stays the source of truth: a client that was
offline reads its inbox on the next page load.

With `out_of_app=True` the same words also go by e-mail (the user's work address) and SMS
(their mobile number) through the app's channels (`install_outbound`, done by the app at
start-up: console backends that log the recipient masked unless a gateway is
configured), in each recipient's language, after the commit as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import i18n
from yiyun.core import events
from yiyun.core.bus import EventBus, Message, Subscription
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.i18n.text import Text, render
from yiyun.notify.channels import Outbound, OutboundMessage, deliver
from yiyun.notify.models import Notification
from yiyun.org.models import User

_outbound: list[tuple[Outbound, FieldCipher]] = []


def install_outbound(outbound: Outbound, cipher: FieldCipher) -> None:
    """The channels (and the cipher of staff phone numbers) out-of-app notices go by."""
    _outbound[:] = [(outbound, cipher)]


class _Sender:
    """Delivers queued messages when the transaction commits (the events outbox calls
    `publish`); a bus in shape only, nothing subscribes to it."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    async def publish(self, channel: str, message: Message) -> None:
        chosen = self.outbound.sms if channel == "sms" else self.outbound.email
        await deliver(chosen, OutboundMessage(**message))

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        raise NotImplementedError("out-of-app delivery has no subscribers")

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


async def _queue_out_of_app(
    session: AsyncSession, recipients: list[int], texts: dict[int, tuple[str, str]]
) -> None:
    if not _outbound:
        return
    outbound, cipher = _outbound[0]
    sender = _Sender(outbound)
    rows = await session.execute(
        select(User.id, User.email, User.phone_enc).where(User.id.in_(recipients))
    )
    for uid, email, phone_enc in rows:
        title, body = texts[uid]
        if email:
            message = {"to": email, "subject": title, "body": f"{title}\n\n{body}".strip()}
            events.publish_after_commit(session, sender, "email", message)
        if phone_enc:
            phone = cipher.decrypt(phone_enc, context="staff-phone")
            text = f"{title} {body}".strip()[:300]
            events.publish_after_commit(
                session, sender, "sms", {"to": phone, "subject": title, "body": text}
            )


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
    out_of_app: bool = False,
) -> list[Notification]:
    """Create one notification per user, worded in each user's language; they are pushed
    when the transaction commits (and with `out_of_app` sent by e-mail and SMS too)."""
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
    if out_of_app:
        await _queue_out_of_app(session, recipients, {r.user_id: (r.title, r.body) for r in rows})
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
