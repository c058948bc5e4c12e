"""Writing a recording's one Matroska file from encoded frames, without re-encoding.

Every engine ends a recording the same way: a list of `TrackInput`s (one per
participant and kind that carried media: its codec, clock and a way to read its
encoded frames in order) goes to `write_matroska`, which interleaves the tracks by
time and muxes the frames as they are (VP8 and Opus packets straight into the file,
keyframe flags kept), each stream titled `"<participant_id>:<kind>"`.

Matroska declares its tracks in the header, so frames cannot go straight into the
final file while participants come and go: the embedded engine appends each track's
frames to a `FrameLog` on disk while recording and writes the file at the end; Janus
writes `.mjr` files that `janus-pp-rec` turns into one file per track and segment.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, NamedTuple

import av

from yiyun.media.engine import MediaKind

NOTE_TITLE = "yiyun:note"  # the subtitle stream of a recording without media
_RECORD = struct.Struct("<qBI")  # pts, flags (1 = keyframe), length
_CODECS = {"vp8": "video", "opus": "audio"}


class Frame(NamedTuple):
    """One encoded frame; `pts` counts the track's clock (90 kHz video, 48 kHz audio)."""

    pts: int
    keyframe: bool
    data: bytes


@dataclass(frozen=True)
class TrackInput:
    """A track to write: whose, what codec, and its frames (pts strictly increasing)."""

    participant_id: str
    kind: MediaKind
    codec: str  # "vp8" or "opus"
    clock_rate: int
    frames: Callable[[], Iterator[Frame]]
    width: int = 0
    height: int = 0

    @property
    def title(self) -> str:
        return f"{self.participant_id}:{self.kind}"


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe's header (RFC 6386 9.1); None otherwise."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class FrameLog:
    """An append-only file of one track's frames (pts, keyframe flag, bytes).

    Written from one thread at a time; read back with `frames()` once closed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.last_pts: int | None = None
        self._file: BinaryIO | None = None

    def append(self, frame: Frame) -> bool:
        """Write one frame; False (and nothing written) unless its pts is the newest."""
        if self.last_pts is not None and frame.pts <= self.last_pts:
            return False
        if self._file is None:
            self._file = self.path.open("ab")
        self._file.write(_RECORD.pack(frame.pts, int(frame.keyframe), len(frame.data)))
        self._file.write(frame.data)
        self.last_pts = frame.pts
        self.count += 1
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def frames(self) -> Iterator[Frame]:
        if not self.count:
            return
        with self.path.open("rb") as file:
            while header := file.read(_RECORD.size):
                pts, flags, length = _RECORD.unpack(header)
                yield Frame(pts, bool(flags & 1), file.read(length))


def _timed(index: int, track: TrackInput) -> Iterator[tuple[Fraction, int, Frame]]:
    for frame in track.frames():
        yield Fraction(frame.pts, track.clock_rate), index, frame


def write_matroska(path: Path, tracks: Sequence[TrackInput], *, note: str) -> Path:
    """Mux `tracks` into one Matroska file at `path`, interleaved by time; no re-encoding.

    Without any track the file holds one subtitle cue, `note` (Matroska needs a
    track with data to be a valid file). Blocking: call it from a worker thread.
    """
    for track in tracks:
        if _CODECS.get(track.codec) != track.kind:
            raise ValueError(f"cannot record {track.kind} in {track.codec}")
    tmp = path.with_name(path.name + ".part")
    try:
        _mux(tmp, tracks, note)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def _mux(path: Path, tracks: Sequence[TrackInput], note: str) -> None:
    with av.open(str(path), "w", format="matroska") as out:
        streams = []
        for track in tracks:
            if track.kind == "video":
                stream = out.add_mux_stream(track.codec, width=track.width, height=track.height)
            else:
                stream = out.add_mux_stream(track.codec, rate=track.clock_rate)
            stream.metadata["title"] = track.title
            streams.append(stream)
        if not tracks:
            stream = out.add_mux_stream("webvtt")
            stream.metadata["title"] = NOTE_TITLE
            packet = av.Packet(note.encode())
            packet.stream, packet.pts, packet.dts, packet.duration = stream, 0, 0, 1000
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
        merged = heapq.merge(*(_timed(i, t) for i, t in enumerate(tracks)))
        for _, index, frame in merged:
            packet = av.Packet(frame.data)
            packet.stream = streams[index]
            packet.pts = packet.dts = frame.pts
            packet.time_base = Fraction(1, tracks[index].clock_rate)
            packet.is_keyframe = frame.keyframe
            out.mux(packet)
