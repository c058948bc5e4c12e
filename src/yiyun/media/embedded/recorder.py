"""Recording in the embedded engine: RTP of included participants → frames → one file.

The room hands a `Recorder` only the packets of participants the recording includes,
while it is not paused and the publication is not muted (`Room.on_media`); nothing
else ever reaches it. For each participant and kind (a *capture*) it:

* follows one stream: the single one, or the highest simulcast layer that is live,
  moving only at a keyframe; a new publication of the same kind (re-publishing)
  takes over once the old one's leg is closed or silent;
* depacketises without decoding: an Opus packet is a frame; a VP8 frame is
  reassembled from its packets (RFC 7741: the S bit starts it, the marker ends it).
  A frame missing a packet is dropped with everything after it up to the next
  keyframe, which is asked for at once (PLI through the room), as it is at the start
  and after a pause, a mute or a change of who is included;
* stamps each frame from its RTP timestamp (90 kHz video, 48 kHz audio), anchored at
  the wall-clock arrival of the stream's first packet, so every track shares one
  timeline from the start of the recording and pauses stay gaps;
* appends frames to its `FrameLog` on the recording's writer thread, so file I/O
  stays off the event loop.

`finish()` closes the logs and writes the Matroska file, also on the writer thread.
Only VP8 video and Opus audio are recorded (the codecs Yiyun's clients send).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from yiyun.media.embedded import _aiortc
from yiyun.media.embedded._aiortc import RtpPacket
from yiyun.media.embedded.forwarder import SEQ_MOD, TS_MOD, parse_vp8
from yiyun.media.embedded.room import Source, Track
from yiyun.media.engine import MediaError
from yiyun.media.matroska import Frame, FrameLog, TrackInput, vp8_size, write_matroska
from yiyun.media.recording import EMPTY_NOTE, Recording

logger = logging.getLogger(__name__)

STALE_S = 1.0  # a capture's stream silent this long may be replaced by another
CODECS = {"VP8": "vp8", "OPUS": "opus"}


class Vp8Assembler:
    """Whole VP8 frames from the RTP packets of one stream.

    Packets may be reordered within a frame. `lost` turns True when a frame cannot be
    complete any more, or a whole frame went missing between two complete ones.
    """

    def __init__(self) -> None:
        self.lost = False
        self._ts: int | None = None
        self._done = False
        self._parts: dict[int, bytes] = {}
        self._first: int | None = None
        self._last: int | None = None
        self._keyframe = False
        self._expect: int | None = None  # first sequence number of the next frame

    def _begin(self, ts: int) -> None:
        if self._parts and not self._done:
            self.lost = True  # the frame before never completed
        self._ts, self._done, self._parts = ts, False, {}
        self._first = self._last = None

    def push(self, seq: int, ts: int, marker: bool, payload: bytes) -> tuple[bytes, bool] | None:
        """A packet in; (frame, keyframe) out when it completes a frame."""
        if self._ts is None or ts != self._ts:
            if self._ts is not None and (ts - self._ts) % TS_MOD >= TS_MOD // 2:
                return None  # a late packet of a frame already finished or given up
            self._begin(ts)
        if self._done:
            return None  # a duplicate of a packet of a finished frame
        desc = parse_vp8(payload)
        try:
            data = _aiortc.vp8_depayload(payload)
        except ValueError:
            desc = None
        if desc is None:
            self.lost = True
            return None
        self._parts[seq] = data
        if desc.start:
            self._first, self._keyframe = seq, desc.keyframe
        if marker:
            self._last = seq
        if self._first is None or self._last is None:
            return None
        count = (self._last - self._first) % SEQ_MOD + 1
        seqs = [(self._first + i) % SEQ_MOD for i in range(count)]
        if any(s not in self._parts for s in seqs):
            return None
        if self._expect is not None and self._first != self._expect:
            self.lost = True  # whole frames went missing before this one
        self._expect = (self._last + 1) % SEQ_MOD
        self._done = True
        frame = b"".join(self._parts[s] for s in seqs)
        self._parts = {}
        return frame, self._keyframe


@dataclass(eq=False)
class _Capture:
    """One participant's audio or video in the recording."""

    log: FrameLog
    codec: str
    clock_rate: int
    track: Track | None = None
    layer: str | None = None
    ssrc: int | None = None
    anchor: tuple[int, int] = (0, 0)  # (RTP timestamp, pts) of the newest packet
    last_packet_at: float = float("-inf")
    assembler: Vp8Assembler = field(default_factory=Vp8Assembler)
    need_keyframe: bool = True
    width: int = 0
    height: int = 0
    last_pts: int = -1  # of the newest frame handed to the writer

    def restart(self) -> None:
        """Media stopped reaching us for a while: resume video at a keyframe."""
        self.assembler = Vp8Assembler()
        self.need_keyframe = True


