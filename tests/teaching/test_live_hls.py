"""The live HLS stream of a lecture with real components: an aiortc peer publishes VP8
and Opus to the embedded engine, the engine forwards the RTP, FFmpeg packages CMAF
segments; ffprobe plays the playlist, and the ingest-to-playlist latency is measured
(each segment: when the playlist lists it, against when its last frame entered the
engine)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import VideoStreamTrack

from tests.media.utils import ClientPeer
from yiyun.media import RoomSpec
from yiyun.media.embedded.engine import EmbeddedEngine
from yiyun.media.rtp_out import RtpForwarding
from yiyun.teaching import live_hls

pytestmark = [
    pytest.mark.media,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="FFmpeg is not installed"),
]
SEGMENT_S = 1.0


class Clock(VideoStreamTrack):
    """320x240 at 30 fps with a moving bar (every frame differs)."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        img = np.full((240, 320, 3), 40, dtype=np.uint8)
        img[:, (pts // 3000) % 320] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def segments(playlist: Path) -> list[tuple[str, float]]:
    if not playlist.exists():
        return []
    out, duration = [], None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif re.fullmatch(r"seg_\d{5}\.m4s", line) and duration is not None:
            out.append((line, duration))
            duration = None
    return out


async def test_the_presenters_rtp_becomes_a_playable_low_latency_playlist(tmp_path: Path) -> None:
    engine = EmbeddedEngine(loopback_candidates=True)

    async def ignore(_: object) -> None:
        return None

    await engine.start(ignore)
    assert isinstance(engine, RtpForwarding)
    peer = ClientPeer()
    stream: live_hls.LiveStream | None = None
    try:
        await engine.create_room(RoomSpec(room_id="lecture-1"))
        await engine.join("lecture-1", "p1", display_name="Presenter")
        offer = await peer.publish_offer(video_track=Clock())
        await peer.accept_publish_answer(await engine.publish("lecture-1", "p1", offer))

        stream = await live_hls.start(tmp_path / "live", segment_seconds=SEGMENT_S)
        forward = await engine.start_forward("lecture-1", "p1", stream.target)
        tap = engine._rooms["lecture-1"].taps[forward]  # the first packet out: ingest time
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while tap.out.sent == 0:
            assert loop.time() < deadline, "nothing was forwarded"
            await asyncio.sleep(0.005)
        ingest_start = time.monotonic()
        deadline = loop.time() + 30

        listed: dict[str, float] = {}
        order: list[tuple[str, float]] = []
        while len(order) < 8:
            assert loop.time() < deadline, f"too few segments: {order} {stream.stderr}"
            assert stream.running, "FFmpeg stopped"
            for name, dur in segments(stream.playlist):
                if name not in listed:
                    listed[name] = time.monotonic()
                    order.append((name, dur))
            await asyncio.sleep(0.02)

        # media time at the end of each segment = the sum of durations so far
        latencies, media_end = [], 0.0
        for name, dur in order:
            media_end += dur
            latencies.append(listed[name] - (ingest_start + media_end))
        steady = latencies[2:]  # the first ones include FFmpeg's probing
        p50, worst = statistics.median(steady), max(steady)
        oldest = statistics.median(
            lat + dur for lat, (_, dur) in zip(steady, order[2:], strict=True)
        )
        print(
            f"\nlive HLS ingest-to-playlist over {len(steady)} segments of {SEGMENT_S:g} s: "
            f"a segment is listed p50 {p50:.2f} s (max {worst:.2f} s) after its last frame "
            f"entered the engine, p50 {oldest:.2f} s after its first; "
            f"the first segment {latencies[0]:.2f} s after its end"
        )
        assert all(abs(dur - SEGMENT_S) < 0.35 for _, dur in order[1:])
        assert p50 < 3.0, latencies
        # a viewer would be this far behind at best: a segment plus the listing delay
        assert p50 + SEGMENT_S < 4.0

        probe = await asyncio.to_thread(
            subprocess.run,
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,codec_name,width,height",
                "-of",
                "json",
                str(stream.playlist),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
        assert streams["video"]["codec_name"] == "h264"
        assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
        assert streams["audio"]["codec_name"] == "aac"
        await engine.stop_forward("lecture-1", forward)
    finally:
        if stream is not None:
            await live_hls.stop(stream)
        await peer.close()
        await engine.close()
    assert not (tmp_path / "live").exists()
