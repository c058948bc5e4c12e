"""What the chair controls on Janus: server-side mute and recording.

* **Mute** is VideoRoom's `moderate` (per published mid), sent on the node's control
  handle: Janus then neither forwards nor records that stream. The kinds a chair
  muted are kept per participant and applied again each time it publishes (new
  streams start unmoderated); unmuting video also sends the publisher a keyframe
  request (`configure` with `keyframe`), so subscribers see it again at once.
* **Recording** is VideoRoom's per-publisher recording: `configure` with `record`
  and `filename` on each included participant's own publisher handle makes Janus
  write `<filename>-<audio|video>-<mindex>.mjr`. Every start (the recording starts,
  resumes, the participant is included or rejoins) opens a new *segment* under the
  recording's working folder; pausing, excluding a participant or stopping sends
  `record: false`, which closes its files. At the end each `.mjr` is turned into a
  Matroska file by `janus-pp-rec` (Debian package `janus-tools`), and the segments
  are remuxed, without re-encoding, into the recording's one file, placed on the
  recording's timeline by the wall-clock time of their first packet (in the `.mjr`
  header). Janus writes the files itself: its recording folder must be the app's
  (same host, or a shared mount).

Only participants that joined through this app node can be recorded (a publisher
handle takes `configure` only from its owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import av

from yiyun.media.engine import (
    EngineUnavailable,
    MediaError,
    MediaKind,
    PublicationsChanged,
    with_mutes,
)
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.client import JanusError
from yiyun.media.janus.events import EngineState
from yiyun.media.janus.rooms import Participant, Room
from yiyun.media.matroska import Frame, TrackInput, write_matroska
from yiyun.media.recording import EMPTY_NOTE, Recording, Recordings

logger = logging.getLogger(__name__)

PP_REC = "janus-pp-rec"
_KINDS: dict[str, MediaKind] = {"a": "audio", "v": "video"}
_CLOCKS = {"audio": 48_000, "video": 90_000}
_SUFFIX = {"audio": ".mka", "video": ".mkv"}


@dataclass(eq=False)
class JanusRecording(Recording):
    started_wall_us: int = field(default_factory=lambda: time.time_ns() // 1000)
    segments: list[tuple[str, Path]] = field(default_factory=list)  # (participant, base)
    writing: set[str] = field(default_factory=set)  # participants Janus records now

    def next_base(self, participant_id: str) -> Path:
        base = self.workdir / f"s{len(self.segments)}"
        self.segments.append((participant_id, base))
        return base


def mjr_header(path: Path) -> dict[str, object] | None:
    """The JSON header of a Janus `.mjr` recording; None if no packet was ever written."""
    with path.open("rb") as file:
        if file.read(8) != b"MJR00002":
            return None
        size = int.from_bytes(file.read(2), "big")
        try:
            info = json.loads(file.read(size))
        except ValueError:
            return None
    return info if isinstance(info, dict) else None


@dataclass(frozen=True)
class Segment:
    """A converted `.mjr`: one participant's audio or video between a start and a stop."""

    participant_id: str
    kind: MediaKind
    codec: str
    first_packet_us: int
    path: Path


def _frames(segments: list[Segment], origin_us: int, clock: int) -> Iterator[Frame]:
    """Packets of consecutive segments on the recording's timeline (clock units).

    Video starts each segment at its first keyframe: Janus records from whatever
    packet comes first, and a decoder cannot start on anything else.
    """
    last = -1
    for seg in segments:
        offset = Fraction(max(0, seg.first_packet_us - origin_us), 1_000_000)
        with av.open(str(seg.path)) as container:
            stream = container.streams[0]
            time_base = stream.time_base or Fraction(1, 1000)
            first: Fraction | None = None
            waiting = seg.kind == "video"
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                at = packet.pts * time_base
                if first is None:  # the segment's first packet is the header's time
                    first = at
                waiting = waiting and not packet.is_keyframe
                if waiting:
                    continue
                pts = round((offset + at - first) * clock)
                if pts > last:
                    last = pts
                    yield Frame(pts, packet.is_keyframe, bytes(packet))


