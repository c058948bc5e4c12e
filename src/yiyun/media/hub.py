"""Signalling hub: ties `/ws/signal` sessions to a `MediaEngine`.

One hub per app process. Each socket that joins becomes a *session* for one media
participant. The hub turns client messages into engine calls and engine events into
server messages, serialises subscribe-leg negotiations per participant (a change that
arrives while an offer is outstanding is renegotiated right after the answer), and
keeps a participant for a grace period after its socket drops so a reconnecting client
resumes without renegotiating.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from yiyun.auth.room_tokens import RoomClaims
from yiyun.core.errors import YiyunError
from yiyun.media import signaling as sig
from yiyun.media.engine import (
    ActiveSpeaker,
    EngineEvent,
    IceCandidate,
    MediaEngine,
    ParticipantGone,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomMoved,
    RoomSpec,
)

logger = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
GoneListener = Callable[["Session", str], Awaitable[None]]
RESUME_GRACE_SECONDS = 15.0


@dataclass
class Session:
    id: str
    room: str
    participant: str
    user_id: int
    name: str
    send: Send | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    offer_pending: bool = False
    dirty: bool = False
    subscribed: bool = False
    expiry: asyncio.TimerHandle | None = None

    async def emit(self, message: dict[str, Any]) -> None:
        if self.send is not None:
            try:
                await self.send(message)
            except Exception:  # any failure to send means the socket is gone
                logger.info("signal send failed for session %s; socket gone", self.id)
                self.send = None


class SignalHub:
    def __init__(
        self,
        engine: MediaEngine,
        *,
        ice_servers: list[dict[str, Any]] | None = None,
        grace_seconds: float = RESUME_GRACE_SECONDS,
    ) -> None:
        self.engine = engine
        self.ice_servers = ice_servers or []
        self.grace = grace_seconds
        self.sessions: dict[str, Session] = {}
        self.gone_listeners: list[GoneListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        """Start the engine (idempotent; also done lazily on the first join)."""
        if not self._started:
            self._started = True
            await self.engine.start(self.on_event)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await self._drop(session)
        for task in list(self._tasks):
            task.cancel()
        if self._started:
            await self.engine.close()

    # --- sessions ------------------------------------------------------------------

    def _in_room(self, room: str) -> list[Session]:
        return [s for s in self.sessions.values() if s.room == room]

    async def join(self, claims: RoomClaims, send: Send, resume: str | None) -> Session:
        await self.start()
        old = self.sessions.get(resume) if resume else None
        if old is not None and old.room == claims.room and old.user_id == claims.user_id:
            if old.expiry is not None:
                old.expiry.cancel()
                old.expiry = None
            old.send = send
            await old.emit(await self._joined(old, resumed=True))
            return old
        await self.engine.create_room(RoomSpec(claims.room))
        session = Session(
            id=secrets.token_urlsafe(12),
            room=claims.room,
            participant=f"u{claims.user_id}-{secrets.token_hex(3)}",
            user_id=claims.user_id,
            name=claims.name,
            send=send,
        )
        await self.engine.join(claims.room, session.participant, display_name=claims.name)
        self.sessions[session.id] = session
        await session.emit(await self._joined(session, resumed=False))
        for other in self._in_room(session.room):
            if other is not session:
                await other.emit(sig.server("participant_joined", participant=self._info(session)))
        return session

    def _info(
        self, session: Session, publications: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        return sig.ParticipantInfo(
            id=session.participant,
            name=session.name,
            user_id=session.user_id,
            publications=publications or [],
        ).model_dump()

    async def _joined(self, session: Session, *, resumed: bool) -> dict[str, Any]:
        state = await self.engine.room_state(session.room)
        names = {s.participant: s for s in self._in_room(session.room)}
        participants = [
            sig.ParticipantInfo(
                id=p.participant_id,
                name=p.display_name,
                user_id=names[p.participant_id].user_id if p.participant_id in names else None,
                publications=[
                    {"kind": x.kind, "track": x.track_id, "simulcast": x.simulcast}
                    for x in p.publications
                ],
            ).model_dump()
            for p in state.participants
            if p.participant_id != session.participant
        ]
        return sig.server(
            "joined",
            session=session.id,
            participant=session.participant,
            room=session.room,
            participants=participants,
            ice_servers=self.ice_servers,
            engine=self.engine.name,
            resumed=resumed,
        )

    def disconnected(self, session: Session) -> None:
        """The socket dropped: keep the participant for the grace period."""
        session.send = None
        loop = asyncio.get_running_loop()
        session.expiry = loop.call_later(
            self.grace, lambda: self._spawn(self._drop(session, "timeout"))
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, session: Session, reason: str = "left") -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        if session.expiry is not None:
            session.expiry.cancel()
        with contextlib.suppress(YiyunError):
            await self.engine.leave(session.room, session.participant)
        await self._gone(session, reason)

    async def _gone(self, session: Session, reason: str) -> None:
        for listener in self.gone_listeners:
            try:
                await listener(session, reason)
            except Exception:
                logger.exception("gone listener failed for %s", session.participant)

    async def kick(self, session: Session) -> None:
        """Remove a participant from the room (its client gets `kicked`)."""
        await self.engine.kick(session.room, session.participant)

    async def leave(self, session: Session) -> None:
        await self._drop(session)

    # --- client messages -----------------------------------------------------------

    async def handle(self, session: Session, msg: object) -> None:
        """Apply one client message; domain errors become `error` messages."""
        try:
            await self._handle(session, msg)
        except YiyunError as exc:
            await session.emit(sig.server("error", code=exc.code, message=exc.message))

    async def _handle(self, session: Session, msg: object) -> None:
        if isinstance(msg, sig.Publish):
            answer = await self.engine.publish(session.room, session.participant, msg.sdp)
            await session.emit(sig.server("published", sdp=answer))
        elif isinstance(msg, sig.Subscribe):
            session.subscribed = True
            await self._offer(session)
        elif isinstance(msg, sig.Answer):
            async with session.lock:
                await self.engine.complete_subscribe(session.room, session.participant, msg.sdp)
                session.offer_pending = False
                again = session.dirty
                session.dirty = False
            if again:
                await self._offer(session)
        elif isinstance(msg, sig.Trickle):
            cand = (
                None
                if msg.candidate is None
                else IceCandidate(
                    msg.candidate.candidate, msg.candidate.sdpMid, msg.candidate.sdpMLineIndex
                )
            )
            await self.engine.add_ice_candidate(session.room, session.participant, msg.leg, cand)
        elif isinstance(msg, sig.SelectLayer):
            await self.engine.select_layer(
                session.room, session.participant, msg.publisher, msg.layer
            )
        elif isinstance(msg, sig.Ping):
            await session.emit(sig.server("pong"))
        elif isinstance(msg, sig.Leave):
            await self.leave(session)

    async def _offer(self, session: Session) -> None:
        async with session.lock:
            if session.offer_pending:
                session.dirty = True
                return
            offer = await self.engine.subscribe(session.room, session.participant)
            session.offer_pending = True
        await session.emit(sig.server("offer", sdp=offer))

    # --- engine events -------------------------------------------------------------

    async def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, RenegotiationNeeded):
            for s in self._in_room(event.room_id):
                if s.participant == event.participant_id and s.subscribed:
                    self._spawn(self._renegotiate(s))
        elif isinstance(event, PublicationsChanged):
            pubs = [
                {"kind": p.kind, "track": p.track_id, "simulcast": p.simulcast}
                for p in event.publications
            ]
            for s in self._in_room(event.room_id):
                if s.participant != event.participant_id:
                    await s.emit(
                        sig.server("tracks", participant=event.participant_id, publications=pubs)
                    )
        elif isinstance(event, ActiveSpeaker):
            for s in self._in_room(event.room_id):
                await s.emit(sig.server("active_speaker", participant=event.participant_id))
        elif isinstance(event, ParticipantGone):
            for s in self._in_room(event.room_id):
                if s.participant == event.participant_id:
                    if event.reason != "left":
                        await s.emit(
                            sig.server(
                                "kicked" if event.reason == "kicked" else "rejoin",
                                reason=event.reason,
                            )
                        )
                    if self.sessions.pop(s.id, None) is not None:
                        await self._gone(s, event.reason)
                else:
                    await s.emit(
                        sig.server(
                            "participant_left",
                            participant=event.participant_id,
                            reason=event.reason,
                        )
                    )
        elif isinstance(event, RoomMoved):
            for s in self._in_room(event.room_id):
                await s.emit(sig.server("rejoin", reason=event.reason))
                self.sessions.pop(s.id, None)
                await self._gone(s, "moved")

    async def _renegotiate(self, session: Session) -> None:
        try:
            await self._offer(session)
        except YiyunError as exc:
            logger.warning("renegotiation failed for %s: %s", session.participant, exc.code)
