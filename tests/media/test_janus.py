"""The Janus engine against real Janus processes started from the project's templates.

Control plane on loopback (Janus's API works there; its media does not), failover
with two nodes, and real media through a Janus in a network namespace (see
`janus_harness`): aiortc peers publish, subscribe and decode what Janus forwards.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

from tests.media.janus_harness import (
    JanusNode,
    janus_in_namespace,
    janus_missing,
    namespaces_missing,
    start_janus_on_loopback,
)
from tests.media.utils import ClientPeer
from yiyun.media import (
    ActiveSpeaker,
    EngineEvent,
    EngineUnavailable,
    IceCandidate,
    Layer,
    ParticipantGone,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomMoved,
    RoomNotFound,
    RoomSpec,
)
from yiyun.media.janus import JanusEngine, JanusError, JanusOptions, JanusTimeout
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.client import JanusConnection, JanusEvent, JanusHandle, JanusSession
from yiyun.media.janus.placement import JanusNode as PlacementNode
from yiyun.media.janus.process import render_config
from yiyun.media.janus.rooms import Participant, Room, quiet_placeholders, rid_order, wanted_streams

pytestmark = [
    pytest.mark.janus,
    pytest.mark.skipif(janus_missing() is not None, reason=str(janus_missing())),
]


class Events:
    """Engine events as they come, with a bounded wait for one to turn up."""

    def __init__(self) -> None:
        self.items: list[EngineEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: EngineEvent) -> None:
        self.items.append(event)
        self._changed.set()

    async def wait_for(self, pred: Callable[[EngineEvent], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not any(pred(e) for e in self.items):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusNode]:
    node = start_janus_on_loopback()
    yield node
    node.stop()


@pytest.fixture
async def session(janus: JanusNode) -> AsyncIterator[JanusSession]:
    conn = await JanusConnection.connect(janus.url)
    sess = await conn.create_session()
    yield sess
    await sess.destroy()
    await conn.close()


@pytest.fixture
async def control(session: JanusSession) -> JanusHandle:
    return await session.attach(vr.PLUGIN)


# --- the process and its config ----------------------------------------------------------


def test_it_renders_only_the_videoroom_plugin_and_the_api_transports(tmp_path: Path) -> None:
    render_config(tmp_path, JanusOptions(api_ip="10.9.9.9", ws_port=18188, admin_key="k"))
    assert os.listdir(tmp_path / "plugins") == ["libjanus_videoroom.so"]
    assert os.listdir(tmp_path / "transports") == ["libjanus_websockets.so"]
    ws = (tmp_path / "janus.transport.websockets.jcfg").read_text()
    assert 'ws_ip = "10.9.9.9"' in ws and "ws_port = 18188" in ws and "admin_ws = false" in ws
    assert 'admin_key = "k"' in (tmp_path / "janus.plugin.videoroom.jcfg").read_text()
    assert not (tmp_path / "janus.transport.http.jcfg").exists()


async def test_janus_starts_from_the_templates_and_answers_info(
    janus: JanusNode, session: JanusSession
) -> None:
    info = await session.conn.info()
    assert info["name"] == "Janus WebRTC Server"
    assert set(info["plugins"]) == {vr.PLUGIN}
    assert set(info["transports"]) == {"janus.transport.websockets"}
    print(f"janus started in {janus.process.started_in * 1000:.0f} ms")


# --- the control plane -------------------------------------------------------------------


async def test_rooms_are_created_found_listed_and_destroyed(control: JanusHandle) -> None:
    created = await vr.call(control, vr.CreateRoom(room="cp-1", bitrate=1_200_000))
    assert vr.RoomCreated.parse(created.data).room == "cp-1"
    exists = vr.ExistsReply.parse((await vr.call(control, vr.RoomExists(room="cp-1"))).data)
    assert exists.exists
    rooms = vr.RoomList.parse((await vr.call(control, vr.ListRooms())).data).rooms
    (room,) = [r for r in rooms if r.room == "cp-1"]
    assert room.bitrate == 1_200_000 and room.num_participants == 1  # the placeholder
    await vr.call(control, vr.DestroyRoom(room="cp-1"))
    gone = vr.ExistsReply.parse((await vr.call(control, vr.RoomExists(room="cp-1"))).data)
    assert not gone.exists


async def test_participants_join_leave_and_are_kicked(
    session: JanusSession, control: JanusHandle
) -> None:
    await vr.call(control, vr.CreateRoom(room="cp-2"))
    kicked = asyncio.Event()

    async def on_event(event: JanusEvent) -> None:
        if event.data.get("leaving") == "ok" and event.data.get("reason") == "kicked":
            kicked.set()

    alice = await session.attach(vr.PLUGIN, on_event=on_event)
    bob = await session.attach(vr.PLUGIN)
    joined = vr.Joined.parse(
        (await vr.call(alice, vr.JoinPublisher(room="cp-2", id="alice", display="A"))).data
    )
    assert [p.dummy for p in joined.publishers] == [True]
    await vr.call(bob, vr.JoinPublisher(room="cp-2", id="bob", display="B"))
    listed = vr.Participants.parse(
        (await vr.call(control, vr.ListParticipants(room="cp-2"))).data
    ).participants
    assert sorted(p.id for p in listed if not p.dummy) == ["alice", "bob"]
    await vr.call(control, vr.Kick(room="cp-2", id="alice"))
    async with asyncio.timeout(5):
        await kicked.wait()  # Janus tells the kicked participant's handle
    await vr.call(bob, vr.Leave())
    listed = vr.Participants.parse(
        (await vr.call(control, vr.ListParticipants(room="cp-2"))).data
    ).participants
    assert [p.id for p in listed if not p.dummy] == []
    await vr.call(control, vr.DestroyRoom(room="cp-2"))


async def test_a_bad_request_raises_janus_error_with_the_code_and_reason(
    session: JanusSession, control: JanusHandle
) -> None:
    with pytest.raises(JanusError) as bad_type:
        await control.message({"request": "exists", "room": 5})
    assert bad_type.value.janus_code == 430
    assert "room should be a string" in bad_type.value.reason
    with pytest.raises(JanusError) as no_room:
        await vr.call(control, vr.DestroyRoom(room="never-made"))
    assert no_room.value.janus_code == vr.NO_SUCH_ROOM
    with pytest.raises(JanusError) as no_plugin:
        await session.attach("janus.plugin.nonexistent")
    assert no_plugin.value.janus_code == 460  # core error, not a plugin one
    assert no_plugin.value.details["janus_code"] == 460


def _thread_states(pid: int) -> set[str]:
    return {
        (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        for task in Path(f"/proc/{pid}/task").iterdir()
    }


async def _stop(pid: int) -> None:
    """SIGSTOP, then wait until every thread is really stopped (state T in /proc):
    a loaded machine may otherwise let an already running thread answer first."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(200):
        states = _thread_states(pid)
        if states <= {"T", "t"}:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"janus did not stop: {states}")


