"""The embedded engine with real WebRTC peers: media flows, is decoded by the clients,
and is never decoded (or re-encoded) by the server.

Clients are aiortc peers over loopback ICE, DTLS-SRTP and real VP8/Opus; the simulcast
publisher is a browser-shaped test double (`simulcast_client`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiortc import RTCCertificate

from tests.media.simulcast_client import SimulcastPublisher
from tests.media.utils import ClientPeer, ToneTrack, drain, frames
from yiyun.media import (
    ActiveSpeaker,
    EngineEvent,
    InvalidOffer,
    Layer,
    ParticipantGone,
    ParticipantNotFound,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomSpec,
)
from yiyun.media.embedded import EmbeddedEngine, _aiortc
from yiyun.media.embedded.legs import PublishLeg
from yiyun.media.engine import IceCandidate

pytestmark = pytest.mark.media

Sfu = tuple[EmbeddedEngine, list[EngineEvent]]


@pytest.fixture
async def sfu() -> AsyncIterator[Sfu]:
    events: list[EngineEvent] = []

    async def listen(event: EngineEvent) -> None:
        events.append(event)

    engine = EmbeddedEngine(loopback_candidates=True)
    await engine.start(listen)
    yield engine, events
    await engine.close()


@pytest.fixture
async def peers() -> AsyncIterator[Callable[..., ClientPeer]]:
    made: list[ClientPeer] = []

    def make(**kwargs: object) -> ClientPeer:
        made.append(ClientPeer(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    await asyncio.gather(*(p.close() for p in made))


async def publish(
    engine: EmbeddedEngine, room: str, pid: str, peer: ClientPeer, **kw: object
) -> None:
    await engine.join(room, pid, display_name=pid.upper())
    answer = await engine.publish(room, pid, await peer.publish_offer(**kw))  # type: ignore[arg-type]
    await peer.accept_publish_answer(answer)


async def subscribe(engine: EmbeddedEngine, room: str, pid: str, peer: ClientPeer) -> None:
    offer = await engine.subscribe(room, pid)
    await engine.complete_subscribe(room, pid, await peer.answer_subscription(offer))


async def first_frame_after(track: object, start: float, within: float) -> float | None:
    got = await frames(track, 1, within=within)  # type: ignore[arg-type]
    return time.monotonic() - start if got else None


async def wait_for(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def nothing_more(track: object, wait: float = 0.7) -> int:
    """Frames decoded from `track` after dropping what was already queued."""
    await asyncio.sleep(0.3)  # let packets in flight land
    drain(track)  # type: ignore[arg-type]
    return len(await frames(track, 1, within=wait))  # type: ignore[arg-type]


def assert_server_decoded_nothing(engine: EmbeddedEngine, room: str) -> None:
    stats = engine.stats(room)
    assert stats["aiortc_decoders"] == stats["aiortc_receivers"] == stats["aiortc_senders"] == 0


async def test_three_participants_each_decode_the_other_two(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, _ = sfu
    await engine.create_room(RoomSpec("call"))
    clients = {pid: peers() for pid in "abc"}
    for pid, peer in clients.items():
        await publish(engine, "call", pid, peer)
    for pid, peer in clients.items():
        await subscribe(engine, "call", pid, peer)

    pulls: list[Awaitable[list[object]]] = []
    for pid, peer in clients.items():
        assert sorted(t.id for t in peer.received) == sorted(
            f"{o}-{m}" for o in "abc" if o != pid for m in "01"
        )
        pulls += [frames(t, 5, within=8) for t in peer.received]
    decoded = await asyncio.gather(*pulls)
    assert [len(f) for f in decoded] == [5] * 12  # 3 subscribers x 2 publishers x audio+video
    stats = engine.stats("call")
    assert stats["active_slots"] == 12 and stats["forwarded_packets"] > 0
    assert_server_decoded_nothing(engine, "call")
    # the same, without looking inside aiortc: aiortc runs one decoder thread per
    # receiving track, and the 12 in this process are exactly the clients' 12 tracks
    decoders = [t for t in threading.enumerate() if t.name in ("audio-decoder", "video-decoder")]
    assert len(decoders) == 12


async def test_a_late_joiner_gets_video_quickly_because_keyframes_are_requested(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, _ = sfu
    await engine.create_room(RoomSpec("late"))
    a, b = peers(), peers()
    await publish(engine, "late", "a", a)
    await publish(engine, "late", "b", b)
    await subscribe(engine, "late", "b", b)
    assert len(await frames(b.track("a-1"), 3, within=8)) == 3
    await asyncio.sleep(1.5)  # publishers are well past their first keyframe
    requests_before = engine.stats("late")["keyframe_requests"]

    late = peers()
    await engine.join("late", "late", display_name="Late")
    start = time.monotonic()
    await subscribe(engine, "late", "late", late)
    waits = await asyncio.gather(
        *(first_frame_after(late.track(f"{p}-1"), start, 5.0) for p in "ab")
    )
    print(f"late joiner: first decoded frame after {waits} s")
    assert all(w is not None and w < 5.0 for w in waits)
    assert engine.stats("late")["keyframe_requests"] > requests_before
    assert_server_decoded_nothing(engine, "late")


async def test_leaving_and_kicking_stop_forwarding(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, events = sfu
    await engine.create_room(RoomSpec("bye"))
    clients = {pid: peers() for pid in "abc"}
    for pid, peer in clients.items():
        await publish(engine, "bye", pid, peer)
    for pid, peer in clients.items():
        await subscribe(engine, "bye", pid, peer)
    a = clients["a"]
    assert len(await frames(a.track("c-1"), 2, within=8)) == 2
    assert len(await frames(a.track("b-1"), 2, within=8)) == 2
    assert len(await frames(clients["c"].track("a-1"), 2, within=8)) == 2  # c fully connected

    await engine.kick("bye", "c")
    assert ParticipantGone("bye", "c", "kicked") in events
    assert await nothing_more(a.track("c-1")) == 0
    assert len(await frames(a.track("b-1"), 2, within=3)) == 2  # the others keep flowing
    # the server closed c's legs (DTLS close_notify), so c's peer connections close too
    assert await wait_for(
        lambda: (
            {clients["c"].publish.connectionState, clients["c"].subscribe.connectionState}
            == {"closed"}
        )
    )

    await engine.leave("bye", "b")
    assert await nothing_more(a.track("b-1")) == 0
    assert engine.stats("bye")["active_slots"] == 0  # a alone: nothing to forward


async def test_resubscribing_reuses_sections_of_publishers_who_left(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, _ = sfu
    await engine.create_room(RoomSpec("reuse"))
    a, b, c = peers(), peers(), peers()
    await publish(engine, "reuse", "a", a)
    await publish(engine, "reuse", "b", b)
    await subscribe(engine, "reuse", "a", a)
    await engine.leave("reuse", "b")
    await publish(engine, "reuse", "c", c)
    offer = await engine.subscribe("reuse", "a")
    assert offer.count("m=") == 2  # b's audio and video sections now carry c
    assert "a=msid:c c-0" in offer and "a=msid:c c-1" in offer and "a=msid:b" not in offer
    await engine.leave("reuse", "c")
    idle = await engine.subscribe("reuse", "a")
    # idle sections keep their last msid: a changed one makes browsers fire `track`
    assert idle.count("a=inactive") == 2 and idle.count("a=msid:c c-") == 2
    await publish(engine, "reuse", "d", peers())
    offer = await engine.subscribe("reuse", "a")
    assert "a=msid:d d-0" in offer and offer.count("m=") == 2
    await engine.complete_subscribe("reuse", "a", await a.answer_subscription(offer))
    video = next(t for t in a.received if t.kind == "video")  # the same receiver as before
    got = await frames(video, 3, within=8)
    assert len(got) == 3


@pytest.mark.slow
async def test_simulcast_layers_switch_on_keyframes_into_one_continuous_stream(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, _ = sfu
    await engine.create_room(RoomSpec("sim"))
    pub, sub = SimulcastPublisher(), peers()
    try:
        await engine.join("sim", "p", display_name="P")
        answer = await engine.publish("sim", "p", await pub.offer())
        assert "a=simulcast:recv l;h" in answer and "a=rid:h recv" in answer
        await pub.accept(answer)
        [pub_state] = (await engine.room_state("sim")).participants
        assert pub_state.publications[0].simulcast
        await engine.join("sim", "s", display_name="S")
        await subscribe(engine, "sim", "s", sub)
        track = sub.track("p-0")

        async def widths(n: int) -> list[int]:
            return [f.width for f in await frames(track, n, within=6)]  # type: ignore[attr-defined]

        assert set((await widths(5))[-3:]) == {640}  # HIGH by default
        await engine.select_layer("sim", "s", "p", Layer.LOW)
        seen = await widths(15)
        assert seen[-1] == 320 and seen == sorted(seen, reverse=True)  # one switch, at a keyframe
        await engine.select_layer("sim", "s", "p", Layer.HIGH)
        assert (await widths(15))[-1] == 640
        assert pub.keyframe_requests["l"] >= 1 and pub.keyframe_requests["h"] >= 1

        # the subscriber's decoder saw one stream: no sequence gaps, so nothing counted lost
        inbound = [r for r in (await sub.subscribe.getStats()).values() if r.type == "inbound-rtp"]
        assert inbound and inbound[0].packetsReceived > 30 and inbound[0].packetsLost == 0

        pub.paused.add("h")  # the browser stops its top layer (bandwidth): fall back to low
        await asyncio.sleep(2.0)
        assert (await widths(8))[-1] == 320
        await engine.select_layer("sim", "s", "p", Layer.OFF)
        assert await nothing_more(track) == 0
        assert_server_decoded_nothing(engine, "sim")
    finally:
        await pub.close()


async def test_a_publisher_whose_certificate_does_not_match_its_fingerprint_is_dropped(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, events = sfu
    await engine.create_room(RoomSpec("mitm"))
    mallory = peers()
    offer = await mallory.publish_offer()
    other = RTCCertificate.generateCertificate().getFingerprints()
    forged = [
        next(f"a=fingerprint:{f.algorithm} {f.value}" for f in other if f.algorithm == line[14:21])
        if line.startswith("a=fingerprint:")
        else line
        for line in offer.split("\r\n")
    ]
    await engine.join("mitm", "m", display_name="M")
    await mallory.accept_publish_answer(await engine.publish("mitm", "m", "\r\n".join(forged)))
    assert await wait_for(lambda: ParticipantGone("mitm", "m", "failed") in events)
    assert (await engine.room_state("mitm")).participants == ()


async def test_nacks_are_answered_from_the_history_of_sent_packets(
    sfu: Sfu, peers: Callable[..., ClientPeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = sfu
    dropped: set[int] = set()
    send = _aiortc.send_rtp

    async def lossy_downstream(dtls: object, data: bytes) -> bool:
        seq = int.from_bytes(data[2:4], "big")
        is_vp8 = data[1] & 0x7F == 97  # the subscriber's VP8 payload type (RTX is 98)
        if is_vp8 and seq % 5 == 0 and seq not in dropped:
            dropped.add(seq)
            return True  # lost on the way to the subscriber
        return await send(dtls, data)  # type: ignore[arg-type]

    monkeypatch.setattr(_aiortc, "send_rtp", lossy_downstream)
    await engine.create_room(RoomSpec("nack"))
    a, b = peers(), peers()
    await publish(engine, "nack", "a", a)
    await engine.join("nack", "b", display_name="B")
    await subscribe(engine, "nack", "b", b)
    assert len(await frames(b.track("a-1"), 30, within=10)) == 30
    stats = engine.stats("nack")
    assert dropped and stats["nacks_answered"] > 0 and stats["nacks_relayed"] == 0


async def test_nacks_for_packets_lost_upstream_are_relayed_to_the_publisher(
    sfu: Sfu, peers: Callable[..., ClientPeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = sfu
    dropped: set[int] = set()
    on_rtp = PublishLeg.on_rtp

    async def lossy_upstream(self: PublishLeg, data: bytes, arrival_time_ms: int) -> None:
        seq = int.from_bytes(data[2:4], "big")
        if data[1] & 0x7F == 97 and seq % 5 == 0 and seq not in dropped:  # publisher's VP8
            dropped.add(seq)
            return  # lost on the way to the server
        await on_rtp(self, data, arrival_time_ms)

    monkeypatch.setattr(PublishLeg, "on_rtp", lossy_upstream)
    await engine.create_room(RoomSpec("relay"))
    a, b = peers(), peers()
    await publish(engine, "relay", "a", a)
    await engine.join("relay", "b", display_name="B")
    await subscribe(engine, "relay", "b", b)
    assert len(await frames(b.track("a-1"), 30, within=10)) == 30
    assert dropped and engine.stats("relay")["nacks_relayed"] > 0


async def test_the_active_speaker_is_announced_and_leads_last_n(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, events = sfu
    await engine.create_room(RoomSpec("talk", last_n=1))
    quiet, talker, viewer = peers(), peers(), peers()
    await publish(engine, "talk", "quiet", quiet)  # joined first: last-N picks it before speech
    await publish(engine, "talk", "talker", talker, audio_track=ToneTrack())
    await engine.join("talk", "viewer", display_name="V")
    await subscribe(engine, "talk", "viewer", viewer)
    speaker = ActiveSpeaker
    assert await wait_for(
        lambda: any(isinstance(e, speaker) and e.participant_id == "talker" for e in events)
    )
    level = next(e.level_dbov for e in events if isinstance(e, ActiveSpeaker))
    assert -30 < level < -5  # the tone is about -15 dBov
    assert len(await frames(viewer.track("talker-1"), 3, within=8)) == 3
    assert await nothing_more(viewer.track("quiet-1")) == 0  # last-N = 1: only the speaker
    assert len(await frames(viewer.track("quiet-0"), 3, within=5)) == 3  # audio always flows


async def test_trickled_candidates_are_kept_until_the_leg_exists_and_bad_ones_refused(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, _ = sfu
    await engine.create_room(RoomSpec("ice"))
    await engine.join("ice", "a", display_name="A")
    a = peers()
    offer = await a.publish_offer()
    line = next(x for x in offer.splitlines() if x.startswith("a=candidate:"))
    early = IceCandidate(line[2:], sdp_mid="0", sdp_mline_index=0)
    await engine.add_ice_candidate("ice", "a", "publish", early)  # before the leg exists
    await engine.add_ice_candidate("ice", "a", "publish", None)
    await a.accept_publish_answer(await engine.publish("ice", "a", offer))
    with pytest.raises(InvalidOffer):
        await engine.add_ice_candidate("ice", "a", "publish", IceCandidate("candidate:1 1 udp"))
    with pytest.raises(ParticipantNotFound):
        await engine.add_ice_candidate("ice", "ghost", "publish", None)
    assert await wait_for(lambda: a.publish.connectionState == "connected")


async def test_a_client_closing_its_publish_leg_withdraws_only_its_publications(
    sfu: Sfu, peers: Callable[..., ClientPeer]
) -> None:
    engine, events = sfu
    await engine.create_room(RoomSpec("close"))
    a, b = peers(), peers()
    await publish(engine, "close", "a", a)
    await engine.join("close", "b", display_name="B")
    await subscribe(engine, "close", "b", b)
    assert len(await frames(b.track("a-1"), 2, within=8)) == 2
    events.clear()
    await a.publish.close()  # e.g. the browser republishes from a fresh peer connection
    assert await wait_for(lambda: RenegotiationNeeded("close", "b") in events)
    assert PublicationsChanged("close", "a", ()) in events
    assert [p.participant_id for p in (await engine.room_state("close")).participants] == [
        "a",
        "b",
    ]
    a2 = ClientPeer()
    try:
        answer = await engine.publish("close", "a", await a2.publish_offer())
        await a2.accept_publish_answer(answer)
        await subscribe(engine, "close", "b", b)
        assert len(await frames(b.track("a-1"), 2, within=8)) == 2  # the reused section
    finally:
        await a2.close()
