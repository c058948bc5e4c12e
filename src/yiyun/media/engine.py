"""The `MediaEngine` interface every engine implements, and its value types.

Model (the same for every engine, and what the browser client speaks through
`/ws/signal`): each participant has up to two WebRTC legs.

* the **publish** leg: the client offers its camera/microphone (video may carry
  simulcast layers); the engine answers;
* the **subscribe** leg: the engine offers every other participant's publications
  (last-N video in big rooms); the client answers. When publications change the
  engine emits `RenegotiationNeeded` and the signalling layer asks for a new offer.

Media is DTLS-SRTP only. Engines refuse an offer without a DTLS fingerprint or one
that asks for plain RTP (`InvalidOffer`).

The meeting chair controls two things on the server side, whatever the clients do:

* **mute** (`set_muted`): a muted publication is forwarded to nobody and recorded
  nowhere; `Publication.muted` says so in `room_state` and `PublicationsChanged`;
* **recording** (`start_recording` ... `stop_recording`): one per room at a time,
  named by the caller, written only from the participants the caller includes (those
  who consented); it ends as one Matroska file with a stream per included
  participant's audio and video, titled `"<participant_id>:<kind>"`
  (`yiyun.media.recording.probe_tracks` lists them).

Error tree (all are `core.errors` subclasses so the web layer maps them once):

    MediaError (Upstream, 502)
     +-- EngineUnavailable      no healthy engine/node can take the request
    RoomNotFound (NotFound, 404)
    ParticipantNotFound (NotFound, 404)
    RecordingNotFound (NotFound, 404)      no such recording in this room
    RecordingActive (IllegalTransition, 409)  the room is being recorded already
    InvalidOffer (InvalidInput, 422)       bad or insecure SDP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from yiyun.core.errors import IllegalTransition, InvalidInput, NotFound, Upstream

Leg = Literal["publish", "subscribe"]
MediaKind = Literal["audio", "video"]


class Layer(StrEnum):
    """Simulcast layer a subscriber wants from one publisher's video."""

    HIGH = "high"
    LOW = "low"
    OFF = "off"


class MediaError(Upstream):
    code = "media.error"


class EngineUnavailable(MediaError):
    code = "media.unavailable"


class RoomNotFound(NotFound):
    code = "media.room_not_found"


class ParticipantNotFound(NotFound):
    code = "media.participant_not_found"


class InvalidOffer(InvalidInput):
    code = "media.invalid_offer"


class RecordingNotFound(NotFound):
    code = "media.recording_not_found"


class RecordingActive(IllegalTransition):
    """A room has one recording at a time: `start_recording` while one runs."""

    code = "media.recording_active"

    def __init__(self) -> None:
        super().__init__(state="recording", action="start_recording")


@dataclass(frozen=True)
class RoomSpec:
    room_id: str
    max_video_publishers: int = 25
    last_n: int = 9  # video forwarded to each subscriber; audio always flows
    bitrate_bps: int = 2_500_000  # per publisher cap (covers 1080p simulcast top layer)


@dataclass(frozen=True)
class IceCandidate:
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True)
class Publication:
    participant_id: str
    kind: MediaKind
    track_id: str
    simulcast: bool = False
    muted: bool = False  # by the chair (`set_muted`): forwarded to nobody, not recorded


def with_mutes(publications: Iterable[Publication], muted: Collection[str]) -> list[Publication]:
    """The publications with `muted` set exactly for the kinds in `muted`."""
    return [replace(p, muted=p.kind in muted) for p in publications]


@dataclass(frozen=True)
class ParticipantState:
    participant_id: str
    display_name: str
    publications: tuple[Publication, ...] = ()


@dataclass(frozen=True)
class RoomState:
    room_id: str
    participants: tuple[ParticipantState, ...] = ()
    node: str | None = None


@dataclass(frozen=True)
class EngineLoad:
    rooms: int
    participants: int
    publications: int
    healthy: bool = True
    nodes: dict[str, int] = field(default_factory=dict)


# --- events the engine emits ----------------------------------------------------------


@dataclass(frozen=True)
class PublicationsChanged:
    room_id: str
    participant_id: str
    publications: tuple[Publication, ...]


@dataclass(frozen=True)
class RenegotiationNeeded:
    """The participant's subscribe leg must be renegotiated (ask `subscribe` again)."""

    room_id: str
    participant_id: str


