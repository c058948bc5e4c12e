"""`/ws/signal`: the browser's signalling socket (messages in `media/signaling.py`).

The first message must be `join` with a valid room token within 10 s. Malformed
messages close the socket with 1008, oversized ones with 1009, a client that floods
with 1008 ("rate limit"); other rooms are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from yiyun.auth import room_tokens
from yiyun.auth.live import LiveSessions, Ticket
from yiyun.core.errors import NotAuthenticated, YiyunError
from yiyun.core.ratelimit import TokenBucket
from yiyun.media import signaling as sig
from yiyun.media.hub import SignalHub
from yiyun.meetings.room import Occupant, RoomControl
from yiyun.settings import Settings, secret
from yiyun.web import messages
from yiyun.web.templating import locale_of

logger = logging.getLogger(__name__)
router = APIRouter()

JOIN_TIMEOUT_SECONDS = 10.0
RATE_PER_SECOND = 30.0
RATE_BURST = 200.0


async def _receive(ws: WebSocket) -> str:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise sig.ProtocolError("binary frames are not part of the protocol")
    if len(text.encode("utf-8")) > sig.MAX_MESSAGE_BYTES:
        raise OverflowError
    return str(text)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code=code, reason=reason)


async def _signed_in(ws: WebSocket, claims: room_tokens.RoomClaims) -> Ticket | None:
    """A staff member's socket lives only as long as the sign-in it came from: refused
    when that session already ended, closed the moment it ends (logout, account disabled).
    Guests (no account) return None."""
    if claims.guest_id is not None or claims.user_id <= 0:
        return None
    live: LiveSessions = ws.app.state.live
    ticket = live.add(
        session_id=claims.session_id,
        user_id=claims.user_id,
        close=lambda: _close(ws, 1008, "auth.revoked"),
    )
    alive = await live.still_signed_in(
        ws.app.state.sessions, session_id=claims.session_id, user_id=claims.user_id
    )
    if not alive or ticket.revoked:
        live.discard(ticket)
        raise NotAuthenticated("not signed in or session expired", code="auth.required")
    return ticket


@router.websocket("/ws/signal")
async def signal(ws: WebSocket) -> None:
    hub: SignalHub = ws.app.state.hub
    rooms: RoomControl = ws.app.state.rooms
    settings: Settings = ws.app.state.settings
    live: LiveSessions = ws.app.state.live
    await ws.accept()
    occupant: Occupant | None = None
    ticket: Ticket | None = None
    bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)

    locale = locale_of(ws)

    async def send(message: dict[str, object]) -> None:
        if message.get("type") == "error":  # a person reads it: in their language
            code, text = str(message.get("code", "")), str(message.get("message", ""))
            message = {**message, "message": messages.domain_message(locale, code, text, {})}
        await ws.send_text(json.dumps(message, ensure_ascii=False))

    async def hangup() -> None:
        await _close(ws, 1000, "bye")

    try:
        first = sig.parse_client(await asyncio.wait_for(_receive(ws), JOIN_TIMEOUT_SECONDS))
        if not isinstance(first, sig.Join):
            raise sig.ProtocolError("the first message must be join")
        try:
            claims = room_tokens.verify(secret(settings.security.secret_key), first.token)
            await room_tokens.spend(ws.app.state.limiter, claims)
            ticket = await _signed_in(ws, claims)
            occupant = await rooms.enter(
                claims, send, resume=first.resume, chat_after=first.chat_after, hangup=hangup
            )
        except YiyunError as exc:
            ws.app.state.ops_metrics.join_failures.labels(exc.code).inc()
            await send(sig.server("error", code=exc.code, message=exc.message))
            await _close(ws, 1008, exc.code)
            return
        while True:
            raw = await _receive(ws)
            if ticket is not None and ticket.revoked:
                break
            if not bucket.take():
                await _close(ws, 1008, "rate limit")
                break
            msg = sig.parse_client(raw)
            if isinstance(msg, sig.Join):
                raise sig.ProtocolError("already joined")
            if isinstance(msg, sig.MeetingMessage):
                await rooms.handle(occupant, msg)
                continue
            refusal = rooms.media_refusal(occupant, msg)
            if refusal is not None or occupant.session is None:
                await send(sig.server("error", code=refusal or "meeting.waiting", message=""))
                continue
            await hub.handle(occupant.session, msg)
            if isinstance(msg, sig.Leave):
                occupant.session = None
                await _close(ws, 1000, "bye")
                break
    except TimeoutError:
        await _close(ws, 1008, "join timeout")
    except sig.ProtocolError as exc:
        await _close(ws, 1008, str(exc)[:120])
    except OverflowError:
        await _close(ws, 1009, "message too big")
    except WebSocketDisconnect:
        pass
    finally:
        if ticket is not None:
            live.discard(ticket)
        if occupant is not None:
            if occupant.session is not None and occupant.session.id in hub.sessions:
                hub.disconnected(occupant.session)
            await rooms.socket_closed(occupant)
