"""A publisher that sends VP8 simulcast the way a browser does, for tests.

aiortc cannot send simulcast, so this client negotiates like Chromium (one video
m-section, `a=rid:l send`, `a=rid:h send`, `a=simulcast:send l;h`, RID header
extensions, no `a=ssrc` lines) and then sends two encodings itself: each layer has
its own VP8 encoder, SSRC and RID, and answers PLIs for its SSRC with a keyframe.
It uses the engine's aiortc touch points to send on its own DTLS transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCSessionDescription,
)
from aiortc.codecs import get_encoder

from tests.media.utils import hermetic_peer
from yiyun.media.embedded import _aiortc
from yiyun.media.embedded.feedback import KeyframeRequest, read_rtcp
from yiyun.media.embedded.negotiation import RID_URI, RRID_URI, parse_sections

RID_ID, RRID_ID = 10, 11
FPS = 15


@dataclass
class _Layer:
    rid: str
    width: int
    height: int
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    seq: int = field(default_factory=lambda: random.randrange(30000))
    keyframe: bool = True
    sent: int = 0


class SimulcastPublisher:
    def __init__(
        self, layers: tuple[tuple[str, int, int], ...] = (("l", 320, 240), ("h", 640, 480))
    ) -> None:
        self.pc = hermetic_peer()
        self.layers = [_Layer(rid, w, h) for rid, w, h in layers]
        self.keyframe_requests: dict[str, int] = {layer.rid: 0 for layer in self.layers}
        self._task: asyncio.Task[None] | None = None
        self._mid = "0"
        self._pt = 0
        self.paused: set[str] = set()

    async def offer(self) -> str:
        self.pc.addTransceiver("video", direction="sendonly")
        _aiortc.allow_loopback(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        lines = []
        for line in self.pc.localDescription.sdp.splitlines():
            if line.startswith(("a=ssrc:", "a=ssrc-group:")):
                continue  # browsers do not signal SSRCs for rid simulcast
            lines.append(line)
            if line.startswith("a=mid:"):
                lines += [f"a=extmap:{RID_ID} {RID_URI}", f"a=extmap:{RRID_ID} {RRID_URI}"]
        rids = [layer.rid for layer in self.layers]
        lines += [f"a=rid:{rid} send" for rid in rids] + ["a=simulcast:send " + ";".join(rids)]
        return "\r\n".join(lines) + "\r\n"

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        section = parse_sections(answer_sdp)[0]
        self._mid = section.mid or "0"
        self._pt = next(pt for pt, c in section.media_codecs().items() if c.name == "VP8")
        _aiortc.detach_media(self.pc)
        dtls = _aiortc.transport_of(self.pc)
        assert dtls is not None
        ext = _aiortc.HeaderExtensionsMap()
        ext.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in section.extmap.items()
                ]
            )
        )

        async def ignore_rtp(data: bytes, arrival_time_ms: int) -> None:
            return None

        async def on_rtcp(data: bytes) -> None:
            for event in read_rtcp(data):
                if isinstance(event, KeyframeRequest):
                    for layer in self.layers:
                        if layer.ssrc == event.media_ssrc:
                            layer.keyframe = True
                            self.keyframe_requests[layer.rid] += 1

        _aiortc.intercept(dtls, ignore_rtp, on_rtcp)
        self._task = asyncio.create_task(self._send(dtls, ext))

    async def _send(self, dtls: object, ext: object) -> None:
        codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=self._pt)
        encoders = {layer.rid: get_encoder(codec) for layer in self.layers}
        ts_origin = random.getrandbits(32)
        tick = 0
        while True:
            await asyncio.sleep(1 / FPS)
            tick += 1
            for layer in self.layers:
                if layer.rid in self.paused or getattr(dtls, "state", "") != "connected":
                    continue
                img = np.zeros((layer.height, layer.width, 3), dtype=np.uint8)
                img[:, :, 0] = (np.arange(layer.width) + tick * 4) % 256  # moving gradient
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = tick * (90000 // FPS)
                frame.time_base = fractions.Fraction(1, 90000)
                force, layer.keyframe = layer.keyframe, False
                payloads, timestamp = encoders[layer.rid].encode(frame, force)
                for i, payload in enumerate(payloads):
                    packet = _aiortc.RtpPacket(
                        payload_type=self._pt,
                        marker=int(i == len(payloads) - 1),
                        sequence_number=layer.seq,
                        timestamp=(ts_origin + timestamp) & 0xFFFFFFFF,
                        ssrc=layer.ssrc,
                        payload=payload,
                    )
                    packet.extensions.mid = self._mid
                    packet.extensions.rtp_stream_id = layer.rid
                    layer.seq = (layer.seq + 1) % 65536
                    layer.sent += 1
                    await _aiortc.send_rtp(dtls, packet.serialize(ext))  # type: ignore[arg-type]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pc.close()
