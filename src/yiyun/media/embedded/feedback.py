"""RTCP feedback for a forwarding SFU: what subscribers ask for and what publishers hear.

Subscribers' RTCP is read into small events (`read_rtcp`):

* `KeyframeRequest` (PLI, or FIR) on a forwarded SSRC — relayed as a PLI to the
  publisher's stream of the source being forwarded, at most once per `KeyframeGate`
  interval per source however many subscribers ask;
* `Nack` — answered from the `PacketHistory` of that outgoing stream (the packets
  we sent, by our sequence numbers); what is not there never reached us, so it is
  asked from the publisher in its own numbering, de-duplicated by `NackDeduper`;
* `Remb` — kept per subscriber in `RembTable`; a publisher is sent the smallest
  estimate of the subscribers of its non-simulcast video, capped by the room's bitrate;
* `SenderReport` (from publishers) — kept to translate into our own sender reports and
  for the LSR/DLSR fields of the receiver reports `ReceiveStats` builds.

The builders return wire bytes ready for the SRTCP path. Wire classes are aiortc's
(`aiortc.rtp`, reached through `_aiortc`), which round-trip every RTCP type used here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Generic, TypeVar

from yiyun.media.embedded._aiortc import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    clamp_packets_lost,
    pack_remb_fci,
    unpack_remb_fci,
)
from yiyun.media.embedded.forwarder import SEQ_MOD, seq_newer

T = TypeVar("T")
_RTCP_RTPFB = 205


@dataclass(frozen=True)
class KeyframeRequest:
    media_ssrc: int


@dataclass(frozen=True)
class Nack:
    media_ssrc: int
    seqs: tuple[int, ...]


@dataclass(frozen=True)
class Remb:
    bitrate: int
    ssrcs: tuple[int, ...]


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_timestamp: int


Feedback = KeyframeRequest | Nack | Remb | SenderReport


def read_rtcp(data: bytes) -> list[Feedback]:
    """The feedback an SFU acts on in one (compound) RTCP packet; ValueError if malformed."""
    out: list[Feedback] = []
    for packet in RtcpPacket.parse(data):
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt == RTCP_PSFB_PLI:
                out.append(KeyframeRequest(packet.media_ssrc))
            elif packet.fmt == RTCP_PSFB_FIR:
                # RFC 5104: media ssrc is 0, the FCI lists (ssrc, seq nr, reserved) entries
                for pos in range(0, len(packet.fci) - 7, 8):
                    out.append(KeyframeRequest(struct.unpack_from("!L", packet.fci, pos)[0]))
            elif packet.fmt == RTCP_PSFB_APP and packet.fci[:4] == b"REMB":
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                out.append(Remb(bitrate, tuple(ssrcs)))
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            seqs = tuple(dict.fromkeys(s % SEQ_MOD for s in packet.lost))
            out.append(Nack(packet.media_ssrc, seqs))
        elif isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            out.append(SenderReport(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp))
    return out


# --- builders ---------------------------------------------------------------------------


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc))


def nack(sender_ssrc: int, media_ssrc: int, seqs: list[int]) -> bytes:
    """A generic NACK (RFC 4585 6.2.1), packing each 17 packets into one PID+BLP pair."""
    fci = b""
    pending = sorted(set(seqs), key=lambda s: (s - seqs[0]) % SEQ_MOD) if seqs else []
    while pending:
        pid = pending.pop(0)
        blp = 0
        rest = []
        for s in pending:
            d = (s - pid - 1) % SEQ_MOD
            if d < 16:
                blp |= 1 << d
            else:
                rest.append(s)
        pending = rest
        fci += struct.pack("!HH", pid, blp)
    head = struct.pack("!LL", sender_ssrc, media_ssrc) + fci
    return struct.pack("!BBH", 0x80 | RTCP_RTPFB_NACK, _RTCP_RTPFB, len(head) // 4) + head


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    return bytes(
        RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)
        )
    )


def sender_report(
    ssrc: int, *, ntp: int, rtp_timestamp: int, packets: int, octets: int, cname: str
) -> bytes:
    info = RtcpSenderInfo(
        ntp_timestamp=ntp,
        rtp_timestamp=rtp_timestamp,
        packet_count=packets & 0xFFFFFFFF,
        octet_count=octets & 0xFFFFFFFF,
    )
    sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode())])])
    return bytes(RtcpSrPacket(ssrc=ssrc, sender_info=info)) + bytes(sdes)


def receiver_report(sender_ssrc: int, reports: list[RtcpReceiverInfo]) -> bytes:
    return bytes(RtcpRrPacket(ssrc=sender_ssrc, reports=reports[:31]))


def ntp_now(unix_time: float) -> int:
    """64-bit NTP timestamp of a Unix time."""
    return int((unix_time + 2_208_988_800) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


# --- state ------------------------------------------------------------------------------


class PacketHistory(Generic[T]):
    """The last `size` packets sent on one outgoing stream, by sequence number."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._slots: list[tuple[int, T] | None] = [None] * size

    def put(self, seq: int, item: T) -> None:
        self._slots[seq % self._size] = (seq, item)

    def get(self, seq: int) -> T | None:
        slot = self._slots[seq % self._size]
        return slot[1] if slot is not None and slot[0] == seq else None


