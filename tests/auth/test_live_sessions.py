"""Sessions end everywhere at once: logout and account disable close the caller's live
sockets (every socket route a session opens) within a second on every app node, refuse what
they send afterwards, and the short-lived caller cache never outlives a revocation or a
role change."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import func, select
from wsproto.utilities import LocalProtocolError

from tests.factories import World
from tests.imaging.helpers import ct, upload
from tests.meetings.test_room import open_room
from yiyun.meetings.models import ChatMessage
from yiyun.settings import BusSettings, Settings
from yiyun.web.app import create_app

# Several tasks (sockets, background writers) use the database at once.
pytestmark = pytest.mark.commits


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://testserver"
    )


async def expect_closed(ws: Any, within: float = 1.0) -> int:
    """Read until the server closes the socket; fail if it is still open after `within`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"socket still open {within} s after the revocation")
        try:
            await ws.receive_text(timeout=left)
        except WebSocketDisconnect as exc:
            assert exc.code != 1011, exc.reason
            return int(exc.code)
        except TimeoutError:
            raise AssertionError(f"socket still open {within} s after the revocation") from None


async def _try_chat(conn: Any, client_id: str, text: str) -> None:
    """Send a chat line unless the socket is already closing (then it cannot be sent)."""
    with contextlib.suppress(LocalProtocolError, WebSocketDisconnect):
        await conn.send(type="chat", client_id=client_id, text=text)


async def test_logout_closes_the_events_socket_of_that_session(app: Any, world: World) -> None:
    async with _client(app) as client:
        async with aconnect_ws(f"/ws/events?token={world.tokens['alice']}", client) as ws:
            assert json.loads(await ws.receive_text(timeout=5))["type"] == "hello"
            res = await client.post("/api/v1/auth/logout", headers=world.auth("alice"))
            assert res.status_code == 204
            assert await expect_closed(ws) == 1008
        # the revoked token is refused at once, although it was just resolved (cached)
        assert (await client.get("/api/v1/auth/me", headers=world.auth("alice"))).status_code == 401