async def test_a_transaction_without_an_answer_times_out_then_the_link_recovers() -> None:
    node = start_janus_on_loopback()
    try:
        conn = await JanusConnection.connect(node.url)
        await _stop(node.process.proc.pid)
        try:
            with pytest.raises(JanusTimeout) as late:
                await conn.request({"janus": "info"}, wait=0.3)
            assert late.value.code == "media.janus_timeout"
        finally:
            os.kill(node.process.proc.pid, signal.SIGCONT)
        assert (await conn.info())["janus"] == "server_info"  # the late reply went nowhere
        waiting = asyncio.ensure_future(conn.request({"janus": "create"}, wait=5))
        os.kill(node.process.proc.pid, signal.SIGSTOP)
        node.process.kill()
        with pytest.raises(EngineUnavailable):
            await waiting
        await conn.close()
    finally:
        node.stop()


async def test_an_unreachable_node_is_engine_unavailable(janus: JanusNode) -> None:
    port = int(janus.url.rsplit(":", 1)[1])
    with pytest.raises(EngineUnavailable):
        await JanusConnection.connect(f"ws://127.0.0.1:{port + 1}", open_timeout=1)


async def test_the_engine_drives_rooms_and_participants_on_janus(
    janus: JanusNode, control: JanusHandle
) -> None:
    events = Events()
    engine = JanusEngine([janus.url])
    await engine.start(events)
    try:
        await engine.create_room(RoomSpec("cp-3", bitrate_bps=3_000_000))
        rooms = vr.RoomList.parse((await vr.call(control, vr.ListRooms())).data).rooms
        assert [r.bitrate for r in rooms if r.room == "cp-3"] == [3_000_000]
        await engine.join("cp-3", "a", display_name="A")
        await engine.join("cp-3", "b", display_name="B")
        listed = vr.Participants.parse(
            (await vr.call(control, vr.ListParticipants(room="cp-3"))).data
        ).participants
        assert sorted(p.id for p in listed if not p.dummy) == ["a", "b"]
        # Someone outside this app node kicks "b": the engine notices it from Janus.
        await vr.call(control, vr.Kick(room="cp-3", id="b"))
        await events.wait_for(lambda e: e == ParticipantGone("cp-3", "b", "kicked"))
        await engine.destroy_room("cp-3")
        assert ParticipantGone("cp-3", "a", "left") in events.items
        gone = vr.ExistsReply.parse((await vr.call(control, vr.RoomExists(room="cp-3"))).data)
        assert not gone.exists
        with pytest.raises(RoomNotFound):
            await engine.join("cp-3", "a", display_name="A")
    finally:
        await engine.close()


