"""The pure parts of mute and recording: no sockets, no media servers.

VP8 frame reassembly from RTP, the frame log, writing and probing Matroska files,
the recording registry's rules, `.mjr` headers, the VideoRoom requests, and the
embedded room's routing (only included, unmuted participants reach the recorder).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from yiyun.core.errors import InvalidInput
from yiyun.media import Publication, RecordingActive, RecordingNotFound, RoomSpec
from yiyun.media.embedded._aiortc import RtpPacket
from yiyun.media.embedded.feedback import ReceiveStats
from yiyun.media.embedded.negotiation import Codec
from yiyun.media.embedded.recorder import Recorder, Vp8Assembler
from yiyun.media.embedded.room import Member, Room, Slot, Source, Track
from yiyun.media.engine import MediaError, with_mutes
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.chair import mjr_header
from yiyun.media.matroska import NOTE_TITLE, Frame, FrameLog, TrackInput, vp8_size, write_matroska
from yiyun.media.recording import Recording, Recordings, probe_tracks
from yiyun.media.synthetic import opus_frames, vp8_frames


@pytest.fixture(scope="module")
def vp8() -> list[Frame]:
    """Real VP8 frames (32x32): a keyframe, then delta frames."""
    return vp8_frames([(0.0, 0.5)])


def packetise(
    frame: bytes, seq: int, ts: int, parts: int = 3
) -> list[tuple[int, int, bool, bytes]]:
    """(seq, ts, marker, payload) of a frame cut in `parts` RTP payloads (RFC 7741)."""
    size = -(-len(frame) // parts)
    chunks = [frame[i : i + size] for i in range(0, len(frame), size)]
    return [
        ((seq + i) % 65536, ts, i == len(chunks) - 1, bytes([0x10 if i == 0 else 0x00]) + chunk)
        for i, chunk in enumerate(chunks)
    ]


# --- VP8 reassembly ----------------------------------------------------------------------


def test_vp8_frames_come_back_whole_even_reordered_within_a_frame(vp8: list[Frame]) -> None:
    asm = Vp8Assembler()
    first = packetise(vp8[0].data, 65534, 1000)  # sequence numbers wrap inside the frame
    out = [asm.push(*p) for p in (first[1], first[0], first[2])]
    assert out[:2] == [None, None] and out[2] == (vp8[0].data, True)
    assert asm.push(*first[1]) is None  # a duplicate after the frame is done
    second = packetise(vp8[1].data, 1, 4000)
    assert [asm.push(*p) for p in second][-1] == (vp8[1].data, False)
    assert asm.push(*first[0]) is None  # a late packet of an older frame
    assert not asm.lost


def test_a_frame_missing_a_packet_is_dropped_and_reported(vp8: list[Frame]) -> None:
    asm = Vp8Assembler()
    broken = packetise(vp8[0].data, 10, 1000)
    assert asm.push(*broken[0]) is None and asm.push(*broken[2]) is None
    nxt = packetise(vp8[1].data, 13, 4000)
    assert [asm.push(*p) for p in nxt][-1] == (vp8[1].data, False)
    assert asm.lost  # the recorder now waits for a keyframe and asks for one


def test_a_whole_frame_missing_is_noticed_from_the_sequence_numbers(vp8: list[Frame]) -> None:
    asm = Vp8Assembler()
    for p in packetise(vp8[0].data, 10, 1000):
        asm.push(*p)
    assert not asm.lost
    for p in packetise(vp8[2].data, 16, 7000):  # 13..15 (a frame) never came
        asm.push(*p)
    assert asm.lost


def test_vp8_sizes_come_from_keyframes_only(vp8: list[Frame]) -> None:
    assert vp8_size(vp8[0].data) == (32, 32)
    assert vp8_size(vp8[1].data) is None
    assert vp8_size(b"\x00" * 5) is None


# --- files ---------------------------------------------------------------------------------


def test_the_frame_log_reads_back_what_was_written_in_order(tmp_path: Path) -> None:
    log = FrameLog(tmp_path / "t.frames")
    assert list(log.frames()) == []
    assert log.append(Frame(10, True, b"abc"))
    assert not log.append(Frame(10, False, b"same time"))
    assert log.append(Frame(20, False, b""))
    log.close()
    assert list(log.frames()) == [Frame(10, True, b"abc"), Frame(20, False, b"")]


def track(pid: str, kind: str, frames: list[Frame]) -> TrackInput:
    video = kind == "video"
    return TrackInput(
        participant_id=pid,
        kind="video" if video else "audio",
        codec="vp8" if video else "opus",
        clock_rate=90_000 if video else 48_000,
        frames=partial(iter, frames),
        width=32 if video else 0,
        height=32 if video else 0,
    )


def test_tracks_are_muxed_as_sent_and_titled_by_participant(
    tmp_path: Path, vp8: list[Frame]
) -> None:
    audio = opus_frames([(0.0, 0.5)])
    path = write_matroska(
        tmp_path / "r.mkv", [track("p-1", "video", vp8), track("p-1", "audio", audio)], note="-"
    )
    assert probe_tracks(path) == [("p-1:video", "vp8"), ("p-1:audio", "opus")]
    with av.open(str(path)) as container:  # packets die with their container
        packets = [
            (p.stream.type, bytes(p), p.is_keyframe, float(p.pts * p.time_base))
            for p in container.demux()
            if p.size and p.pts is not None
        ]
    video = [(data, key) for kind, data, key, _ in packets if kind == "video"]
    assert video == [(f.data, f.keyframe) for f in vp8]  # byte for byte: nothing re-encoded
    order = [at for *_, at in packets]
    assert order == sorted(order)  # interleaved by time
    assert not (tmp_path / "r.mkv.part").exists()


def test_a_recording_without_media_is_a_valid_file_with_a_note(tmp_path: Path) -> None:
    path = write_matroska(tmp_path / "e.mkv", [], note="nothing")
    assert probe_tracks(path) == []
    with av.open(str(path)) as container:
        (stream,) = container.streams
        assert stream.type == "subtitle" and stream.metadata["title"] == NOTE_TITLE


def test_only_vp8_video_and_opus_audio_are_written(tmp_path: Path) -> None:
    wrong = TrackInput("p", "audio", "vp8", 48_000, partial(iter, []))
    with pytest.raises(ValueError, match="cannot record audio in vp8"):
        write_matroska(tmp_path / "x.mkv", [wrong], note="-")
    assert list(tmp_path.iterdir()) == []


def test_mjr_headers_are_read_and_empty_recordings_recognised(tmp_path: Path) -> None:
    info = {"t": "v", "c": "vp8", "s": 1, "u": 2}
    text = json.dumps(info).encode()
    (tmp_path / "a.mjr").write_bytes(b"MJR00002" + len(text).to_bytes(2, "big") + text + b"MEET")
    (tmp_path / "b.mjr").write_bytes(b"MJR00002")  # Janus never wrote a packet
    assert mjr_header(tmp_path / "a.mjr") == info
    assert mjr_header(tmp_path / "b.mjr") is None


# --- the registry ----------------------------------------------------------------------------


def test_a_room_has_one_recording_and_ids_are_checked(tmp_path: Path) -> None:
    recordings: Recordings[Recording] = Recordings()
    rec = recordings.start(Recording("r", "one", tmp_path / "deep", frozenset({"a"})))
    assert rec.workdir.is_dir() and rec.output == tmp_path / "deep" / "one.mkv"
    with pytest.raises(RecordingActive) as active:
        recordings.start(Recording("r", "two", tmp_path, frozenset()))
    assert active.value.details == {"state": "recording", "action": "start_recording"}
    with pytest.raises(RecordingNotFound):
        recordings.get("r", "two")
    assert recordings.pop("r", "one") is rec and recordings.all() == []
    for bad in ("", "../x", "a/b", ".hidden", "x" * 129):
        with pytest.raises(InvalidInput) as refused:
            recordings.start(Recording("r", bad, tmp_path, frozenset()))
        assert refused.value.code == "media.bad_recording_id"
    (tmp_path / "taken.mkv").write_bytes(b"")
    with pytest.raises(InvalidInput) as exists:
        recordings.start(Recording("r", "taken", tmp_path, frozenset()))
    assert exists.value.code == "media.recording_exists"


def test_mutes_mark_publications_of_those_kinds_only() -> None:
    pubs = [Publication("p", "audio", "p-0"), Publication("p", "video", "p-1", muted=True)]
    assert [p.muted for p in with_mutes(pubs, {"audio"})] == [True, False]


def test_videoroom_requests_for_mute_and_recording() -> None:
    moderate = vr.Moderate(room="r", id="alice", mid="1", mute=True)
    assert moderate.body() == {
        "request": "moderate",
        "room": "r",
        "id": "alice",
        "mid": "1",
        "mute": True,
    }
    record = vr.Configure(record=True, filename="/rec/.x.parts/s0")
    assert record.body() == {"request": "configure", "record": True, "filename": "/rec/.x.parts/s0"}


# --- the embedded room routes only what may be recorded --------------------------------------


def audio_track(pid: str) -> Track:
    pub = Publication(participant_id=pid, kind="audio", track_id=f"{pid}-0")
    leg = SimpleNamespace(closed=False)
    return Track(pub, leg, "0", {111: Codec("opus", 48000, 2)}, {}, [""])  # type: ignore[arg-type]


def packets(ssrc: int, count: int, start: int = 0) -> Iterator[RtpPacket]:
    for i in range(start, start + count):
        yield RtpPacket(
            payload_type=111, sequence_number=i, timestamp=960 * i, ssrc=ssrc, payload=b"\xf8\xff"
        )


async def test_the_room_hands_the_recorder_only_included_unmuted_media(tmp_path: Path) -> None:
    room = Room(RoomSpec("r"))
    tracks = {pid: audio_track(pid) for pid in ("alice", "bob")}
    for i, (pid, t) in enumerate(tracks.items()):
        room.members[pid] = Member(pid, pid, float(i), tracks=[t])
        t.sources[""] = Source("", 100 + i, ReceiveStats(48000))
    subscriber = SimpleNamespace(participant_id="s", connected=False)
    slot = Slot("0", "audio", subscriber, track=tracks["alice"], active=True)  # type: ignore[arg-type]
    rec = Recorder("r", "t", tmp_path, frozenset({"alice"}))
    rec.workdir.mkdir()
    room.recorder = rec

    async def feed(start: int, count: int) -> None:
        for t in tracks.values():
            for packet in packets(t.sources[""].ssrc, count, start):
                await room.on_media(t, t.sources[""], packet, 1.0 + packet.sequence_number / 50)

    await feed(0, 10)
    await room.set_muted(room.members["alice"], "audio", True, 2.0)
    assert room.desired_source(slot, 2.0) is None  # nobody gets it
    await feed(10, 10)
    rec.paused = True
    await room.set_muted(room.members["alice"], "audio", False, 3.0)
    assert room.desired_source(slot, 3.0) == ""
    await feed(20, 10)
    rec.paused = False
    await feed(30, 10)
    path = await rec.finish()
    assert probe_tracks(path) == [("alice:audio", "opus")]
    with av.open(str(path)) as container:
        count = sum(1 for p in container.demux() if p.size)
    assert count == 20  # 0-9 and 30-39: not while muted, not while paused, never bob


async def test_a_recording_that_cannot_be_written_leaves_no_frames_behind(
    tmp_path: Path,
) -> None:
    room = Room(RoomSpec("r"))
    track = audio_track("alice")
    room.members["alice"] = Member("alice", "alice", 0.0, tracks=[track])
    track.sources[""] = Source("", 100, ReceiveStats(48000))
    rec = Recorder("r", "t", tmp_path, frozenset({"alice"}))
    rec.workdir.mkdir()
    room.recorder = rec
    for packet in packets(100, 10):
        await room.on_media(track, track.sources[""], packet, 1.0 + packet.sequence_number / 50)
    await asyncio.wrap_future(rec._writer.submit(lambda: None))  # queued writes done
    assert any(rec.workdir.iterdir())  # frames were logged
    rec.error = OSError("disk full")
    with pytest.raises(MediaError):
        await rec.finish()
    assert not rec.workdir.exists()
    assert not rec.output.exists()
