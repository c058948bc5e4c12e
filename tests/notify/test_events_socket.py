"""Leaving a page right after it loaded closes `/ws/events` normally: no error, no traceback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.factories import World


class ClientGone(OSError):
    """What the server raises when sending to a socket the browser already closed."""


async def test_a_socket_closed_before_the_greeting_ends_quietly(
    app: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbound.put({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await inbound.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            await inbound.put({"type": "websocket.disconnect", "code": 1001})
            raise ClientGone("the browser left")

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws/events",
        "raw_path": b"/ws/events",
        "query_string": f"token={world.tokens['alice']}".encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "subprotocols": [],
        "state": {},
        "app": app,
    }
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(app(scope, receive, send), 10)
    assert sent[0]["type"] == "websocket.accept"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
