"""Typed requests and replies of the Janus VideoRoom plugin (Janus 1.x, string ids).

Only the requests Yiyun uses are modelled. Requests dump to the plugin's JSON body
with `body()`; replies and pushed events are parsed with `parse()`, which turns a
reply of the wrong shape into `JanusError` (never a bare `ValidationError`).
Janus is configured with `string_ids = true`, so room and participant ids are
Yiyun's own strings.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from yiyun.media.janus.client import JanusError, JanusHandle, PluginReply

PLUGIN = "janus.plugin.videoroom"

# VideoRoom error codes (janus_videoroom.c)
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
ID_EXISTS = 436
INVALID_SDP_TYPE = 431
INVALID_SDP = 437


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, by_alias=True)


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise JanusError(
                f"unexpected VideoRoom reply for {cls.__name__}: {data.get('videoroom')!r}"
            ) from exc


# --- rooms --------------------------------------------------------------------------


class DummyStream(_Request):
    codec: str


class CreateRoom(_Request):
    request: Literal["create"] = "create"
    room: str
    description: str = ""
    permanent: bool = False
    is_private: bool = False
    admin_key: str | None = None
    publishers: int = 25
    bitrate: int = 2_500_000
    bitrate_cap: bool = True
    fir_freq: int = 10
    audiocodec: str = "opus"
    videocodec: str = "vp8,h264"
    audiolevel_ext: bool = True
    audiolevel_event: bool = True
    audio_active_packets: int = 50
    audio_level_average: int = 40
    notify_joining: bool = True
    record: bool = False
    # A placeholder publisher: a subscription can exist before anyone publishes.
    dummy_publisher: bool = True
    dummy_streams: list[DummyStream] = Field(
        default_factory=lambda: [DummyStream(codec="opus"), DummyStream(codec="vp8")]
    )


class RoomCreated(_Reply):
    videoroom: Literal["created"]
    room: str


class RoomExists(_Request):
    request: Literal["exists"] = "exists"
    room: str


class ExistsReply(_Reply):
    videoroom: Literal["success"]
    room: str
    exists: bool


class DestroyRoom(_Request):
    request: Literal["destroy"] = "destroy"
    room: str
    permanent: bool = False


class RoomDestroyed(_Reply):
    videoroom: Literal["destroyed"]
    room: str


class ListRooms(_Request):
    request: Literal["list"] = "list"
    admin_key: str | None = None


class RoomInfo(_Reply):
    room: str
    description: str = ""
    num_participants: int = 0
    max_publishers: int = 0
    bitrate: int = 0


class RoomList(_Reply):
    videoroom: Literal["success"]
    rooms: list[RoomInfo] = Field(alias="list")


class ListParticipants(_Request):
    request: Literal["listparticipants"] = "listparticipants"
    room: str


class ParticipantInfo(_Reply):
    id: str
    display: str | None = None
    publisher: bool = False
    talking: bool | None = None
    dummy: bool = False


class Participants(_Reply):
    videoroom: Literal["participants"]
    room: str
    participants: list[ParticipantInfo] = []


class Kick(_Request):
    request: Literal["kick"] = "kick"
    room: str
    id: str


class Success(_Reply):
    videoroom: Literal["success"]


class Moderate(_Request):
    """Mute (or unmute) one of a publisher's streams for everyone (the chair's mute)."""

    request: Literal["moderate"] = "moderate"
    room: str
    id: str
    mid: str
    mute: bool


# --- publishers ---------------------------------------------------------------------


class PublishedStream(_Reply):
    type: str
    mindex: int
    mid: str
    disabled: bool = False
    codec: str | None = None
    simulcast: bool = False
    talking: bool | None = None


class PublisherInfo(_Reply):
    id: str
    display: str | None = None
    dummy: bool = False
    streams: list[PublishedStream] = []


class JoinPublisher(_Request):
    request: Literal["join"] = "join"
    ptype: Literal["publisher"] = "publisher"
    room: str
    id: str
    display: str


class Joined(_Reply):
    videoroom: Literal["joined"]
    room: str
    id: str
    private_id: int | None = None
    publishers: list[PublisherInfo] = []


class Publish(_Request):
    request: Literal["publish"] = "publish"
    bitrate: int | None = None


class StreamSettings(_Request):
    """Per-stream settings of a `configure` (publisher or subscriber side)."""

    mid: str
    send: bool | None = None
    substream: int | None = Field(default=None, ge=0, le=2)
    temporal: int | None = Field(default=None, ge=0, le=2)
    keyframe: bool | None = None


class Configure(_Request):
    request: Literal["configure"] = "configure"
    bitrate: int | None = None
    keyframe: bool | None = None
    streams: list[StreamSettings] | None = None
    restart: bool | None = None
    # publisher recording: Janus writes <filename>-<audio|video>-<mindex>.mjr
    record: bool | None = None
    filename: str | None = None


class Configured(_Reply):
    videoroom: Literal["event"]
    configured: Literal["ok"]


class Leave(_Request):
    request: Literal["leave"] = "leave"


# --- subscribers --------------------------------------------------------------------


class SubscribeTo(_Request):
    feed: str
    mid: str | None = None
    send: bool | None = None
    substream: int | None = Field(default=None, ge=0, le=2)


class UnsubscribeFrom(_Request):
    feed: str | None = None
    mid: str | None = None
    sub_mid: str | None = None


class JoinSubscriber(_Request):
    request: Literal["join"] = "join"
    ptype: Literal["subscriber"] = "subscriber"
    room: str
    streams: list[SubscribeTo]
    use_msid: bool = True  # a=msid:<publisher id> <mid>: the browser groups by publisher
    autoupdate: bool = False  # renegotiate only when Yiyun asks (`update`)


class SubscriptionStream(_Reply):
    mindex: int
    mid: str
    type: str
    active: bool = True
    feed_id: str | None = None
    feed_mid: str | None = None
    feed_display: str | None = None
    send: bool = True
    ready: bool = False


class Attached(_Reply):
    videoroom: Literal["attached"]
    room: str
    streams: list[SubscriptionStream] = []


class Update(_Request):
    request: Literal["update"] = "update"
    subscribe: list[SubscribeTo] | None = None
    unsubscribe: list[UnsubscribeFrom] | None = None


class Updated(_Reply):
    videoroom: Literal["updated", "updating"]
    room: str
    streams: list[SubscriptionStream] | None = None


class Start(_Request):
    request: Literal["start"] = "start"


class Started(_Reply):
    videoroom: Literal["event"]
    started: Literal["ok"]


# --- events pushed to publisher handles ---------------------------------------------


class Attendee(_Reply):
    id: str
    display: str | None = None


class RoomEvent(_Reply):
    """`videoroom: event` pushed to participants: who published, left, was kicked."""

    videoroom: Literal["event"]
    room: str | None = None
    publishers: list[PublisherInfo] | None = None
    unpublished: str | None = None  # a publisher's id, or "ok" for oneself
    leaving: str | None = None  # a participant's id, or "ok" for oneself
    kicked: str | None = None
    joining: Attendee | None = None
    reason: str | None = None


class Talking(_Reply):
    videoroom: Literal["talking", "stopped-talking"]
    room: str
    id: str
    level: float = Field(default=127.0, alias="audio-level-dBov-avg")


async def call(
    handle: JanusHandle, request: _Request, jsep: dict[str, Any] | None = None
) -> PluginReply:
    """Send one VideoRoom request on `handle`; errors arrive as `JanusError`."""
    return await handle.message(request.body(), jsep)
