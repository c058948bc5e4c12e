"""`/ws/signal` messages, version 1, defined once (documented in docs/signalling.md).

Every message is a JSON object with `v` (protocol version) and `type`. Client
messages are parsed with `parse_client`; a malformed message closes the socket with
1008, an oversized one with 1009.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from yiyun.media.engine import Layer, Leg

VERSION = 1
MAX_MESSAGE_BYTES = 96 * 1024  # SDP with simulcast for many tracks stays well below


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1


class CandidateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    candidate: str = Field(max_length=1024)
    sdpMid: str | None = Field(default=None, max_length=64)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=512)


# --- client -> server -----------------------------------------------------------------


class Join(_Msg):
    type: Literal["join"]
    token: str = Field(min_length=10, max_length=2048)
    resume: str | None = Field(default=None, max_length=64, description="previous session id")
    chat_after: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="last chat message id the client has"
    )


class Publish(_Msg):
    type: Literal["publish"]
    sdp: str = Field(min_length=10, max_length=MAX_MESSAGE_BYTES)


class Subscribe(_Msg):
    type: Literal["subscribe"]


class Answer(_Msg):
    type: Literal["answer"]
    sdp: str = Field(min_length=10, max_length=MAX_MESSAGE_BYTES)


class Trickle(_Msg):
    type: Literal["trickle"]
    leg: Leg
    candidate: CandidateModel | None = None


class SelectLayer(_Msg):
    type: Literal["layer"]
    publisher: str = Field(max_length=64)
    layer: Layer


class Leave(_Msg):
    type: Literal["leave"]


class Ping(_Msg):
    type: Literal["ping"]


# --- client -> server: the meeting layer (see docs/signalling.md "Meetings") ----------

MediaKind = Literal["audio", "video"]
ControlAction = Literal[
    "admit",
    "deny",
    "mute",
    "mute_all",
    "stop_video",
    "allow_audio",
    "allow_video",
    "remove",
    "cohost",
    "lock",
    "unlock",
    "allow_unmute",
    "disallow_unmute",
    "rollcall",
    "end",
    "record_start",
    "record_pause",
    "record_resume",
    "record_stop",
    "stop_share",
    "stage",
    "unstage",
    "approve_question",
    "dismiss_question",
]


class Chat(_Msg):
    type: Literal["chat"]
    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    text: str = Field(default="", max_length=4000)
    file_id: int | None = Field(default=None, gt=0, le=2**31 - 1)


class Hand(_Msg):
    type: Literal["hand"]
    raised: bool


class MediaState(_Msg):
    type: Literal["media_state"]
    audio: bool
    video: bool


class Unmute(_Msg):
    type: Literal["unmute"]
    kind: MediaKind


class RecordingConsent(_Msg):
    type: Literal["consent"]
    recording: bool


class RollcallAck(_Msg):
    type: Literal["rollcall_ack"]
    id: str = Field(max_length=32)


class Stats(_Msg):
    """A getStats() summary the client sends every few seconds."""

    type: Literal["stats"]
    rtt_ms: float = Field(ge=0, le=60_000)
    jitter_ms: float = Field(ge=0, le=60_000)
    loss_pct: float = Field(ge=0, le=100)
    send_kbps: float = Field(default=0, ge=0, le=1_000_000)
    recv_kbps: float = Field(default=0, ge=0, le=1_000_000)
    fps: float = Field(default=0, ge=0, le=240)
    width: int = Field(default=0, ge=0, le=16_384)
    height: int = Field(default=0, ge=0, le=16_384)


class Slide(_Msg):
    """Show this page of a slide deck to everyone (a lecture's presenters and host)."""

    type: Literal["slide"]
    deck: int = Field(gt=0, le=2**31 - 1)
    page: int = Field(ge=1, le=10_000)


class Control(_Msg):
    """A chair action (host or co-host only)."""

    type: Literal["control"]
    action: ControlAction
    target: str | None = Field(default=None, max_length=64, description="participant or lobby id")


ClientMessage = Annotated[
    Join
    | Publish
    | Subscribe
    | Answer
    | Trickle
    | SelectLayer
    | Leave
    | Ping
    | Chat
    | Hand
    | MediaState
    | Unmute
    | RecordingConsent
    | RollcallAck
    | Stats
    | Slide
    | Control,
    Field(discriminator="type"),
]
MeetingMessage = (
    Chat | Hand | MediaState | Unmute | RecordingConsent | RollcallAck | Stats | Slide | Control
)
AnyClientMessage = (
    Join | Publish | Subscribe | Answer | Trickle | SelectLayer | Leave | Ping | MeetingMessage
)
_client: TypeAdapter[AnyClientMessage] = TypeAdapter(ClientMessage)


class ProtocolError(ValueError):
    """The message is not valid protocol; the socket closes with 1008."""


def parse_client(raw: str | bytes) -> AnyClientMessage:
    try:
        return _client.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ProtocolError(f"invalid message: {where} {first.get('msg', '')}".strip()) from None


# --- server -> client -----------------------------------------------------------------


class ParticipantInfo(BaseModel):
    id: str
    name: str
    user_id: int | None = None
    publications: list[dict[str, Any]] = Field(default_factory=list)


def server(type_: str, **fields: Any) -> dict[str, Any]:
    """A server message: `{"v": 1, "type": ..., ...}`. Types:

    joined {session, participant, room, participants, ice_servers, engine}
    published {sdp}            answer to the client's publish offer
    offer {sdp}                subscribe-leg offer (initial or renegotiation)
    participant_joined {participant}
    participant_left {participant, reason}
    tracks {participant, publications}
    active_speaker {participant}
    rejoin {reason}            the media node failed: join again
    error {code, message}      a refused request; the socket stays open
    pong {}

    Meeting layer (docs/signalling.md "Meetings"): waiting, denied, lobby, roster,
    chat, chat_ack, chat_history, muted, unmuted, rollcall, rollcall_status, quality,
    recording, ended.
    """
    return {"v": VERSION, "type": type_, **fields}
