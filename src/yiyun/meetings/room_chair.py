"""Chair control in a live meeting: admit/deny, holds on microphones and cameras,
removal, co-hosts, lock, roll-call and ending (a part of `RoomControl`, see `room.py`).
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from sqlalchemy import select

from yiyun.core.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    YiyunError,
)
from yiyun.media import signaling as sig
from yiyun.meetings import holds, presence, removals, workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_relay import HOLD, bus_channel
from yiyun.meetings.room_state import MeetingRoom, Occupant, Rollcall


class ChairMixin(RoomBase):
    # --- chair control -----------------------------------------------------------------

    def _target(self, room: MeetingRoom, target: str | None) -> Occupant:
        occupant = room.by_participant(target)
        if occupant is None:
            raise NotFound("no such participant in the meeting", code="meeting.no_participant")
        return occupant

    async def _control(self, room: MeetingRoom, chair: Occupant, msg: sig.Control) -> None:
        action = msg.action
        details: dict[str, Any] = {}
        if action in ("admit", "deny"):
            waiting = room.occupants.get(msg.target or "")
            if waiting is None or waiting.admitted:
                raise NotFound("nobody with that id is waiting", code="meeting.not_waiting")
            if action == "admit":
                await self._admit(room, waiting, None)
                await self._lobby_changed(room)
            else:
                await self._keep_out(room, waiting, chair, removals.DENIED)
                await self._leave_lobby(room, waiting, denied="denied")
            details["guest"] = waiting.identity
        elif action in ("mute", "stop_video", "allow_audio", "allow_video"):
            target = self._target(room, msg.target)
            kind: sig.MediaKind = "audio" if action in ("mute", "allow_audio") else "video"
            held = action in ("mute", "stop_video")
            await self._hold(room, [target], kind, held=held, by=chair.name)
            details["target"] = target.identity
        elif action == "mute_all":
            await self._hold(
                room, [t for t in room.people() if not t.chair], "audio", held=True, by=chair.name
            )
        elif action == "remove":
            target = self._target(room, msg.target)
            if target.role == "host":
                raise PermissionDenied("the host cannot be removed", code="meeting.host_stays")
            if target.role != "screen":
                await self._keep_out(room, target, chair, removals.REMOVED)
            await self._remove(target)
            details["target"] = target.identity
        elif action == "cohost":
            target = self._target(room, msg.target)
            if target.claims.guest_id is not None or target.role in ("screen", "observer"):
                raise InvalidInput(
                    "only staff participants can be co-hosts", code="meeting.cohost_staff_only"
                )
            await self._make_cohost(room, target)
            details["target"] = target.identity
        elif action in ("lock", "unlock", "allow_unmute", "disallow_unmute"):
            await self._policy(room, chair, action)  # audited with the change
            return
        elif action == "rollcall":
            room.rollcall = Rollcall(
                id=secrets.token_hex(4),
                expected={
                    str(o.participant) for o in room.people() if o.participant and o is not chair
                },
            )
            for o in room.people():
                if o is not chair:
                    await o.emit("rollcall", id=room.rollcall.id, by=chair.name)
            await self._rollcall_status(room)
        elif action == "stop_share":
            for o in room.admitted():
                if o.role == "screen":
                    await self._remove(o)
        elif action in ("stage", "unstage"):
            details = await self._stage(room, chair, msg)
        elif action in ("approve_question", "dismiss_question"):
            await self._moderate(room, chair, msg)
            details["question"] = msg.target
        elif action == "end":
            await self._end(room, chair)  # audited with the state change
            return
        elif action == "record_start":
            await self._start_recording(room, chair)
        elif action in ("record_pause", "record_resume"):
            await self._pause_recording(room, pause=action == "record_pause")
        elif action == "record_stop":
            await self._stop_recording(room, actor=chair.actor())
        await self._audit(chair, f"meeting.{action}", details)

    async def _remove(self, target: Occupant) -> None:
        if target.session is not None:
            with contextlib.suppress(YiyunError):
                await self.hub.kick(target.session)

    async def _make_cohost(self, room: MeetingRoom, target: Occupant) -> None:
        async with self.sessions.begin() as db:
            member = await db.scalar(
                select(MeetingMember).where(
                    MeetingMember.meeting_id == room.meeting_id,
                    MeetingMember.user_id == target.claims.user_id,
                )
            )
            if member is None:
                raise NotFound("not a member of the meeting", code="meeting.no_participant")
            if member.role != "host":
                member.role = "cohost"
        target.role = "cohost"
        await self._roster_changed(room)
        await self._send_lobby(room, [target])

    async def _policy(self, room: MeetingRoom, chair: Occupant, action: str) -> None:
        """Change a room-wide setting; the stored setting and its audit row commit together,
        before anyone is told, so a meeting ended a moment later cannot lose the record."""
        if action in ("lock", "unlock"):
            room.locked = action == "lock"
            values = {"locked": room.locked}
        else:
            room.allow_unmute = action == "allow_unmute"
            values = {"allow_unmute": room.allow_unmute}
        async with self.sessions.begin() as db:
            meeting = await db.get(Meeting, room.meeting_id)
            if meeting is not None:
                for key, value in values.items():
                    setattr(meeting, key, value)
            await self._audit_in(db, chair, f"meeting.{action}", {})
        await self._roster_changed(room)

    async def _rollcall_status(self, room: MeetingRoom) -> None:
        call = room.rollcall
        if call is None:
            return
        await self._to_chairs(
            room,
            "rollcall_status",
            id=call.id,
            answered=sorted(call.answered),
            pending=sorted(call.expected - call.answered),
        )

    async def _end(self, room: MeetingRoom, chair: Occupant) -> None:
        async with self.sessions.begin() as db:
            meeting = await db.get(Meeting, room.meeting_id)
            if meeting is None:
                raise IllegalTransition(state="ended", action="end", code="meeting.ended")
            # The chair (host or co-host) was checked above: no principal to check here.
            await workflow.transition(
                session=db, bus=self.bus, meeting=meeting, action="end", actor=chair.actor()
            )
        if room.recording is not None:
            await self._stop_recording(room, actor=chair.actor())
        everyone = list(room.occupants.values())
        room.occupants.clear()
        for o in everyone:
            if o.presence_id is not None:
                await presence.depart(self.sessions, o.presence_id)
            await o.dismiss("ended")
            if o.session is not None:
                await self.hub.leave(o.session)
        await self._close_room(room)

    async def _unmute(self, room: MeetingRoom, occupant: Occupant, kind: sig.MediaKind) -> None:
        if occupant.host_muted[kind]:
            if not (room.allow_unmute or occupant.chair):
                raise PermissionDenied(
                    "the host has not allowed unmuting", code="meeting.unmute_forbidden"
                )
            await self._hold(room, [occupant], kind, held=False, by=occupant.name, notify=False)
        await occupant.emit("unmuted", kind=kind)
        await self._roster_changed(room)

    async def _hold(
        self,
        room: MeetingRoom,
        targets: list[Occupant],
        kind: sig.MediaKind,
        *,
        held: bool,
        by: str,
        notify: bool = True,
    ) -> None:
        """Hold (or hand back) a microphone or camera for these people: stored first,
        then applied to every connection of theirs, on this node and the others."""
        identities = sorted({t.identity for t in targets if t.role != "screen"})
        await holds.store(self.sessions, room.meeting_id, identities, kind, held)
        changed = False
        for identity in identities:
            message = {"identity": identity, "kind": kind, "held": held, "by": by}
            changed |= await self._apply_hold(room, message | {"notify": notify})
            await self.bus.publish(bus_channel(room.meeting_id), {"type": HOLD, **message})
        if changed:
            await self._roster_changed(room)

    async def _apply_hold(self, room: MeetingRoom, message: dict[str, Any]) -> bool:
        """Apply a stored hold to this node's connections of that person."""
        kind: sig.MediaKind = "video" if message.get("kind") == "video" else "audio"
        held = bool(message.get("held"))
        changed = False
        for o in room.people():
            if o.identity != message.get("identity") or o.host_muted[kind] == held:
                continue
            o.host_muted[kind] = held
            changed = True
            if o.participant is not None:
                await self.hub.engine.set_muted(room.room_id, o.participant, kind, held)
            if not message.get("notify", True):
                continue
            if held:
                await o.emit("muted", kind=kind, by=message.get("by"), can_unmute=room.allow_unmute)
            else:
                await o.emit("allowed", kind=kind, by=message.get("by"))
        return changed
