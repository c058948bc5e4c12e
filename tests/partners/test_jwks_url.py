"""A partner that publishes its keys at a JWKS URL (served here on loopback): the key set
is fetched, its keys verify assertions, and an answer that is not a key set refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.factories import World
from tests.partners.helpers import make_partner, new_key, token
from yiyun.partners import keys as partner_keys


class KeyServer:
    def __init__(self) -> None:
        self.body = b"{}"
        self.status = 200
        self.server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/jwks.json"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + self.body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def keyserver() -> AsyncIterator[KeyServer]:
    found = KeyServer()
    found.server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    yield found
    found.server.close()
    await found.server.wait_closed()
    partner_keys._cache.clear()


async def test_keys_published_at_a_jwks_url_verify_assertions(
    app: Any, client: httpx.AsyncClient, world: World, keyserver: KeyServer
) -> None:
    partner = await make_partner(app, world, alg="RS384", jwks_url=keyserver.url)
    key, public = new_key("RS384")
    partner.key, partner.kid = key, public["kid"]
    keyserver.body = json.dumps({"keys": [public]}).encode()
    res = await token(client, partner, "system/Patient.rs")
    assert res.status_code == 200, res.text


@pytest.mark.parametrize(("status", "body"), [(500, b"{}"), (200, b"not json"), (302, b"")])
async def test_a_jwks_url_that_answers_badly_refuses_the_token(
    status: int,
    body: bytes,
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    keyserver: KeyServer,
) -> None:
    partner = await make_partner(app, world, jwks_url=keyserver.url)
    keyserver.status, keyserver.body = status, body
    res = await token(client, partner, "system/Patient.rs")
    assert res.status_code == 401
    assert res.json()["code"] == "partner.jwks"
