"""Server-side mute and recording, against every engine (the `engine` fixture).

Real engines get real media from aiortc peers (Opus, and VP8 at 160x120 to keep the
encoders cheap): a subscriber's inbound packet counters show what is forwarded, and
recordings are opened with PyAV to see whose tracks are inside, when their packets
are, and that the video decodes. The fake sends no media, so it is held to the
bookkeeping (state, events, errors) and to the files it writes from it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import VideoStreamTrack

from tests.media.utils import ClientPeer
from yiyun.core.errors import InvalidInput
from yiyun.media import (
    EngineEvent,
    MediaEngine,
    ParticipantNotFound,
    PublicationsChanged,
    RecordingActive,
    RecordingNotFound,
    RoomNotFound,
    RoomSpec,
)
from yiyun.media.recording import probe_tracks

pytestmark = pytest.mark.media

Engine = tuple[MediaEngine, list[EngineEvent]]


class SmallVideo(VideoStreamTrack):
    """160x120 at 30 fps, changing every frame (so every frame has content)."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        shade = (pts // 3000 * 9) % 256
        img = np.full((120, 160, 3), shade, dtype=np.uint8)
        img[:, (pts // 3000) % 160] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


@pytest.fixture
async def peers() -> AsyncIterator[Callable[[], ClientPeer]]:
    made: list[ClientPeer] = []

    def make() -> ClientPeer:
        made.append(ClientPeer())
        return made[-1]

    yield make
    await asyncio.gather(*(p.close() for p in made))


async def publish(eng: MediaEngine, room: str, pid: str, peer: ClientPeer, **kw: bool) -> None:
    await eng.join(room, pid, display_name=pid.title())
    offer = await peer.publish_offer(video_track=SmallVideo(), **kw)
    await peer.accept_publish_answer(await eng.publish(room, pid, offer))


async def subscribe(eng: MediaEngine, room: str, pid: str, peer: ClientPeer) -> None:
    offer = await eng.subscribe(room, pid)
    await eng.complete_subscribe(room, pid, await peer.answer_subscription(offer))


async def connected(*peers: ClientPeer, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(p.publish.connectionState == "connected" for p in peers):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a publish leg did not connect")


async def received(peer: ClientPeer, kind: str) -> int:
    """Packets the subscriber's leg has received of `kind`, all tracks together."""
    total = 0
    for transceiver in peer.subscribe.getTransceivers():
        if transceiver.kind == kind:
            report = await transceiver.receiver.getStats()
            total += sum(s.packetsReceived for s in report.values() if s.type == "inbound-rtp")
    return total


async def grows(peer: ClientPeer, kind: str, within: float = 5.0) -> bool:
    start = await received(peer, kind)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if await received(peer, kind) > start:
            return True
    return False


async def reaches(peer: ClientPeer, kind: str, packets: int, within: float = 20.0) -> None:
    """Wait until the subscriber's leg has received `packets` packets of `kind`."""
    deadline = time.monotonic() + within
    while (got := await received(peer, kind)) < packets:
        if time.monotonic() > deadline:
            raise AssertionError(f"{got} of {packets} {kind} packets arrived in {within} s")
        await asyncio.sleep(0.05)


async def stalls(peer: ClientPeer, kind: str, window: float = 1.0) -> bool:
    await asyncio.sleep(0.8)  # packets in flight or queued in a busy process, retransmissions
    start = await received(peer, kind)
    await asyncio.sleep(window)
    return await received(peer, kind) == start


async def muted_kinds(eng: MediaEngine, room: str, pid: str) -> set[str]:
    state = await eng.room_state(room)
    (part,) = [p for p in state.participants if p.participant_id == pid]
    return {p.kind for p in part.publications if p.muted}


def packet_times(path: Path, title: str) -> list[float]:
    """Seconds on the recording's timeline of each packet of the stream `title`."""
    with av.open(str(path)) as container:
        (stream,) = [s for s in container.streams if s.metadata.get("title") == title]
        base = stream.time_base or Fraction(1, 1000)
        return [
            float(p.pts * base) for p in container.demux(stream) if p.pts is not None and p.size
        ]


def decoded_video(path: Path, title: str) -> list[tuple[int, int]]:
    """(width, height) of each picture decoded from the stream `title`."""
    with av.open(str(path)) as container:
        (stream,) = [s for s in container.streams if s.metadata.get("title") == title]
        return [
            (f.width, f.height) for f in container.decode(stream) if isinstance(f, av.VideoFrame)
        ]


# --- mute --------------------------------------------------------------------------------


async def test_a_muted_publication_reaches_nobody_until_unmuted(
    engine: Engine, peers: Callable[[], ClientPeer]
) -> None:
    eng, events = engine
    await eng.create_room(RoomSpec("mute"))
    alice, bob = peers(), peers()
    await publish(eng, "mute", "alice", alice)
    await eng.join("mute", "bob", display_name="Bob")
    real = eng.name != "fake"
    if real:
        await connected(alice)
        await subscribe(eng, "mute", "bob", bob)
        assert await grows(bob, "audio") and await grows(bob, "video")

    events.clear()
    await eng.set_muted("mute", "alice", "video", True)
    await eng.set_muted("mute", "alice", "video", True)  # idempotent
    assert await muted_kinds(eng, "mute", "alice") == {"video"}
    changes = [e for e in events if isinstance(e, PublicationsChanged)]
    assert len(changes) == 1 and {p.kind for p in changes[0].publications if p.muted} == {"video"}
    if real:
        assert await stalls(bob, "video")
        assert await grows(bob, "audio")

    await eng.set_muted("mute", "alice", "video", False)
    assert await muted_kinds(eng, "mute", "alice") == set()
    if real:
        assert await grows(bob, "video")
        # unmuted video starts at a keyframe the engine asked for: it decodes at once
        video = next(t for t in bob.received if t.kind == "video")
        async with asyncio.timeout(5):
            frame = await video.recv()
        assert frame.width == 160

    await eng.set_muted("mute", "alice", "audio", True)
    if real:
        assert await stalls(bob, "audio")
        assert await grows(bob, "video")

    with pytest.raises(ParticipantNotFound):
        await eng.set_muted("mute", "ghost", "audio", True)
    with pytest.raises(RoomNotFound):
        await eng.set_muted("nowhere", "alice", "audio", True)


async def test_a_mute_set_before_publishing_holds_when_publishing(
    engine: Engine, peers: Callable[[], ClientPeer]
) -> None:
    eng, _ = engine
    await eng.create_room(RoomSpec("early"))
    await eng.join("early", "carol", display_name="Carol")
    await eng.set_muted("early", "carol", "audio", True)
    await publish(eng, "early", "carol", peers(), video=False)
    assert await muted_kinds(eng, "early", "carol") == {"audio"}


# --- recording ---------------------------------------------------------------------------


def needs_recording(eng: MediaEngine) -> None:
    if eng.name == "janus" and shutil.which("janus-pp-rec") is None:
        pytest.skip("janus-pp-rec is not installed (Debian package janus-tools)")


async def test_a_recording_holds_exactly_the_included_participants_tracks(
    engine: Engine, peers: Callable[[], ClientPeer], tmp_path: Path
) -> None:
    eng, _ = engine
    needs_recording(eng)
    await eng.create_room(RoomSpec("rec"))
    alice, bob = peers(), peers()
    await publish(eng, "rec", "alice", alice)
    await publish(eng, "rec", "bob", bob)
    if eng.name != "fake":
        await connected(alice, bob)

    await eng.start_recording("rec", "rec-1", ["alice"], tmp_path)
    with pytest.raises(RecordingActive) as twice:
        await eng.start_recording("rec", "rec-2", ["alice", "bob"], tmp_path)
    assert twice.value.code == "media.recording_active" and twice.value.status == 409
    with pytest.raises(RecordingNotFound) as unknown:
        await eng.pause_recording("rec", "rec-2")
    assert unknown.value.code == "media.recording_not_found"
    with pytest.raises(RecordingNotFound):
        await eng.stop_recording("elsewhere", "rec-1")
    await asyncio.sleep(1.5)
    path = await eng.stop_recording("rec", "rec-1")

    assert path == tmp_path / "rec-1.mkv"
    assert sorted(probe_tracks(path)) == [("alice:audio", "opus"), ("alice:video", "vp8")]
    sizes = decoded_video(path, "alice:video")
    assert len(sizes) >= 3 and set(sizes) == {(32, 32) if eng.name == "fake" else (160, 120)}
    assert len(packet_times(path, "alice:audio")) >= 5
    assert os.listdir(tmp_path) == ["rec-1.mkv"]  # the working files are gone
    with pytest.raises(RecordingNotFound):
        await eng.stop_recording("rec", "rec-1")


async def test_someone_included_before_publishing_is_recorded_once_publishing(
    engine: Engine, peers: Callable[[], ClientPeer], tmp_path: Path
) -> None:
    eng, _ = engine
    needs_recording(eng)
    await eng.create_room(RoomSpec("later"))
    await eng.join("later", "carol", display_name="Carol")
    await eng.start_recording("later", "take", ["carol", "dave"], tmp_path)  # dave: not here
    carol, eve = peers(), peers()
    await publish(eng, "later", "carol", carol, video=False)
    if eng.name != "fake":  # the fake writes a few frames of every span it noted
        await connected(carol)
        # Eve watches, unrecorded: the engine records carol's packets as they arrive,
        # so once it has forwarded Eve a dozen of them it has recorded at least as many.
        await eng.join("later", "eve", display_name="Eve")
        await subscribe(eng, "later", "eve", eve)
        await reaches(eve, "audio", 12)
    await eng.destroy_room("later")  # what was recorded so far is kept
    path = await eng.stop_recording("later", "take")
    assert probe_tracks(path) == [("carol:audio", "opus")]
    assert len(packet_times(path, "carol:audio")) >= 5


async def test_pauses_are_gaps_and_only_who_is_included_is_written(
    engine: Engine, peers: Callable[[], ClientPeer], tmp_path: Path
) -> None:
    eng, _ = engine
    needs_recording(eng)
    await eng.create_room(RoomSpec("gaps"))
    alice, bob = peers(), peers()
    await publish(eng, "gaps", "alice", alice)
    await publish(eng, "gaps", "bob", bob)
    if eng.name != "fake":
        await connected(alice, bob)

    clock = time.monotonic
    began = clock()
    await eng.start_recording("gaps", "take", ["alice"], tmp_path)
    started = clock() - began  # the file's time 0 is within [0, started]
    await asyncio.sleep(1.0)
    await eng.pause_recording("gaps", "take")
    await eng.pause_recording("gaps", "take")  # idempotent
    paused = clock() - began
    await asyncio.sleep(2.0)
    resumed = clock() - began
    await eng.resume_recording("gaps", "take")
    await eng.set_recording_participants("gaps", "take", ["alice", "bob"])  # bob consents
    await asyncio.sleep(1.0)
    await eng.set_recording_participants("gaps", "take", ["bob"])  # alice withdraws
    withdrawn = clock() - began
    await asyncio.sleep(1.5)
    path = await eng.stop_recording("gaps", "take")

    assert sorted(probe_tracks(path)) == [
        ("alice:audio", "opus"),
        ("alice:video", "vp8"),
        ("bob:audio", "opus"),
        ("bob:video", "vp8"),
    ]
    # A track's time is its RTP clock from the arrival of its first packet, and the
    # engine writes what arrives while it should: so a packet's place in the file may
    # be off by how late packets were. These clients encode in this same process, on
    # a machine that may be busy: `late` allows for stalls of half a second.
    late = 0.6
    for kind in ("audio", "video"):
        alice_at = packet_times(path, f"alice:{kind}")
        bob_at = packet_times(path, f"bob:{kind}")
        assert max(b - a for a, b in itertools.pairwise(alice_at)) > 0.8, kind  # the pause
        # nothing while paused...
        assert not [t for t in alice_at if paused + late < t < resumed - started - late], kind
        # ...bob only once included, alice not after withdrawing
        assert min(bob_at) > resumed - started - late, kind
        assert max(alice_at) < withdrawn + late < max(bob_at), kind
    assert len(decoded_video(path, "bob:video")) >= 3


async def test_recording_errors(engine: Engine, tmp_path: Path) -> None:
    eng, _ = engine
    needs_recording(eng)
    with pytest.raises(RoomNotFound):
        await eng.start_recording("nowhere", "x", [], tmp_path)
    await eng.create_room(RoomSpec("err"))
    with pytest.raises(InvalidInput):
        await eng.start_recording("err", "../escape", [], tmp_path)
    await eng.start_recording("err", "empty", ["nobody"], tmp_path)
    for call in (eng.resume_recording, eng.pause_recording, eng.stop_recording):
        with pytest.raises(RecordingNotFound):
            await call("err", "other")
    with pytest.raises(RecordingNotFound):
        await eng.set_recording_participants("err", "other", [])
    path = await eng.stop_recording("err", "empty")
    assert probe_tracks(path) == []  # no media: a valid file with a note only
    with pytest.raises(InvalidInput):  # the file is kept, never overwritten
        await eng.start_recording("err", "empty", [], tmp_path)
