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


ClientMessage = Annotated[
    Join | Publish | Subscribe | Answer | Trickle | SelectLayer | Leave | Ping,
    Field(discriminator="type"),
]
_client = TypeAdapter(ClientMessage)


class ProtocolError(ValueError):
    """The message is not valid protocol; the socket closes with 1008."""


def parse_client(
    raw: str | bytes,
) -> Join | Publish | Subscribe | Answer | Trickle | SelectLayer | Leave | Ping:
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
    """
    return {"v": VERSION, "type": type_, **fields}