class KeyframeGate:
    """At most one keyframe request per source per `interval` seconds."""

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}

    def allow(self, ssrc: int, now: float) -> bool:
        last = self._last.get(ssrc)
        if last is not None and now - last < self.interval:
            return False
        self._last[ssrc] = now
        return True


class NackDeduper:
    """Ask the publisher for a lost packet once per `hold` seconds, however many ask us."""

    def __init__(self, hold: float = 0.1) -> None:
        self.hold = hold
        self._asked: dict[tuple[int, int], float] = {}

    def filter(self, ssrc: int, seqs: list[int], now: float) -> list[int]:
        if len(self._asked) > 4096:
            self._asked = {k: t for k, t in self._asked.items() if now - t < self.hold}
        out = []
        for seq in seqs:
            last = self._asked.get((ssrc, seq))
            if last is None or now - last >= self.hold:
                self._asked[(ssrc, seq)] = now
                out.append(seq)
        return out


class RembTable:
    """Latest receiver estimate per subscriber stream, forgotten after `ttl` seconds."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[int, float]] = {}

    def record(self, key: str, bitrate: int, now: float) -> None:
        self._values[key] = (bitrate, now)

    def forget(self, key: str) -> None:
        self._values.pop(key, None)

    def minimum(self, keys: list[str], now: float) -> int | None:
        fresh = [
            v[0] for k in keys if (v := self._values.get(k)) is not None and now - v[1] < self.ttl
        ]
        return min(fresh) if fresh else None


class ReceiveStats:
    """RFC 3550 receiver statistics for one incoming SSRC (appendix A.1, A.3, A.8)."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.base_seq: int | None = None
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.jitter = 0.0
        self._transit: float | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self.last_sr: tuple[int, float] | None = None  # (middle 32 bits of NTP, arrival)

    def add(self, seq: int, timestamp: int, arrival: float) -> None:
        self.received += 1
        if self.base_seq is None:
            self.base_seq = self.max_seq = seq
        elif seq_newer(seq, self.max_seq):
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate * 10:  # ignore timestamp jumps (a new source)
                self.jitter += (d - self.jitter) / 16
        self._transit = transit

    def sender_report(self, ntp: int, arrival: float) -> None:
        self.last_sr = ((ntp >> 16) & 0xFFFFFFFF, arrival)

    def report(self, ssrc: int, now: float) -> RtcpReceiverInfo | None:
        if self.base_seq is None:
            return None
        extended_max = self.cycles + self.max_seq
        expected = extended_max - self.base_seq + 1
        interval_expected = expected - self._expected_prior
        interval_received = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = interval_expected - interval_received
        fraction = 0
        if interval_expected > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // interval_expected)
        lsr = dlsr = 0
        if self.last_sr is not None:
            lsr = self.last_sr[0]
            dlsr = min(0xFFFFFFFF, int((now - self.last_sr[1]) * 65536))
        return RtcpReceiverInfo(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=clamp_packets_lost(expected - self.received),
            highest_sequence=extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )
