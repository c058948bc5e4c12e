"""The self-test page and its probes: payload sizes and limits, the echo socket, the
per-address rate limit, the page behind sign-in, and the template under another layout."""

from __future__ import annotations

import os
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from tests.factories import PASSWORD, World
from yiyun.auth import service as auth_service
from yiyun.core.ratelimit import ClientBuckets, MemoryLimiter
from yiyun.meetings import selftest
from yiyun.settings import Settings
from yiyun.web.deps import SESSION_COOKIE
from yiyun.web.templating import env

# Several tasks (sockets, background writers) use the database at once.
pytestmark = pytest.mark.commits

PAYLOAD = "/api/v1/selftest/payload"
MiB = 1024 * 1024
HTML = {"Accept": "text/html"}


def _client(app: FastAPI, host: str = "127.0.0.1") -> httpx.AsyncClient:
    """HTTP and WebSocket over ASGI, from one client address."""
    transport = ASGIWebSocketTransport(app=app, client=(host, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _error(res: httpx.Response) -> dict[str, Any]:
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


# --- download ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, 2_000_000, 4 * MiB])
async def test_download_sends_exactly_the_bytes_asked_for(
    client: httpx.AsyncClient, size: int
) -> None:
    res = await client.get(PAYLOAD, params={"bytes": size})
    assert res.status_code == 200
    assert len(res.content) == size
    assert res.headers["content-type"] == "application/octet-stream"
    assert res.headers["cache-control"] == "no-store"


async def test_downloads_are_fresh_and_incompressible(client: httpx.AsyncClient) -> None:
    first = (await client.get(PAYLOAD, params={"bytes": 100_000})).content
    second = (await client.get(PAYLOAD, params={"bytes": 100_000})).content
    assert first != second
    assert len(zlib.compress(first, 9)) > 0.99 * len(first)


@pytest.mark.parametrize("value", ["0", "-1", str(4 * MiB + 1), "abc", "1.5", "", None])
async def test_bad_sizes_are_refused_with_422(client: httpx.AsyncClient, value: str | None) -> None:
    params = {} if value is None else {"bytes": value}
    res = await client.get(PAYLOAD, params=params)
    assert res.status_code == 422
    assert _error(res)["code"] == "invalid_input"


# --- upload ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1_000_000, 4 * MiB])
async def test_upload_counts_what_arrived(client: httpx.AsyncClient, size: int) -> None:
    res = await client.post(
        PAYLOAD, content=os.urandom(size), headers={"Content-Type": "application/octet-stream"}
    )
    assert res.status_code == 200
    assert res.json() == {"bytes": size}


async def test_an_upload_over_4_mib_is_refused_with_413(client: httpx.AsyncClient) -> None:
    res = await client.post(PAYLOAD, content=b"\0" * (4 * MiB + 1))
    assert res.status_code == 413
    error = _error(res)
    assert error["code"] == "selftest.too_large"
    assert error["message"] == "数据超过 4 MiB"  # in the user's language
    assert error["details"] == {"max_bytes": 4 * MiB}


async def test_a_chunked_upload_is_cut_off_past_4_mib(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"\0" * MiB

    res = await client.post(PAYLOAD, content=chunks())
    assert res.status_code == 413
    assert _error(res)["code"] == "selftest.too_large"


# --- echo socket -------------------------------------------------------------------------


async def test_the_socket_echoes_20_pings_then_closes(app: FastAPI) -> None:
    async with _client(app) as c, aconnect_ws("/ws/selftest", c) as ws:
        for i in range(selftest.MAX_PINGS):
            await ws.send_text(f'{{"seq": {i}}}')
            assert await ws.receive_text(timeout=5) == f'{{"seq": {i}}}'
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=5)
        assert closed.value.code == 1000


@pytest.mark.parametrize(
    ("send", "code"),
    [("bytes", 1003), ("long", 1009)],
)
async def test_the_socket_takes_only_short_text_pings(app: FastAPI, send: str, code: int) -> None:
    async with _client(app) as c, aconnect_ws("/ws/selftest", c) as ws:
        if send == "bytes":
            await ws.send_bytes(b"ping")
        else:
            await ws.send_text("x" * (selftest.MAX_PING_CHARS + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=5)
        assert closed.value.code == code


# --- rate limit --------------------------------------------------------------------------


async def test_probes_are_rate_limited_per_address(app: FastAPI) -> None:
    burst = int(selftest.RATE_BURST)
    # a refill slow enough that a loaded test machine cannot earn a token mid-test
    app.state.selftest_limiter = ClientBuckets(0.001, selftest.RATE_BURST)
    async with _client(app, "203.0.113.7") as flooder, _client(app, "198.51.100.2") as other:
        for _ in range(burst):
            assert (await flooder.get(PAYLOAD, params={"bytes": 1})).status_code == 200
        refused = await flooder.post(PAYLOAD, content=b"x")
        assert refused.status_code == 429
        error = _error(refused)
        assert error["code"] == "selftest.rate_limited"
        assert error["details"] == {"retry_after_seconds": 2}
        async with aconnect_ws("/ws/selftest", flooder) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_text(timeout=5)
            assert (closed.value.code, closed.value.reason) == (1008, "rate limit")
        # another address is not affected
        assert (await other.get(PAYLOAD, params={"bytes": 1})).status_code == 200


def test_a_flood_of_addresses_does_not_grow_the_limiter_without_bound() -> None:
    limiter = ClientBuckets(rate=1.0, burst=2.0, max_clients=100)
    for n in range(1000):
        assert limiter.allow(f"10.0.{n // 250}.{n % 250}")
    assert len(limiter.buckets) <= 100


# --- the page ----------------------------------------------------------------------------


async def _signed_in(app: FastAPI, settings: Settings, name: str) -> dict[str, str]:
    async with app.state.sessions.begin() as s:
        issued = await auth_service.login_password(
            session=s,
            cfg=settings.security,
            username=name,
            password=PASSWORD,
            attempt=auth_service.Attempt(MemoryLimiter(), None),
        )
        issued.session.mfa_passed = True
    return {**HTML, "Cookie": f"{SESSION_COOKIE}={issued.token}"}


async def test_the_page_needs_sign_in(client: httpx.AsyncClient) -> None:
    res = await client.get("/selftest", headers=HTML)
    assert res.status_code == 303
    assert res.headers["location"] == "/login?next=/selftest"


async def test_staff_get_every_check_and_a_join_link_to_the_meetings(
    app: FastAPI, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    headers = await _signed_in(app, settings, "alice")
    res = await client.get("/selftest", headers=headers)
    assert res.status_code == 200
    for check in ("camera", "microphone", "speaker", "network"):
        assert f'data-check="{check}"' in res.text
    assert 'data-verdict="pending"' in res.text
    assert 'href="/meetings" hx-boost="false" data-join' in res.text
    assert "设备与网络检测" in res.text
    assert "/build/islands/selftest.js" in res.text
    english = await client.get("/selftest", params={"lang": "en"}, headers=headers)
    assert "Device and network check" in english.text
    assert 'data-i18n-good="Good"' in english.text


@pytest.mark.parametrize(
    ("next_url", "join"),
    [
        ("/meetings/42", "/meetings/42"),
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
async def test_join_goes_only_to_a_local_path(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    next_url: str,
    join: str,
) -> None:
    headers = await _signed_in(app, settings, "bob")
    res = await client.get("/selftest", params={"next": next_url}, headers=headers)
    assert res.status_code == 200
    assert f'href="{join}" hx-boost="false" data-join' in res.text


def test_the_template_renders_inside_another_layout() -> None:
    """The guest flow passes its own base; the page needs only title, heading and content."""
    base = env.from_string(
        "<title>{% block title %}{% endblock %}</title>"
        "<h1>{% block heading %}{% endblock %}</h1><main>{% block content %}{% endblock %}</main>"
    )
    html = env.get_template("meetings/selftest.html").render(
        _=lambda s: s, static="/static", **selftest.context(next_url="/g/abc", base_template=base)
    )
    assert html.startswith("<title>Device and network check</title>")
    assert "<main><style>" in html.replace("\n", "")
    assert 'href="/g/abc" hx-boost="false" data-join' in html
    assert 'data-ws-path="/ws/selftest"' in html