def assemble(rec: JanusRecording, segments: list[Segment]) -> Path:
    """Remux converted segments into the recording's file (blocking: a worker thread)."""
    tracks = []
    by_track: dict[tuple[str, MediaKind], list[Segment]] = {}
    for seg in sorted(segments, key=lambda s: s.first_packet_us):
        by_track.setdefault((seg.participant_id, seg.kind), []).append(seg)
    for (pid, kind), segs in sorted(by_track.items()):
        width = height = 0
        if kind == "video":
            with av.open(str(segs[0].path)) as container:
                ctx = container.streams[0].codec_context
                width, height = ctx.width, ctx.height  # type: ignore[attr-defined]
        clock = _CLOCKS[kind]
        tracks.append(
            TrackInput(
                participant_id=pid,
                kind=kind,
                codec=segs[0].codec,
                clock_rate=clock,
                frames=partial(_frames, segs, rec.started_wall_us, clock),
                width=width,
                height=height,
            )
        )
    path = write_matroska(rec.output, tracks, note=EMPTY_NOTE)
    shutil.rmtree(rec.workdir, ignore_errors=True)
    return path


async def convert(pp_rec: str, participant_id: str, mjr: Path) -> Segment | None:
    """One `.mjr` through `janus-pp-rec`; None when it holds nothing to record."""
    info = mjr_header(mjr)
    kind = _KINDS.get(str(info.get("t"))) if info else None
    if info is None or kind is None:
        return None
    codec = str(info.get("c", "")).lower()
    if codec not in ("vp8", "opus"):
        logger.warning("a recording skips %s: only VP8 and Opus are recorded", codec)
        return None
    out = mjr.with_suffix(_SUFFIX[kind])
    proc = await asyncio.create_subprocess_exec(
        pp_rec,
        "--debug-level=2",
        str(mjr),
        str(out),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    log, _ = await proc.communicate()
    if proc.returncode != 0 or not out.exists():
        logger.warning("janus-pp-rec could not convert a segment: %s", log.decode()[-300:])
        return None
    first = info.get("u")
    return Segment(participant_id, kind, codec, int(first) if isinstance(first, int) else 0, out)


class ChairControls(EngineState):
    """Mute and recording for `JanusEngine` (see the module docstring)."""

    def __init__(self, *, pp_rec: str = PP_REC) -> None:
        super().__init__()
        self._pp_rec = pp_rec
        self._recordings: Recordings[JanusRecording] = Recordings()

    # --- mute ---------------------------------------------------------------------------

    async def _moderate(self, room: Room, participant_id: str, kind: str, mute: bool) -> None:
        part = room.participants[participant_id]
        if not part.published:
            return  # applied when it publishes
        control = room.node.require_control()
        for mid in part.mids.get(kind, []):
            request = vr.Moderate(room=room.spec.room_id, id=participant_id, mid=mid, mute=mute)
            try:
                await vr.call(control, request)
            except JanusError as exc:
                if exc.janus_code != vr.NO_SUCH_FEED:  # not set up yet: set on publish
                    raise
        if kind == "video" and not mute:
            await vr.call(part.handle, vr.Configure(keyframe=True))

    async def _apply_mutes(self, room: Room, participant_id: str) -> None:
        """After a publish: its new streams start unmoderated; mute what the chair muted."""
        part = room.participants[participant_id]
        part.publications = with_mutes(part.publications, part.muted)
        for kind in sorted(part.muted):
            await self._moderate(room, participant_id, kind, True)

    async def set_muted(
        self, room_id: str, participant_id: str, kind: MediaKind, muted: bool
    ) -> None:
        room = self._room(room_id)
        part = self._participant(room, participant_id)
        if (kind in part.muted) == muted:
            return
        await self._moderate(room, participant_id, kind, muted)
        if muted:
            part.muted.add(kind)
        else:
            part.muted.discard(kind)
        part.publications = with_mutes(part.publications, part.muted)
        if any(p.kind == kind for p in part.publications):
            pubs = tuple(part.publications)
            await self._emit(PublicationsChanged(room_id, participant_id, pubs))

    # --- recording ----------------------------------------------------------------------

    async def _record(self, room: Room, rec: JanusRecording, pid: str, on: bool) -> None:
        """Start (a new segment) or stop Janus recording one local participant."""
        part: Participant | None = room.participants.get(pid)
        if part is None or (pid in rec.writing) == on:
            return
        if on:
            request = vr.Configure(record=True, filename=str(rec.next_base(pid)))
            rec.writing.add(pid)
        else:
            request = vr.Configure(record=False)
            rec.writing.discard(pid)
        vr.Configured.parse((await vr.call(part.handle, request)).data)

    async def _sync_recording(self, room: Room, rec: JanusRecording) -> None:
        for pid in sorted(set(room.participants) | rec.writing):
            await self._record(room, rec, pid, rec.includes(pid) and not rec.paused)

    async def _recording_on_join(self, room: Room, participant_id: str) -> None:
        """A participant (re)joined: Janus forgot its recording state; set it again."""
        rec = self._recordings.of_room(room.spec.room_id)
        if rec is not None:
            rec.writing.discard(participant_id)
            await self._sync_recording(room, rec)

    async def start_recording(
        self,
        room_id: str,
        recording_id: str,
        participant_ids: Collection[str],
        directory: Path,
    ) -> None:
        room = self._room(room_id)
        if shutil.which(self._pp_rec) is None:
            raise EngineUnavailable(
                f"{self._pp_rec} not found: Janus recordings need it "
                "(install the Debian package `janus-tools`)"
            )
        rec = JanusRecording(room_id, recording_id, directory, frozenset(participant_ids))
        self._recordings.start(rec)
        try:
            await self._sync_recording(room, rec)
        except MediaError:
            self._recordings.pop(room_id, recording_id)
            with contextlib.suppress(MediaError):
                for pid in list(rec.writing):
                    await self._record(room, rec, pid, False)
            raise

    async def _change(self, room_id: str, recording_id: str, **changes: object) -> None:
        rec = self._recordings.get(room_id, recording_id)
        for name, value in changes.items():
            setattr(rec, name, value)
        room = self._rooms.get(room_id)
        if room is not None:
            await self._sync_recording(room, rec)

    async def set_recording_participants(
        self, room_id: str, recording_id: str, participant_ids: Collection[str]
    ) -> None:
        await self._change(room_id, recording_id, participants=frozenset(participant_ids))

    async def pause_recording(self, room_id: str, recording_id: str) -> None:
        await self._change(room_id, recording_id, paused=True)

    async def resume_recording(self, room_id: str, recording_id: str) -> None:
        await self._change(room_id, recording_id, paused=False)

    async def stop_recording(self, room_id: str, recording_id: str) -> Path:
        rec = self._recordings.pop(room_id, recording_id)
        room = self._rooms.get(room_id)
        for pid in sorted(rec.writing):
            if room is None:
                break
            with contextlib.suppress(MediaError):  # gone, or its node down: files are closed
                await self._record(room, rec, pid, False)
        try:
            converted = []
            for pid, base in rec.segments:
                for mjr in sorted(base.parent.glob(f"{base.name}-*.mjr")):
                    converted.append(await convert(self._pp_rec, pid, mjr))
            segments = [s for s in converted if s is not None]
            return await asyncio.to_thread(assemble, rec, segments)
        finally:  # the .mjr files and janus-pp-rec's output are plaintext media
            await asyncio.to_thread(shutil.rmtree, rec.workdir, True)
