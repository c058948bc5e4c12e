"""WebRTC test clients built on aiortc: real offers, real answers, real DTLS."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


@dataclass
class ClientPeer:
    """A participant's two legs as a browser would hold them."""

    publish: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    subscribe: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    received: list[object] = field(default_factory=list)

    async def publish_offer(self, *, audio: bool = True, video: bool = True) -> str:
        if audio:
            self.publish.addTrack(AudioStreamTrack())
        if video:
            self.publish.addTrack(VideoStreamTrack())
        await self.publish.setLocalDescription(await self.publish.createOffer())
        return self.publish.localDescription.sdp

    async def accept_publish_answer(self, sdp: str) -> None:
        await self.publish.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def answer_subscription(self, offer_sdp: str) -> str:
        self.subscribe.on("track", self.received.append)
        await self.subscribe.setRemoteDescription(
            RTCSessionDescription(sdp=offer_sdp, type="offer")
        )
        await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
        return self.subscribe.localDescription.sdp

    async def close(self) -> None:
        await asyncio.gather(self.publish.close(), self.subscribe.close())