@dataclass(eq=False)
class Recorder(Recording):
    """A recording of one embedded room (see the module docstring)."""

    captures: dict[tuple[str, str], _Capture] = field(default_factory=dict)
    error: OSError | None = None
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="recording")
    )
    _unsupported: set[str] = field(default_factory=set)

    def wants(self, track: Track) -> bool:
        return not self.paused and self.includes(track.publisher)

    def interrupt(self) -> None:
        """Packets are about to be skipped (pause, mute, consent): restart at keyframes."""
        for capture in self.captures.values():
            capture.restart()

    def _capture(self, track: Track, codec: str) -> _Capture:
        key = (track.publisher, track.kind)
        capture = self.captures.get(key)
        if capture is None:
            n = len(self.captures)
            capture = _Capture(
                FrameLog(self.workdir / f"{n}-{track.kind}.frames"),
                codec,
                90_000 if track.kind == "video" else 48_000,
            )
            self.captures[key] = capture
        return capture

    def on_packet(
        self, track: Track, source: Source, packet: RtpPacket, codec_name: str, now: float
    ) -> bool:
        """Take one packet of an included participant; True asks the room for a keyframe."""
        codec = CODECS.get(codec_name.upper())
        if codec is None:
            if codec_name not in self._unsupported:
                self._unsupported.add(codec_name)
                logger.warning("a recording skips %s: only VP8 and Opus are recorded", codec_name)
            return False
        capture = self._capture(track, codec)
        if capture.track is not track:
            old = capture.track
            if old is not None and not old.leg.closed and now - capture.last_packet_at < STALE_S:
                return False  # another publication of this kind is being recorded
            capture.track, capture.layer, capture.ssrc = track, None, None
            capture.restart()
        video = track.kind == "video"
        if source.layer != capture.layer:
            current = capture.layer
            better = current is None or current not in track.live_layers(now)
            if current is not None and not better:
                better = track.layers.index(source.layer) > track.layers.index(current)
            if not better:
                return False
            starts = parse_vp8(packet.payload) if video else None
            if video and (starts is None or not starts.keyframe):
                return current is None  # nothing recorded yet: ask for a keyframe
            capture.layer = source.layer
            capture.restart()
        capture.last_packet_at = now
        if packet.ssrc != capture.ssrc:  # a new stream: anchor its clock at its arrival
            capture.ssrc = packet.ssrc
            at = round((now - self.started_at) * capture.clock_rate)
            capture.anchor = (packet.timestamp, max(at, capture.last_pts + 1))
        delta = (packet.timestamp - capture.anchor[0]) % TS_MOD
        if delta >= TS_MOD // 2:
            delta -= TS_MOD
        pts = capture.anchor[1] + delta
        if delta > 0:
            capture.anchor = (packet.timestamp, pts)
        if not video:
            if packet.payload:
                self._write(capture, Frame(pts, True, packet.payload))
            return False
        done = capture.assembler.push(
            packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload
        )
        ask = False
        if capture.assembler.lost:
            capture.assembler.lost = False
            capture.need_keyframe = ask = True
        if done is None:
            return ask
        data, keyframe = done
        if capture.need_keyframe and not keyframe:
            return True
        capture.need_keyframe = False
        if keyframe and not capture.width and (size := vp8_size(data)) is not None:
            capture.width, capture.height = size
        self._write(capture, Frame(pts, keyframe, data))
        return ask

    def _write(self, capture: _Capture, frame: Frame) -> None:
        if frame.pts <= capture.last_pts:
            return
        capture.last_pts = frame.pts
        self._writer.submit(self._append, capture.log, frame)

    def _append(self, log: FrameLog, frame: Frame) -> None:  # on the writer thread
        if self.error is not None:
            return
        try:
            log.append(frame)
        except OSError as exc:
            self.error = exc
            logger.error("recording %s cannot write: %s", self.recording_id, exc)

    def _tracks(self) -> list[TrackInput]:
        return [
            TrackInput(
                participant_id=pid,
                kind="video" if kind == "video" else "audio",
                codec=capture.codec,
                clock_rate=capture.clock_rate,
                frames=capture.log.frames,
                width=capture.width,
                height=capture.height,
            )
            for (pid, kind), capture in sorted(self.captures.items())
            if capture.log.count
        ]

    def _finish(self) -> Path:  # on the writer thread, after every queued write
        self._close_logs()
        try:
            if self.error is not None:
                raise MediaError(f"the recording could not be written: {self.error}")
            return write_matroska(self.output, self._tracks(), note=EMPTY_NOTE)
        finally:  # the frame logs are plaintext media: never left behind
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def finish(self) -> Path:
        """Write the file (off the event loop) and end the writer thread."""
        try:
            return await asyncio.wrap_future(self._writer.submit(self._finish))
        finally:
            self._writer.shutdown(wait=False)

    def _close_logs(self) -> None:  # on the writer thread
        for capture in self.captures.values():
            capture.log.close()

    async def abandon(self) -> None:
        """Close the logs and end the writer, leaving the working files where they are."""
        try:
            await asyncio.wrap_future(self._writer.submit(self._close_logs))
        finally:
            self._writer.shutdown(wait=False)