# --- placement and failover --------------------------------------------------------------


@pytest.fixture
def two_nodes() -> Iterator[tuple[JanusNode, JanusNode]]:
    first, second = start_janus_on_loopback(), start_janus_on_loopback()
    yield first, second
    first.stop()
    second.stop()


async def test_rooms_spread_by_load_and_move_off_a_dead_node(
    two_nodes: tuple[JanusNode, JanusNode],
) -> None:
    a, b = two_nodes
    events = Events()
    engine = JanusEngine([a.url, b.url], health_interval=0.2, request_timeout=1.0)
    await engine.start(events)
    try:
        await engine.create_room(RoomSpec("pl-1"))
        await engine.create_room(RoomSpec("pl-2"))
        for pid in ("x", "y", "z"):
            await engine.join("pl-2", pid, display_name=pid)
        await engine.create_room(RoomSpec("pl-3"))
        nodes = {r: (await engine.room_state(r)).node for r in ("pl-1", "pl-2", "pl-3")}
        assert nodes == {"pl-1": a.url, "pl-2": b.url, "pl-3": a.url}
        assert (await engine.load()).nodes == {a.url: 2, b.url: 4}

        # Another app node sharing the Janus nodes finds the room where it is.
        other = JanusEngine([a.url, b.url])
        await other.start(Events())
        await other.create_room(RoomSpec("pl-2"))
        assert (await other.room_state("pl-2")).node == b.url
        await other.close()

        b.process.kill()
        await events.wait_for(lambda e: isinstance(e, RoomMoved) and e.room_id == "pl-2")
        gone = {e.participant_id for e in events.items if isinstance(e, ParticipantGone)}
        assert gone == {"x", "y", "z"}
        assert all(e.reason == "node_down" for e in events.items if isinstance(e, ParticipantGone))
        load = await engine.load()
        assert load.nodes == {a.url: 2} and load.healthy
        with pytest.raises(RoomNotFound):
            await engine.room_state("pl-2")
        await engine.create_room(RoomSpec("pl-4"))
        assert (await engine.room_state("pl-4")).node == a.url
        await engine.join("pl-2", "x", display_name="x")  # the rejoin re-places the room
        assert (await engine.room_state("pl-2")).node == a.url
    finally:
        await engine.close()


