"""Client messages in a live meeting: chat (and the files it links), hands, media
state, recording consent, roll-call answers and quality stats (a part of `RoomControl`).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from yiyun.core.db import retry_when_locked
from yiyun.core.errors import PermissionDenied, RateLimited, YiyunError
from yiyun.media import signaling as sig
from yiyun.meetings import chat, holds, quality
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_relay import bus_channel
from yiyun.meetings.room_state import STATS_MIN_INTERVAL, MeetingRoom, Occupant

logger = logging.getLogger(__name__)


class MessagesMixin(RoomBase):
    # --- client messages ---------------------------------------------------------------

    async def handle(self, occupant: Occupant, msg: sig.MeetingMessage) -> None:
        """Apply one meeting-layer message; refusals become `error` messages."""
        try:
            room = self.rooms.get(occupant.meeting_id)
            if room is None or not occupant.admitted:
                raise PermissionDenied("wait until you are admitted", code="meeting.waiting")
            await self._handle(room, occupant, msg)
        except YiyunError as exc:
            await occupant.emit("error", code=exc.code, message=exc.message)
        except SQLAlchemyError:
            logger.exception("meeting %s: a database error refused a message", occupant.meeting_id)
            await occupant.emit(
                "error", code="meeting.busy", message="the server is busy; try again"
            )

    async def _handle(self, room: MeetingRoom, occupant: Occupant, msg: sig.MeetingMessage) -> None:
        if isinstance(msg, sig.Control):
            if not occupant.chair:
                raise PermissionDenied("only the host can do this", code="meeting.host_only")
            await self._control(room, occupant, msg)
        elif isinstance(msg, sig.Chat):
            await self._chat(room, occupant, msg)
        elif isinstance(msg, sig.Hand):
            occupant.hand = msg.raised
            await self._roster_changed(room)
        elif isinstance(msg, sig.MediaState):
            occupant.audio, occupant.video = msg.audio, msg.video
            await self._roster_changed(room)
        elif isinstance(msg, sig.Unmute):
            await self._unmute(room, occupant, msg.kind)
        elif isinstance(msg, sig.RecordingConsent):
            if occupant.claims.guest_id is not None:
                raise PermissionDenied(
                    "a guest's recording consent comes from the patient's record",
                    code="meeting.guest_consent_on_record",
                )
            occupant.consent = msg.recording
            await holds.store(
                self.sessions, room.meeting_id, [occupant.identity], "recording", not msg.recording
            )
            for o in room.people():  # the same person in another tab
                if o.identity == occupant.identity:
                    o.consent = msg.recording
            if room.recording is not None:
                await self._update_recording(room)
            await self._roster_changed(room)
        elif isinstance(msg, sig.RollcallAck):
            call = room.rollcall
            if call is not None and call.id == msg.id and occupant.participant in call.expected:
                call.answered.add(str(occupant.participant))
                await self._rollcall_status(room)
        elif isinstance(msg, sig.Stats):
            await self._stats(room, occupant, msg)
        elif isinstance(msg, sig.Slide):
            await self._slide(room, occupant, msg)

    async def _chat(self, room: MeetingRoom, occupant: Occupant, msg: sig.Chat) -> None:
        if occupant.role in ("screen", "observer"):
            raise PermissionDenied("observers do not chat", code="meeting.chat_forbidden")
        if not occupant.chat_rate.take():
            raise RateLimited("too many messages; slow down", code="meeting.chat_rate")
        if room.webinar and occupant.audience:
            await self._question(room, occupant, msg)
            return
        posted = await chat.post(
            self.sessions,
            meeting_id=room.meeting_id,
            sender=occupant.identity,
            sender_name=occupant.name,
            client_id=msg.client_id,
            text=msg.text,
            file_id=msg.file_id,
        )
        await occupant.emit("chat_ack", client_id=msg.client_id, id=posted.message["id"])
        if not posted.duplicate:
            await self.bus.publish(
                bus_channel(room.meeting_id), {"type": "chat", "message": posted.message}
            )

    async def _stats(self, room: MeetingRoom, occupant: Occupant, msg: sig.Stats) -> None:
        stamp = time.monotonic()
        if stamp - occupant.last_stats < STATS_MIN_INTERVAL:
            return  # more often than useful: ignored, not an error
        occupant.last_stats = stamp
        rated = quality.rate(msg)
        if self.quality_observer is not None:
            self.quality_observer(float(rated["mos"]))

        async def store() -> None:
            async with self.sessions.begin() as db:
                db.add(quality.sample(room.meeting_id, occupant.identity, occupant.name, rated))

        await retry_when_locked(store)
        await self._to_chairs(room, "quality", participant=occupant.participant, **rated)
