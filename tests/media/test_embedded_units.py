"""The embedded engine's pure parts on synthetic packets: no sockets, no media.

Forwarder rewriting across layer switches, keyframe recognition, RTCP feedback wire
formats and state, RFC 6464 audio levels and speaker hysteresis, last-N, the SDP
edits, and the aiortc compatibility self-check.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from aiortc import RTCDtlsTransport

from yiyun.media.embedded import _aiortc, feedback, lastn
from yiyun.media.embedded.forwarder import (
    Forwarder,
    h264_keyframe,
    is_keyframe,
    parse_vp8,
    seq_newer,
)
from yiyun.media.embedded.negotiation import (
    Codec,
    accept_simulcast,
    layers_low_to_high,
    parse_sections,
    set_msids,
)
from yiyun.media.embedded.room import Member, Room, Slot, Source, Track
from yiyun.media.embedded.speaker import SpeakerDetector, parse_audio_level
from yiyun.media.engine import Layer, MediaError, Publication, RoomSpec


@dataclass
class Pkt:
    sequence_number: int
    timestamp: int
    marker: int = 0
    payload: bytes = b"\x00"


def vp8(*, key: bool, start: bool = True, pid: int | None = None, tl0: int | None = None) -> bytes:
    """A VP8 payload: descriptor (RFC 7741) + the first byte of the VP8 frame header."""
    ext = (0x80 if pid is not None else 0) | (0x40 if tl0 is not None else 0)
    out = bytes([(0x80 if ext else 0) | (0x10 if start else 0)])
    if ext:
        out += bytes([ext])
    if pid is not None:
        out += bytes([0x80 | (pid >> 8), pid & 0xFF])
    if tl0 is not None:
        out += bytes([tl0])
    return out + bytes([0x00 if key else 0x01, 0x9D, 0x01, 0x2A])


def video_forwarder(codec: str = "VP8") -> Forwarder:
    return Forwarder(codec=codec, clock_rate=90000, rng=random.Random(7))


# --- sequence numbers and timestamps -------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "newer"),
    [(1, 0, True), (0, 1, False), (0, 65535, True), (65535, 0, False), (5, 5, False)],
)
def test_sequence_numbers_compare_across_the_wrap(a: int, b: int, newer: bool) -> None:
    assert seq_newer(a, b) is newer


def test_one_source_keeps_its_spacing_across_the_wrap() -> None:
    fw = video_forwarder()
    fw.select("")
    seqs = [65533, 65534, 65535, 0, 1]
    outs = [
        fw.forward("", Pkt(s, 1000 + 3000 * i, payload=vp8(key=i == 0)), keyframe=i == 0, now=i)
        for i, s in enumerate(seqs)
    ]
    assert all(o is not None for o in outs)
    out_seqs = [o.sequence_number for o in outs if o]
    out_ts = [o.timestamp for o in outs if o]
    assert [(b - a) % 65536 for a, b in itertools.pairwise(out_seqs)] == [1] * 4
    assert [(b - a) % 2**32 for a, b in itertools.pairwise(out_ts)] == [3000] * 4
    assert out_seqs[0] < 32768  # random start in the lower half, as RFC 3550 and Chrome like


# Each row: a `select` of a source, or a packet (source, seq, ts, keyframe, now) with what
# must come out: None for a drop, else (seq distance from the first packet sent, timestamp
# distance from the previous packet sent).
SWITCH_TABLE: list[tuple[object, ...]] = [
    ("select", "h"),
    ("h", 100, 9000, True, 0.0, (0, 0)),
    ("h", 101, 9000, False, 0.0, (1, 0)),
    ("l", 500, 77000, True, 0.0, None),  # not selected
    ("select", "l"),
    ("l", 501, 80000, False, 0.033, None),  # waits for a keyframe on l
    ("h", 102, 12000, False, 0.033, (2, 3000)),  # h keeps flowing meanwhile
    ("l", 502, 83000, True, 0.066, (3, 2970)),  # switch: next seq, wall-clock gap kept
    ("h", 103, 15000, True, 0.066, None),  # h is no longer forwarded
    ("l", 503, 83000, False, 0.066, (4, 0)),
    ("l", 499, 74000, False, 0.07, None),  # older than the switch point
    ("select", None),
    ("l", 504, 86000, True, 0.1, None),  # paused
    ("select", "h"),
    ("h", 104, 18000, False, 0.2, None),  # resume waits for a keyframe
    ("h", 105, 21000, True, 0.233, (5, 15030)),
]


def test_layer_switches_keep_one_continuous_stream() -> None:
    fw = video_forwarder()
    first_seq: int | None = None
    last_ts = 0
    for row in SWITCH_TABLE:
        if row[0] == "select":
            fw.select(row[1])  # type: ignore[arg-type]
            continue
        source, seq, ts, key, now, expected = row
        packet = Pkt(seq, ts, payload=vp8(key=bool(key)))  # type: ignore[arg-type]
        out = fw.forward(str(source), packet, keyframe=bool(key), now=float(now))  # type: ignore[arg-type]
        if expected is None:
            assert out is None, row
            continue
        assert out is not None, row
        first_seq = out.sequence_number if first_seq is None else first_seq
        got = ((out.sequence_number - first_seq) % 65536, (out.timestamp - last_ts) % 2**32)
        assert got == expected or (got[0], 0) == expected == (0, 0), row
        last_ts = out.timestamp
    assert fw.switches == 2  # to l, and back to h after the pause


def test_a_new_subscriber_starts_on_a_lower_layer_then_moves_up() -> None:
    fw = video_forwarder()
    fw.select("f", interim=frozenset({"q", "h"}))
    assert fw.forward("f", Pkt(10, 0, payload=vp8(key=False)), keyframe=False, now=0.0) is None
    assert fw.forward("q", Pkt(50, 0, payload=vp8(key=True)), keyframe=True, now=0.0)
    assert fw.current == "q" and fw.needs_keyframe  # still asks for the target's keyframe
    assert fw.forward("h", Pkt(70, 0, payload=vp8(key=True)), keyframe=True, now=0.0) is None
    assert fw.forward("f", Pkt(12, 3000, payload=vp8(key=True)), keyframe=True, now=0.033)
    assert fw.current == "f" and not fw.needs_keyframe
    assert fw.forward("q", Pkt(51, 3000, payload=vp8(key=True)), keyframe=True, now=0.04) is None


def test_audio_switches_without_a_keyframe_and_maps_nacks_back() -> None:
    fw = Forwarder(codec="opus", clock_rate=48000, rng=random.Random(1))
    fw.select("")
    assert not fw.needs_keyframe
    out = [fw.forward("", Pkt(s, s * 960), keyframe=False, now=0.0) for s in (10, 11, 12)]
    assert all(out)
    first = out[0].sequence_number  # type: ignore[union-attr]
    assert fw.source_seq(first + 1) == ("", 11)
    assert fw.source_seq(first + 5) is None  # not sent yet
    assert fw.source_seq(first - 1) is None  # before this source


def test_vp8_picture_ids_continue_across_a_switch() -> None:
    fw = video_forwarder()
    fw.select("h")
    a = fw.forward("h", Pkt(1, 0, payload=vp8(key=True, pid=300, tl0=7)), keyframe=True, now=0)
    b = fw.forward("h", Pkt(2, 3000, payload=vp8(key=False, pid=301, tl0=8)), keyframe=False, now=0)
    fw.select("l")
    c = fw.forward(
        "l", Pkt(9, 5, payload=vp8(key=True, pid=32767, tl0=200)), keyframe=True, now=0.1
    )
    d = fw.forward(
        "l", Pkt(10, 3005, payload=vp8(key=False, pid=0, tl0=201)), keyframe=False, now=0.1
    )
    ids = [parse_vp8(p.payload) for p in (a, b, c, d) if p is not None]
    assert [x.picture_id for x in ids if x] == [300, 301, 302, 303]
    assert [x.tl0picidx for x in ids if x] == [7, 8, 9, 10]
    assert a is not None and a.payload is not None  # unchanged bytes are shared, not copied


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (vp8(key=True), True),
        (vp8(key=False), False),
        (vp8(key=True, start=False), False),  # a later packet of a keyframe
        (vp8(key=True, pid=5, tl0=1), True),
        (b"", False),
    ],
)
def test_vp8_keyframes_are_recognised_from_the_descriptor(payload: bytes, key: bool) -> None:
    assert is_keyframe("VP8", payload) is key


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (bytes([0x65, 0x88]), True),  # IDR slice
        (bytes([0x67, 0x42]), True),  # SPS
        (bytes([0x41, 0x9A]), False),  # non-IDR slice
        (bytes([0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE]), True),  # STAP-A SPS+PPS
        (bytes([0x18, 0x00, 0x02, 0x68, 0xCE]), False),  # STAP-A PPS only
        (bytes([0x7C, 0x85, 0x00]), True),  # FU-A start of IDR
        (bytes([0x7C, 0x05, 0x00]), False),  # FU-A middle of IDR
        (bytes([0x7C, 0x81, 0x00]), False),  # FU-A start of a P slice
        (b"", False),
    ],
)
def test_h264_keyframes_are_recognised_from_the_nal_header(payload: bytes, key: bool) -> None:
    assert h264_keyframe(payload) is key


def test_audio_needs_no_keyframe_and_unknown_video_never_starts() -> None:
    assert is_keyframe("opus", b"\x01")
    assert not is_keyframe("VP9", b"\x01")


# --- RTCP feedback --------------------------------------------------------------------------


def test_feedback_round_trips_through_the_wire() -> None:
    data = (
        feedback.pli(1, 2)
        + feedback.nack(1, 3, [65534, 65535, 0, 1, 40])
        + feedback.remb(1, 750_000, [2, 3])
        + feedback.sender_report(4, ntp=2**40, rtp_timestamp=90, packets=3, octets=30, cname="x")
    )
    events = feedback.read_rtcp(data)
    assert events[0] == feedback.KeyframeRequest(2)
    assert isinstance(events[1], feedback.Nack) and events[1].media_ssrc == 3
    assert sorted(events[1].seqs) == [0, 1, 40, 65534, 65535]
    assert isinstance(events[2], feedback.Remb) and events[2].ssrcs == (2, 3)
    assert abs(events[2].bitrate - 750_000) < 750_000 * 0.01
    assert events[3] == feedback.SenderReport(4, 2**40, 90)


def test_a_fir_names_its_ssrcs_in_the_fci() -> None:
    fir = _aiortc.RtcpPsfbPacket(fmt=4, ssrc=1, media_ssrc=0, fci=bytes.fromhex("0000000709000000"))
    assert feedback.read_rtcp(bytes(fir)) == [feedback.KeyframeRequest(7)]


def test_malformed_rtcp_is_refused() -> None:
    with pytest.raises(ValueError):
        feedback.read_rtcp(b"\x80\xc9\x00\x09")


def test_history_keeps_the_latest_packets_by_sequence_number() -> None:
    history: feedback.PacketHistory[str] = feedback.PacketHistory(size=4)
    for seq in range(65534, 65534 + 6):
        history.put(seq % 65536, f"p{seq % 65536}")
    assert history.get(0) == "p0" and history.get(3) == "p3"
    assert history.get(65534) is None  # overwritten by 2
    assert history.get(9) is None


def test_keyframe_requests_and_upstream_nacks_are_collapsed() -> None:
    gate = feedback.KeyframeGate(interval=0.3)
    assert [gate.allow(5, t) for t in (0.0, 0.1, 0.29, 0.31)] == [True, False, False, True]
    dedupe = feedback.NackDeduper(hold=0.1)
    assert dedupe.filter(5, [1, 2], 0.0) == [1, 2]
    assert dedupe.filter(5, [2, 3], 0.05) == [3]
    assert dedupe.filter(5, [2], 0.2) == [2]


def test_receive_stats_count_loss_across_the_wrap() -> None:
    stats = feedback.ReceiveStats(90000)
    for i, seq in enumerate([65533, 65534, 0, 1, 3]):  # 65535 and 2 lost
        stats.add(seq, 3000 * i, i / 30)
    stats.sender_report(0x0001_2345_6789_0000, arrival=0.1)
    report = stats.report(99, now=0.6)
    assert report is not None
    assert report.highest_sequence == 65536 + 3
    assert report.packets_lost == 2
    assert report.fraction_lost == (2 << 8) // 7
    assert report.lsr == 0x2345_6789 and report.dlsr == int(0.5 * 65536)
    assert feedback.ReceiveStats(90000).report(1, 0.0) is None


def test_remb_keeps_the_smallest_fresh_estimate() -> None:
    table = feedback.RembTable(ttl=5)
    table.record("a", 900_000, 0.0)
    table.record("b", 300_000, 0.0)
    assert table.minimum(["a", "b"], 1.0) == 300_000
    table.record("a", 800_000, 4.0)
    assert table.minimum(["a", "b"], 6.0) == 800_000  # b expired
    assert table.minimum(["c"], 6.0) is None


# --- speaker and last-N -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (b"\xa0", (True, 32)),
        (b"\x7f", (False, 127)),
        (b"\x80", (True, 0)),
        (b"\x1e\x00", (False, 30)),
    ],
)
def test_rfc6464_audio_levels_parse(value: bytes, parsed: tuple[bool, int]) -> None:
    assert parse_audio_level(value) == parsed


def test_an_empty_audio_level_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_audio_level(b"")


def run_talk(script: list[tuple[float, dict[str, int]]]) -> list[tuple[float, str]]:
    """Feed 50 packets/s at the given levels between ticks of 0.25 s; the speaker changes."""
    det = SpeakerDetector()
    changes = []
    for t, levels in script:
        for pid, level in levels.items():
            for _ in range(12):
                det.observe(pid, level)
        new = det.evaluate(t)
        if new is not None:
            changes.append((t, new))
    return changes


def ticks(start: float, end: float, levels: dict[str, int]) -> list[tuple[float, dict[str, int]]]:
    return [(start + 0.25 * i, levels) for i in range(int((end - start) / 0.25))]


SPEAKER_CASES = {
    # speech registers after one tick (fast attack); a takeover needs the margin, the
    # challenger leading for 0.5 s and the current speaker having held the floor for 1 s
    "first speech takes the floor": (ticks(0, 1, {"a": 25, "b": 120}), [(0.25, "a")]),
    "room noise never does": (ticks(0, 2, {"a": 70, "b": 80}), []),
    "a short interruption does not switch": (
        ticks(0, 2, {"a": 30, "b": 127})
        + ticks(2, 2.5, {"a": 30, "b": 10})
        + ticks(2.5, 4, {"a": 30, "b": 127}),
        [(0.25, "a")],
    ),
    "a sustained louder talker takes over": (
        ticks(0, 2, {"a": 30, "b": 127}) + ticks(2, 5, {"a": 127, "b": 20}),
        [(0.25, "a"), (2.75, "b")],
    ),
    "silence keeps the last speaker": (
        ticks(0, 1, {"a": 30}) + ticks(1, 5, {"a": 127, "b": 127}),
        [(0.25, "a")],
    ),
    "within the margin nobody switches": (
        ticks(0, 1, {"a": 30, "b": 127}) + ticks(1, 5, {"a": 30, "b": 27}),
        [(0.25, "a")],
    ),
}


@pytest.mark.parametrize("case", sorted(SPEAKER_CASES))
def test_active_speaker_has_hysteresis(case: str) -> None:
    script, expected = SPEAKER_CASES[case]
    assert run_talk(script) == expected


def test_speaker_order_is_most_recent_first_and_forgets_leavers() -> None:
    script: list[tuple[float, dict[str, int]]] = []
    for i, pid in enumerate(["a", "b", "a", "c"]):
        levels = {p: (20 if p == pid else 127) for p in "abc"}
        script += ticks(2.0 * i, 2.0 * i + 2.0, levels)
    det = SpeakerDetector()
    for t, levels in script:
        for pid, level in levels.items():
            for _ in range(12):
                det.observe(pid, level)
        det.evaluate(t)
    assert det.order == ["c", "a", "b"] and det.dominant == "c"
    det.remove("c")
    assert det.order == ["a", "b"] and det.dominant is None


LAST_N_CASES = [
    # speakers (recent first), publishers (join order), subscriber, n -> forwarded
    ([], ["a", "b", "c"], "x", 9, {"a", "b", "c"}),
    ([], ["a", "b", "c"], "a", 1, {"b"}),
    (["c"], ["a", "b", "c"], "a", 1, {"c"}),
    (["c", "b"], ["a", "b", "c", "d"], "x", 2, {"c", "b"}),
    (["c"], ["a", "b", "c", "d"], "c", 2, {"a", "b"}),
    (["gone", "d"], ["a", "b", "c", "d"], "x", 2, {"d", "a"}),
    (["b"], ["a", "b"], "x", 0, set()),
    (["b"], ["a", "b", "c"], "x", -1, {"a", "b", "c"}),
]


@pytest.mark.parametrize(("speakers", "publishers", "subscriber", "n", "expected"), LAST_N_CASES)
def test_last_n_forwards_the_most_recent_speakers(
    speakers: list[str], publishers: list[str], subscriber: str, n: int, expected: set[str]
) -> None:
    got = lastn.select_video(speakers=speakers, publishers=publishers, subscriber=subscriber, n=n)
    assert got == frozenset(expected)


# --- room policy -----------------------------------------------------------------------------


def room_with_simulcast_track(layers: list[str]) -> tuple[Room, Track, Slot]:
    room = Room(RoomSpec("r", bitrate_bps=2_000_000))
    pub = Publication(participant_id="p", kind="video", track_id="p-1", simulcast=len(layers) > 1)
    track = Track(pub, SimpleNamespace(), "1", {96: Codec("VP8", 90000)}, {}, layers)  # type: ignore[arg-type]
    room.members["p"] = Member("p", "P", 0.0, tracks=[track])
    room.members["s"] = Member("s", "S", 1.0)
    slot = Slot("0", "video", SimpleNamespace(participant_id="s"), track=track, active=True)  # type: ignore[arg-type]
    track.slots.append(slot)
    return room, track, slot


def hear(track: Track, layer: str, now: float) -> None:
    track.sources[layer] = Source(layer, hash(layer), feedback.ReceiveStats(90000), now)


LAYER_CASES = [
    # choice, layers heard recently -> source forwarded
    (Layer.HIGH, ["q", "h", "f"], "f"),
    (Layer.LOW, ["q", "h", "f"], "q"),
    (Layer.HIGH, ["q", "h"], "h"),  # top layer stopped: the closest one below
    (Layer.LOW, ["h", "f"], "h"),  # bottom layer stopped: the closest one above
    (Layer.HIGH, [], "f"),  # nothing heard yet: ask for what was chosen
    (Layer.OFF, ["q", "h", "f"], None),
]


@pytest.mark.parametrize(("choice", "live", "expected"), LAYER_CASES)
def test_a_subscriber_gets_the_chosen_layer_or_the_closest_live_one(
    choice: Layer, live: list[str], expected: str | None
) -> None:
    room, track, slot = room_with_simulcast_track(["q", "h", "f"])
    room.members["s"].layers["p"] = choice
    for layer in live:
        hear(track, layer, 10.0)
    hear(track, "gone", 0.0)  # heard long ago: not live
    assert room.desired_source(slot, 10.5) == expected


def test_last_n_pauses_video_but_never_audio() -> None:
    room, _, slot = room_with_simulcast_track([""])
    slot.in_last_n = False
    assert room.desired_source(slot, 0.0) is None
    slot.track = Track(  # type: ignore[assignment]
        Publication("p", "audio", "p-0"),
        SimpleNamespace(),
        "0",
        {},
        {},
        [""],  # type: ignore[arg-type]
    )
    assert room.desired_source(slot, 0.0) == ""


def test_publishers_are_capped_by_the_room_and_slowed_by_their_slowest_subscriber() -> None:
    room, track, slot = room_with_simulcast_track([""])
    assert room.publisher_bitrate(track, 0.0) == 2_000_000  # no estimate yet: the room cap
    room.rembs.record(slot.key, 600_000, 0.0)
    assert room.publisher_bitrate(track, 1.0) == 600_000
    room.rembs.record(slot.key, 9_000_000, 2.0)
    assert room.publisher_bitrate(track, 3.0) == 2_000_000
    room, track, slot = room_with_simulcast_track(["l", "h"])
    room.rembs.record(slot.key, 300_000, 0.0)
    assert room.publisher_bitrate(track, 1.0) == 2_000_000  # simulcast: layers fit receivers


# --- SDP ------------------------------------------------------------------------------------

# A browser-shaped simulcast publish offer (Chromium's layout, trimmed).
BROWSER_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic: WMS stream",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendonly",
        "a=msid:stream mic",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=ssrc:1111 cname:xyz",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "a=sendonly",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rid:q send",
        "a=rid:h send",
        "a=rid:f send",
        "a=simulcast:send f;h;q",
        "",
    ]
)


def test_offers_are_parsed_for_what_forwarding_needs() -> None:
    audio, video = parse_sections(BROWSER_OFFER)
    assert (audio.kind, audio.mid, audio.direction, audio.ssrcs, audio.cname) == (
        "audio",
        "0",
        "sendonly",
        [1111],
        "xyz",
    )
    assert audio.codecs[111] == Codec("opus", 48000, 2, (("minptime", "10"), ("useinbandfec", "1")))
    assert video.rids == ["f", "h", "q"] and video.simulcast
    assert video.rtx == {97: 96} and sorted(video.media_codecs()) == [96, 102]
    assert video.extmap["urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"] == 10


@pytest.mark.parametrize(
    ("rids", "ordered"),
    [
        (["f", "h", "q"], ["q", "h", "f"]),
        (["high", "low"], ["low", "high"]),
        (["l", "h"], ["l", "h"]),
        (["a", "b", "c"], ["a", "b", "c"]),  # unknown names: a=simulcast order, lowest first
    ],
)
def test_simulcast_layers_are_ordered_lowest_first(rids: list[str], ordered: list[str]) -> None:
    assert layers_low_to_high(rids) == ordered


def test_the_answer_accepts_the_offered_layers() -> None:
    answer = "\r\n".join(
        [
            "v=0",
            "m=audio 9 X 111",
            "a=mid:0",
            "m=video 9 X 96",
            "a=mid:1",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=recvonly",
            "",
        ]
    )
    edited = accept_simulcast(answer, parse_sections(BROWSER_OFFER))
    video = edited.split("m=video")[1]
    assert "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" in video
    assert "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" in video
    assert video.index("a=extmap:4") < video.index("a=extmap:10")
    assert "a=rid:q recv" in video and video.rstrip().endswith("a=simulcast:recv f;h;q")
    assert "rid" not in edited.split("m=video")[0]


def test_forwarded_sections_are_named_after_their_publisher() -> None:
    offer = "v=0\r\nm=audio 9 X 96\r\na=mid:0\r\na=msid:x y\r\nm=video 9 X 97\r\na=mid:1\r\n"
    edited = set_msids(offer, {"0": ("alice", "alice-0"), "1": ("bob", "bob-1")})
    assert edited.count("a=msid:") == 2
    assert "a=mid:0\r\na=msid:alice alice-0" in edited and "a=msid:bob bob-1" in edited
    idle = set_msids(offer, {"0": None})  # an inactive section names nobody
    assert "a=msid:" not in idle


def test_h264_codecs_match_on_profile_and_packetization_not_level() -> None:
    def h264(plid: str, mode: str = "1") -> Codec:
        return Codec(
            "H264", 90000, None, (("profile-level-id", plid), ("packetization-mode", mode))
        )

    assert h264("42e01f").key == h264("42e034").key
    assert h264("42e01f").key != h264("42001f").key
    assert h264("42e01f").key != h264("42e01f", "0").key
    assert Codec("VP8", 90000).key == Codec("vp8", 90000).key


# --- aiortc internals --------------------------------------------------------------------------


async def test_the_pinned_aiortc_passes_the_self_check() -> None:
    _aiortc.check_compatible()


async def test_the_self_check_names_a_vanished_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCDtlsTransport, "_handle_rtcp_data")
    with pytest.raises(MediaError, match=r"RTCDtlsTransport\._handle_rtcp_data is gone"):
        _aiortc.check_compatible()


async def test_the_self_check_notices_a_changed_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    async def changed(self: object, data: bytes, arrival_time_ms: int, extra: int) -> None: ...

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", changed)
    with pytest.raises(MediaError, match="now takes") as info:
        _aiortc.check_compatible()
    assert info.value.code == "media.aiortc_incompatible"


def test_ice_candidates_parse_with_or_without_their_prefix() -> None:
    text = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"
    for value in (text, text.removeprefix("candidate:"), "a=" + text):
        cand = _aiortc.parse_candidate(value, sdp_mid="0", sdp_mline_index=0)
        assert (cand.ip, cand.port, cand.sdpMid) == ("127.0.0.1", 5000, "0")
    with pytest.raises(ValueError, match="malformed ICE candidate"):
        _aiortc.parse_candidate("candidate:1 1 udp", sdp_mid="0", sdp_mline_index=0)