@dataclass(frozen=True)
class ActiveSpeaker:
    room_id: str
    participant_id: str
    level_dbov: float


@dataclass(frozen=True)
class ParticipantGone:
    room_id: str
    participant_id: str
    reason: Literal["left", "kicked", "failed", "node_down"]


@dataclass(frozen=True)
class RoomMoved:
    """A media node failed; clients must rejoin (the room is re-placed on join)."""

    room_id: str
    reason: str


EngineEvent = (
    PublicationsChanged | RenegotiationNeeded | ActiveSpeaker | ParticipantGone | RoomMoved
)
EventListener = Callable[[EngineEvent], Awaitable[None]]


class MediaEngine(Protocol):
    """What signalling needs from a media engine. All methods are coroutine-safe."""

    name: str

    async def start(self, listener: EventListener) -> None:
        """Begin work; engine events are delivered to `listener`."""

    async def close(self) -> None: ...

    async def create_room(self, spec: RoomSpec) -> None:
        """Create the room if it does not exist (idempotent)."""

    async def destroy_room(self, room_id: str) -> None: ...

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None: ...

    async def leave(self, room_id: str, participant_id: str) -> None:
        """Drop the participant's legs and publications (idempotent)."""

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        """Answer the client's publish offer; returns the answer SDP."""

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        """(Re)build the subscribe leg over current publications; returns an offer SDP.

        Each forwarded m-section is labelled `a=msid:<publisher participant id> <track>`
        so the browser groups a publisher's audio and video into one MediaStream whose
        id is the publisher's participant id.
        """

    async def complete_subscribe(
        self, room_id: str, participant_id: str, answer_sdp: str
    ) -> None: ...

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate | None
    ) -> None:
        """Trickle a remote candidate (None = end of candidates)."""

    async def select_layer(
        self, room_id: str, subscriber_id: str, publisher_id: str, layer: Layer
    ) -> None: ...

    async def kick(self, room_id: str, participant_id: str) -> None: ...

    async def set_muted(
        self, room_id: str, participant_id: str, kind: MediaKind, muted: bool
    ) -> None:
        """Mute (or unmute) a participant's `kind` on the server, by the chair (idempotent).

        While muted, that publication is forwarded to nobody and recorded nowhere,
        whatever the client sends; its `Publication.muted` is True and listeners get
        `PublicationsChanged`. The state outlives re-publishing, and may be set before
        the participant publishes. Unmuting resumes forwarding (video from the next
        keyframe, which the engine asks the publisher for at once).
        Raises `RoomNotFound` / `ParticipantNotFound`.
        """

    async def start_recording(
        self,
        room_id: str,
        recording_id: str,
        participant_ids: Collection[str],
        directory: Path,
    ) -> None:
        """Start recording the room, including only `participant_ids`' media.

        `recording_id` (letters, digits, `.`, `_`, `-`) names the recording and its
        file, `directory/<recording_id>.mkv`. Ids of participants not (yet) in the
        room are allowed: they are recorded once they join and publish. Raises
        `RoomNotFound`, `RecordingActive` if the room is being recorded already, and
        `InvalidInput` for a bad id or an existing file.
        """

    async def set_recording_participants(
        self, room_id: str, recording_id: str, participant_ids: Collection[str]
    ) -> None:
        """Replace the set of included participants (someone consents, someone withdraws).

        Media of participants outside the set is never written, from this call on.
        Raises `RecordingNotFound`.
        """

    async def pause_recording(self, room_id: str, recording_id: str) -> None:
        """Write nothing until `resume_recording` (idempotent). Raises `RecordingNotFound`."""

    async def resume_recording(self, room_id: str, recording_id: str) -> None:
        """Write again after a pause (idempotent); the pause stays a gap in the timeline.

        Raises `RecordingNotFound`.
        """

    async def stop_recording(self, room_id: str, recording_id: str) -> Path:
        """Finish the recording; returns the one Matroska file it made.

        The file holds one stream per included participant's audio and video that
        carried media, encoded as sent (VP8, Opus: nothing is re-encoded), titled
        `"<participant_id>:<kind>"`, on one timeline that starts with the recording
        (pauses are gaps). With no media at all it holds only a short note (a
        subtitle stream) so that it is still a valid file. Works after the room was
        destroyed. Raises `RecordingNotFound`.
        """

    async def room_state(self, room_id: str) -> RoomState: ...

    async def load(self) -> EngineLoad: ...
