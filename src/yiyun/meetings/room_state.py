"""What a live meeting room holds in memory: its occupants, roll-call and the
recording under way (see `room.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yiyun.audit.service import Actor
from yiyun.auth.room_tokens import RoomClaims
from yiyun.core.errors import YiyunError
from yiyun.core.ratelimit import TokenBucket
from yiyun.media import signaling as sig
from yiyun.media.hub import Send, Session
from yiyun.meetings.members import CHAIRS

# In a webinar (a lecture): who may change the slides, and who speaks without being
# brought on stage. The audience receives only.
PRESENTERS = frozenset({"host", "cohost", "presenter"})
STAGE = PRESENTERS | {"panelist"}
AUDIENCE = "audience"
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
    on_stage: bool = False  # an audience member the host brought on stage
    presence_id: int | None = None  # the `meetings_presence` row of this stay

    @property
    def audience(self) -> bool:
        """Receives only: the audience of a lecture, unless brought on stage."""
        return self.role == AUDIENCE and not self.on_stage

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
        if self.claims.terminal_id is not None:
            return Actor(user_id=None, username=f"terminal:{self.claims.terminal_id}")
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
    lock: int | None = None  # held on the working folder until the file is sealed


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
    mode: str = "meeting"  # or "webinar"
    slide: dict[str, Any] | None = None  # {deck, page, at}: what everyone sees
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)  # awaiting moderation

    @property
    def webinar(self) -> bool:
        return self.mode == "webinar"

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
