"""Signed webhooks end to end: a receiver on loopback checks each signature; a referral
requested through FHIR is delivered once, signed; a receiver answering 500 is retried
later with backoff; a delivery can be replayed. Plus the pure parts (signing, backoff)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from tests.partners.helpers import bearer, make_partner
from yiyun.partners import signing, webhooks
from yiyun.partners.models import DeliveryState, PartnerDelivery, PartnerWebhook
from yiyun.partners.schemas import WebhookCreate


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that verifies signatures and records bodies."""

    def __init__(self) -> None:
        self.secret = ""
        self.status = 200
        self.got: list[tuple[bool, dict[str, Any]]] = []
        self.server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        ok = signing.verify(
            self.secret, body, headers.get("yiyun-signature", ""), now=int(time.time())
        )
        self.got.append((ok, json.loads(body)))
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    rec.server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    yield rec
    rec.server.close()
    await rec.server.wait_closed()


def test_a_signature_verifies_only_with_the_secret_body_and_a_recent_time() -> None:
    body, at = b'{"a":1}', int(time.time())
    header = signing.sign("whsec_x", body, at)
    assert signing.verify("whsec_x", body, header, now=at)
    assert not signing.verify("whsec_y", body, header, now=at)
    assert not signing.verify("whsec_x", b'{"a":2}', header, now=at)
    assert not signing.verify("whsec_x", body, header, now=at + 301)
    assert not signing.verify("whsec_x", body, "garbage", now=at)


def test_backoff_doubles_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(7)
    for attempts, base in [(1, 10), (2, 20), (5, 160), (20, 3600)]:
        delay = webhooks.backoff(attempts, rng)
        assert base * 0.5 <= delay < base * 1.5


async def test_a_referral_is_delivered_signed_and_a_failure_is_retried(
    app: Any, client: httpx.AsyncClient, world: World, receiver: Receiver
) -> None:
    partner = await make_partner(app, world)
    from yiyun.partners import service
    from yiyun.partners.models import Partner

    async with app.state.sessions() as session:
        row = await session.get(Partner, partner.partner_id)
        admin = world.users["admin"]
        from yiyun.auth.principal import Principal

        principal = Principal(
            admin.id,
            "admin",
            "Admin",
            admin.institution_id,
            frozenset({r.role for r in admin.roles}),
        )
        _hook, receiver.secret = await service.add_webhook(
            session=session,
            principal=principal,
            actor=principal.actor(),
            cipher=app.state.cipher,
            partner=row,
            data=WebhookCreate(url=receiver.url, events=["referral.requested"]),
        )
        await session.commit()
    headers = await bearer(client, partner, "system/Patient.rus system/ServiceRequest.crs")
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    res = await client.post(
        "/fhir/r4/ServiceRequest",
        headers=headers,
        json={
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{world.patients['pa'].id}"},
            "requester": {"reference": f"Practitioner/{world.users['alice'].id}"},
            "performer": [{"reference": f"Organization/{world.inst['lead'].id}"}],
            "reasonCode": [{"text": "胸痛待查"}],
            "note": [{"text": "反复胸闷 2 周。"}],
            "occurrenceDateTime": when,
        },
    )
    assert res.status_code == 201, res.text
    ctx = webhooks.Context(app.state.sessions, app.state.cipher)
    receiver.status = 500
    assert await webhooks.send_due(ctx) == {"delivered": 0, "failed": 1}
    async with app.state.sessions() as session:
        delivery = await session.scalar(select(PartnerDelivery))
        assert delivery is not None and delivery.status is DeliveryState.PENDING
        assert delivery.attempts == 1 and delivery.last_status == 500
        assert delivery.next_at is not None and delivery.next_at > datetime.now(UTC)
        due_at = delivery.next_at
    receiver.status = 200
    assert await webhooks.send_due(ctx) == {"delivered": 0, "failed": 0}  # not due yet
    assert await webhooks.send_due(ctx, at=due_at + timedelta(seconds=1)) == {
        "delivered": 1,
        "failed": 0,
    }
    assert [ok for ok, _ in receiver.got] == [True, True]
    sent = receiver.got[-1][1]
    assert sent["type"] == "referral.requested" and sent["data"]["id"] == int(res.json()["id"])
    assert "赵" not in json.dumps(sent, ensure_ascii=False)  # ids and states only
    # replay from the portal: the same event again
    replay = await client.post(
        f"/partners/{partner.partner_id}/deliveries/{delivery.id}/replay",
        headers=world.auth("admin"),
    )
    assert replay.status_code == 303, replay.text
    assert await webhooks.send_due(ctx) == {"delivered": 1, "failed": 0}
    assert receiver.got[-1][1]["id"] == sent["id"]
    async with app.state.sessions() as session:
        hooks = list(await session.scalars(select(PartnerWebhook)))
        assert len(hooks) == 1 and receiver.secret not in hooks[0].secret_enc
