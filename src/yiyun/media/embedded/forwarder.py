"""Per subscriber-track RTP rewriting: one continuous outgoing stream from switching sources.

A `Forwarder` feeds one sending m-section of a subscriber leg. Its *sources* are the
incoming streams of one publication: the single stream of a plain track, or the
simulcast layers (keyed by rid). It forwards one source at a time and rewrites each
packet so the subscriber sees one stream with its own SSRC and payload type (done by
the caller), and with continuous:

* sequence numbers — `out = in + seq_offset (mod 2**16)`; a new offset is chosen at
  every switch so the first packet of the new source follows the last one sent;
* timestamps — `out = in + ts_offset (mod 2**32)`; at a switch the gap since the last
  packet sent (wall clock x clock rate) is preserved;
* VP8 picture ids and TL0PICIDX — rewritten the same way, so a decoder never sees
  picture ids jump backwards when layers change.

A switch (layer change, resume after OFF or last-N, first packet) happens only at the
start of a keyframe of the target source; until then the current source keeps
flowing. A subscriber starting from nothing may begin on a lower layer's keyframe
(`interim`) and move up at the target's keyframe, so a late joiner sees video at
once. Audio needs no keyframe. Nothing here decodes media: a keyframe is recognised
from the VP8 payload descriptor or the H.264 NAL header.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple, Protocol

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number `a` comes after `b` (RFC 3550 wrap-around)."""
    return a != b and ((a - b) % SEQ_MOD) < SEQ_MOD // 2


class RtpLike(Protocol):
    sequence_number: int
    timestamp: int
    marker: int
    payload: bytes


class Rewritten(NamedTuple):
    sequence_number: int
    timestamp: int
    marker: int
    payload: bytes


# --- codec inspection (no decoding) ------------------------------------------------


@dataclass(frozen=True)
class Vp8Descriptor:
    """The parts of an RFC 7741 payload descriptor an SFU rewrites or reads."""

    start: bool  # S bit with partition index 0: first packet of a frame
    keyframe: bool
    picture_id: int | None
    picture_id_bits: int  # 7 or 15
    picture_id_at: int  # byte offset of the picture id, 0 when absent
    tl0picidx: int | None
    tl0picidx_at: int


def parse_vp8(payload: bytes) -> Vp8Descriptor | None:
    """Parse the VP8 payload descriptor; None when the payload is too short."""
    if not payload:
        return None
    b0 = payload[0]
    pos = 1
    picture_id: int | None = None
    bits = 0
    pid_at = tl0_at = 0
    tl0: int | None = None
    if b0 & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id
            if len(payload) <= pos:
                return None
            pid_at = pos
            if payload[pos] & 0x80:  # M: 15-bit picture id
                if len(payload) <= pos + 1:
                    return None
                picture_id = ((payload[pos] & 0x7F) << 8) | payload[pos + 1]
                bits = 15
                pos += 2
            else:
                picture_id = payload[pos] & 0x7F
                bits = 7
                pos += 1
        if ext & 0x40:  # L: TL0PICIDX
            if len(payload) <= pos:
                return None
            tl0_at = pos
            tl0 = payload[pos]
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX byte
            pos += 1
    start = bool(b0 & 0x10) and (b0 & 0x07) == 0
    keyframe = start and len(payload) > pos and (payload[pos] & 0x01) == 0
    return Vp8Descriptor(start, keyframe, picture_id, bits, pid_at, tl0, tl0_at)


_H264_KEY_NALS = (5, 7)  # IDR slice, sequence parameter set


