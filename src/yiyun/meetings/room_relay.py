"""The cross-node bus relay of a live meeting: every app node delivers a meeting's
bus messages to the sockets it holds (a part of `RoomControl`, see `room.py`).
"""

from __future__ import annotations

import asyncio
import logging

from yiyun.core.bus import EventBus
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_state import MeetingRoom

logger = logging.getLogger(__name__)


def bus_channel(meeting_id: int) -> str:
    return f"meeting:{meeting_id}"


EXPEL = "_expel_guest"  # an internal bus message: never delivered to clients
HOLD = "_chair_hold"  # internal: a chair hold changed; other nodes apply it to their sockets


async def expel_guest(bus: EventBus, meeting_id: int, guest_id: int) -> None:
    """Tell every app node to put this guest out of the meeting (invitation withdrawn)."""
    await bus.publish(bus_channel(meeting_id), {"type": EXPEL, "guest": guest_id})


class RelayMixin(RoomBase):
    async def _listen(self, room: MeetingRoom) -> None:
        """Deliver bus messages for this meeting to the occupants on this node."""
        try:
            async with self.bus.subscribe(bus_channel(room.meeting_id)) as sub:
                async for message in sub:
                    if message.get("type") == EXPEL:
                        await self._expel(room, int(message.get("guest", 0)))
                        continue
                    if message.get("type") == HOLD:
                        if await self._apply_hold(room, message):
                            await self._roster_changed(room)
                        continue
                    fields = {k: v for k, v in message.items() if k not in ("type", "v")}
                    if message.get("type") == "slide":
                        room.slide = fields
                    for o in room.people():
                        await o.emit(str(message.get("type")), **fields)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("meeting %s bus listener stopped", room.meeting_id)
