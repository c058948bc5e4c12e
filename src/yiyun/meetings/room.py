"""Live meeting rooms: the waiting room, roster, chair control, chat, roll-call, quality
and the recording switch, spoken over `/ws/signal` (docs/signalling.md "Meetings").

One `RoomControl` per app process sits in front of the `SignalHub`: a socket that
joins becomes an *occupant*; an admitted occupant also has a media session in the hub.
Rules (who may do what, what is stored) live in `RoomControl`'s parts (`room_entry`,
`room_chair`, `room_messages`, `room_recording`, `room_relay`) and in the meeting
services; the web socket route only parses and forwards. Chat is written to the database before it
is delivered, and delivered through the bus so every app node sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.core.bus import EventBus
from yiyun.core.db import retry_when_locked
from yiyun.core.errors import YiyunError
from yiyun.core.storage import BlobStore
from yiyun.media.hub import SignalHub
from yiyun.meetings import recording, slides, workflow
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.models import Meeting
from yiyun.meetings.room_chair import ChairMixin
from yiyun.meetings.room_entry import EntryMixin
from yiyun.meetings.room_messages import MessagesMixin
from yiyun.meetings.room_recording import RecordingMixin
from yiyun.meetings.room_relay import EXPEL, HOLD, RelayMixin, bus_channel, expel_guest
from yiyun.meetings.room_stage import StageMixin
from yiyun.meetings.room_state import (
    CHAT_PER_SECOND,
    CONSENT_CHECK_SECONDS,
    STATS_MIN_INTERVAL,
    ActiveRecording,
    Hangup,
    MeetingRoom,
    Occupant,
    Refused,
    Rollcall,
)

__all__ = [
    "CHAIRS",
    "CHAT_PER_SECOND",
    "CONSENT_CHECK_SECONDS",
    "EXPEL",
    "HOLD",
    "STATS_MIN_INTERVAL",
    "ActiveRecording",
    "Hangup",
    "MeetingRoom",
    "Occupant",
    "Refused",
    "Rollcall",
    "RoomControl",
    "bus_channel",
    "expel_guest",
]

logger = logging.getLogger(__name__)


class RoomControl(EntryMixin, ChairMixin, MessagesMixin, RecordingMixin, RelayMixin, StageMixin):
    """The live meeting rooms of this app process. Its parts: `room_entry` (entering,
    the waiting room, removals), `room_chair` (chair control), `room_messages` (chat and
    other client messages), `room_recording`, `room_relay` (the bus); here, the rooms
    themselves: opened on the first entry, closed when the last person leaves."""

    def __init__(
        self,
        hub: SignalHub,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        store: BlobStore,
        *,
        recordings_dir: Path,
        empty_end_seconds: float = 0.0,
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.bus = bus
        self.store = store
        self.recordings_dir = recordings_dir
        self.rooms: dict[int, MeetingRoom] = {}
        self._by_session: dict[str, Occupant] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self.empty_end_seconds = empty_end_seconds  # 0: an empty meeting stays open
        self._empty_timers: dict[int, asyncio.Task[None]] = {}
        self.consent_check_seconds = CONSENT_CHECK_SECONDS
        # Told each rated quality sample's MOS (the app counts them for Prometheus).
        self.quality_observer: Callable[[float], None] | None = None
        hub.gone_listeners.append(self._on_gone)

    # --- opening and closing rooms ------------------------------------------------------

    async def _room(self, meeting_id: int) -> tuple[MeetingRoom, Meeting]:
        async with self.sessions() as db:
            meeting = await db.get(Meeting, meeting_id)
            if meeting is None:
                raise Refused("meeting not found", code="meeting.not_found")
            consenting = await recording.consenting_guests(db, meeting)
            shown = await slides.current(db, meeting.id) if meeting.mode == "webinar" else None
        room = self.rooms.get(meeting_id)
        if room is None:
            room = MeetingRoom(
                meeting_id=meeting.id,
                room_id=meeting.room_id,
                patient_id=meeting.patient_id,
                locked=meeting.locked,
                allow_unmute=meeting.allow_unmute,
                waiting_room=meeting.waiting_room,
                mode=meeting.mode,
                slide=shown,
            )
            self.rooms[meeting_id] = room
            room.listener = asyncio.create_task(self._listen(room))
            timer = self._empty_timers.pop(meeting_id, None)
            if timer is not None:  # someone came back within the grace period
                timer.cancel()
        room.consenting_guests = consenting
        return room, meeting

    async def _emptied(self, room: MeetingRoom) -> None:
        """The last person left: close the room, and end the meeting if nobody comes
        back within the grace period (instant meetings; see `_end_if_empty`)."""
        await self._close_room(room)
        if self.empty_end_seconds > 0 and room.meeting_id not in self._empty_timers:
            task = asyncio.create_task(self._end_if_empty(room.meeting_id))
            self._empty_timers[room.meeting_id] = task
            task.add_done_callback(lambda _: self._forget_timer(room.meeting_id, task))

    def _forget_timer(self, meeting_id: int, task: asyncio.Task[None]) -> None:
        if self._empty_timers.get(meeting_id) is task:
            del self._empty_timers[meeting_id]

    async def _end_if_empty(self, meeting_id: int) -> None:
        """An instant meeting still empty after the grace period ends, audited as the
        system's `end` (scheduled meetings keep their slot until someone ends them)."""
        await asyncio.sleep(self.empty_end_seconds)
        if meeting_id in self.rooms:
            return

        async def end() -> None:
            async with self.sessions.begin() as db:
                meeting = await db.get(Meeting, meeting_id)
                if meeting is None or meeting.kind != "instant" or meeting.state != workflow.OPEN:
                    return
                await workflow.transition(
                    session=db,
                    bus=self.bus,
                    meeting=meeting,
                    action="end",
                    actor=audit.SYSTEM,
                    details={"reason": "empty", "grace_seconds": self.empty_end_seconds},
                )

        try:
            await retry_when_locked(end)
        except (SQLAlchemyError, YiyunError):
            logger.exception("meeting %s: could not end the empty meeting", meeting_id)

    async def _close_room(self, room: MeetingRoom) -> None:
        if room.recording is not None:
            with contextlib.suppress(YiyunError):
                await self._stop_recording(room, actor=None)
        self.rooms.pop(room.meeting_id, None)
        if room.listener is not None:
            room.listener.cancel()

    async def close(self) -> None:
        for timer in list(self._empty_timers.values()):
            timer.cancel()
        for room in list(self.rooms.values()):
            await self._close_room(room)
        if self._finishing:  # recordings being stored are completed, not lost
            await asyncio.gather(*self._finishing, return_exceptions=True)