async def test_a_node_that_stops_answering_is_marked_down(
    two_nodes: tuple[JanusNode, JanusNode],
) -> None:
    a, b = two_nodes
    events = Events()
    engine = JanusEngine([a.url, b.url], health_interval=0.2, request_timeout=0.5)
    await engine.start(events)
    try:
        await engine.create_room(RoomSpec("hz-1"))
        assert (await engine.room_state("hz-1")).node == a.url
        os.kill(a.process.proc.pid, signal.SIGSTOP)  # alive, connected, silent
        try:
            await events.wait_for(
                lambda e: isinstance(e, RoomMoved) and e.room_id == "hz-1", within=10
            )
            assert "not answering" in next(
                e.reason for e in events.items if isinstance(e, RoomMoved)
            )
            await engine.create_room(RoomSpec("hz-2"))
            assert (await engine.room_state("hz-2")).node == b.url
        finally:
            os.kill(a.process.proc.pid, signal.SIGCONT)
        # Back again: the health task reconnects it.
        for _ in range(100):
            if a.url in (await engine.load()).nodes:
                break
            await asyncio.sleep(0.1)
        assert a.url in (await engine.load()).nodes
    finally:
        await engine.close()


async def test_no_healthy_node_is_engine_unavailable() -> None:
    engine = JanusEngine(["ws://127.0.0.1:9"], request_timeout=0.5)
    await engine.start(Events())
    try:
        assert not (await engine.load()).healthy
        with pytest.raises(EngineUnavailable):
            await engine.create_room(RoomSpec("nowhere"))
    finally:
        await engine.close()


# --- real media, in a network namespace --------------------------------------------------


