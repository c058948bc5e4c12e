"""Webhook deliveries: queued in the transaction of the change, sent by a background job.

`enqueue` runs just before a session commits (a `before_commit` hook, like the audit
chain): each workflow event the transaction queued for the bus that a partner's active
endpoint subscribes to becomes a `PartnerDelivery` row in the same transaction, so an
event is never lost between the commit and the send. `send_due` claims due deliveries
with a conditional UPDATE (so one node sends each), only the oldest pending one per
endpoint and subject (in order per subject), posts the signed JSON with a short timeout
and no redirects, and records the answer; a failure is retried with exponential backoff
and jitter until 24 hours have passed, then the delivery is marked failed. A receiver
that is down never slows the request that caused the event.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, event, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, aliased

from yiyun.core import events as core_events
from yiyun.core import jobs
from yiyun.core.clock import now as clock_now
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import transaction
from yiyun.partners import events as partner_events
from yiyun.partners import signing
from yiyun.partners.models import (
    DeliveryState,
    Partner,
    PartnerDelivery,
    PartnerStatus,
    PartnerWebhook,
)

logger = logging.getLogger(__name__)

SECRET_CONTEXT = "partner-webhook"  # noqa: S105 - an encryption context, not a secret
RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY = 10.0  # seconds; doubles with each attempt
MAX_RETRY = 3600.0
CLAIM = timedelta(seconds=60)
TIMEOUT = 5.0
BATCH = 50
_SEEN = "yiyun_partner_seen"


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds until the next attempt after `attempts` failures: 10 s doubling to an
    hour, times a jitter in [0.5, 1.5) so endpoints that failed together spread out."""
    base = min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_RETRY)
    jitter: float = (rng or random).random()
    return base * (0.5 + jitter)


# --- queueing, in the transaction of the change ------------------------------------------


def enqueue(session: Session) -> None:
    """Turn the transaction's subscribed workflow events into delivery rows."""
    seen: set[int] = session.info.setdefault(_SEEN, set())
    todo = [
        (channel, message)
        for channel, message in core_events.pending(session)
        if id(message) not in seen and channel in partner_events.CHANNELS
    ]
    if not todo:
        return
    hooks = session.execute(
        select(PartnerWebhook, Partner.institution_id)
        .join(Partner, Partner.id == PartnerWebhook.partner_id)
        .where(PartnerWebhook.active.is_(True), Partner.status == PartnerStatus.ACTIVE)
    ).all()
    at = clock_now()
    for channel, message in todo:
        seen.add(id(message))
        kind = partner_events.event_type(channel, message)
        if kind is None or not hooks:
            continue
        wanted = [(h, inst) for h, inst in hooks if kind in h.events]
        if not wanted:
            continue
        concerned = partner_events.institutions(session, channel, message)
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = {
            "id": event_id,
            "type": kind,
            "created": at.isoformat(),
            "data": {k: v for k, v in message.items() if k != "type"},
        }
        for hook, inst in wanted:
            if inst in concerned:
                session.add(
                    PartnerDelivery(
                        webhook_id=hook.id,
                        event_id=event_id,
                        event_type=kind,
                        subject=partner_events.subject(channel, message),
                        payload=payload,
                        status=DeliveryState.PENDING,
                        attempts=0,
                        created_at=at,
                        next_at=at,
                    )
                )


def _clear(session: Session, *_: Any) -> None:
    session.info.pop(_SEEN, None)


def install() -> None:
    """Register the hook (idempotent; called at app start)."""
    if not event.contains(Session, "before_commit", enqueue):
        event.listen(Session, "before_commit", enqueue)
        event.listen(Session, "after_rollback", _clear)


# --- sending, in a background job ---------------------------------------------------------


@dataclass(frozen=True)
class Context:
    factory: async_sessionmaker[AsyncSession]
    cipher: FieldCipher
    client: httpx.AsyncClient | None = None


