"""Inbox API and the live `/ws/events` socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field

from yiyun.auth import service as auth_service
from yiyun.auth.live import LiveSessions
from yiyun.core.bus import EventBus
from yiyun.core.errors import YiyunError
from yiyun.core.types import EntityId
from yiyun.notify import service
from yiyun.web.deps import SESSION_COOKIE, CurrentPrincipal, DbSession

router = APIRouter()


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    title: str
    body: str
    link: str | None
    data: dict[str, Any]
    urgent: bool
    created_at: datetime
    read_at: datetime | None


class Inbox(BaseModel):
    unread: int
    items: list[NotificationRead]


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[EntityId] | None = Field(default=None, max_length=500)


@router.get("/notifications", response_model=Inbox)
async def inbox(session: DbSession, principal: CurrentPrincipal) -> Inbox:
    rows = await service.inbox(session=session, user_id=principal.user_id)
    return Inbox(
        unread=await service.unread_count(session=session, user_id=principal.user_id),
        items=[NotificationRead.model_validate(r) for r in rows],
    )


@router.post("/notifications/read", response_model=Inbox)
async def mark_read(data: MarkRead, session: DbSession, principal: CurrentPrincipal) -> Inbox:
    await service.mark_read(session=session, user_id=principal.user_id, ids=data.ids)
    return await inbox(session, principal)


ws_router = APIRouter()


@ws_router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    """Live notifications for the signed-in user (session cookie or `?token=` bearer)."""
    token = ws.cookies.get(SESSION_COOKIE) or ws.query_params.get("token")
    await ws.accept()
    if not token:
        await ws.close(code=1008, reason="auth.required")
        return
    async with ws.app.state.sessions() as session:
        try:
            auth, user = await auth_service.authenticate(session=session, token=token)
        except YiyunError as exc:
            await ws.close(code=1008, reason=exc.code)
            return
        unread = await service.unread_count(session=session, user_id=user.id)
    bus: EventBus = ws.app.state.bus
    live: LiveSessions = ws.app.state.live
    try:
        await ws.send_text(json.dumps({"type": "hello", "unread": unread}))
    except WebSocketDisconnect:
        return  # the page was left as soon as it loaded: a normal close, not an error

    async def pump() -> None:
        async with bus.subscribe(service.user_channel(user.id)) as sub:
            async for message in sub:
                if ticket.revoked:
                    return
                try:
                    await ws.send_text(json.dumps(message, ensure_ascii=False))
                except WebSocketDisconnect:
                    return

    async def revoked() -> None:  # logout or account disabled, on any node
        task.cancel()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(code=1008, reason="auth.revoked")

    with live.track(session_id=auth.id, user_id=user.id, close=revoked) as ticket:
        task = asyncio.create_task(pump())
        try:
            while not ticket.revoked:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