def h264_keyframe(payload: bytes) -> bool:
    """True for a packet that starts an H.264 keyframe (IDR or SPS first)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in _H264_KEY_NALS:
        return True
    if nal == 24:  # STAP-A: [size(2) nal ...]*
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in _H264_KEY_NALS:
                return True
            pos += 2 + size
        return False
    if nal == 28 and len(payload) > 1:  # FU-A: start bit and original NAL type
        return bool(payload[1] & 0x80) and (payload[1] & 0x1F) in _H264_KEY_NALS
    return False


def is_keyframe(codec: str, payload: bytes) -> bool:
    """Whether this packet may start a stream for a new receiver."""
    name = codec.upper()
    if name == "VP8":
        desc = parse_vp8(payload)
        return desc is not None and desc.keyframe
    if name == "H264":
        return h264_keyframe(payload)
    return name not in ("VP9", "AV1")  # audio: any packet; unknown video: never


class _Vp8Ids:
    """Keeps VP8 picture ids and TL0PICIDX continuous across source switches."""

    def __init__(self) -> None:
        self.pid_offset = 0
        self.tl0_offset = 0
        self.last_pid: int | None = None
        self.last_tl0: int | None = None

    def rebase(self, desc: Vp8Descriptor) -> None:
        if desc.picture_id is not None and self.last_pid is not None:
            mod = 1 << desc.picture_id_bits
            self.pid_offset = (self.last_pid + 1 - desc.picture_id) % mod
        if desc.tl0picidx is not None and self.last_tl0 is not None:
            self.tl0_offset = (self.last_tl0 + 1 - desc.tl0picidx) & 0xFF

    def rewrite(self, payload: bytes) -> bytes:
        desc = parse_vp8(payload)
        if desc is None or (desc.picture_id is None and desc.tl0picidx is None):
            return payload
        if not self.pid_offset and not self.tl0_offset:  # share the publisher's bytes
            self.last_pid = desc.picture_id if desc.picture_id is not None else self.last_pid
            self.last_tl0 = desc.tl0picidx if desc.tl0picidx is not None else self.last_tl0
            return payload
        out = bytearray(payload)
        if desc.picture_id is not None:
            pid = (desc.picture_id + self.pid_offset) % (1 << desc.picture_id_bits)
            if desc.picture_id_bits == 15:
                out[desc.picture_id_at] = 0x80 | (pid >> 8)
                out[desc.picture_id_at + 1] = pid & 0xFF
            else:
                out[desc.picture_id_at] = pid
            self.last_pid = pid
        if desc.tl0picidx is not None:
            tl0 = (desc.tl0picidx + self.tl0_offset) & 0xFF
            out[desc.tl0picidx_at] = tl0
            self.last_tl0 = tl0
        return bytes(out)


class Forwarder:
    """Rewrites the chosen source of one publication into one outgoing stream."""

    def __init__(self, *, codec: str, clock_rate: int, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()  # noqa: S311 - initial RTP values, not secrets
        self.codec = codec.upper()
        self.clock_rate = clock_rate
        self.audio = self.codec in ("OPUS", "G722", "PCMU", "PCMA")
        self.target: str | None = None  # source wanted, None = paused
        self.interim: frozenset[str] = frozenset()  # may start the stream until target flows
        self.current: str | None = None  # source being forwarded
        # RFC 3550 asks for random initial values; the lower half avoids an early wrap.
        self._next_seq = rng.randrange(SEQ_MOD // 2)
        self._next_ts = rng.randrange(TS_MOD)
        self._last_out_seq: int | None = None
        self._last_out_ts = 0
        self._last_out_at: float | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._segment_start = 0  # source seq of the first packet of the current segment
        self._segment_out_start = 0
        self._vp8 = _Vp8Ids() if self.codec == "VP8" else None
        self.packets = 0
        self.octets = 0
        self.switches = 0

    @property
    def needs_keyframe(self) -> bool:
        """The target source is not flowing yet and waits for a keyframe."""
        return self.target is not None and self.current != self.target and not self.audio

    def select(self, source: str | None, *, interim: frozenset[str] = frozenset()) -> None:
        """Choose the source to forward (None pauses at once).

        `interim` sources may start the stream while nothing flows yet (a lower
        simulcast layer whose keyframe comes first); the target still replaces them
        at its own keyframe.
        """
        self.target = source
        self.interim = interim
        if source is None:
            self.current = None

    def _start_segment(self, source: str, packet: RtpLike, now: float) -> None:
        if self._last_out_seq is not None and self._last_out_at is not None:
            self._next_seq = (self._last_out_seq + 1) % SEQ_MOD
            gap = max(1, round((now - self._last_out_at) * self.clock_rate))
            self._next_ts = (self._last_out_ts + gap) % TS_MOD
        self._seq_offset = (self._next_seq - packet.sequence_number) % SEQ_MOD
        self._ts_offset = (self._next_ts - packet.timestamp) % TS_MOD
        self._segment_start = packet.sequence_number
        self._segment_out_start = self._next_seq
        if self._vp8 is not None:
            desc = parse_vp8(packet.payload)
            if desc is not None:
                self._vp8.rebase(desc)
        if self.current is not None or self.packets:
            self.switches += 1
        self.current = source

    def forward(
        self, source: str, packet: RtpLike, *, keyframe: bool, now: float
    ) -> Rewritten | None:
        """The rewritten packet to send, or None to drop it for this subscriber."""
        if self.target is None:
            return None
        if source != self.current:
            starts = source == self.target or (self.current is None and source in self.interim)
            if not starts or not (keyframe or self.audio):
                return None
            self._start_segment(source, packet, now)
        if seq_newer(self._segment_start, packet.sequence_number):
            return None  # older than the switch: those numbers belong to the last source
        seq = (packet.sequence_number + self._seq_offset) % SEQ_MOD
        ts = (packet.timestamp + self._ts_offset) % TS_MOD
        payload = self._vp8.rewrite(packet.payload) if self._vp8 is not None else packet.payload
        if self._last_out_seq is None or seq_newer(seq, self._last_out_seq):
            self._last_out_seq = seq
            self._last_out_ts = ts
            self._last_out_at = now
        self.packets += 1
        self.octets += len(payload)
        return Rewritten(seq, ts, packet.marker, payload)

    def source_seq(self, out_seq: int) -> tuple[str, int] | None:
        """Map a sent sequence number back to (source, source seq), for upstream NACKs."""
        if self.current is None or self._last_out_seq is None:
            return None
        if seq_newer(self._segment_out_start, out_seq) or seq_newer(out_seq, self._last_out_seq):
            return None
        return self.current, (out_seq - self._seq_offset) % SEQ_MOD

    def out_timestamp(self, source_ts: int) -> int:
        """A source RTP timestamp on the outgoing timeline (to translate sender reports)."""
        return (source_ts + self._ts_offset) % TS_MOD

    @property
    def last_sent(self) -> tuple[int, float] | None:
        """(timestamp, wall time) of the newest packet sent."""
        if self._last_out_at is None:
            return None
        return self._last_out_ts, self._last_out_at