def _due(at: datetime) -> Any:
    older = aliased(PartnerDelivery)
    return (
        select(PartnerDelivery.id)
        .where(
            PartnerDelivery.status == DeliveryState.PENDING,
            PartnerDelivery.next_at <= at,
            or_(PartnerDelivery.claimed_until.is_(None), PartnerDelivery.claimed_until < at),
            ~exists().where(
                and_(
                    older.webhook_id == PartnerDelivery.webhook_id,
                    older.subject == PartnerDelivery.subject,
                    older.status == DeliveryState.PENDING,
                    older.id < PartnerDelivery.id,
                )
            ),
        )
        .order_by(PartnerDelivery.id)
        .limit(BATCH)
    )


async def _claim(
    ctx: Context, delivery_id: int, at: datetime
) -> tuple[PartnerDelivery, str, str] | None:
    async with transaction(ctx.factory) as session:
        claimed = await session.execute(
            update(PartnerDelivery)
            .where(
                PartnerDelivery.id == delivery_id,
                PartnerDelivery.status == DeliveryState.PENDING,
                or_(PartnerDelivery.claimed_until.is_(None), PartnerDelivery.claimed_until < at),
            )
            .values(claimed_until=at + CLAIM)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        delivery = await session.get(PartnerDelivery, delivery_id)
        hook = await session.get(PartnerWebhook, delivery.webhook_id) if delivery else None
        if delivery is None or hook is None:
            return None
        return delivery, hook.url, ctx.cipher.decrypt(hook.secret_enc, context=SECRET_CONTEXT)


async def _post(
    ctx: Context, url: str, secret: str, delivery: PartnerDelivery
) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = int(clock_now().timestamp())
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(secret, body, stamp),
        "Yiyun-Event-Id": delivery.event_id,
        "Yiyun-Event-Type": delivery.event_type,
        "User-Agent": "Yiyun-Webhooks/1",
    }
    own = ctx.client is None
    http = ctx.client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
    try:
        res = await http.post(url, content=body, headers=headers, timeout=TIMEOUT)
        return res.status_code, "" if res.is_success else res.text[:300]
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    finally:
        if own:
            await http.aclose()


async def _record(ctx: Context, delivery: PartnerDelivery, status: int | None, error: str) -> bool:
    at = clock_now()
    ok = status is not None and 200 <= status < 300
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": status,
        "last_error": error,
        "claimed_until": None,
    }
    if ok:
        values |= {"status": DeliveryState.DELIVERED, "delivered_at": at, "next_at": None}
    elif at - delivery.created_at >= RETRY_WINDOW:
        values |= {"status": DeliveryState.FAILED, "next_at": None}
    else:
        values["next_at"] = at + timedelta(seconds=backoff(attempts))
    async with transaction(ctx.factory) as session:
        await session.execute(
            update(PartnerDelivery).where(PartnerDelivery.id == delivery.id).values(**values)
        )
    return ok


async def send_due(ctx: Context, *, at: datetime | None = None) -> dict[str, int]:
    """Send what is due now; returns counts of delivered and failed attempts."""
    at = at or clock_now()
    async with transaction(ctx.factory) as session:
        ids = list(await session.scalars(_due(at)))
    out = {"delivered": 0, "failed": 0}
    for delivery_id in ids:
        claimed = await _claim(ctx, delivery_id, at)
        if claimed is None:
            continue
        delivery, url, secret = claimed
        status, error = await _post(ctx, url, secret, delivery)
        out["delivered" if await _record(ctx, delivery, status, error) else "failed"] += 1
    return out


class Runner(jobs.Periodic):
    """Sends due webhook deliveries every few seconds (started in the app lifespan)."""

    def __init__(self, ctx: Context, *, every_seconds: float = 2.0, enabled: bool = True) -> None:
        self.ctx = ctx
        super().__init__(
            "partner-webhooks", self._tick, every_seconds=every_seconds, enabled=enabled
        )

    async def _tick(self) -> None:
        done = await send_due(self.ctx)
        if done["delivered"] or done["failed"]:
            logger.info("partner webhooks: %s", done)
