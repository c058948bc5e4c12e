"""Recordings: the bookkeeping every engine shares, and `probe_tracks` to look inside one.

A room has at most one recording at a time, named by the caller. Only the
participants the caller includes (those who consented) are ever written; the set
may change while recording, and the recording may pause. It ends as one Matroska
file, `<directory>/<recording_id>.mkv`, with one stream per included participant's
audio and video that carried media, titled `"<participant_id>:<kind>"`. While it
runs, an engine keeps its working files in `<directory>/.<recording_id>.parts/`.

    await engine.start_recording("room", "rec-1", {"alice"}, Path("/data/rec"))
    await engine.set_recording_participants("room", "rec-1", {"alice", "bob"})
    path = await engine.stop_recording("room", "rec-1")
    probe_tracks(path)   # [("alice:audio", "opus"), ("alice:video", "vp8"), ...]
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import av

from yiyun.core.errors import InvalidInput
from yiyun.media.engine import RecordingActive, RecordingNotFound

RECORDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
EMPTY_NOTE = "Nothing was recorded: no included participant sent media."


def probe_tracks(path: Path) -> list[tuple[str, str]]:
    """(title, codec) of each audio and video stream of a media file, in file order."""
    with av.open(str(path)) as container:
        return [
            (stream.metadata.get("title", ""), stream.codec_context.name)
            for stream in container.streams
            if stream.type in ("audio", "video")
        ]


@dataclass(eq=False)
class Recording:
    """One running recording: where it goes, who is in it, whether it is paused.

    Engines subclass it with what they keep per recording.
    """

    room_id: str
    recording_id: str
    directory: Path
    participants: frozenset[str]
    paused: bool = False
    started_at: float = field(default_factory=time.monotonic)

    @property
    def output(self) -> Path:
        return self.directory / f"{self.recording_id}.mkv"

    @property
    def workdir(self) -> Path:
        return self.directory / f".{self.recording_id}.parts"

    def includes(self, participant_id: str) -> bool:
        return participant_id in self.participants


R = TypeVar("R", bound=Recording)


class Recordings(Generic[R]):
    """An engine's recordings, at most one per room."""

    def __init__(self) -> None:
        self._by_room: dict[str, R] = {}

    def start(self, rec: R) -> R:
        """Check and register a new recording and make its folders."""
        if rec.room_id in self._by_room:
            raise RecordingActive()
        if not RECORDING_ID.fullmatch(rec.recording_id):
            raise InvalidInput(
                "a recording id is 1-128 letters, digits, '.', '_' or '-'",
                code="media.bad_recording_id",
            )
        if rec.output.exists():
            raise InvalidInput(
                "a recording file with this id exists already", code="media.recording_exists"
            )
        rec.workdir.mkdir(parents=True, exist_ok=True)
        self._by_room[rec.room_id] = rec
        return rec

    def get(self, room_id: str, recording_id: str) -> R:
        rec = self._by_room.get(room_id)
        if rec is None or rec.recording_id != recording_id:
            raise RecordingNotFound("no such recording in this media room")
        return rec

    def of_room(self, room_id: str) -> R | None:
        return self._by_room.get(room_id)

    def pop(self, room_id: str, recording_id: str) -> R:
        rec = self.get(room_id, recording_id)
        del self._by_room[room_id]
        return rec

    def all(self) -> list[R]:
        return list(self._by_room.values())