class Tone(AudioStreamTrack):
    """A loud 440 Hz tone: its RTP audio-level extension makes Janus report talking."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._t = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        assert isinstance(frame, AudioFrame)
        n = frame.samples
        wave = (np.sin(2 * math.pi * 440 * (self._t + np.arange(n)) / 48000) * 20000).astype(
            np.int16
        )
        self._t += n
        out = AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate, out.pts, out.time_base = 48000, frame.pts, fractions.Fraction(1, 48000)
        return out


async def _first_frames(peer: ClientPeer, within: float = 10.0) -> tuple[list[Any], Any]:
    """Five decoded video frames and one audio frame from the first tracks received."""
    video = next(t for t in peer.received if t.kind == "video")
    audio = next(t for t in peer.received if t.kind == "audio")
    async with asyncio.timeout(within):
        frames = [await video.recv() for _ in range(5)]
        sound = await audio.recv()
    return frames, sound


@pytest.mark.media
@pytest.mark.skipif(namespaces_missing() is not None, reason=str(namespaces_missing()))
async def test_media_flows_through_janus_and_subscriptions_follow_publications() -> None:
    with janus_in_namespace() as node:
        events = Events()
        engine = JanusEngine([node.url])
        await engine.start(events)
        alice, bob, carol = ClientPeer(), ClientPeer(), ClientPeer()
        try:
            await engine.create_room(RoomSpec("md-1", bitrate_bps=1_500_000))
            began = time.monotonic()
            await engine.join("md-1", "alice", display_name="Alice")
            await engine.join("md-1", "bob", display_name="Bob")
            alice.publish.addTrack(Tone())
            alice.publish.addTrack(VideoStreamTrack())
            await alice.publish.setLocalDescription(await alice.publish.createOffer())
            answer = await engine.publish("md-1", "alice", alice.publish.localDescription.sdp)
            await alice.accept_publish_answer(answer)
            offer = await engine.subscribe("md-1", "bob")
            assert "a=msid:alice " in offer
            bob_answer = await bob.answer_subscription(offer)
            await engine.complete_subscribe("md-1", "bob", bob_answer)
            # Trickle reaches the right handle (aiortc puts its candidates in the SDP;
            # a browser trickles them): one on the subscribe leg, end-of-candidates.
            line = next(x for x in bob_answer.splitlines() if x.startswith("a=candidate:"))
            trickled = IceCandidate(line[2:], sdp_mid="0", sdp_mline_index=0)
            await engine.add_ice_candidate("md-1", "bob", "subscribe", trickled)
            await engine.add_ice_candidate("md-1", "alice", "publish", None)
            frames, sound = await _first_frames(bob)
            first_frame = time.monotonic() - began
            assert frames[0].width == 640 and frames[0].height == 480
            assert sound.sample_rate == 48000
            print(f"join -> first decoded frame through Janus: {first_frame * 1000:.0f} ms")
            await events.wait_for(lambda e: isinstance(e, ActiveSpeaker), within=15)
            speaker = next(e for e in events.items if isinstance(e, ActiveSpeaker))
            assert speaker.participant_id == "alice" and speaker.level_dbov > -40

            # Layer choices reach Janus (`configure` on the subscription).
            for layer in (Layer.LOW, Layer.OFF, Layer.HIGH):
                await engine.select_layer("md-1", "bob", "alice", layer)

            # Carol publishes later: bob is told to renegotiate; `update` adds her.
            await engine.join("md-1", "carol", display_name="Carol")
            answer = await engine.publish("md-1", "carol", await carol.publish_offer())
            await carol.accept_publish_answer(answer)
            await events.wait_for(lambda e: e == RenegotiationNeeded("md-1", "bob"))
            offer = await engine.subscribe("md-1", "bob")
            assert offer.count("m=video") == 2 and "a=msid:carol " in offer
            await bob.subscribe.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await bob.subscribe.setLocalDescription(await bob.subscribe.createAnswer())
            await engine.complete_subscribe("md-1", "bob", bob.subscribe.localDescription.sdp)
            carol_video = [t for t in bob.received if t.kind == "video"][-1]
            async with asyncio.timeout(10):
                frame = await carol_video.recv()
            assert isinstance(frame, VideoFrame) and frame.width == 640

            # Alice leaves: her publications go and bob's subscription drops them.
            events.items.clear()
            await engine.leave("md-1", "alice")
            assert PublicationsChanged("md-1", "alice", ()) in events.items
            assert RenegotiationNeeded("md-1", "bob") in events.items
            offer = await engine.subscribe("md-1", "bob")
            assert "a=msid:alice " not in offer and "a=msid:carol " in offer
        finally:
            for peer in (alice, bob, carol):
                await peer.close()
            await engine.close()


# --- pure helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("simulcast", "order"),
    [
        ("a=simulcast:send l;h", "lmh"),  # Yiyun's client: low first
        ("a=simulcast:send h;m;l", "hml"),  # janus.js: high first
        ("a=simulcast:send ~q;f", "lmh"),
        ("a=simulcast:send a;b;c", None),  # names say nothing: Janus's default
        ("a=sendonly", None),
    ],
)
def test_the_rid_order_follows_the_rid_names(simulcast: str, order: str | None) -> None:
    assert rid_order(f"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n{simulcast}\r\n") == order


def test_placeholder_sections_are_inactive_without_an_msid() -> None:
    offer = (
        "v=0\r\na=group:BUNDLE 0 1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\na=mid:0\r\na=msid:ph 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=mid:1\r\na=msid:alice 1\r\n"
    )
    quiet = quiet_placeholders(offer, {"0"})
    audio, video = quiet.split("m=")[1:]
    assert "a=inactive" in audio and "a=msid" not in audio and "a=sendonly" not in audio
    assert "a=sendonly" in video and "a=msid:alice 1" in video
    assert quiet.startswith("v=0\r\na=group:BUNDLE 0 1\r\n") and quiet.endswith("\r\n")


def test_subscribers_get_all_audio_and_last_n_video_with_their_layers() -> None:
    def feed(pid: str) -> list[vr.PublishedStream]:
        return [
            vr.PublishedStream(type="audio", mindex=0, mid="0"),
            vr.PublishedStream(type="video", mindex=1, mid="1", simulcast=True),
        ]

    room = Room(RoomSpec("w", last_n=2), node=PlacementNode("ws://x"))
    room.feeds = {pid: feed(pid) for pid in ("me", "a", "b", "c")}
    room.participants["me"] = Participant("Me", handle=None)  # type: ignore[arg-type]
    room.participants["me"].layers = {"c": Layer.LOW, "a": Layer.OFF}
    room.speakers = ["c"]
    wanted = {(w.feed, w.mid): (w.send, w.substream) for w in wanted_streams(room, "me")}
    assert wanted == {
        ("a", "0"): (None, None),
        ("b", "0"): (None, None),
        ("c", "0"): (None, None),
        ("c", "1"): (None, 0),  # the last speaker, low layer
        ("a", "1"): (False, None),  # next in publish order, switched off
    }
