"""The embedded engine's RTP forwarder for live streaming (`media.rtp_out`).

A `RtpTap` sees the packets of one participant the room receives (muted publications
never reach it, `Room.on_media`). Video: it follows one stream, the highest simulcast
layer live when it starts, from a keyframe on (a PLI is asked for until one comes);
if that stream goes silent it starts again on the best live one. Audio (Opus) passes
as it comes. Packets are re-addressed, not decoded.
"""

from __future__ import annotations

from yiyun.media.embedded._aiortc import RtpPacket
from yiyun.media.embedded.forwarder import is_keyframe
from yiyun.media.embedded.room import Source, Track
from yiyun.media.rtp_out import RtpTarget, UdpOut, packet

SILENT_S = 1.0


class RtpTap:
    def __init__(self, forward_id: str, participant_id: str, target: RtpTarget) -> None:
        self.id = forward_id
        self.participant_id = participant_id
        self.out = UdpOut(target)
        self.layer: str | None = None  # the video stream followed, once a keyframe came
        self.last_video = 0.0

    def wants(self, track: Track) -> bool:
        return track.publisher == self.participant_id and track.kind in ("audio", "video")

    def on_packet(
        self, track: Track, source: Source, pkt: RtpPacket, codec: str, now: float
    ) -> bool:
        """Send it on if it belongs to what is followed; True when a keyframe is needed."""
        if track.kind == "audio":
            if codec.upper() == "OPUS":
                self.out.send("audio", self._bytes("audio", pkt))
            return False
        if codec.upper() != "VP8":
            return False
        if self.layer is not None and now - self.last_video > SILENT_S:
            self.layer = None  # the stream followed went silent: start again
        if self.layer is None:
            live = track.live_layers(now) or track.layers
            if source.layer != live[-1]:
                return False
            if not is_keyframe("VP8", pkt.payload):
                return True
            self.layer = source.layer
        if source.layer != self.layer:
            return False
        self.last_video = now
        self.out.send("video", self._bytes("video", pkt))
        return False

    @staticmethod
    def _bytes(kind: str, pkt: RtpPacket) -> bytes:
        return packet(kind, pkt.sequence_number, pkt.timestamp, bool(pkt.marker), pkt.payload)

    def close(self) -> None:
        self.out.close()
