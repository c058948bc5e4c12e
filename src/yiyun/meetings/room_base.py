"""The shared part of `RoomControl` (see `room.py`): state, fan-out and audit."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.bus import EventBus
from yiyun.core.db import retry_when_locked
from yiyun.core.storage import BlobStore
from yiyun.media import signaling as sig
from yiyun.media.hub import SignalHub
from yiyun.meetings.models import Meeting
from yiyun.meetings.room_state import AUDIENCE, MeetingRoom, Occupant


def webinar_roster(room: MeetingRoom, people: list[Occupant]) -> tuple[list[Occupant], int]:
    """Who a webinar's roster lists (everyone but the audience, plus audience members on
    stage or with a raised hand) and how many others watch: a thousand viewers are a
    number, not a list."""
    listed = [o for o in people if o.role != AUDIENCE or o.on_stage or o.hand]
    return listed, len(people) - len(listed)


class RoomBase(abc.ABC):
    """What the parts of `RoomControl` share: its state, the fan-out to the people in a
    room and the audit trail. Each part declares here what it needs from another."""

    hub: SignalHub
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    store: BlobStore
    recordings_dir: Path  # plaintext working files stay in the data dir, never /tmp
    rooms: dict[int, MeetingRoom]
    _by_session: dict[str, Occupant]
    _finishing: set[asyncio.Task[None]]
    empty_end_seconds: float
    quality_observer: Callable[[float], None] | None
    _empty_timers: dict[int, asyncio.Task[None]]
    consent_check_seconds: float

    # --- provided by the other parts ---------------------------------------------------

    @abc.abstractmethod
    async def _room(self, meeting_id: int) -> tuple[MeetingRoom, Meeting]: ...

    @abc.abstractmethod
    async def _emptied(self, room: MeetingRoom) -> None: ...

    @abc.abstractmethod
    async def _close_room(self, room: MeetingRoom) -> None: ...

    @abc.abstractmethod
    async def _admit(
        self, room: MeetingRoom, occupant: Occupant, chat_after: int | None
    ) -> None: ...

    @abc.abstractmethod
    async def _keep_out(
        self, room: MeetingRoom, target: Occupant, by: Occupant, reason: str
    ) -> None: ...

    @abc.abstractmethod
    async def _leave_lobby(
        self, room: MeetingRoom, occupant: Occupant, *, denied: str | None = None
    ) -> None: ...

    @abc.abstractmethod
    async def _expel(self, room: MeetingRoom, guest_id: int) -> None: ...

    @abc.abstractmethod
    async def _remove(self, target: Occupant) -> None: ...

    @abc.abstractmethod
    async def _control(self, room: MeetingRoom, chair: Occupant, msg: sig.Control) -> None: ...

    @abc.abstractmethod
    async def _unmute(self, room: MeetingRoom, occupant: Occupant, kind: sig.MediaKind) -> None: ...

    @abc.abstractmethod
    async def _apply_hold(self, room: MeetingRoom, message: dict[str, Any]) -> bool: ...

    @abc.abstractmethod
    async def _rollcall_status(self, room: MeetingRoom) -> None: ...

    @abc.abstractmethod
    async def _start_recording(self, room: MeetingRoom, chair: Occupant) -> None: ...

    @abc.abstractmethod
    async def _pause_recording(self, room: MeetingRoom, *, pause: bool) -> None: ...

    @abc.abstractmethod
    async def _stop_recording(self, room: MeetingRoom, *, actor: Actor | None) -> None: ...

    @abc.abstractmethod
    async def _update_recording(self, room: MeetingRoom) -> None: ...

    @abc.abstractmethod
    async def _hold(
        self,
        room: MeetingRoom,
        targets: list[Occupant],
        kind: sig.MediaKind,
        *,
        held: bool,
        by: str,
        notify: bool = True,
    ) -> None: ...

    @abc.abstractmethod
    def _publish_refusal(self, occupant: Occupant) -> str | None: ...

    @abc.abstractmethod
    async def _stage(
        self, room: MeetingRoom, chair: Occupant, msg: sig.Control
    ) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def _slide(self, room: MeetingRoom, occupant: Occupant, msg: sig.Slide) -> None: ...

    @abc.abstractmethod
    async def _question(self, room: MeetingRoom, occupant: Occupant, msg: sig.Chat) -> None: ...

    @abc.abstractmethod
    async def _moderate(self, room: MeetingRoom, chair: Occupant, msg: sig.Control) -> None: ...

    # --- fan-out -----------------------------------------------------------------------

    def _roster(self, room: MeetingRoom) -> dict[str, Any]:
        listed, watching = room.admitted(), 0
        if room.webinar:
            listed, watching = webinar_roster(room, listed)
        return {
            "mode": room.mode,
            "audience_count": watching,
            "participants": [
                {
                    "id": o.participant,
                    "identity": o.identity,
                    "name": o.name,
                    "role": o.role,
                    "audio": o.audio and not o.host_muted["audio"],
                    "video": o.video and not o.host_muted["video"],
                    "hand": o.hand,
                    "host_muted": dict(o.host_muted),
                    "screen_of": o.screen_of,
                    "recording": o.consent,
                    "on_stage": o.on_stage,
                }
                for o in listed
            ],
            "policy": {
                "locked": room.locked,
                "allow_unmute": room.allow_unmute,
                "waiting_room": room.waiting_room,
            },
            "recording": room.recording.state if room.recording else None,
        }

    async def _roster_changed(self, room: MeetingRoom) -> None:
        roster = self._roster(room)
        for o in room.people():
            await o.emit("roster", **roster)

    async def _send_lobby(self, room: MeetingRoom, to: Iterable[Occupant]) -> None:
        waiting = [{"id": o.id, "name": o.name} for o in room.lobby()]
        for o in to:
            await o.emit("lobby", waiting=waiting)

    async def _lobby_changed(self, room: MeetingRoom) -> None:
        await self._send_lobby(room, [o for o in room.admitted() if o.chair])

    async def _to_chairs(self, room: MeetingRoom, type_: str, **fields: Any) -> None:
        for o in room.admitted():
            if o.chair:
                await o.emit(type_, **fields)

    async def _audit(self, occupant: Occupant, action: str, details: dict[str, Any]) -> None:
        await retry_when_locked(lambda: self._audit_once(occupant, action, details))

    async def _audit_once(self, occupant: Occupant, action: str, details: dict[str, Any]) -> None:
        async with self.sessions.begin() as db:
            await self._audit_in(db, occupant, action, details)

    async def _audit_in(
        self, db: AsyncSession, occupant: Occupant, action: str, details: dict[str, Any]
    ) -> None:
        await audit.record(
            session=db,
            actor=occupant.actor(),
            action=action,
            entity_type="meeting",
            entity_id=occupant.meeting_id,
            details=details,
        )

    async def _audit_system(self, room: MeetingRoom, action: str) -> None:
        async with self.sessions.begin() as db:
            await audit.record(
                session=db,
                actor=audit.SYSTEM,
                action=action,
                entity_type="meeting",
                entity_id=room.meeting_id,
                patient_id=room.patient_id,
            )