async def test_disabling_an_account_closes_its_event_and_call_sockets(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        client = room.client
        await room.create("bob", "alice")
        await room.join("bob")
        alice = await room.join("alice")
        async with aconnect_ws(f"/ws/events?token={world.tokens['alice']}", client) as events:
            assert json.loads(await events.receive_text(timeout=5))["type"] == "hello"
            assert (await client.get("/api/v1/auth/me", headers=world.auth("alice"))).is_success
            res = await client.post(
                f"/api/v1/staff/{world.users['alice'].id}/disable", headers=world.auth("admin")
            )
            assert res.status_code == 200, res.text
            # a message already on its way after the revocation is refused, not stored
            await _try_chat(alice, "after-disable", "我还在")
            assert await expect_closed(events) == 1008
            assert await expect_closed(alice.ws) == 1008
        me = await client.get("/api/v1/auth/me", headers=world.auth("alice"))
        assert me.status_code == 401
    async with app.state.sessions() as db:
        stored = await db.scalar(select(func.count()).select_from(ChatMessage))
    assert stored == 0


async def test_logout_closes_the_call_and_a_later_chat_is_not_stored(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        await room.join("bob")
        alice = await room.join("alice")
        await alice.send(type="chat", client_id="before", text="术前讨论")
        await alice.expect("chat_ack")
        token = await room.token("alice")  # issued before the logout, used after it
        res = await room.client.post("/api/v1/auth/logout", headers=world.auth("alice"))
        assert res.status_code == 204
        await _try_chat(alice, "after", "退出之后")
        assert await expect_closed(alice.ws) == 1008
        # a room token from the ended session no longer opens the room
        again = await room.connect(token)
        refused = await again.expect("error")
        assert refused["code"] == "auth.required"
    async with app.state.sessions() as db:
        texts = (await db.scalars(select(ChatMessage.body))).all()
    assert texts == ["术前讨论"]


async def test_a_role_change_reaches_the_next_request(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await client.get("/api/v1/auth/me", headers=world.auth("alice"))
    assert "specialist" not in before.json()["roles"]
    res = await client.put(
        f"/api/v1/staff/{world.users['alice'].id}/roles",
        headers=world.auth("admin"),
        json={"roles": ["community_doctor", "specialist"]},
    )
    assert res.status_code == 200, res.text
    after = await client.get("/api/v1/auth/me", headers=world.auth("alice"))
    assert sorted(after.json()["roles"]) == ["community_doctor", "specialist"]


async def test_a_rolled_back_logout_revokes_nothing(app: Any, world: World) -> None:
    from yiyun.auth import revocation

    async with _client(app) as client:
        async with aconnect_ws(f"/ws/events?token={world.tokens['alice']}", client) as ws:
            assert json.loads(await ws.receive_text(timeout=5))["type"] == "hello"
            async with app.state.sessions() as session:
                revocation.revoke(session, user_ids=[world.users["alice"].id])
                await session.rollback()
            with pytest.raises(TimeoutError):
                await ws.receive_text(timeout=0.5)
        assert (await client.get("/api/v1/auth/me", headers=world.auth("alice"))).is_success


async def test_a_revocation_on_one_node_closes_the_socket_on_another(
    settings: Settings, world: World, redis_url: str
) -> None:
    shared = settings.model_copy(update={"bus": BusSettings(url=redis_url)})
    node_a = create_app(shared, configure_logs=False)
    node_b = create_app(shared, configure_logs=False)
    try:
        await node_a.state.live.start()
        await node_b.state.live.start()
        async with _client(node_a) as on_a, _client(node_b) as on_b:
            assert (await on_b.get("/api/v1/auth/me", headers=world.auth("alice"))).is_success
            async with aconnect_ws(f"/ws/events?token={world.tokens['alice']}", on_b) as ws:
                assert json.loads(await ws.receive_text(timeout=5))["type"] == "hello"
                res = await on_a.post("/api/v1/auth/logout", headers=world.auth("alice"))
                assert res.status_code == 204
                assert await expect_closed(ws) == 1008
            # node B had the caller cached; the revocation from node A dropped it
            me = await on_b.get("/api/v1/auth/me", headers=world.auth("alice"))
            assert me.status_code == 401
    finally:
        for node in (node_a, node_b):
            await node.state.live.close()
            await node.state.rooms.close()
            await node.state.hub.close()
            await node.state.bus.close()
            await node.state.engine.dispose()


async def test_a_burst_of_requests_with_an_uncached_token_looks_it_up_once(
    app: Any, client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yiyun.auth import service as auth_service

    real = auth_service.authenticate
    lookups = 0

    async def counted(**kwargs: Any) -> Any:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.05)  # a slow database: the others arrive meanwhile
        return await real(**kwargs)

    monkeypatch.setattr(auth_service, "authenticate", counted)
    app.state.live._cache.clear()  # the token not yet cached
    replies = await asyncio.gather(
        *(client.get("/api/v1/auth/me", headers=world.auth("alice")) for _ in range(8))
    )
    assert [r.status_code for r in replies] == [200] * 8
    assert lookups == 1
    bad = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_logout_closes_the_co_reading_socket(app: Any, world: World) -> None:
    async with _client(app) as client:
        res = await upload(client, world, "alice", ct("R11", slices=1))
        assert res.status_code == 201, res.text
        study_id = res.json()[0]["id"]
        url = f"/ws/imaging/{study_id}?token={world.tokens['alice']}"
        async with aconnect_ws(url, client) as ws:
            assert json.loads(await ws.receive_text(timeout=5))["type"] == "hello"
            res = await client.post("/api/v1/auth/logout", headers=world.auth("alice"))
            assert res.status_code == 204
            assert await expect_closed(ws) == 1008


# Every WebSocket route, and the test proving it closes when the session that opened it
# ends, or why no user session opens it. A new socket route fails here until it is named.
SESSION_SOCKETS = {
    "/ws/events": test_logout_closes_the_events_socket_of_that_session,
    "/ws/signal": test_logout_closes_the_call_and_a_later_chat_is_not_stored,
    "/ws/imaging/{study_id}": test_logout_closes_the_co_reading_socket,
    "/ws/docs/{kind}/{key}": (
        "tests/collab/test_socket.py::test_logging_out_closes_the_board_of_that_session"
    ),
}
OTHER_SOCKETS = {
    "/ws/kiosk": "a room terminal's device credential (revoked with the device)",
    "/ws/selftest": "the pre-call echo test, open to anyone and holding nothing",
}


def test_every_socket_route_is_bound_to_a_session_or_says_why_not(app: Any) -> None:
    paths = {
        route.path
        for route in iter_route_contexts(app.routes)
        if route.methods is None and route.endpoint is not None  # neither HTTP nor a mount
    }
    assert paths == set(SESSION_SOCKETS) | set(OTHER_SOCKETS)
