"""WebRTC test clients built on aiortc: real offers, real answers, real DTLS."""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)

from yiyun.media.embedded import _aiortc


def hermetic_peer() -> RTCPeerConnection:
    """A client peer that asks no public STUN server (tests have no network).

    Max-bundle, like a browser: with aiortc's default "balanced" policy a second
    m-section of the same kind stays on a transport aiortc discards when the remote
    description bundles, and its media is misrouted to the first one.
    """
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone at about -15 dBov: someone talking, as far as audio levels go."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        t = (np.arange(frame.samples) + frame.pts) / frame.sample_rate
        tone = (np.sin(2 * math.pi * 440 * t) * 8000).astype("<i2")
        frame.planes[0].update(tone.tobytes())
        return frame


class PatternTrack(VideoStreamTrack):
    """640x480 with motion everywhere, so the encoder produces a realistic bitrate."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._noise = np.random.default_rng(1).integers(0, 255, (height, width), dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        shift = (pts // 3000) * 7
        y = np.roll(self._noise, shift, axis=1)
        img = np.stack([y, np.roll(y, 3, axis=0), np.roll(y, 5, axis=1)], axis=2)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


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
        audio_track: MediaStreamTrack | None = None,
        video_track: MediaStreamTrack | None = None,
    ) -> str:
        if audio:
            self.publish.addTrack(audio_track or AudioStreamTrack())
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


async def frames(track: MediaStreamTrack, count: int, *, within: float) -> list[object]:
    """Decode `count` frames from a received track; fewer if `within` seconds pass first."""
    got: list[object] = []

    async def pull() -> None:
        while len(got) < count:
            got.append(await track.recv())

    with contextlib.suppress(TimeoutError, MediaStreamError):
        await asyncio.wait_for(pull(), within)
    return got


def drain(track: MediaStreamTrack) -> int:
    """Drop frames already decoded and queued on a received track; how many there were."""
    queue = getattr(track, "_queue", None)
    dropped = 0
    while queue is not None and not queue.empty():
        queue.get_nowait()
        dropped += 1
    return dropped
