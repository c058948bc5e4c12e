"""In-app notifications: stored with their cause, pushed live after commit, never on
rollback; meeting invitees are rung at once."""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from tests.factories import World
from yiyun.notify import service

# The events socket and API calls use the database from several tasks at once.
pytestmark = pytest.mark.commits


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://testserver"
    )


async def test_invitees_are_rung_live_and_find_it_in_their_inbox(app, world: World) -> None:
    async with (
        _client(app) as client,
        aconnect_ws(f"/ws/events?token={world.tokens['alice']}", client) as alice_events,
    ):
        hello = json.loads(await alice_events.receive_text(timeout=5))
        assert hello == {"type": "hello", "unread": 0}
        res = await client.post(
            "/api/v1/meetings",
            headers=world.auth("bob"),
            json={"title": "急会诊", "invitees": ["alice"]},
        )
        assert res.status_code == 201
        ring = json.loads(await alice_events.receive_text(timeout=5))
        assert ring["kind"] == "meeting.ring" and ring["urgent"] is True
        assert ring["link"] == f"/meetings/{res.json()['id']}"
        inbox = (await client.get("/api/v1/notifications", headers=world.auth("alice"))).json()
        assert inbox["unread"] == 1
        assert inbox["items"][0]["title"] == "Bob邀请您参加视频会议「急会诊」"
        assert (await client.get("/api/v1/notifications", headers=world.auth("bob"))).json()[
            "unread"
        ] == 0


async def test_nothing_is_pushed_when_the_transaction_rolls_back(app, world: World) -> None:
    bus = app.state.bus
    async with bus.subscribe(service.user_channel(world.users["carol"].id)) as sub:
        async with app.state.sessions() as session:
            await service.notify(
                session=session,
                bus=bus,
                user_ids=[world.users["carol"].id],
                kind="test",
                title="never",
            )
            await session.rollback()
        assert await sub.get(timeout=0.5) is None
        async with app.state.sessions() as session, session.begin():
            await service.notify(
                session=session,
                bus=bus,
                user_ids=[world.users["carol"].id],
                kind="test",
                title="kept",
            )
        got = await sub.get(timeout=2)
        assert got is not None and got["title"] == "kept"


async def test_outsiders_cannot_ring_a_meeting(client: httpx.AsyncClient, world: World) -> None:
    res = await client.post(
        "/api/v1/meetings", headers=world.auth("bob"), json={"title": "x", "invitees": ["alice"]}
    )
    meeting = res.json()["id"]
    assert (
        await client.post(f"/api/v1/meetings/{meeting}/ring", headers=world.auth("mallory"))
    ).status_code == 404
    rung = await client.post(f"/api/v1/meetings/{meeting}/ring", headers=world.auth("alice"))
    assert rung.json() == {"rung": 1}


async def test_the_events_socket_refuses_strangers(app) -> None:
    async with _client(app) as client, aconnect_ws("/ws/events?token=bogus", client) as ws:
        try:
            await ws.receive_text(timeout=5)
        except Exception as exc:
            assert getattr(exc, "code", None) == 1008
        else:
            raise AssertionError("socket stayed open")


async def test_mark_read_clears_the_count(client: httpx.AsyncClient, world: World) -> None:
    await client.post(
        "/api/v1/meetings", headers=world.auth("bob"), json={"title": "y", "invitees": ["alice"]}
    )
    res = await client.post(
        "/api/v1/notifications/read", headers=world.auth("alice"), json={"ids": None}
    )
    assert res.json()["unread"] == 0
