"""A participant's two WebRTC legs as the server holds them.

Each leg is one aiortc `RTCPeerConnection` (max-bundle: one ICE/DTLS transport) whose
media plane is taken over through `_aiortc`: aiortc does ICE, DTLS, SRTP and SDP;
these classes do the RTP.

* `PublishLeg` (server answers, receive-only): maps each decrypted packet to its track
  and layer — by SSRC once known, learning new SSRCs from the MID and RID header
  extensions or the payload type — unwraps RTX, keeps receiver statistics and sender
  reports, and hands packets to the room. It sends receiver reports, REMB, PLI and NACK.
* `SubscribeLeg` (server offers, send-only): serialises each forwarded packet with the
  subscriber's payload type, SSRC and header extension ids, keeps the NACK history,
  reads subscriber RTCP into `feedback` events, and sends sender reports translated from
  the publisher's so audio and video stay in sync.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import (
    RTCDtlsTransport,
    RTCPeerConnection,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)

from yiyun.media.embedded import _aiortc
from yiyun.media.embedded._aiortc import HeaderExtensionsMap, RtpPacket
from yiyun.media.embedded.feedback import (
    KeyframeRequest,
    Nack,
    PacketHistory,
    ReceiveStats,
    Remb,
    SenderReport,
    ntp_now,
    read_rtcp,
    receiver_report,
    remb,
    sender_report,
)
from yiyun.media.embedded.forwarder import Rewritten
from yiyun.media.embedded.negotiation import Codec, Section
from yiyun.media.embedded.room import Room, Slot, Source, Track

logger = logging.getLogger(__name__)

LegLost = Callable[["_Leg", bool], Awaitable[None]]  # (leg, failed)


def _ext_map(sections: list[Section]) -> HeaderExtensionsMap:
    ids: dict[str, int] = {}
    for sec in sections:
        ids.update(sec.extmap)
    ext = HeaderExtensionsMap()
    ext.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()]
        )
    )
    return ext


def abs_send_time(now_unix: float) -> int:
    """The 24-bit abs-send-time header extension value (6.18 fixed point seconds)."""
    return (ntp_now(now_unix) >> 14) & 0x00FFFFFF


class _Leg:
    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        room: Room,
        participant_id: str,
        on_lost: LegLost,
    ) -> None:
        self.pc = pc
        self.room = room
        self.participant_id = participant_id
        self.ext_map = HeaderExtensionsMap()
        self.rtcp_ssrc = 0
        self.closed = False
        self.dtls: RTCDtlsTransport | None = None

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            # "failed": ICE/DTLS broke (or the certificate did not match its fingerprint);
            # "closed" without us closing: the client closed its peer connection
            if pc.connectionState in ("failed", "closed") and not self.closed:
                await on_lost(self, pc.connectionState == "failed")

    def take_over(self) -> None:
        """Detach aiortc's media pipelines and route this leg's RTP/RTCP to us."""
        _aiortc.detach_media(self.pc)
        dtls = _aiortc.transport_of(self.pc)
        if dtls is not None and dtls is not self.dtls:
            _aiortc.intercept(dtls, self.on_rtp, self.on_rtcp)
            self.dtls = dtls

    @property
    def connected(self) -> bool:
        return self.dtls is not None and self.dtls.state == "connected"

    async def send(self, data: bytes) -> bool:
        """SRTP/SRTCP-protect and send one RTP or (compound) RTCP packet."""
        return self.dtls is not None and await _aiortc.send_rtp(self.dtls, data)

    async def on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        """RTP arriving on a leg that does not expect any is dropped."""

    async def on_rtcp(self, data: bytes) -> None: ...

    async def close(self) -> None:
        self.closed = True
        await self.pc.close()


@dataclass(frozen=True)
class _Route:
    track: Track
    layer: str
    rtx: bool


class PublishLeg(_Leg):
    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        room: Room,
        participant_id: str,
        on_lost: LegLost,
    ) -> None:
        super().__init__(pc, room=room, participant_id=participant_id, on_lost=on_lost)
        self.tracks: dict[str, Track] = {}
        self._routes: dict[int, _Route] = {}

    def configure(self, answer: list[Section], offer: list[Section], tracks: list[Track]) -> None:
        self.ext_map = _ext_map(answer)
        self.rtcp_ssrc = next((s for sec in answer for s in sec.ssrcs), 0)
        self.tracks = {t.mid: t for t in tracks}
        self._routes = {}
        by_mid = {sec.mid: sec for sec in offer}
        for track in tracks:
            sec = by_mid.get(track.mid)
            if sec is None or track.layers != [""]:
                continue
            rtx_ssrcs = {rtx for _, rtx in sec.fid}
            for ssrc in sec.ssrcs:
                self._routes[ssrc] = _Route(track, "", ssrc in rtx_ssrcs)

    def _learn(self, packet: RtpPacket) -> _Route | None:
        """Map a new SSRC to its track (MID, else an unambiguous payload type) and layer."""
        mid = packet.extensions.mid
        track = self.tracks.get(mid) if mid is not None else None
        if track is None and mid is None:
            pt = packet.payload_type
            matches = [t for t in self.tracks.values() if pt in t.codecs or pt in t.rtx]
            track = matches[0] if len(matches) == 1 else None
        if track is None:
            return None
        rrid = packet.extensions.repaired_rtp_stream_id
        layer = rrid if rrid is not None else packet.extensions.rtp_stream_id
        if layer is None and track.layers == [""]:
            layer = ""
        if layer is None or layer not in track.layers:
            return None
        route = _Route(track, layer, rrid is not None or packet.payload_type in track.rtx)
        self._routes[packet.ssrc] = route
        return route

    async def on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        try:
            packet = RtpPacket.parse(data, self.ext_map)
        except ValueError:
            return
        route = self._routes.get(packet.ssrc) or self._learn(packet)
        if route is None:
            return
        track, now = route.track, time.monotonic()
        if route.rtx:
            apt = track.rtx.get(packet.payload_type)
            source = track.sources.get(route.layer)
            if apt is None or source is None or len(packet.payload) < 2:
                return  # padding-only probes, or a repair for a stream not seen yet
            packet = _aiortc.unwrap_rtx(packet, payload_type=apt, ssrc=source.ssrc)
            if source.seen.get(packet.sequence_number):
                return  # we have it: a probe, or a repair someone else asked for
            source.seen.put(packet.sequence_number, True)
        else:
            source = track.sources.get(route.layer)
            if source is None or source.ssrc != packet.ssrc:
                codec = track.codecs.get(packet.payload_type)
                clock = codec.clock_rate if codec is not None else 90000
                source = Source(route.layer, packet.ssrc, ReceiveStats(clock))
                track.sources[route.layer] = source
            source.stats.add(packet.sequence_number, packet.timestamp, now)
            source.seen.put(packet.sequence_number, True)
            source.last_packet_at = now
        await self.room.on_media(track, source, packet, now)

    async def on_rtcp(self, data: bytes) -> None:
        try:
            events = read_rtcp(data)
        except ValueError:
            return
        now = time.monotonic()
        for event in events:
            if not isinstance(event, SenderReport):
                continue
            for track in self.tracks.values():
                for source in track.sources.values():
                    if source.ssrc == event.ssrc:
                        source.sender_report = (event.ntp, event.rtp_timestamp)
                        source.stats.sender_report(event.ntp, now)

    async def send_reports(self, now: float) -> None:
        """Receiver reports for every source, and REMB for the video."""
        reports = [
            report
            for track in self.tracks.values()
            for source in track.sources.values()
            if (report := source.stats.report(source.ssrc, now)) is not None
        ]
        data = receiver_report(self.rtcp_ssrc, reports) if reports else b""
        for track in self.tracks.values():
            ssrcs = [s.ssrc for s in track.sources.values()]
            if track.kind == "video" and ssrcs:
                data += remb(self.rtcp_ssrc, self.room.publisher_bitrate(track, now), ssrcs)
        if data:
            await self.send(data)


class SubscribeLeg(_Leg):
    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        room: Room,
        participant_id: str,
        on_lost: LegLost,
    ) -> None:
        super().__init__(pc, room=room, participant_id=participant_id, on_lost=on_lost)
        self.slots: dict[str, Slot] = {}
        self.offer: list[Section] = []
        self.cname = participant_id
        self._history: dict[str, PacketHistory[RtpPacket]] = {}
        self._rtx_seq: dict[str, int] = {}

    def slot_by_ssrc(self, ssrc: int) -> Slot | None:
        return next((s for s in self.slots.values() if s.out_ssrc == ssrc), None)

    def configure(self, offer: list[Section], answer: list[Section]) -> None:
        """Apply our offer (SSRCs) and the subscriber's answer (PTs, extension ids)."""
        self.ext_map = _ext_map(answer)
        by_mid = {sec.mid: sec for sec in answer}
        for sec in offer:
            slot = self.slots.get(sec.mid or "")
            if slot is None:
                continue
            rtx_ssrcs = {rtx for _, rtx in sec.fid}
            slot.out_ssrc = next((s for s in sec.ssrcs if s not in rtx_ssrcs), 0)
            slot.rtx_ssrc = next((rtx for media, rtx in sec.fid if media == slot.out_ssrc), None)
            ans = by_mid.get(sec.mid)
            if ans is None or not ans.receives:
                slot.pt_map, slot.rtx_pt = {}, {}
                continue
            slot.pt_map = {c.key: pt for pt, c in ans.media_codecs().items()}
            slot.rtx_pt = {apt: rtx for rtx, apt in ans.rtx.items()}
        self.rtcp_ssrc = next((s.out_ssrc for s in self.slots.values() if s.out_ssrc), 0)
        self.cname = next((sec.cname for sec in offer if sec.cname), self.cname)

    async def send_media(
        self, slot: Slot, out: Rewritten, source: RtpPacket, codec: Codec, now: float
    ) -> bool:
        pt = slot.pt_map.get(codec.key)
        if pt is None:
            return False
        packet = RtpPacket(
            payload_type=pt,
            marker=out.marker,
            sequence_number=out.sequence_number,
            timestamp=out.timestamp,
            ssrc=slot.out_ssrc,
            payload=out.payload,
        )
        packet.extensions.mid = slot.mid
        if slot.kind == "video":
            packet.extensions.abs_send_time = abs_send_time(time.time())
        else:
            packet.extensions.audio_level = source.extensions.audio_level
        self._history.setdefault(slot.mid, PacketHistory()).put(out.sequence_number, packet)
        return await self.send(packet.serialize(self.ext_map))

    async def retransmit(self, slot: Slot, seq: int) -> bool:
        """Resend a packet from the history (as RTX when negotiated); False if not there."""
        history = self._history.get(slot.mid)
        packet = history.get(seq) if history is not None else None
        if packet is None:
            return False
        rtx_pt = slot.rtx_pt.get(packet.payload_type)
        if rtx_pt is not None and slot.rtx_ssrc is not None:
            rtx_seq = self._rtx_seq.get(slot.mid, random.randrange(1 << 15))  # noqa: S311
            self._rtx_seq[slot.mid] = (rtx_seq + 1) % (1 << 16)
            packet = _aiortc.wrap_rtx(
                packet, payload_type=rtx_pt, sequence_number=rtx_seq, ssrc=slot.rtx_ssrc
            )
        return await self.send(packet.serialize(self.ext_map))

    def forget(self, slot: Slot) -> None:
        self._history.pop(slot.mid, None)

    async def on_rtcp(self, data: bytes) -> None:
        try:
            events = read_rtcp(data)
        except ValueError:
            return
        now = time.monotonic()
        for event in events:
            if isinstance(event, (KeyframeRequest, Nack)):
                slot = self.slot_by_ssrc(event.media_ssrc)
                if slot is not None:
                    await self.room.on_feedback(slot, event, now)
            elif isinstance(event, Remb):
                for ssrc in event.ssrcs:
                    if (slot := self.slot_by_ssrc(ssrc)) is not None:
                        await self.room.on_feedback(slot, event, now)

    async def send_reports(self, now: float) -> None:
        """Sender reports for every stream that has sent, mapped from the publisher's."""
        data = b""
        unix = time.time()
        for slot in self.slots.values():
            fw, track = slot.forwarder, slot.track
            if fw is None or track is None or fw.last_sent is None or not fw.packets:
                continue
            source = track.sources.get(fw.current or "")
            if source is not None and source.sender_report is not None:
                ntp, rtp_ts = source.sender_report[0], fw.out_timestamp(source.sender_report[1])
            else:  # no report from the publisher yet: extrapolate from the last packet sent
                last_ts, last_at = fw.last_sent
                ntp = ntp_now(unix)
                rtp_ts = (last_ts + round((now - last_at) * fw.clock_rate)) & 0xFFFFFFFF
            data += sender_report(
                slot.out_ssrc,
                ntp=ntp,
                rtp_timestamp=rtp_ts,
                packets=fw.packets,
                octets=fw.octets,
                cname=self.cname,
            )
        if data:
            await self.send(data)
