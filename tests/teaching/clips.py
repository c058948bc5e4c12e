"""Short test clips made with FFmpeg's `testsrc` and `sine` sources (nothing downloaded)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_clip(
    dest: Path, *, seconds: float, size: str = "320x240", fps: int = 10, audio: bool = True
) -> Path:
    """An H.264 MP4 of a moving test pattern (with a 440 Hz tone when `audio`)."""
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    args += ["-movflags", "+faststart", str(dest)]
    subprocess.run(args, check=True)
    return dest


def probe_streams(path: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,height", "-of", "json",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    import json

    return list(json.loads(out).get("streams", []))
