"""Who may reach what at the edge: client address, WebSocket origins, response headers,
and the API documentation in production (docs/security.md).

* The client address is the peer's, unless the peer is a trusted reverse proxy
  (`security.trusted_proxies`): then the right-most X-Forwarded-For entry that is not
  itself a trusted proxy.
* A browser opening a WebSocket sends `Origin`; a handshake whose origin is not one of
  the public origins (`public_url`, `security.allowed_origins`, or with neither set the
  page's own host) is refused before the route runs, so another site's page cannot use
  a signed-in user's cookies over a socket. Clients that send no Origin (not browsers)
  authenticate with a token and are unaffected.
* Responses carry the security headers; in production also HSTS, and the CSP names the
  WebSocket origins instead of any host.
* In production `/api/docs` and the OpenAPI document are for signed-in staff only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from yiyun.auth import service as auth_service
from yiyun.core.errors import YiyunError
from yiyun.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SESSION_COOKIE = "yiyun_session"


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _is_trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_client(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str | None:
    """The client's address as far as the trusted proxies vouch for it."""
    networks = _networks(tuple(trusted))
    if peer is None or not networks or not _is_trusted(peer, networks):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        client = hop
        if not _is_trusted(hop, networks):
            break
    return client[:64]


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def public_origins(settings: Settings) -> frozenset[str]:
    configured = list(settings.security.allowed_origins)
    if settings.public_url:
        configured.append(settings.public_url)
    return frozenset(_origin_of(u) for u in configured)


def origin_allowed(origin: str | None, host: str | None, settings: Settings) -> bool:
    """May a browser page from `origin` open a socket here (None: not a browser)?"""
    if origin is None:
        return True
    allowed = public_origins(settings)
    if allowed:
        return origin.lower() in allowed
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc.lower() == host


def _ws_sources(settings: Settings) -> str:
    origins = sorted(public_origins(settings))
    if not origins:
        return "'self'" if settings.env == "production" else "'self' ws: wss:"
    sockets = [o.replace("https://", "wss://", 1).replace("http://", "ws://", 1) for o in origins]
    return " ".join(["'self'", *sockets])


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    csp = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self'; connect-src {_ws_sources(settings)}; media-src 'self' blob:; "
        "frame-ancestors 'none'"
    )
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", csp.encode()),
    ]
    if settings.env == "production" and settings.security.hsts_seconds:
        value = f"max-age={settings.security.hsts_seconds}; includeSubDomains"
        headers.append((b"strict-transport-security", value.encode()))
    return headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    for part in (_header(scope, b"cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class EdgeMiddleware:
    """Refuses cross-site WebSocket handshakes and, in production, anonymous API docs.

    Reads the settings the app holds (`app.state.settings`), as the routes do."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str | None]) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings: Settings = scope["app"].state.settings
        if scope["type"] == "websocket":
            origin, host = _header(scope, b"origin"), _header(scope, b"host")
            if not origin_allowed(origin, host, settings):
                await send({"type": "websocket.close", "code": 1008, "reason": "origin"})
                return
        elif (
            scope["type"] == "http"
            and settings.env == "production"
            and scope["path"] in self.docs_paths
            and not await self._signed_in(scope)
        ):
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"detail":"Not Found"}'})
            return
        await self.app(scope, receive, send)

    async def _signed_in(self, scope: Scope) -> bool:
        token = _cookie(scope, SESSION_COOKIE)
        authorization = _header(scope, b"authorization") or ""
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if not token:
            return False
        async with scope["app"].state.sessions() as session:
            try:
                await auth_service.authenticate(session=session, token=token)
            except YiyunError:
                return False
        return True
