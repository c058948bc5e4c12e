"""The load generator: aiortc publishers and subscribers for the media benchmark.

* `ReplayTrack` replays a fixed VP8 clip (encoded once by FFmpeg) as `av.Packet`s in
  real time, looping; aiortc's `RTCRtpSender` only packetises them (`Vp8Encoder.pack`,
  as `MediaPlayer(decode=False)` does), so a publisher costs no encoding. Each frame
  handed to the sender is noted in a `SendLog` (by the frame's last bytes) for the
  latency measurement.
* With `on_request=True` a `ReplayTrack` answers a keyframe request (PLI/FIR) with
  the clip's next keyframe at the next frame, as a browser's encoder answers it with
  a new keyframe: used for join → first decoded frame, where the SFU's request for a
  keyframe must be honoured.
* `Sink` is a subscribe leg that counts RTP without decoding it. aiortc's public
  receive path (`RTCRtpReceiver`) always depayloads, reassembles in a jitter buffer
  and decodes in a thread per track, and its statistics (`getStats()` →
  `inbound-rtp` packetsReceived/packetsLost/jitter) are only fed from that path. So
  the sink stops aiortc's receiver and takes the decrypted RTP at the DTLS transport
  through the engine's own aiortc touch points (`yiyun.media.embedded._aiortc`, the
  same ones `tests/media/simulcast_client.py` uses): per SSRC it counts packets,
  bytes, frames (marker bits) and the extended highest sequence number (loss), and
  matches each frame's last packet against the `SendLog` (latency). It sends no
  NACK (loss is measured before any repair) and one REMB a second.
* `Viewer` is a subscribe leg on aiortc's public API that decodes (first frame).
"""

from __future__ import annotations

import asyncio
import fractions
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from yiyun.media.embedded import _aiortc

VIDEO_CLOCK = 90_000
TAIL = 12  # bytes at the end of a frame that identify it (the end of its last packet)


def new_peer() -> RTCPeerConnection:
    """A client peer: max-bundle like a browser, no STUN server (no network here)."""
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def _gather_options(pc: RTCPeerConnection, loopback: bool) -> None:
    """On a loopback-only run, also offer a 127.0.0.1 candidate (aioice skips it)."""
    if loopback:
        _aiortc.allow_loopback(pc)


# --- the clip ----------------------------------------------------------------------------


