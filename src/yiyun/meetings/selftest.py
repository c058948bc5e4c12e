"""Pre-call self-test: the page, and the network probes a browser measures against.

`/selftest` is the page for signed-in staff; a patient guest's flow renders the same
template (`context()` builds what it needs, with that flow's own base layout). The
probes need no sign-in, since a guest uses them too, so each client IP gets a token
bucket (`core.ratelimit.ClientBuckets`) over all three:

    GET  /api/v1/selftest/payload?bytes=N   N random (incompressible) bytes, N <= 4 MiB
    POST /api/v1/selftest/payload           swallows up to 4 MiB, answers {"bytes": n}
    WS   /ws/selftest                        echoes up to 20 short text pings, then closes

They hold nothing and store nothing: the downloaded bytes are fresh, the uploaded ones
are counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect  # noqa: TID251
from fastapi.responses import HTMLResponse, Response  # noqa: TID251
from pydantic import BaseModel

from yiyun.auth.pages import _safe_next as safe_next
from yiyun.core.errors import RateLimited, YiyunError
from yiyun.core.ratelimit import ClientBuckets
from yiyun.web.deps import CurrentPrincipal, client_ip
from yiyun.web.pagekit import page

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_PINGS = 20
MAX_PING_CHARS = 128
IDLE_SECONDS = 10.0
# 30 probes at once (two self-tests need 6), then one every 2 s, per client IP: room for
# a clinic's terminals behind one address, not for a bandwidth pump.
RATE_PER_SECOND = 0.5
RATE_BURST = 30.0
MAX_CLIENTS = 10_000

router = APIRouter()  # the page and the echo socket
api_router = APIRouter()  # mounted under /api/v1


class PayloadTooLarge(YiyunError):
    status = 413
    code = "selftest.too_large"


class PayloadReceived(BaseModel):
    bytes: int


def limiter(app: Any) -> ClientBuckets:
    """The app's limiter (one per app, so each test app starts with full buckets)."""
    found = getattr(app.state, "selftest_limiter", None)
    if not isinstance(found, ClientBuckets):
        found = ClientBuckets(RATE_PER_SECOND, RATE_BURST, MAX_CLIENTS)
        app.state.selftest_limiter = found
    return found


async def _check_rate(request: Request) -> None:
    if not limiter(request.app).allow(client_ip(request) or "unknown"):
        raise RateLimited(
            "too many self-test requests; try again in a minute",
            code="selftest.rate_limited",
            details={"retry_after_seconds": int(1 / RATE_PER_SECOND)},
        )


Limited = Depends(_check_rate)
ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "More than 4 MiB"},
    429: {"description": "Too many probes from this address"},
}


def context(*, next_url: str, base_template: str = "base.html") -> dict[str, Any]:
    """What `meetings/selftest.html` needs besides the layout's own context."""
    return {
        "next_url": next_url,
        "base_template": base_template,
        "ws_path": "/ws/selftest",
        "payload_url": "/api/v1/selftest/payload",
    }


@router.get("/selftest", response_class=HTMLResponse)
async def selftest_page(
    request: Request, principal: CurrentPrincipal, next: str | None = None
) -> Response:
    """Camera, microphone, speaker and network check; "Join" goes to `next` (a local path)."""
    target = safe_next(next) if next else "/meetings"
    return page(request, principal, "meetings/selftest.html", context(next_url=target))


@api_router.get(
    "/selftest/payload",
    dependencies=[Limited],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS},
)
async def download(
    size: Annotated[int, Query(alias="bytes", ge=1, le=MAX_PAYLOAD_BYTES)],
) -> Response:
    """Random bytes to time a download (never cached, never compressible)."""
    return Response(
        os.urandom(size),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


@api_router.post(
    "/selftest/payload",
    dependencies=[Limited],
    response_model=PayloadReceived,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def upload(request: Request) -> PayloadReceived:
    """Count an uploaded body (up to 4 MiB) to time an upload; the bytes are dropped."""
    too_large = PayloadTooLarge(
        "the payload is larger than 4 MiB", details={"max_bytes": MAX_PAYLOAD_BYTES}
    )
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_PAYLOAD_BYTES:
        raise too_large
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_PAYLOAD_BYTES:
            raise too_large
    return PayloadReceived(bytes=received)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code=code, reason=reason)


@router.websocket("/ws/selftest")
async def echo(ws: WebSocket) -> None:
    """Echo text pings for round-trip timing: at most 20, then close with 1000."""
    await ws.accept()
    address = ws.client.host if ws.client else "unknown"
    if not limiter(ws.app).allow(address):
        await _close(ws, 1008, "rate limit")
        return
    try:
        for _ in range(MAX_PINGS):
            message = await asyncio.wait_for(ws.receive(), IDLE_SECONDS)
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await _close(ws, 1003, "text pings only")
                return
            if len(text) > MAX_PING_CHARS:
                await _close(ws, 1009, "ping too long")
                return
            await ws.send_text(text)
        await _close(ws, 1000, "done")
    except TimeoutError:
        await _close(ws, 1000, "idle")
    except WebSocketDisconnect:
        pass
