"""WebRTC test clients built on aiortc: real offers, real answers, real DTLS."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.mediastreams import VideoStreamTrack

from yiyun.media.embedded import _aiortc


def hermetic_peer() -> RTCPeerConnection:
    """A client peer that asks no public STUN server (tests have no network)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class ClientPeer:
    """A participant's two legs as a browser would hold them.

    `loopback=True` also gathers a 127.0.0.1 candidate, as Chromium does with
    `--allow-loopback-in-peer-connection`, so the suite runs on loopback-only hosts.
    """

    publish: RTCPeerConnection = field(default_factory=hermetic_peer)
    subscribe: RTCPeerConnection = field(default_factory=hermetic_peer)
    received: list[MediaStreamTrack] = field(default_factory=list)
    loopback: bool = True

    def __post_init__(self) -> None:
        self.subscribe.on("track", self.received.append)

    async def publish_offer(
        self,
        *,
        audio: bool = True,
        video: bool = True,
        video_track: MediaStreamTrack | None = None,
    ) -> str:
        if audio:
            self.publish.addTrack(AudioStreamTrack())
        if video:
            self.publish.addTrack(video_track or VideoStreamTrack())
        if self.loopback:
            _aiortc.allow_loopback(self.publish)
        await self.publish.setLocalDescription(await self.publish.createOffer())
        return self.publish.localDescription.sdp

    async def accept_publish_answer(self, sdp: str) -> None:
        await self.publish.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def answer_subscription(self, offer_sdp: str) -> str:
        await self.subscribe.setRemoteDescription(
            RTCSessionDescription(sdp=offer_sdp, type="offer")
        )
        if self.loopback:
            _aiortc.allow_loopback(self.subscribe)
        await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
        return self.subscribe.localDescription.sdp

    def tracks(self, kind: str) -> list[MediaStreamTrack]:
        return [t for t in self.received if t.kind == kind]

    def track(self, track_id: str) -> MediaStreamTrack:
        return next(t for t in self.received if t.id == track_id)

    async def close(self) -> None:
        await asyncio.gather(self.publish.close(), self.subscribe.close())


async def frames(track: MediaStreamTrack, count: int, *, timeout: float) -> list[object]:
    """Decode `count` frames from a received track; fewer if `timeout` passes first."""
    got: list[object] = []

    async def pull() -> None:
        while len(got) < count:
            got.append(await track.recv())

    with contextlib.suppress(TimeoutError, MediaStreamError):
        await asyncio.wait_for(pull(), timeout)
    return got


def drain(track: MediaStreamTrack) -> int:
    """Drop frames already decoded and queued on a received track; how many there were."""
    queue = getattr(track, "_queue", None)
    dropped = 0
    while queue is not None and not queue.empty():
        queue.get_nowait()
        dropped += 1
    return dropped
