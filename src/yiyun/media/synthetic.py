"""Encoded media made from nothing: tiny VP8 pictures and Opus silence.

`InMemoryEngine` sends no media, yet its recordings are real Matroska files so that
domain tests inspect them as they would a real one (`probe_tracks`, decoding).
These helpers encode a few frames with PyAV for each span of time a track "had
media" in the fake, at the times it had it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

from yiyun.media.engine import MediaKind
from yiyun.media.matroska import Frame

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
VIDEO_STEP = VIDEO_CLOCK // 10  # 10 frames a second
AUDIO_STEP = AUDIO_CLOCK // 50  # 20 ms Opus frames, as WebRTC sends them
MIN_VIDEO_FRAMES = 3
MIN_AUDIO_FRAMES = 5
SIZE = 32  # pixels, square


def _times(
    spans: Sequence[tuple[float, float]], clock: int, step: int, least: int
) -> list[list[int]]:
    """Frame times (clock units) covering each span, at least `least` per span, increasing."""
    out: list[list[int]] = []
    last = -step
    for begin, end in spans:
        first = max(round(begin * clock), last + step)
        count = max(least, round((end - begin) * clock / step))
        out.append([first + i * step for i in range(count)])
        last = out[-1][-1]
    return out


def vp8_frames(spans: Sequence[tuple[float, float]]) -> list[Frame]:
    """A changing grey picture for each span (seconds from the start), keyframe first."""
    out: list[Frame] = []
    for times in _times(spans, VIDEO_CLOCK, VIDEO_STEP, MIN_VIDEO_FRAMES):
        encoder = av.CodecContext.create("libvpx", "w")
        encoder.width = encoder.height = SIZE
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = Fraction(1, VIDEO_CLOCK)
        encoder.options = {"deadline": "realtime", "lag-in-frames": "0", "auto-alt-ref": "0"}
        packets = []
        for i, pts in enumerate(times):
            shade = np.full((SIZE, SIZE, 3), (i * 23) % 256, dtype=np.uint8)
            picture = av.VideoFrame.from_ndarray(shade, format="rgb24").reformat(format="yuv420p")
            picture.pts, picture.time_base = pts, encoder.time_base
            packets += encoder.encode(picture)
        packets += encoder.encode(None)
        out += [Frame(int(p.pts), p.is_keyframe, bytes(p)) for p in packets if p.pts is not None]
    return out


def opus_frames(spans: Sequence[tuple[float, float]]) -> list[Frame]:
    """20 ms Opus packets of silence covering each span (seconds from the start)."""
    times = [t for ts in _times(spans, AUDIO_CLOCK, AUDIO_STEP, MIN_AUDIO_FRAMES) for t in ts]
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = AUDIO_CLOCK
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.time_base = Fraction(1, AUDIO_CLOCK)
    silence = np.zeros((1, AUDIO_STEP * 2), dtype=np.int16)
    packets: list[bytes] = []
    for pts in times:
        samples = av.AudioFrame.from_ndarray(silence, format="s16", layout="stereo")
        samples.sample_rate, samples.pts = AUDIO_CLOCK, pts
        packets += [bytes(p) for p in encoder.encode(samples)]
    packets += [bytes(p) for p in encoder.encode(None)]
    # Opus packets stand alone: each is stamped with the time it stands for
    return [Frame(pts, True, data) for pts, data in zip(times, packets, strict=False)]


def frames_for(kind: MediaKind, spans: Sequence[tuple[float, float]]) -> list[Frame]:
    return vp8_frames(spans) if kind == "video" else opus_frames(spans)