def make_clip(
    path: Path, *, width: int, height: int, fps: int, kbps: int, seconds: int, gop: int
) -> Path:
    """Encode the replay clip once with FFmpeg (libvpx VP8, constant bitrate, IVF).

    FFmpeg's `testsrc2` pattern with temporal noise, so the encoder spends the bitrate
    the way a camera picture makes it.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
        "-t", str(seconds), "-vf", "noise=alls=12:allf=t",
        "-c:v", "libvpx", "-b:v", f"{kbps}k", "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k",
        "-bufsize", f"{kbps // 2}k", "-g", str(gop), "-keyint_min", str(gop),
        "-deadline", "realtime", "-cpu-used", "8", "-an", "-f", "ivf", str(part),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    part.rename(path)
    return path


@dataclass(frozen=True)
class Clip:
    """The encoded frames of a VP8 clip, in memory."""

    frames: tuple[bytes, ...]
    keyframes: tuple[int, ...]  # indexes of keyframes
    fps: float
    width: int
    height: int
    path: Path

    @classmethod
    def load(cls, path: Path) -> Clip:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or (1 / stream.time_base if stream.time_base else 30)
            packets = [(bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]
        return cls(
            frames=tuple(data for data, _ in packets),
            keyframes=tuple(i for i, (_, key) in enumerate(packets) if key),
            fps=float(rate),
            width=width,
            height=height,
            path=path,
        )

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    @property
    def keyframe_interval(self) -> int:
        """Frames from one keyframe to the next (the clip is encoded with a fixed GOP)."""
        return len(self.frames) // max(1, len(self.keyframes))

    @property
    def kbps(self) -> float:
        return sum(len(f) for f in self.frames) * 8 / self.seconds / 1000


class SendLog:
    """When each frame was handed to a publisher's RTP sender, keyed by its last bytes.

    Publishers of one run replay the same clip from starting points seconds apart, so
    a key names one frame of one publisher as long as latency stays below that gap;
    a lookup happens when the frame's last packet arrives and finds the latest send.
    """

    def __init__(self) -> None:
        self.sent: dict[bytes, float] = {}

    def note(self, frame: bytes) -> None:
        if len(frame) >= TAIL:
            self.sent[frame[-TAIL:]] = time.perf_counter()

    def lookup(self, tail: bytes) -> float | None:
        return self.sent.get(tail)


class ReplayTrack(MediaStreamTrack):
    """Encoded frames of a `Clip` as `av.Packet`s in real time, looping (no encoder).

    With `on_request=True` a keyframe request (PLI/FIR, see `Publisher`) makes the
    next frame the clip's next keyframe (what follows it decodes normally): a camera
    answering PLI at once, as a browser's encoder does, without encoding anything.
    """

    kind = "video"

    def __init__(
        self, clip: Clip, log: SendLog | None, start_frame: int = 0, *, on_request: bool = False
    ) -> None:
        super().__init__()
        self._clip, self._log, self._on_request = clip, log, on_request
        self._index, self._count = start_frame, 0
        self._t0: float | None = None
        self._jump = False
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._jump = self._on_request

    def _jump_to_keyframe(self) -> None:
        frames = len(self._clip.frames)
        loop, at = divmod(self._index, frames)
        later = [k for k in self._clip.keyframes if k >= at]
        self._index = loop * frames + later[0] if later else (loop + 1) * frames
        self._jump = False

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        else:
            due = self._t0 + self._count / self._clip.fps
            if due > now:
                await asyncio.sleep(due - now)
        if self._jump:
            self._jump_to_keyframe()
        data = self._clip.frames[self._index % len(self._clip.frames)]
        packet = av.Packet(data)
        packet.pts = round(self._count * VIDEO_CLOCK / self._clip.fps)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._index += 1
        self._count += 1
        if self._log is not None:
            self._log.note(data)
        return packet


class Publisher:
    """A publish leg sending one video track."""

    def __init__(self, track: MediaStreamTrack, *, loopback: bool) -> None:
        self.pc = new_peer()
        sender = self.pc.addTrack(track)
        self.track, self.loopback = track, loopback
        if isinstance(track, ReplayTrack):
            # aiortc's sender only flags its encoder on PLI/FIR (`_send_keyframe`), and
            # a replay has no encoder: the request goes to the track instead.
            sender._send_keyframe = track.request_keyframe

    async def offer(self) -> str:
        _gather_options(self.pc, self.loopback)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def close(self) -> None:
        self.track.stop()
        await self.pc.close()


# --- subscribers -------------------------------------------------------------------------


@dataclass
class StreamCount:
    """One received RTP stream (SSRC): packets, bytes, frames, extended highest sequence."""

    received: int = 0
    octets: int = 0
    frames: int = 0
    first: int = -1
    highest: int = -1

    def add(self, seq: int, size: int, marker: bool) -> None:
        if self.highest < 0:
            self.first = self.highest = seq
        else:
            delta = (seq - self.highest) & 0xFFFF
            if 0 < delta < 0x8000:
                self.highest += delta
        self.received += 1
        self.octets += size
        self.frames += marker


@dataclass
class Sink:
    """A subscribe leg that counts RTP (no jitter buffer, no decoder, no NACK)."""

    log: SendLog | None = None
    loopback: bool = False
    pc: RTCPeerConnection = field(init=False)
    streams: dict[int, StreamCount] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, frames since last reset
    unmatched: int = 0  # frames whose last packet matched no frame sent in the last second
    short: int = 0  # frames whose last packet carries fewer than TAIL bytes of VP8 data
    rtcp_packets: int = 0
    first_packet_at: float | None = None

    def __post_init__(self) -> None:
        self.pc = new_peer()
        self._ssrc = random.getrandbits(32)
        self._dtls: object | None = None

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        _aiortc.detach_media(self.pc)  # no receiver, jitter buffer or decoder thread
        dtls = _aiortc.transport_of(self.pc)
        if dtls is None:
            raise RuntimeError("the subscription offer has no media section")
        _aiortc.intercept(dtls, self._on_rtp, self._on_rtcp)
        self._dtls = dtls
        _gather_options(self.pc, self.loopback)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        now = time.perf_counter()
        if len(data) < 12:
            return
        ssrc = int.from_bytes(data[8:12], "big")
        stream = self.streams.get(ssrc)
        if stream is None:
            stream = self.streams[ssrc] = StreamCount()
            if self.first_packet_at is None:
                self.first_packet_at = now
        marker = bool(data[1] & 0x80)
        stream.add((data[2] << 8) | data[3], len(data), marker)
        if marker and self.log is not None:
            self._match(data, now)

    def _match(self, data: bytes, now: float) -> None:
        """Latency of the frame this last packet ends (RTP and VP8 headers skipped)."""
        start = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10:  # header extension
            start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)  # RTP padding
        if start < end and data[start] & 0x80:  # VP8 payload descriptor, RFC 7741
            ext = data[start + 1] if start + 1 < end else 0
            start += 2
            if ext & 0x80:  # picture id, 1 or 2 bytes
                start += 2 if start < end and data[start] & 0x80 else 1
            start += bool(ext & 0x40) + bool(ext & 0x30)  # TL0PICIDX, TID/KEYIDX
        else:
            start += 1
        if end - start < TAIL:
            self.short += 1
            return
        sent = self.log.lookup(data[end - TAIL : end]) if self.log is not None else None
        if sent is not None and 0 <= now - sent < 1.0:
            self.latencies.append(now - sent)
        else:
            self.unmatched += 1

    async def _on_rtcp(self, data: bytes) -> None:
        self.rtcp_packets += 1

    async def send_remb(self, bitrate_bps: int) -> None:
        """Tell the SFU what this subscriber can take (aiortc's sender adapts its encoder)."""
        if self._dtls is None or not self.streams:
            return
        packet = _aiortc.RtcpPsfbPacket(
            fmt=_aiortc.RTCP_PSFB_APP,
            ssrc=self._ssrc,
            media_ssrc=0,
            fci=_aiortc.pack_remb_fci(bitrate_bps, list(self.streams)),
        )
        await _aiortc.send_rtp(self._dtls, bytes(packet))  # type: ignore[arg-type]

    def snapshot(self) -> dict[int, tuple[int, int, int, int]]:
        """Per SSRC: (received, extended highest sequence, octets, frames)."""
        return {
            ssrc: (s.received, s.highest, s.octets, s.frames) for ssrc, s in self.streams.items()
        }

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    """A subscribe leg on aiortc's public API that decodes what it receives."""

    def __init__(self, *, loopback: bool) -> None:
        self.pc = new_peer()
        self.loopback = loopback
        self.tracks: list[MediaStreamTrack] = []
        self._video = asyncio.Event()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tracks.append(track)
        if track.kind == "video":
            self._video.set()

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        _gather_options(self.pc, self.loopback)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def first_frame(self, within: float) -> av.VideoFrame | None:
        """The first decoded video frame (None if none within `within` seconds)."""
        try:
            async with asyncio.timeout(within):
                await self._video.wait()
                video = next(t for t in self.tracks if t.kind == "video")
                frame = await video.recv()
        except (TimeoutError, MediaStreamError):
            return None
        return frame if isinstance(frame, av.VideoFrame) else None

    async def close(self) -> None:
        await self.pc.close()
