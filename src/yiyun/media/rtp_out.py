"""Forwarding one participant's media as plain RTP to a local port pair: what a live
HLS packager (FFmpeg) listens to.

Engines that can forward implement `RtpForwarding` (the embedded engine does; Janus
has `rtp_forward` in its VideoRoom, not wired yet). The packets leave as they came
(VP8 and Opus, nothing decoded), with a fixed SSRC and payload type per kind, so the
receiver's SDP (`sdp_for`) never changes. Only loopback targets are allowed: media
leaves the engine unencrypted here.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from yiyun.core.errors import InvalidInput

PAYLOAD_TYPES = {"video": 96, "audio": 111}
SSRCS = {"video": 0x59590001, "audio": 0x59590002}


@dataclass(frozen=True)
class RtpTarget:
    host: str
    video_port: int
    audio_port: int | None = None

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise InvalidInput("RTP is forwarded to this machine only", code="media.rtp_target")

    def port(self, kind: str) -> int | None:
        return self.video_port if kind == "video" else self.audio_port


def sdp_for(target: RtpTarget) -> str:
    """The session description FFmpeg reads to receive what is forwarded to `target`."""
    lines = [
        "v=0",
        f"o=- 0 0 IN IP4 {target.host}",
        "s=yiyun live",
        f"c=IN IP4 {target.host}",
        "t=0 0",
        f"m=video {target.video_port} RTP/AVP {PAYLOAD_TYPES['video']}",
        f"a=rtpmap:{PAYLOAD_TYPES['video']} VP8/90000",
    ]
    if target.audio_port is not None:
        lines += [
            f"m=audio {target.audio_port} RTP/AVP {PAYLOAD_TYPES['audio']}",
            f"a=rtpmap:{PAYLOAD_TYPES['audio']} opus/48000/2",
        ]
    return "\r\n".join(lines) + "\r\n"


def packet(kind: str, seq: int, ts: int, marker: bool, payload: bytes) -> bytes:
    """A plain RTP packet (RFC 3550: version 2, no CSRC, no header extension)."""
    second = (0x80 if marker else 0) | PAYLOAD_TYPES[kind]
    return struct.pack("!BBHII", 0x80, second, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRCS[kind]) + payload


class UdpOut:
    """A non-blocking UDP socket sending to the target's ports (a full buffer drops)."""

    def __init__(self, target: RtpTarget) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = 0

    def send(self, kind: str, data: bytes) -> None:
        port = self.target.port(kind)
        if port is None:
            return
        try:
            self.sock.sendto(data, (self.target.host, port))
            self.sent += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass  # live media: a packet the receiver cannot take now is gone

    def close(self) -> None:
        self.sock.close()


@runtime_checkable
class RtpForwarding(Protocol):
    async def start_forward(self, room_id: str, participant_id: str, target: RtpTarget) -> str:
        """Forward the participant's video (and audio) to `target`; returns its id.
        Raises `RoomNotFound` / `ParticipantNotFound`."""

    async def stop_forward(self, room_id: str, forward_id: str) -> None:
        """Stop (idempotent)."""
