"""`/ws/docs/{kind}/{key}`: the y-websocket endpoint of every real-time document.

Signed in like `/ws/events` (session cookie, or `?token=` for API clients). A document
the caller may not open closes with 4404 "collab.not_found", exactly like one that does
not exist. Binary frames only; more than `MAX_MESSAGE_BYTES` closes with 1009, a client
that floods with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from yiyun.auth.live import LiveSessions
from yiyun.collab import docs, protocol
from yiyun.collab.rooms import Connection, RoomManager
from yiyun.core.errors import YiyunError
from yiyun.core.ratelimit import TokenBucket
from yiyun.web.deps import SESSION_COOKIE

logger = logging.getLogger(__name__)
router = APIRouter()

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # an image pasted on the board, with room to spare
NOT_FOUND = 4404
RATE_PER_SECOND = 120.0
RATE_BURST = 600.0


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await ws.close(code=code, reason=reason)


@router.websocket("/ws/docs/{kind}/{key}")
async def doc_socket(ws: WebSocket, kind: str, key: str) -> None:
    token = ws.cookies.get(SESSION_COOKIE) or ws.query_params.get("token")
    await ws.accept()
    if not token:
        await _close(ws, 1008, "auth.required")
        return
    live: LiveSessions = ws.app.state.live
    async with ws.app.state.sessions() as session:
        try:
            auth = await live.resolve(session, token)
        except YiyunError as exc:
            await _close(ws, 1008, exc.code)
            return
        doc_type = docs.lookup(kind, key)
        access = docs.Access.NONE
        if doc_type is not None:
            access = await doc_type.access(session, auth.principal, key)
    if doc_type is None or access == docs.Access.NONE:
        await _close(ws, NOT_FOUND, "collab.not_found")
        return
    manager: RoomManager = ws.app.state.collab
    room = await manager.open(doc_type, key)

    async def close() -> None:
        await _close(ws, 1012, "collab.reload")

    async def revoked() -> None:  # logout or account disabled, on any node
        await _close(ws, 1008, "auth.revoked")

    conn = Connection(send=ws.send_bytes, access=access, user_id=auth.user_id, close=close)
    bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
    sender = asyncio.create_task(conn.run_sender())
    with live.track(session_id=auth.id, user_id=auth.user_id, close=revoked) as ticket:
        try:
            await room.join(conn)
            while not ticket.revoked:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    await _close(ws, 1003, "binary frames only")
                    break
                if len(data) > MAX_MESSAGE_BYTES:
                    await _close(ws, 1009, "message too big")
                    break
                if not bucket.take():
                    await _close(ws, 1008, "rate limit")
                    break
                await room.receive(conn, data)
        except protocol.ProtocolError as exc:
            await _close(ws, 1008, str(exc)[:120])
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await room.leave(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await sender
