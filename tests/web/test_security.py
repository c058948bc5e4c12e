"""The edge (docs/security.md): WebSocket origins, metrics and API docs, production mode,
and the client address behind a reverse proxy."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from pydantic import SecretStr

from tests.factories import World
from yiyun.settings import Settings
from yiyun.web.app import create_app
from yiyun.web.security import forwarded_client

# Several tasks (sockets, background writers) use the database at once.
pytestmark = pytest.mark.commits


def _ws_client(app: Any, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://testserver", **kw
    )


def _with(app: Any, settings: Settings, **security: Any) -> Settings:
    top = {k: security.pop(k) for k in ("env", "public_url") if k in security}
    changed = settings.model_copy(
        update={"security": settings.security.model_copy(update=security), **top}
    )
    app.state.settings = changed
    return changed


async def _events_hello(app: Any, world: World, origin: str | None) -> str:
    """Open `/ws/events` with alice's bearer token from a page at `origin`."""
    token = world.auth("alice")["Authorization"].split(" ", 1)[1]
    headers = {"Origin": origin} if origin else {}
    async with (
        _ws_client(app) as client,
        aconnect_ws(f"/ws/events?token={token}", client, headers=headers) as ws,
    ):
        return str(json.loads(await ws.receive_text(timeout=5))["type"])


async def _refused(opening: Awaitable[Any]) -> bool:
    """The handshake is turned down (the transport wraps the error in a group)."""
    refused = False
    try:
        await opening
    except* (WebSocketUpgradeError, WebSocketDisconnect):
        refused = True
    return refused


async def _signal(app: Any, origin: str) -> None:
    async with (
        _ws_client(app) as client,
        aconnect_ws("/ws/signal", client, headers={"Origin": origin}) as ws,
    ):
        await ws.send_text(json.dumps({"v": 1, "type": "join", "token": "not.valid"}))
        assert json.loads(await ws.receive_text(timeout=5))["type"] == "error"  # accepted


async def test_a_socket_opened_by_another_sites_page_is_refused(app: Any, world: World) -> None:
    assert await _events_hello(app, world, None) == "hello"  # not a browser: its token decides
    assert await _events_hello(app, world, "http://testserver") == "hello"  # the page's own host
    for origin in ("https://evil.example", "http://testserver.evil.example", "null"):
        assert await _refused(_events_hello(app, world, origin)), origin
    assert await _refused(_signal(app, "https://evil.example"))


async def test_configured_public_origins_are_the_only_ones_allowed(
    app: Any, world: World, settings: Settings
) -> None:
    _with(app, settings, public_url="https://yiyun.example.org", allowed_origins=["https://x.cn"])
    assert await _events_hello(app, world, "https://yiyun.example.org") == "hello"
    assert await _events_hello(app, world, "https://x.cn") == "hello"
    assert await _refused(_events_hello(app, world, "http://testserver"))


async def test_metrics_take_the_configured_bearer_token(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await client.get("/metrics")).status_code == 200  # development, no token set
    _with(app, settings, metrics_token=SecretStr("prom-scrape-token-123"))
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await client.get("/metrics", headers={"Authorization": "Bearer prom-scrape-token-123"})
    assert right.status_code == 200 and "yiyun_http_requests_total" in right.text
    _with(app, settings, env="production", cookie_secure=True, metrics_token=None)
    assert (await client.get("/metrics")).status_code == 404  # production without a token


async def test_api_docs_are_for_signed_in_staff_in_production(
    app: Any, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    for path in ("/api/docs", "/api/v1/openapi.json"):
        assert (await client.get(path)).status_code == 200  # development
    _with(app, settings, env="production", cookie_secure=True)
    for path in ("/api/docs", "/api/v1/openapi.json"):
        assert (await client.get(path)).status_code == 404
        bad = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 404
        assert (await client.get(path, headers=world.auth("alice"))).status_code == 200


def test_production_refuses_to_start_with_insecure_cookies(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    with pytest.raises(ValueError, match="cookie_secure"):
        create_app(production, configure_logs=False)


async def test_production_sends_hsts_and_a_csp_naming_the_socket_origins(
    settings: Settings,
) -> None:
    dev = create_app(settings, configure_logs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dev), base_url="http://testserver"
    ) as c:
        res = await c.get("/healthz")
    assert "strict-transport-security" not in res.headers
    prod = create_app(
        settings.model_copy(
            update={
                "env": "production",
                "public_url": "https://yiyun.example.org",
                "security": settings.security.model_copy(update={"cookie_secure": True}),
            }
        ),
        configure_logs=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=prod), base_url="http://testserver"
    ) as c:
        res = await c.get("/healthz")
    assert res.headers["strict-transport-security"].startswith("max-age=31536000")
    csp = res.headers["content-security-policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()
    assert connect == ["connect-src", "'self'", "wss://yiyun.example.org"]
    await prod.state.engine.dispose()
    await dev.state.engine.dispose()


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("203.0.113.9", "198.51.100.1", [], "203.0.113.9"),  # no proxy configured: ignored
        ("203.0.113.9", "198.51.100.1", ["10.0.0.0/8"], "203.0.113.9"),  # not from a proxy
        ("10.0.0.5", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        # a client's own spoofed entry sits left of what the proxy appended
        ("10.0.0.5", "1.2.3.4, 198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.5", "198.51.100.1, 10.0.0.7", ["10.0.0.0/8"], "198.51.100.1"),  # two proxies
        ("10.0.0.5", None, ["10.0.0.0/8"], "10.0.0.5"),
        ("::1", "2001:db8::1", ["::1"], "2001:db8::1"),
    ],
)
def test_the_client_address_comes_from_trusted_proxies_only(
    peer: str, forwarded: str | None, trusted: list[str], client: str
) -> None:
    assert forwarded_client(peer, forwarded, trusted) == client
