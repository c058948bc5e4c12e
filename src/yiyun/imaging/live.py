"""The live co-reading channel: viewport and mark messages among the people reading one
study together (a room per study and, when opened from one, per meeting).

`CoReading` is the small interface the viewer's socket talks to. Today it runs over the
event bus (in-process, or Redis across app nodes); the collaboration layer's Yjs
documents can implement the same interface later without touching the viewer's socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from yiyun.core.bus import EventBus, Message

# Message types a participant may send; anything else is dropped.
CLIENT_TYPES = frozenset({"viewport", "present", "unpresent", "hello"})


def room_name(study_id: int, meeting_id: int | None) -> str:
    return f"imaging.room.{study_id}.{meeting_id or 0}"


class CoReading(Protocol):
    async def send(self, room: str, message: Message) -> None: ...

    def join(self, room: str) -> Any: ...


class BusCoReading:
    """Co-reading over the event bus: every message goes to everyone in the room."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def send(self, room: str, message: Message) -> None:
        await self.bus.publish(room, message)

    @asynccontextmanager
    async def join(self, room: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self.bus.subscribe(room) as sub:

            async def messages() -> AsyncIterator[Message]:
                async for message in sub:
                    yield message

            yield messages()


def clean_viewport(data: dict[str, Any]) -> dict[str, Any]:
    """Only the numbers a viewport has (no free text travels through the room)."""
    out: dict[str, Any] = {}
    for key in ("centre", "width", "zoom", "pan_x", "pan_y", "frame", "index"):
        value = data.get(key)
        if isinstance(value, int | float) and abs(value) < 1e7:
            out[key] = float(value)
    for key in ("sop_uid", "series_uid"):
        value = data.get(key)
        if isinstance(value, str) and len(value) <= 64 and all(c in "0123456789." for c in value):
            out[key] = value
    return out
