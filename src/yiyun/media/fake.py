"""`InMemoryEngine`: a media engine without media, for domain and signalling tests.

It keeps the same room/participant/publication bookkeeping and emits the same events
as the real engines, validates SDP with the same rules, and answers with synthetic but
well-formed DTLS-SRTP SDP. It never sends a packet.

Recordings are real Matroska files all the same: the fake notes when each included,
unmuted publication "had media" while the recording ran (not paused) and, at the
end, writes a few synthetic frames for each of those spans at their times
(`synthetic`: a tiny VP8 picture at 10 fps, Opus silence), so a pause is a gap and
`probe_tracks` shows exactly whose tracks are inside. A span shorter than a few
frames is stretched to a few frames.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from yiyun.media import synthetic
from yiyun.media.engine import (
    EngineLoad,
    EventListener,
    IceCandidate,
    Layer,
    Leg,
    MediaKind,
    ParticipantGone,
    ParticipantNotFound,
    ParticipantState,
    Publication,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomNotFound,
    RoomSpec,
    RoomState,
    with_mutes,
)
from yiyun.media.matroska import TrackInput, write_matroska
from yiyun.media.recording import EMPTY_NOTE, Recording, Recordings
from yiyun.media.sdp import check_secure

_FP = ":".join(f"{b:02X}" for b in secrets.token_bytes(32))


_CODEC_LINES = ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")
_DEFAULT_CODECS = {
    "audio": ("111", ["a=rtpmap:111 opus/48000/2"]),
    "video": ("96", ["a=rtpmap:96 VP8/90000"]),
}


def _header(mids: list[str]) -> list[str]:
    return [
        "v=0",
        f"o=- {secrets.randbelow(2**31)} 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=fingerprint:sha-256 {_FP}",
        "a=group:BUNDLE " + " ".join(mids),
    ]


def _section(
    kind: str, mid: str, pts: str, codecs: list[str], *, direction: str, setup: str
) -> list[str]:
    return [
        f"m={kind} 9 UDP/TLS/RTP/SAVPF {pts}",
        "c=IN IP4 0.0.0.0",
        f"a=mid:{mid}",
        f"a={direction}",
        "a=rtcp-mux",
        f"a=setup:{setup}",
        "a=ice-ufrag:fake",
        "a=ice-pwd:fakefakefakefakefakefake",
        *codecs,
    ]


def mirror_answer(offer_sdp: str) -> str:
    """Answer an offer section by section with its own codecs, receive-only."""
    sections: list[list[str]] = []
    for raw in offer_sdp.split("\n"):
        line = raw.rstrip("\r")
        if line.startswith("m="):
            sections.append([line])
        elif sections and (line.startswith(_CODEC_LINES) or line.startswith("a=mid:")):
            sections[-1].append(line)
    out: list[str] = []
    mids: list[str] = []
    for i, sec in enumerate(sections):
        parts = sec[0][2:].split()
        mid = next((x[6:] for x in sec if x.startswith("a=mid:")), str(i))
        mids.append(mid)
        out += _section(
            parts[0],
            mid,
            " ".join(parts[3:]),
            [x for x in sec[1:] if x.startswith(_CODEC_LINES)],
            direction="recvonly",
            setup="active",
        )
    return "\r\n".join(_header(mids) + out) + "\r\n"


def synthetic_offer(kinds: Sequence[tuple[str, str]], owners: Sequence[str] = ()) -> str:
    """A send-only offer with one DTLS-SRTP section per (kind, mid), msid = owner."""
    out: list[str] = []
    for i, (kind, mid) in enumerate(kinds):
        pt, codecs = _DEFAULT_CODECS[kind]
        out += _section(kind, mid, pt, codecs, direction="sendonly", setup="actpass")
        if i < len(owners):
            out.append(f"a=msid:{owners[i]} {owners[i]}-{kind}")
    return "\r\n".join(_header([m for _, m in kinds]) + out) + "\r\n"


@dataclass
class _Participant:
    display_name: str
    publications: list[Publication] = field(default_factory=list)
    layers: dict[str, Layer] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=lambda: {"publish": 0, "subscribe": 0})
    subscribed: bool = False
    muted: set[str] = field(default_factory=set)


@dataclass
class _Room:
    spec: RoomSpec
    participants: dict[str, _Participant] = field(default_factory=dict)


Key = tuple[str, MediaKind]  # (participant, kind)


@dataclass(eq=False)
class _FakeRecording(Recording):
    spans: dict[Key, list[tuple[float, float]]] = field(default_factory=dict)
    since: dict[Key, float] = field(default_factory=dict)  # flowing now, since when

    def flow(self, flowing: set[Key], now: float) -> None:
        """Close the spans of what stopped flowing and open spans for what started."""
        at = now - self.started_at
        for key in set(self.since) - flowing:
            self.spans.setdefault(key, []).append((self.since.pop(key), at))
        for key in flowing - set(self.since):
            self.since[key] = at

    def tracks(self) -> list[TrackInput]:
        out = []
        for (pid, kind), spans in sorted(self.spans.items()):
            frames = synthetic.frames_for(kind, spans)
            video = kind == "video"
            out.append(
                TrackInput(
                    participant_id=pid,
                    kind=kind,
                    codec="vp8" if video else "opus",
                    clock_rate=synthetic.VIDEO_CLOCK if video else synthetic.AUDIO_CLOCK,
                    frames=partial(iter, frames),
                    width=synthetic.SIZE if video else 0,
                    height=synthetic.SIZE if video else 0,
                )
            )
        return out

    def write(self) -> Path:
        path = write_matroska(self.output, self.tracks(), note=EMPTY_NOTE)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return path


class InMemoryEngine:
    name = "fake"

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}
        self._listener: EventListener | None = None
        self._recordings: Recordings[_FakeRecording] = Recordings()

    async def _emit(self, event: object) -> None:
        if self._listener is not None:
            await self._listener(event)  # type: ignore[arg-type]

    def _room(self, room_id: str) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound("media room not found")
        return room

    def _participant(self, room_id: str, participant_id: str) -> _Participant:
        part = self._room(room_id).participants.get(participant_id)
        if part is None:
            raise ParticipantNotFound("participant not in the media room")
        return part

    async def start(self, listener: EventListener) -> None:
        self._listener = listener

    async def close(self) -> None:
        self._rooms.clear()

    async def create_room(self, spec: RoomSpec) -> None:
        self._rooms.setdefault(spec.room_id, _Room(spec))

    async def destroy_room(self, room_id: str) -> None:
        room = self._rooms.pop(room_id, None)
        self._sync(room_id)
        if room is not None:
            for pid in list(room.participants):
                await self._emit(ParticipantGone(room_id, pid, "left"))

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None:
        self._room(room_id).participants.setdefault(participant_id, _Participant(display_name))

    async def _publications_changed(self, room_id: str, participant_id: str) -> None:
        room = self._room(room_id)
        pubs = (
            tuple(room.participants[participant_id].publications)
            if participant_id in room.participants
            else ()
        )
        self._sync(room_id)
        await self._emit(PublicationsChanged(room_id, participant_id, pubs))
        for other_id, other in room.participants.items():
            if other_id != participant_id and other.subscribed:
                await self._emit(RenegotiationNeeded(room_id, other_id))

    def _sync(self, room_id: str) -> None:
        """Tell the room's recording what has media now."""
        rec = self._recordings.of_room(room_id)
        if rec is None:
            return
        room = self._rooms.get(room_id)
        flowing: set[Key] = set()
        if room is not None and not rec.paused:
            flowing = {
                (pid, pub.kind)
                for pid, part in room.participants.items()
                if rec.includes(pid)
                for pub in part.publications
                if not pub.muted
            }
        rec.flow(flowing, time.monotonic())

    async def leave(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None or room.participants.pop(participant_id, None) is None:
            return
        await self._emit(ParticipantGone(room_id, participant_id, "left"))
        await self._publications_changed(room_id, participant_id)

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        part = self._participant(room_id, participant_id)
        checked = check_secure(offer_sdp)
        part.publications = with_mutes(
            (
                Publication(
                    participant_id=participant_id,
                    kind=m.kind,  # type: ignore[arg-type]
                    track_id=f"{participant_id}-{m.mid or i}",
                    simulcast="a=simulcast" in offer_sdp and m.kind == "video",
                )
                for i, m in enumerate(checked.media)
                if m.kind in ("audio", "video")
            ),
            part.muted,
        )
        await self._publications_changed(room_id, participant_id)
        return mirror_answer(offer_sdp)

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        room = self._room(room_id)
        part = self._participant(room_id, participant_id)
        part.subscribed = True
        pubs = [
            p
            for pid, other in room.participants.items()
            if pid != participant_id
            for p in other.publications
        ]
        kinds = [(p.kind, str(i)) for i, p in enumerate(pubs)] or [("audio", "0")]
        return synthetic_offer(kinds, [p.participant_id for p in pubs])

    async def complete_subscribe(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        self._participant(room_id, participant_id)
        check_secure(answer_sdp, kind="answer")

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate | None
    ) -> None:
        self._participant(room_id, participant_id).candidates[leg] += 1

    async def select_layer(
        self, room_id: str, subscriber_id: str, publisher_id: str, layer: Layer
    ) -> None:
        self._participant(room_id, publisher_id)
        self._participant(room_id, subscriber_id).layers[publisher_id] = layer

    async def kick(self, room_id: str, participant_id: str) -> None:
        room = self._room(room_id)
        if room.participants.pop(participant_id, None) is None:
            raise ParticipantNotFound("participant not in the media room")
        await self._emit(ParticipantGone(room_id, participant_id, "kicked"))
        await self._publications_changed(room_id, participant_id)

    async def set_muted(
        self, room_id: str, participant_id: str, kind: MediaKind, muted: bool
    ) -> None:
        part = self._participant(room_id, participant_id)
        if (kind in part.muted) == muted:
            return
        if muted:
            part.muted.add(kind)
        else:
            part.muted.discard(kind)
        part.publications = with_mutes(part.publications, part.muted)
        self._sync(room_id)
        await self._emit(PublicationsChanged(room_id, participant_id, tuple(part.publications)))

    async def start_recording(
        self,
        room_id: str,
        recording_id: str,
        participant_ids: Collection[str],
        directory: Path,
    ) -> None:
        self._room(room_id)
        self._recordings.start(
            _FakeRecording(room_id, recording_id, directory, frozenset(participant_ids))
        )
        self._sync(room_id)

    async def set_recording_participants(
        self, room_id: str, recording_id: str, participant_ids: Collection[str]
    ) -> None:
        self._recordings.get(room_id, recording_id).participants = frozenset(participant_ids)
        self._sync(room_id)

    async def pause_recording(self, room_id: str, recording_id: str) -> None:
        self._recordings.get(room_id, recording_id).paused = True
        self._sync(room_id)

    async def resume_recording(self, room_id: str, recording_id: str) -> None:
        self._recordings.get(room_id, recording_id).paused = False
        self._sync(room_id)

    async def stop_recording(self, room_id: str, recording_id: str) -> Path:
        rec = self._recordings.pop(room_id, recording_id)
        rec.flow(set(), time.monotonic())
        return await asyncio.to_thread(rec.write)

    async def room_state(self, room_id: str) -> RoomState:
        room = self._room(room_id)
        return RoomState(
            room_id=room_id,
            participants=tuple(
                ParticipantState(pid, p.display_name, tuple(p.publications))
                for pid, p in room.participants.items()
            ),
        )

    async def load(self) -> EngineLoad:
        parts = [p for r in self._rooms.values() for p in r.participants.values()]
        return EngineLoad(
            rooms=len(self._rooms),
            participants=len(parts),
            publications=sum(len(p.publications) for p in parts),
        )
