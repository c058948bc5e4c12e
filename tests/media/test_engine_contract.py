"""The contract every `MediaEngine` keeps, run against each engine.

The `engine` fixture (`conftest.py`) runs each test against every engine in
`ENGINES`. Offers and answers come from real aiortc peers, so SDP is what browsers
send. Mute and recording: `test_mute_and_recording.py`.
"""

from __future__ import annotations

import pytest

from tests.media.utils import ClientPeer
from yiyun.media import (
    InvalidOffer,
    Layer,
    ParticipantGone,
    ParticipantNotFound,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomNotFound,
    RoomSpec,
)


async def test_it_creates_rooms_idempotently(engine) -> None:
    eng, _ = engine
    await eng.create_room(RoomSpec("r1"))
    await eng.create_room(RoomSpec("r1"))
    assert (await eng.load()).rooms == 1
    assert (await eng.room_state("r1")).participants == ()


async def test_unknown_room_is_refused(engine) -> None:
    eng, _ = engine
    with pytest.raises(RoomNotFound):
        await eng.join("nope", "p1", display_name="A")


async def test_a_publication_reaches_the_other_participants_offer(engine) -> None:
    eng, events = engine
    await eng.create_room(RoomSpec("r2"))
    alice, bob = ClientPeer(), ClientPeer()
    try:
        await eng.join("r2", "alice", display_name="Alice")
        await eng.join("r2", "bob", display_name="Bob")
        await eng.subscribe("r2", "bob")
        answer = await eng.publish("r2", "alice", await alice.publish_offer())
        assert "a=fingerprint:" in answer
        await alice.accept_publish_answer(answer)
        state = await eng.room_state("r2")
        kinds = sorted(
            p.kind
            for ps in state.participants
            if ps.participant_id == "alice"
            for p in ps.publications
        )
        assert kinds == ["audio", "video"]
        assert any(
            isinstance(e, PublicationsChanged) and e.participant_id == "alice" for e in events
        )
        assert RenegotiationNeeded("r2", "bob") in events
        offer = await eng.subscribe("r2", "bob")
        assert offer.count("m=audio") >= 1 and offer.count("m=video") >= 1
        await eng.complete_subscribe("r2", "bob", await bob.answer_subscription(offer))
    finally:
        await alice.close()
        await bob.close()


async def test_it_refuses_plain_rtp_and_missing_fingerprints(engine) -> None:
    eng, _ = engine
    await eng.create_room(RoomSpec("r3"))
    await eng.join("r3", "p", display_name="P")
    peer = ClientPeer()
    try:
        offer = await peer.publish_offer()
        plain = offer.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP")
        with pytest.raises(InvalidOffer):
            await eng.publish("r3", "p", plain)
        no_fp = "\r\n".join(
            line for line in offer.split("\r\n") if not line.startswith("a=fingerprint:")
        )
        with pytest.raises(InvalidOffer):
            await eng.publish("r3", "p", no_fp)
        assert (await eng.room_state("r3")).participants[0].publications == ()
    finally:
        await peer.close()


async def test_leave_and_kick_remove_participants_and_tell_listeners(engine) -> None:
    eng, events = engine
    await eng.create_room(RoomSpec("r4"))
    for pid in ("a", "b", "c"):
        await eng.join("r4", pid, display_name=pid.upper())
    await eng.leave("r4", "a")
    await eng.leave("r4", "a")  # idempotent
    await eng.kick("r4", "b")
    with pytest.raises(ParticipantNotFound):
        await eng.kick("r4", "b")
    assert [p.participant_id for p in (await eng.room_state("r4")).participants] == ["c"]
    gone = [(e.participant_id, e.reason) for e in events if isinstance(e, ParticipantGone)]
    assert gone == [("a", "left"), ("b", "kicked")]


async def test_layer_choice_needs_both_participants(engine) -> None:
    eng, _ = engine
    await eng.create_room(RoomSpec("r5"))
    await eng.join("r5", "a", display_name="A")
    await eng.join("r5", "b", display_name="B")
    await eng.select_layer("r5", "b", "a", Layer.LOW)
    with pytest.raises(ParticipantNotFound):
        await eng.select_layer("r5", "b", "ghost", Layer.HIGH)
