"""Entering and leaving a live meeting: tokens, the waiting room, removals and
guests (a part of `RoomControl`, see `room.py`).
"""

from __future__ import annotations

import secrets

from yiyun.auth.room_tokens import RoomClaims
from yiyun.core.db import retry_when_locked
from yiyun.media import signaling as sig
from yiyun.media.hub import Send, Session
from yiyun.meetings import attendance, chat, holds, presence, removals, workflow
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.models import MeetingGuest
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_state import PRESENTERS, Hangup, MeetingRoom, Occupant, Refused


class EntryMixin(RoomBase):
    async def enter(
        self,
        claims: RoomClaims,
        send: Send,
        *,
        resume: str | None,
        chat_after: int | None,
        hangup: Hangup | None = None,
    ) -> Occupant:
        """Admit the socket to its meeting, or put it in the waiting room, or refuse."""
        if claims.meeting_id is None:
            raise Refused("this token is not for a meeting", code="meeting.not_found")
        room, meeting = await self._room(claims.meeting_id)
        if meeting.state not in workflow.LIVE:
            raise Refused("the meeting has ended", code="meeting.ended")
        await self._check_not_kept_out(room, claims)
        old = self._by_session.get(resume) if resume else None
        if (
            old is not None
            and old.identity == claims.identity
            and old.meeting_id == room.meeting_id
        ):
            old.send, old.hangup = send, hangup
            old.session = await self.hub.join(claims, send, resume)
            await self._after_admission(room, old, chat_after)
            return old
        role = claims.role
        if room.locked and role not in CHAIRS:
            raise Refused("the meeting is locked", code="meeting.locked")
        occupant = Occupant(
            id=secrets.token_hex(6),
            claims=claims,
            send=send,
            meeting_id=room.meeting_id,
            role=role,
            name=claims.name,
            hangup=hangup,
        )
        if role == "screen":
            owner = next((o for o in room.people() if o.identity == claims.identity), None)
            if owner is None:
                raise Refused("join the meeting before sharing a screen", code="meeting.not_joined")
            if any(o.role == "screen" for o in room.admitted()):
                raise Refused("someone else is sharing a screen", code="meeting.screen_busy")
            occupant.screen_of = owner.participant
            occupant.audio = False
        if role != "screen":
            async with self.sessions() as db:
                hold = await holds.load(db, room.meeting_id, claims.identity)
            occupant.host_muted = {"audio": hold.audio, "video": hold.video}
            occupant.consent = not hold.recording_excluded
        if claims.guest_id is not None:
            occupant.consent = claims.guest_id in room.consenting_guests
        room.occupants[occupant.id] = occupant
        if role == "guest" and room.waiting_room:
            await occupant.emit("waiting", meeting=room.meeting_id)
            await self._lobby_changed(room)
            return occupant
        await self._admit(room, occupant, chat_after)
        return occupant

    async def _check_not_kept_out(self, room: MeetingRoom, claims: RoomClaims) -> None:
        """Removed and denied people stay out (stored: an emptied room does not forget),
        and so does a guest whose invitation was withdrawn after the token was issued."""
        async with self.sessions() as db:
            kept_out = await removals.find(db, room.meeting_id, claims.identity)
            guest = (
                await db.get(MeetingGuest, claims.guest_id) if claims.guest_id is not None else None
            )
        if kept_out is not None and kept_out.reason == removals.DENIED:
            raise Refused("you were not admitted to this meeting", code="meeting.denied")
        if kept_out is not None:
            raise Refused("you were removed from this meeting", code="meeting.removed")
        if guest is not None and (
            guest.meeting_id != room.meeting_id or guest.revoked_at is not None
        ):
            raise Refused("this invitation was withdrawn", code="meeting.removed")

    async def _keep_out(
        self, room: MeetingRoom, target: Occupant, by: Occupant, reason: str
    ) -> None:
        async def store() -> None:
            async with self.sessions.begin() as db:
                await removals.record(
                    db,
                    meeting_id=room.meeting_id,
                    identity=target.identity,
                    name=target.name,
                    reason=reason,
                    by=by.identity,
                )

        await retry_when_locked(store)

    async def _admit(self, room: MeetingRoom, occupant: Occupant, chat_after: int | None) -> None:
        if occupant.send is None:
            room.occupants.pop(occupant.id, None)
            return
        if occupant.claims.guest_id is not None and occupant.role == "guest":
            guest_id = occupant.claims.guest_id

            async def note() -> None:
                async with self.sessions.begin() as db:
                    await removals.note_admitted(db, guest_id)

            await retry_when_locked(note)
        occupant.admitted = True
        occupant.session = await self.hub.join(occupant.claims, occupant.send, None)
        self._by_session[occupant.session.id] = occupant
        if occupant.role != "screen":
            await self._note_attendance(room.meeting_id, occupant, joined=True)
            occupant.presence_id = await presence.arrive(
                self.sessions,
                meeting_id=room.meeting_id,
                identity=occupant.identity,
                user_id=occupant.claims.user_id if occupant.claims.guest_id is None else None,
                guest_id=occupant.claims.guest_id,
                name=occupant.name,
                role=occupant.role,
            )
        await self._after_admission(room, occupant, chat_after)
        if room.recording is not None:
            await self._update_recording(room)

    async def _after_admission(
        self, room: MeetingRoom, occupant: Occupant, chat_after: int | None
    ) -> None:
        for kind in ("audio", "video"):  # held by the chair before this connection
            if occupant.host_muted[kind] and occupant.participant is not None:
                await self.hub.engine.set_muted(room.room_id, occupant.participant, kind, True)
        if occupant.role != "screen":
            async with self.sessions() as db:
                messages = await chat.history(db, meeting_id=room.meeting_id, after=chat_after or 0)
            await occupant.emit("chat_history", messages=messages)
        await self._roster_changed(room)
        if occupant.chair:
            await self._send_lobby(room, [occupant])
        if room.recording is not None:
            await occupant.emit(
                "recording", state=room.recording.state, included=sorted(room.recording.included)
            )
        if room.slide is not None:  # a late joiner sees the page everyone sees
            await occupant.emit("slide", **room.slide)
        if occupant.role in PRESENTERS:
            for question in room.questions.values():
                await occupant.emit("question", **question)

    async def _note_attendance(self, meeting_id: int, occupant: Occupant, *, joined: bool) -> None:
        """Record the stay (lecture attendance and credit read it)."""

        async def store() -> None:
            async with self.sessions.begin() as db:
                if joined:
                    await attendance.joined(
                        db, meeting_id=meeting_id, claims=occupant.claims, connection=occupant.id
                    )
                else:
                    await attendance.left(db, meeting_id=meeting_id, connection=occupant.id)

        await retry_when_locked(store)

    def media_refusal(self, occupant: Occupant, msg: object) -> str | None:
        """Why a media message is refused for this occupant (None: allowed)."""
        if not occupant.admitted:
            return "meeting.waiting"
        if isinstance(msg, sig.Publish):
            return self._publish_refusal(occupant)
        return None

    async def socket_closed(self, occupant: Occupant) -> None:
        """The socket is gone. Waiting guests leave the lobby; the admitted keep their
        media for the hub's grace period (they may resume)."""
        occupant.send = None
        room = self.rooms.get(occupant.meeting_id)
        if room is None:
            return
        if not occupant.admitted:
            await self._leave_lobby(room, occupant)

    async def _leave_lobby(
        self, room: MeetingRoom, occupant: Occupant, *, denied: str | None = None
    ) -> None:
        """A guest leaves the waiting room: gone, denied or their invitation withdrawn."""
        room.occupants.pop(occupant.id, None)
        if denied is not None:
            await occupant.dismiss("denied", reason=denied)
        await self._lobby_changed(room)
        if not room.occupants:
            await self._emptied(room)

    async def _on_gone(self, session: Session, reason: str) -> None:
        occupant = self._by_session.pop(session.id, None)
        if occupant is None:
            return
        if occupant.presence_id is not None:
            await presence.depart(self.sessions, occupant.presence_id)
        room = self.rooms.get(occupant.meeting_id)
        if room is None:
            return
        room.occupants.pop(occupant.id, None)
        if occupant.role != "screen":
            await self._note_attendance(room.meeting_id, occupant, joined=False)
        if occupant.role != "screen":  # the owner's screen share ends with them
            for other in list(room.admitted()):
                if other.screen_of is not None and other.screen_of == occupant.participant:
                    await self._remove(other)
        if room.recording is not None:
            await self._update_recording(room)
        await self._roster_changed(room)
        if not room.occupants:
            await self._emptied(room)

    async def _expel(self, room: MeetingRoom, guest_id: int) -> None:
        """A withdrawn invitation: its guest leaves the lobby or the call, and stays out
        (`_check_not_kept_out` refuses a revoked invitation)."""
        for o in list(room.occupants.values()):
            if o.claims.guest_id != guest_id:
                continue
            if o.admitted:
                await self._remove(o)
            else:
                await self._leave_lobby(room, o, denied="revoked")
