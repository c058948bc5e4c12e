"""The kiosk of a room terminal: sign in with the device credential, see the site's
upcoming meetings, be rung (`/ws/kiosk`), join with one press on the shared call page.

The credential lives in an HttpOnly, SameSite=Strict cookie; POSTs carry a CSRF token
derived from it. A revoked credential signs the kiosk out at its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth import room_tokens
from yiyun.core.errors import NotAuthenticated, PermissionDenied, YiyunError
from yiyun.media import turn
from yiyun.meetings.config import config_from as meetings_config
from yiyun.meetings.schemas import JoinToken, TokenRequest
from yiyun.ops import devices, kiosk
from yiyun.ops.devices import Device
from yiyun.ops.ring import site_channel
from yiyun.org.models import Institution
from yiyun.settings import Settings, secret
from yiyun.web.deps import DbSession, client_ip
from yiyun.web.pagekit import invalid, see_other
from yiyun.web.params import Id
from yiyun.web.templating import render

router = APIRouter()
ws_router = APIRouter()
BASE = "kiosk_base.html"
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
RECHECK_SECONDS = 30.0


def _key(settings: Settings) -> str:
    return secret(settings.security.secret_key)


async def _device(request: Request, session: Any) -> tuple[Device, str] | None:
    credential = request.cookies.get(kiosk.COOKIE)
    if not credential:
        return None
    try:
        return await devices.authenticate(session=session, credential=credential), credential
    except YiyunError:
        return None


def _page(
    request: Request, template: str, context: dict[str, Any], *, csrf: str = "", status: int = 200
) -> HTMLResponse:
    response = render(
        request, template, {"base_template": BASE, "csrf_token": csrf, **context}, status
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/kiosk", response_class=HTMLResponse)
async def home(request: Request, session: DbSession) -> Response:
    found = await _device(request, session)
    if found is None:
        return _page(request, "kiosk/sign_in.html", {"error": None})
    device, credential = found
    site = await session.get(Institution, device.terminal.institution_id)
    meetings = await kiosk.upcoming(session=session, institution_id=device.terminal.institution_id)
    return _page(
        request,
        "kiosk/home.html",
        {"terminal": device.terminal, "site": site, "meetings": meetings},
        csrf=kiosk.csrf_token(_key(request.app.state.settings), credential),
    )


@router.get("/kiosk/upcoming", response_class=HTMLResponse)
async def upcoming(request: Request, session: DbSession) -> Response:
    found = await _device(request, session)
    if found is None:
        return see_other("/kiosk")
    device, _credential = found
    meetings = await kiosk.upcoming(session=session, institution_id=device.terminal.institution_id)
    return _page(request, "kiosk/_meetings.html", {"meetings": meetings})


@router.post("/kiosk/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    session: DbSession,
    credential: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        await devices.authenticate(session=session, credential=credential)
    except YiyunError as exc:
        request.app.state.ops_metrics.refusals.labels(exc.code.removeprefix("ops.")).inc()
        context = {"error": "This device credential is not valid or was revoked."}
        return _page(request, "kiosk/sign_in.html", context, status=401)
    response = see_other("/kiosk")
    response.set_cookie(
        kiosk.COOKIE,
        credential.strip(),
        max_age=365 * 86400,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.security.cookie_secure,
    )
    return response


@router.post("/kiosk/sign-out")
async def sign_out() -> Response:
    response = see_other("/kiosk")
    response.delete_cookie(kiosk.COOKIE)
    return response


@router.get("/kiosk/meetings/{meeting_id}", response_class=HTMLResponse)
async def call(request: Request, meeting_id: Id, session: DbSession) -> Response:
    found = await _device(request, session)
    if found is None:
        return see_other("/kiosk")
    device, credential = found
    meeting = await kiosk.meeting_for(session=session, device=device, meeting_id=meeting_id)
    base = f"/kiosk/meetings/{meeting.id}"
    return _page(
        request,
        "meetings/call.html",
        {
            "m": {"id": meeting.id, "title": meeting.title, "state": meeting.state},
            "call": {
                "token_url": f"{base}/token",
                "upload_url": "",
                "files_url": "",
                "leave_url": "/kiosk",
                "is_guest": False,
                "role": "participant",
            },
        },
        csrf=kiosk.csrf_token(_key(request.app.state.settings), credential),
    )


@router.post("/kiosk/meetings/{meeting_id}/token", response_model=JoinToken)
async def token(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> JoinToken:
    """A room token for the signed-in terminal, as the staff endpoint answers."""
    found = await _device(request, session)
    if found is None:
        raise NotAuthenticated("unknown device credential", code="ops.unknown")
    device, credential = found
    settings: Settings = request.app.state.settings
    expected = kiosk.csrf_token(_key(settings), credential)
    if not x_csrf_token or not hmac.compare_digest(x_csrf_token, expected):
        raise PermissionDenied("missing or wrong CSRF token", code="auth.csrf")
    raw = await request.body()
    try:
        purpose = TokenRequest.model_validate_json(raw).purpose if raw.strip() else "call"
    except ValidationError as exc:
        raise invalid(exc) from None
    meeting = await kiosk.meeting_for(session=session, device=device, meeting_id=meeting_id)
    issued = await kiosk.join_token(
        session=session,
        bus=request.app.state.bus,
        device=device,
        meeting=meeting,
        secret_key=_key(settings),
        early_minutes=meetings_config(settings).join_early_minutes,
        ip=client_ip(request),
        purpose=purpose,
    )
    return JoinToken(
        token=issued,
        room_id=meeting.room_id,
        expires_in=room_tokens.DEFAULT_TTL_SECONDS,
        signal_url="/ws/signal",
        ice_servers=turn.ice_servers_for(settings.media, f"terminal-{device.terminal.id}"),
    )


@ws_router.websocket("/ws/kiosk")
async def rings(ws: WebSocket) -> None:
    """Rings for the kiosk's site; closed (1008) when the credential is unknown or revoked."""
    await ws.accept()
    credential = ws.cookies.get(kiosk.COOKIE)

    async def still_valid() -> Device | None:
        async with ws.app.state.sessions() as session:
            try:
                return await devices.authenticate(session=session, credential=credential)
            except YiyunError:
                return None

    device = await still_valid()
    if device is None:
        await ws.close(code=1008, reason="ops.unknown")
        return
    await ws.send_text(json.dumps({"type": "hello", "terminal": device.terminal.code}))

    async def pump() -> None:
        async with ws.app.state.bus.subscribe(site_channel(device.terminal.institution_id)) as sub:
            while True:
                message = await sub.get(timeout=RECHECK_SECONDS)
                if await still_valid() is None:
                    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                        await ws.close(code=1008, reason="ops.revoked")
                    return
                if message is not None:
                    await ws.send_text(json.dumps(message, ensure_ascii=False))

    task = asyncio.create_task(pump())
    try:
        while not task.done():
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, RuntimeError, WebSocketDisconnect):
            await task
