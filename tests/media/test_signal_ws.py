"""`/ws/signal` end to end over ASGI with the in-memory engine: tokens, protocol
errors, rate limits, negotiation flow, resume after a dropped socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from tests.factories import World
from tests.media.utils import ClientPeer
from yiyun.auth import room_tokens

# Sockets and API calls use the database from several tasks at once.
pytestmark = pytest.mark.commits


def _client(app: object) -> httpx.AsyncClient:
    """Entered inside each test: the transport's task group must live in the test's task."""
    return httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://testserver"
    )


async def _meeting(client: httpx.AsyncClient, world: World, host: str, *invitees: str) -> int:
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth(host),
        json={"title": "会诊", "invitees": list(invitees)},
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def _token(client: httpx.AsyncClient, world: World, who: str, meeting: int) -> str:
    res = await client.post(f"/api/v1/meetings/{meeting}/token", headers=world.auth(who))
    assert res.status_code == 200, res.text
    return str(res.json()["token"])


async def _recv(ws: Any, type_: str) -> dict[str, Any]:
    for _ in range(20):
        msg = json.loads(await ws.receive_text(timeout=5))
        if msg["type"] == type_:
            return msg
    raise AssertionError(f"no {type_} message")


async def test_members_join_and_see_each_other(app, world: World) -> None:
    async with _client(app) as ws_client:
        meeting = await _meeting(ws_client, world, "bob", "alice")
        async with aconnect_ws("/ws/signal", ws_client) as bob:
            await bob.send_text(
                json.dumps(
                    {
                        "v": 1,
                        "type": "join",
                        "token": await _token(ws_client, world, "bob", meeting),
                    }
                )
            )
            joined = await _recv(bob, "joined")
            assert joined["participants"] == [] and joined["engine"] == "fake"
            async with aconnect_ws("/ws/signal", ws_client) as alice:
                await alice.send_text(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "join",
                            "token": await _token(ws_client, world, "alice", meeting),
                        }
                    )
                )
                seen = await _recv(alice, "joined")
                assert [p["name"] for p in seen["participants"]] == ["Bob"]
                announced = await _recv(bob, "participant_joined")
                assert announced["participant"]["name"] == "Alice"


async def test_outsiders_get_no_token(app, world: World) -> None:
    async with _client(app) as ws_client:
        meeting = await _meeting(ws_client, world, "bob", "alice")
        res = await ws_client.post(
            f"/api/v1/meetings/{meeting}/token", headers=world.auth("mallory")
        )
        assert res.status_code == 404


@pytest.mark.parametrize("token_kind", ["forged", "expired", "garbage"])
async def test_bad_tokens_are_refused_with_1008(
    app, world: World, settings, token_kind: str
) -> None:
    async with _client(app) as ws_client:
        secret = settings.security.secret_key.get_secret_value()
        token = {
            "forged": room_tokens.issue(
                "another-secret-key", room="meeting-x", user_id=1, name="X"
            ),
            "expired": room_tokens.issue(
                secret, room="meeting-x", user_id=1, name="X", ttl_seconds=-5
            ),
            "garbage": "not-a-token-at-all",
        }[token_kind]
        async with aconnect_ws("/ws/signal", ws_client) as ws:
            await ws.send_text(json.dumps({"v": 1, "type": "join", "token": token}))
            error = json.loads(await ws.receive_text(timeout=5))
            assert error["type"] == "error" and error["code"].startswith("media.")
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_text(timeout=5)
            assert closed.value.code == 1008


async def test_malformed_and_oversized_messages_close_only_that_socket(app, world: World) -> None:
    async with _client(app) as ws_client:
        meeting = await _meeting(ws_client, world, "bob", "alice")
        async with aconnect_ws("/ws/signal", ws_client) as bob:
            await bob.send_text(
                json.dumps(
                    {
                        "v": 1,
                        "type": "join",
                        "token": await _token(ws_client, world, "bob", meeting),
                    }
                )
            )
            await _recv(bob, "joined")
            async with aconnect_ws("/ws/signal", ws_client) as bad:
                await bad.send_text("{not json")
                with pytest.raises(WebSocketDisconnect) as closed:
                    await bad.receive_text(timeout=5)
                assert closed.value.code == 1008
            async with aconnect_ws("/ws/signal", ws_client) as big:
                await big.send_text(json.dumps({"v": 1, "type": "join", "token": "x" * 200_000}))
                with pytest.raises(WebSocketDisconnect) as closed:
                    await big.receive_text(timeout=5)
                assert closed.value.code == 1009
            await bob.send_text(json.dumps({"v": 1, "type": "ping"}))
            assert (await _recv(bob, "pong"))["type"] == "pong"


async def test_a_flooding_client_is_cut_off(app, world: World) -> None:
    async with _client(app) as ws_client:
        meeting = await _meeting(ws_client, world, "bob")
        async with aconnect_ws("/ws/signal", ws_client) as ws:
            await ws.send_text(
                json.dumps(
                    {
                        "v": 1,
                        "type": "join",
                        "token": await _token(ws_client, world, "bob", meeting),
                    }
                )
            )
            await _recv(ws, "joined")
            with pytest.raises(WebSocketDisconnect) as closed:
                for _ in range(2000):
                    await ws.send_text('{"v":1,"type":"ping"}')
                while True:
                    await ws.receive_text(timeout=5)
            assert closed.value.code == 1008


async def test_publish_triggers_an_offer_to_subscribers_and_resume_keeps_the_session(
    app, world: World
) -> None:
    async with _client(app) as ws_client:
        meeting = await _meeting(ws_client, world, "bob", "alice")
        peer = ClientPeer()
        try:
            async with aconnect_ws("/ws/signal", ws_client) as bob:
                await bob.send_text(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "join",
                            "token": await _token(ws_client, world, "bob", meeting),
                        }
                    )
                )
                await _recv(bob, "joined")
                await bob.send_text('{"v":1,"type":"subscribe"}')
                first_offer = await _recv(bob, "offer")
                await bob.send_text(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "answer",
                            "sdp": await peer.answer_subscription(first_offer["sdp"]),
                        }
                    )
                )
                async with aconnect_ws("/ws/signal", ws_client) as alice:
                    await alice.send_text(
                        json.dumps(
                            {
                                "v": 1,
                                "type": "join",
                                "token": await _token(ws_client, world, "alice", meeting),
                            }
                        )
                    )
                    joined = await _recv(alice, "joined")
                    await alice.send_text(
                        json.dumps(
                            {"v": 1, "type": "publish", "sdp": await ClientPeer().publish_offer()}
                        )
                    )
                    assert "a=fingerprint" in (await _recv(alice, "published"))["sdp"]
                    tracks = await _recv(bob, "tracks")
                    assert sorted(p["kind"] for p in tracks["publications"]) == ["audio", "video"]
                    renegotiated = await _recv(bob, "offer")
                    assert joined["participant"] in renegotiated["sdp"]
                session_id = joined["session"]
            # alice's socket dropped above; she resumes within the grace period
            async with aconnect_ws("/ws/signal", ws_client) as again:
                await again.send_text(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "join",
                            "resume": session_id,
                            "token": await _token(ws_client, world, "alice", meeting),
                        }
                    )
                )
                resumed = await _recv(again, "joined")
                assert (
                    resumed["resumed"] is True and resumed["participant"] == joined["participant"]
                )
                await _recv(again, "roster")  # the server has finished the join
                await again.send_text('{"v":1,"type":"leave"}')
            info = await ws_client.get(f"/api/v1/meetings/{meeting}", headers=world.auth("bob"))
            state = await app.state.hub.engine.room_state(info.json()["room_id"])
            assert all(p.participant_id != joined["participant"] for p in state.participants)
        finally:
            await peer.close()
