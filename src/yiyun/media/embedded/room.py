"""The forwarding graph of one room: who publishes what, and which slot forwards it.

    publisher's PublishLeg --RTP--> Track (one published m-section)
                                      |  Source per layer (rid, or "" without simulcast)
                                      v
                         Slot (one m-section of a subscriber's SubscribeLeg)
                           Forwarder: picks a source, rewrites seq/ts/ssrc/pt
                                      |
                                      v  SRTP out through the subscriber's DTLS transport

The room decides which source each slot forwards: the subscriber's layer choice, last-N
(`lastn.select_video` over the speaker order) and what the publisher actually sends now
(a simulcast layer the browser stopped sending is replaced by the closest live one).
It relays keyframe requests and NACKs upstream (see `feedback`), and runs the speaker
detector on forwarded audio levels.

A publication the chair muted is dropped here, before the fan-out: no slot forwards
it, the speaker detector does not hear it, the recorder never sees it. Unmuting
re-selects its slots, which resume at the publisher's next keyframe, asked for at
once. While the room is recorded, the packets of the participants the recording
includes (and only those) also go to its `Recorder`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from yiyun.media.embedded import lastn
from yiyun.media.embedded._aiortc import RtpPacket
from yiyun.media.embedded.feedback import (
    KeyframeGate,
    KeyframeRequest,
    Nack,
    NackDeduper,
    PacketHistory,
    ReceiveStats,
    Remb,
    RembTable,
    nack,
    pli,
)
from yiyun.media.embedded.forwarder import Forwarder, is_keyframe
from yiyun.media.embedded.negotiation import Codec
from yiyun.media.embedded.speaker import SpeakerDetector
from yiyun.media.engine import ActiveSpeaker, Layer, Publication, RoomSpec

if TYPE_CHECKING:
    from yiyun.media.embedded.legs import PublishLeg, SubscribeLeg
    from yiyun.media.embedded.recorder import Recorder
    from yiyun.media.embedded.tap import RtpTap

LIVE_AFTER_S = 1.5  # a layer with no packet for this long is considered stopped


@dataclass(eq=False)
class Source:
    """One incoming RTP stream of a track: a simulcast layer or the single stream."""

    layer: str
    ssrc: int
    stats: ReceiveStats
    last_packet_at: float = float("-inf")
    sender_report: tuple[int, int] | None = None  # (NTP, RTP timestamp) of the last SR
    # sequence numbers received lately: a retransmission of one of them is a
    # bandwidth probe (browsers resend old packets over RTX to probe), not a repair
    seen: PacketHistory[bool] = field(default_factory=lambda: PacketHistory(1024))


@dataclass(eq=False)
class Track:
    """One published m-section and the slots forwarding it."""

    publication: Publication
    leg: PublishLeg
    mid: str
    codecs: dict[int, Codec]  # the publisher's payload types (media, not RTX)
    rtx: dict[int, int]  # publisher RTX payload type -> the payload type it repairs
    layers: list[str]  # lowest first; [""] without simulcast
    sources: dict[str, Source] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.publication.kind

    @property
    def publisher(self) -> str:
        return self.publication.participant_id

    @property
    def muted(self) -> bool:
        return self.publication.muted

    def live_layers(self, now: float) -> list[str]:
        return [
            layer
            for layer in self.layers
            if (s := self.sources.get(layer)) is not None and now - s.last_packet_at < LIVE_AFTER_S
        ]


@dataclass(eq=False)
class Slot:
    """One sending m-section of a subscriber leg; bound to at most one track."""

    mid: str
    kind: str
    leg: SubscribeLeg
    track: Track | None = None
    active: bool = False  # the subscriber's answer accepted it and forwarding runs
    out_ssrc: int = 0
    rtx_ssrc: int | None = None
    pt_map: dict[tuple[str, ...], int] = field(default_factory=dict)  # codec key -> our PT
    rtx_pt: dict[int, int] = field(default_factory=dict)  # our media PT -> our RTX PT
    forwarder: Forwarder | None = None
    in_last_n: bool = True
    # (stream, track) named in the offer; kept while idle: browsers fire `track` for a
    # section whose stream association changes, even an inactive one
    msid: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        return f"{self.leg.participant_id}/{self.mid}"


@dataclass
class Member:
    participant_id: str
    display_name: str
    joined_at: float
    publish: PublishLeg | None = None
    subscribe: SubscribeLeg | None = None
    subscribed: bool = False
    layers: dict[str, Layer] = field(default_factory=dict)  # publisher id -> choice
    tracks: list[Track] = field(default_factory=list)
    muted: set[str] = field(default_factory=set)  # kinds the chair muted

    @property
    def publications(self) -> tuple[Publication, ...]:
        return tuple(t.publication for t in self.tracks)


class Room:
    def __init__(self, spec: RoomSpec) -> None:
        self.spec = spec
        self.members: dict[str, Member] = {}
        self.speaker = SpeakerDetector()
        self.keyframes = KeyframeGate()
        self.nacks = NackDeduper()
        self.rembs = RembTable()
        self.forwarded_packets = 0
        self.keyframe_requests = 0
        self.nacks_answered = 0
        self.nacks_relayed = 0
        self.recorder: Recorder | None = None
        self.taps: dict[str, RtpTap] = {}  # live-stream forwarders (`start_forward`)

    @property
    def room_id(self) -> str:
        return self.spec.room_id

    def tracks(self) -> Iterator[Track]:
        for member in self.members.values():
            yield from member.tracks

    def slots(self) -> Iterator[Slot]:
        for member in self.members.values():
            if member.subscribe is not None:
                yield from member.subscribe.slots.values()

    # --- choosing what each slot forwards ---------------------------------------------

    def desired_source(self, slot: Slot, now: float) -> str | None:
        track = slot.track
        if track is None or not slot.active or track.muted:
            return None
        if track.kind == "audio":
            return track.layers[0]
        choice = self.members[slot.leg.participant_id].layers.get(track.publisher, Layer.HIGH)
        if choice == Layer.OFF or not slot.in_last_n:
            return None
        if len(track.layers) == 1:
            return track.layers[0]
        want = track.layers[-1] if choice == Layer.HIGH else track.layers[0]
        live = track.live_layers(now)
        if not live or want in live:
            return want
        at = track.layers.index(want)
        below = [x for x in track.layers[:at] if x in live]
        return below[-1] if below else live[0]

    def refresh(self, now: float) -> None:
        """Re-apply last-N and layer choices to every slot."""
        publishers = [
            m.participant_id
            for m in sorted(self.members.values(), key=lambda m: m.joined_at)
            if any(t.kind == "video" for t in m.tracks)
        ]
        for member in self.members.values():
            if member.subscribe is None:
                continue
            chosen = lastn.select_video(
                speakers=self.speaker.order,
                publishers=publishers,
                subscriber=member.participant_id,
                n=self.spec.last_n,
            )
            for slot in member.subscribe.slots.values():
                if slot.track is not None:
                    slot.in_last_n = slot.kind == "audio" or slot.track.publisher in chosen
                if slot.forwarder is not None and slot.track is not None:
                    target = self.desired_source(slot, now)
                    if target != slot.forwarder.target:
                        layers = slot.track.layers
                        below = layers[: layers.index(target)] if target in layers else []
                        slot.forwarder.select(target, interim=frozenset(below))

    def tick(self, now: float) -> ActiveSpeaker | None:
        """Speaker evaluation and slot refresh; the new dominant speaker, if any."""
        dominant = self.speaker.evaluate(now)
        self.refresh(now)
        if dominant is None:
            return None
        return ActiveSpeaker(self.room_id, dominant, round(self.speaker.level(dominant), 1))

    # --- binding ------------------------------------------------------------------------

    def activate(self, slot: Slot, now: float) -> None:
        """Start forwarding the slot's track (after the subscriber's answer)."""
        track = slot.track
        if track is None:
            return
        codec = next(iter(track.codecs.values()))
        if slot.forwarder is None or slot.forwarder.codec != codec.name.upper():
            slot.forwarder = Forwarder(codec=codec.name, clock_rate=codec.clock_rate)
        slot.active = True
        if slot not in track.slots:
            track.slots.append(slot)
        self.refresh(now)

    def unbind(self, slot: Slot) -> None:
        """Stop forwarding to the slot at once (the m-section goes inactive)."""
        if slot.track is not None and slot in slot.track.slots:
            slot.track.slots.remove(slot)
        slot.track = None
        slot.active = False
        if slot.forwarder is not None:
            slot.forwarder.select(None)
        self.rembs.forget(slot.key)

    async def set_muted(self, member: Member, kind: str, muted: bool, now: float) -> bool:
        """Apply the chair's mute to the member's tracks of `kind`; True if any changed."""
        if muted:
            member.muted.add(kind)
        else:
            member.muted.discard(kind)
        changed = [t for t in member.tracks if t.kind == kind and t.muted != muted]
        for track in changed:
            track.publication = replace(track.publication, muted=muted)
        if not changed:
            return False
        if self.recorder is not None:
            self.recorder.interrupt()
        self.refresh(now)
        if not muted:  # subscribers (and the recorder) start again from a keyframe
            for track in changed:
                for source in track.sources.values():
                    await self.request_keyframe(track, source, now)
        return True

    def drop_tracks(self, member: Member) -> None:
        for track in member.tracks:
            for slot in list(track.slots):
                self.unbind(slot)
        member.tracks = []

    # --- the media path -----------------------------------------------------------------

    async def on_media(self, track: Track, source: Source, packet: RtpPacket, now: float) -> None:
        """A decrypted packet from a publisher: forward it to every slot that wants it."""
        codec = track.codecs.get(packet.payload_type)
        if codec is None or track.muted:
            return
        keyframe = track.kind == "video" and is_keyframe(codec.name, packet.payload)
        if track.kind == "audio" and packet.extensions.audio_level is not None:
            self.speaker.observe(track.publisher, packet.extensions.audio_level[1])
        recorder = self.recorder
        if (
            recorder is not None
            and recorder.wants(track)
            and recorder.on_packet(track, source, packet, codec.name, now)
        ):
            await self.request_keyframe(track, source, now)
        for tap in tuple(self.taps.values()):
            if tap.wants(track) and tap.on_packet(track, source, packet, codec.name, now):
                await self.request_keyframe(track, source, now)
        for slot in tuple(track.slots):
            fw = slot.forwarder
            if fw is None or not slot.leg.connected:
                continue
            out = fw.forward(source.layer, packet, keyframe=keyframe, now=now)
            if out is None:
                # ask for the target's keyframe; a subscriber with nothing yet also asks
                # for the lowest layer's, which is small and arrives first (fast start)
                starting = fw.current is None and source.layer in fw.interim
                if fw.needs_keyframe and (
                    fw.target == source.layer or (starting and source.layer == track.layers[0])
                ):
                    await self.request_keyframe(track, source, now)
                continue
            if await slot.leg.send_media(slot, out, packet, codec, now):
                self.forwarded_packets += 1

    async def request_keyframe(self, track: Track, source: Source, now: float) -> None:
        if track.kind == "video" and self.keyframes.allow(source.ssrc, now):
            self.keyframe_requests += 1
            await track.leg.send(pli(track.leg.rtcp_ssrc, source.ssrc))

    async def on_feedback(
        self, slot: Slot, event: KeyframeRequest | Nack | Remb, now: float
    ) -> None:
        """RTCP feedback a subscriber sent about one of our outgoing streams."""
        track, fw = slot.track, slot.forwarder
        if isinstance(event, Remb):
            self.rembs.record(slot.key, event.bitrate, now)
            return
        if track is None or fw is None:
            return
        if isinstance(event, KeyframeRequest):
            source = track.sources.get(fw.current or "")
            if source is not None:
                await self.request_keyframe(track, source, now)
            return
        missing: dict[str, list[int]] = {}
        for seq in event.seqs:
            if await slot.leg.retransmit(slot, seq):
                self.nacks_answered += 1
            elif (mapped := fw.source_seq(seq)) is not None:
                missing.setdefault(mapped[0], []).append(mapped[1])
        for layer, seqs in missing.items():
            source = track.sources.get(layer)
            if source is None:
                continue
            ask = self.nacks.filter(source.ssrc, seqs, now)
            if ask:
                self.nacks_relayed += len(ask)
                await track.leg.send(nack(track.leg.rtcp_ssrc, source.ssrc, ask))

    def publisher_bitrate(self, track: Track, now: float) -> int:
        """What a publisher's video may use: the room cap, or less if all its receivers say so."""
        cap = self.spec.bitrate_bps
        if len(track.layers) > 1:
            return cap  # simulcast: each subscriber picks a layer that fits
        estimate = self.rembs.minimum([s.key for s in track.slots], now)
        return cap if estimate is None else max(50_000, min(cap, estimate))
