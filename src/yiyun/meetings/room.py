"""Live meeting rooms: the waiting room, roster, chair control, chat, roll-call, quality
and the recording switch, spoken over `/ws/signal` (docs/signalling.md "Meetings").

One `RoomControl` per app process sits in front of the `SignalHub`: a socket that
joins becomes an *occupant*; an admitted occupant also has a media session in the hub.
Rules (who may do what, what is stored) live here and in the meeting services; the
web socket route only parses and forwards. Chat is written to the database before it
is delivered, and delivered through the bus so every app node sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.room_tokens import RoomClaims
from yiyun.core.bus import EventBus
from yiyun.core.db import retry_when_locked
from yiyun.core.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    YiyunError,
)
from yiyun.core.ratelimit import TokenBucket
from yiyun.core.storage import BlobStore
from yiyun.media import signaling as sig
from yiyun.media.hub import Send, Session, SignalHub
from yiyun.meetings import chat, holds, quality, recording, removals, workflow
from yiyun.meetings.models import Meeting, MeetingGuest, MeetingMember

logger = logging.getLogger(__name__)

CHAIRS = frozenset({"host", "cohost"})
Hangup = Callable[[], Awaitable[None]]
CHAT_PER_SECOND = 5
CONSENT_CHECK_SECONDS = 5.0
STATS_MIN_INTERVAL = 2.0


class Refused(YiyunError):
    """Entry refused: the client gets `error {code}` and the socket closes with 1008."""

    status = 403
    code = "meeting.refused"


@dataclass
class Occupant:
    id: str
    claims: RoomClaims
    send: Send | None
    meeting_id: int
    role: str
    name: str
    admitted: bool = False
    session: Session | None = None
    audio: bool = True
    video: bool = True
    hand: bool = False
    host_muted: dict[str, bool] = field(default_factory=lambda: {"audio": False, "video": False})
    consent: bool = True
    screen_of: str | None = None
    hangup: Hangup | None = None  # closes the socket normally (denied, meeting ended)
    chat_rate: TokenBucket = field(
        default_factory=lambda: TokenBucket(CHAT_PER_SECOND, CHAT_PER_SECOND)
    )
    last_stats: float = 0.0

    @property
    def identity(self) -> str:
        return self.claims.identity

    @property
    def participant(self) -> str | None:
        return self.session.participant if self.session else None

    @property
    def chair(self) -> bool:
        return self.role in CHAIRS

    def actor(self) -> Actor:
        if self.claims.guest_id is not None:
            return Actor(user_id=None, username=f"guest:{self.claims.guest_id}")
        return Actor(user_id=self.claims.user_id, username=f"user:{self.claims.user_id}")

    async def dismiss(self, type_: str, **fields: Any) -> None:
        """The last message to this socket, then it is closed normally."""
        await self.emit(type_, **fields)
        self.send = None
        if self.hangup is not None:
            with contextlib.suppress(Exception):
                await self.hangup()

    async def emit(self, type_: str, **fields: Any) -> None:
        if self.send is None:
            return
        try:
            await self.send(sig.server(type_, **fields))
        except Exception:  # any failure to send means the socket is gone
            self.send = None


@dataclass
class Rollcall:
    id: str
    expected: set[str]
    answered: set[str] = field(default_factory=set)


@dataclass
class ActiveRecording:
    id: int
    state: str  # "recording" | "paused"
    directory: Path
    included: set[str] = field(default_factory=set)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # participant -> who
    watcher: asyncio.Task[None] | None = None


@dataclass
class MeetingRoom:
    meeting_id: int
    room_id: str
    patient_id: int | None
    locked: bool
    allow_unmute: bool
    waiting_room: bool
    occupants: dict[str, Occupant] = field(default_factory=dict)
    rollcall: Rollcall | None = None
    recording: ActiveRecording | None = None
    listener: asyncio.Task[None] | None = None
    consenting_guests: set[int] = field(default_factory=set)

    def admitted(self) -> list[Occupant]:
        return [o for o in self.occupants.values() if o.admitted]

    def people(self) -> list[Occupant]:
        """Admitted occupants other than screen shares: who gets the roster and chat."""
        return [o for o in self.occupants.values() if o.admitted and o.role != "screen"]

    def lobby(self) -> list[Occupant]:
        return [o for o in self.occupants.values() if not o.admitted]

    def by_participant(self, participant: str | None) -> Occupant | None:
        for o in self.occupants.values():
            if participant is not None and o.participant == participant:
                return o
        return None


def bus_channel(meeting_id: int) -> str:
    return f"meeting:{meeting_id}"


EXPEL = "_expel_guest"  # an internal bus message: never delivered to clients
HOLD = "_chair_hold"  # internal: a chair hold changed; other nodes apply it to their sockets


async def expel_guest(bus: EventBus, meeting_id: int, guest_id: int) -> None:
    """Tell every app node to put this guest out of the meeting (invitation withdrawn)."""
    await bus.publish(bus_channel(meeting_id), {"type": EXPEL, "guest": guest_id})


class RoomControl:
    def __init__(
        self,
        hub: SignalHub,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        store: BlobStore,
        *,
        recordings_dir: Path | None = None,
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
        hub.gone_listeners.append(self._on_gone)

    # --- entering and leaving --------------------------------------------------------

    async def _room(self, meeting_id: int) -> tuple[MeetingRoom, Meeting]:
        async with self.sessions() as db:
            meeting = await db.get(Meeting, meeting_id)
            if meeting is None:
                raise Refused("meeting not found", code="meeting.not_found")
            consenting = await recording.consenting_guests(db, meeting)
        room = self.rooms.get(meeting_id)
        if room is None:
            room = MeetingRoom(
                meeting_id=meeting.id,
                room_id=meeting.room_id,
                patient_id=meeting.patient_id,
                locked=meeting.locked,
                allow_unmute=meeting.allow_unmute,
                waiting_room=meeting.waiting_room,
            )
            self.rooms[meeting_id] = room
            room.listener = asyncio.create_task(self._listen(room))
            timer = self._empty_timers.pop(meeting_id, None)
            if timer is not None:  # someone came back within the grace period
                timer.cancel()
        room.consenting_guests = consenting
        return room, meeting

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

    def media_refusal(self, occupant: Occupant, msg: object) -> str | None:
        """Why a media message is refused for this occupant (None: allowed)."""
        if not occupant.admitted:
            return "meeting.waiting"
        if isinstance(msg, sig.Publish) and occupant.role == "observer":
            return "meeting.observer"
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
        room = self.rooms.get(occupant.meeting_id)
        if room is None:
            return
        room.occupants.pop(occupant.id, None)
        if occupant.role != "screen":  # the owner's screen share ends with them
            for other in list(room.admitted()):
                if other.screen_of is not None and other.screen_of == occupant.participant:
                    await self._remove(other)
        if room.recording is not None:
            await self._update_recording(room)
        await self._roster_changed(room)
        if not room.occupants:
            await self._emptied(room)

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

    # --- fan-out -----------------------------------------------------------------------

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
                    for o in room.people():
                        await o.emit(str(message.get("type")), **fields)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("meeting %s bus listener stopped", room.meeting_id)

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

    def _roster(self, room: MeetingRoom) -> dict[str, Any]:
        return {
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
                }
                for o in room.admitted()
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

    async def _chat(self, room: MeetingRoom, occupant: Occupant, msg: sig.Chat) -> None:
        if occupant.role in ("screen", "observer"):
            raise PermissionDenied("observers do not chat", code="meeting.chat_forbidden")
        if not occupant.chat_rate.take():
            raise RateLimited("too many messages; slow down", code="meeting.chat_rate")
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

    async def _stats(self, room: MeetingRoom, occupant: Occupant, msg: sig.Stats) -> None:
        stamp = time.monotonic()
        if stamp - occupant.last_stats < STATS_MIN_INTERVAL:
            return  # more often than useful: ignored, not an error
        occupant.last_stats = stamp
        rated = quality.rate(msg)

        async def store() -> None:
            async with self.sessions.begin() as db:
                db.add(quality.sample(room.meeting_id, occupant.identity, occupant.name, rated))

        await retry_when_locked(store)
        await self._to_chairs(room, "quality", participant=occupant.participant, **rated)

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
            await self._policy(room, action)
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

    async def _policy(self, room: MeetingRoom, action: str) -> None:
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
            await o.dismiss("ended")
            if o.session is not None:
                await self.hub.leave(o.session)
        await self._close_room(room)

    async def _audit(self, occupant: Occupant, action: str, details: dict[str, Any]) -> None:
        await retry_when_locked(lambda: self._audit_once(occupant, action, details))

    async def _audit_once(self, occupant: Occupant, action: str, details: dict[str, Any]) -> None:
        async with self.sessions.begin() as db:
            await audit.record(
                session=db,
                actor=occupant.actor(),
                action=action,
                entity_type="meeting",
                entity_id=occupant.meeting_id,
                details=details,
            )

    # --- recording -----------------------------------------------------------------------

    def _included(self, room: MeetingRoom) -> set[str]:
        return {
            str(o.participant)
            for o in room.admitted()
            if o.participant is not None
            and (o.consent if o.role != "screen" else self._owner_consents(room, o))
        }

    def _owner_consents(self, room: MeetingRoom, screen: Occupant) -> bool:
        owner = room.by_participant(screen.screen_of)
        return owner is not None and owner.consent

    async def _start_recording(self, room: MeetingRoom, chair: Occupant) -> None:
        if room.recording is not None:
            raise IllegalTransition(
                state=room.recording.state, action="record_start", code="meeting.recording_active"
            )
        included = self._included(room)
        everyone = {str(o.participant) for o in room.admitted() if o.participant}
        base = self.recordings_dir or Path(tempfile.gettempdir()) / "yiyun-recordings"
        async with self.sessions.begin() as db:
            row = await recording.begin(
                db,
                meeting_id=room.meeting_id,
                engine=self.hub.engine.name,
                started_by=chair.actor(),
                included=sorted(self._identities(room, included)),
                excluded=sorted(self._identities(room, everyone - included)),
            )
        directory = base / f"meeting-{room.meeting_id}-rec-{row.id}"
        directory.mkdir(parents=True, exist_ok=True)
        try:
            await self.hub.engine.start_recording(room.room_id, str(row.id), included, directory)
        except YiyunError:
            async with self.sessions.begin() as db:
                await recording.fail(db, row.id)
            raise
        room.recording = ActiveRecording(row.id, "recording", directory, included)
        self._remember(room, room.recording)
        room.recording.watcher = asyncio.create_task(self._watch_consent(room, room.recording))
        await self._recording_changed(room)

    async def _watch_consent(self, room: MeetingRoom, rec: ActiveRecording) -> None:
        """Consent can be withdrawn while a recording runs: the patient's withdrawal
        stops it; a linked guest's withdrawal leaves that guest out from then on."""
        while room.recording is rec:
            await asyncio.sleep(self.consent_check_seconds)
            if room.recording is not rec:
                return
            try:
                async with self.sessions() as db:
                    meeting = await db.get(Meeting, room.meeting_id)
                    patient_ok = meeting is None or await recording.patient_consents(db, meeting)
                    guests = await recording.consenting_guests(db, meeting) if meeting else set()
            except SQLAlchemyError:
                logger.warning("meeting %s: consent check failed; trying again", room.meeting_id)
                continue
            if not patient_ok:
                await self._audit_system(room, "meeting.recording.consent_withdrawn")
                await self._stop_recording(room, actor=None)
                return
            room.consenting_guests = guests
            changed = False
            for o in room.admitted():
                if o.claims.guest_id is not None and o.claims.guest_id not in guests and o.consent:
                    o.consent, changed = False, True
            if changed:
                await self._update_recording(room)
                await self._roster_changed(room)

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

    def _remember(self, room: MeetingRoom, rec: ActiveRecording) -> None:
        for p in rec.included:
            o = room.by_participant(p)
            if o is not None:
                label = o.name if o.role != "screen" else f"{o.name} (screen)"
                rec.names[p] = (o.identity, label)

    def _identities(self, room: MeetingRoom, participants: Iterable[str]) -> set[str]:
        found = [room.by_participant(p) for p in participants]
        return {
            (o.identity + ":screen" if o.role == "screen" else o.identity)
            for o in found
            if o is not None
        }

    async def _update_recording(self, room: MeetingRoom) -> None:
        rec = room.recording
        if rec is None:
            return
        included = self._included(room)
        if included != rec.included:
            rec.included = included
            self._remember(room, rec)
            await self.hub.engine.set_recording_participants(room.room_id, str(rec.id), included)
            async with self.sessions.begin() as db:
                await recording.note_participants(
                    db, rec.id, sorted(self._identities(room, included))
                )
            await self._recording_changed(room)

    async def _pause_recording(self, room: MeetingRoom, *, pause: bool) -> None:
        rec = room.recording
        wanted = "recording" if pause else "paused"
        if rec is None or rec.state != wanted:
            raise IllegalTransition(
                state=rec.state if rec else "stopped",
                action="record_pause" if pause else "record_resume",
                code="meeting.recording_state",
            )
        if pause:
            await self.hub.engine.pause_recording(room.room_id, str(rec.id))
        else:
            await self.hub.engine.resume_recording(room.room_id, str(rec.id))
        rec.state = "paused" if pause else "recording"
        await self._recording_changed(room)

    async def _stop_recording(self, room: MeetingRoom, *, actor: Actor | None) -> None:
        rec = room.recording
        if rec is None:
            raise IllegalTransition(
                state="stopped", action="record_stop", code="meeting.recording_state"
            )
        room.recording = None
        if rec.watcher is not None and rec.watcher is not asyncio.current_task():
            rec.watcher.cancel()
        await self._recording_changed(room)
        path = await self.hub.engine.stop_recording(room.room_id, str(rec.id))
        # Digesting, splitting and storing a long recording takes a while: it runs in
        # the background so the chair's socket keeps answering (the row turns `ready`).
        task = asyncio.create_task(self._finish(rec, path, actor))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, rec: ActiveRecording, path: Path, actor: Actor | None) -> None:
        # A failure is logged and the row marked `failed` inside `finish`.
        with contextlib.suppress(Exception):
            await recording.finish(
                self.sessions, self.store, rec.id, path, actor=actor, names=rec.names
            )

    async def _recording_changed(self, room: MeetingRoom) -> None:
        rec = room.recording
        state = rec.state if rec else "stopped"
        included = sorted(rec.included) if rec else []
        for o in room.people():
            await o.emit("recording", state=state, included=included)
        await self._roster_changed(room)
