"""Benchmark the teaching library's transcode: how many times real time the HLS ladder
is made on this machine, per source size, and how that compares with FFmpeg encoding the
top rung alone (what a single-rendition service would pay).

Sources are generated with FFmpeg (`testsrc2` with a tone, H.264 + AAC): 60 s at 1080p
and 720p by default. Each is transcoded by `yiyun.teaching.transcode` exactly as the
app's job does (one FFmpeg process, every rung, `-preset veryfast`).

Usage: ``.venv/bin/python benchmarks/bench_transcode.py [--seconds 60] [--runs 2]``.
Writes ``benchmarks/results/transcode.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from yiyun.teaching import transcode

RESULTS = Path(__file__).resolve().parent / "results" / "transcode.json"


def make_source(dest: Path, seconds: int, size: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", str(dest)],
        check=True,
    )  # fmt: skip


def top_rung_only(src: Path, out: Path, height: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", f"scale=-2:{height}",
         "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-f", "hls",
         "-hls_time", "4", "-hls_playlist_type", "vod", str(out / "single.m3u8")],
        check=True,
    )  # fmt: skip


async def ladder(src: Path, out: Path) -> tuple[float, list[str]]:
    probe = await transcode.probe(src)
    rungs = transcode.ladder(probe)

    async def progress(_share: float) -> None:
        return None

    started = time.perf_counter()
    await transcode.transcode(src, out, probe, rungs, segment_s=4, progress=progress)
    return time.perf_counter() - started, [r.name for r in rungs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    missing = transcode.tools_missing()
    if missing:
        raise SystemExit(f"cannot benchmark: {missing} (scripts/install-system.sh)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, height in (("1920x1080", 1080), ("1280x720", 720)):
            src = Path(tmp) / f"src{height}.mp4"
            make_source(src, args.seconds, size)
            ladder_s, singles = [], []
            names: list[str] = []
            for run in range(args.runs):
                out = Path(tmp) / f"out{height}-{run}"
                took, names = asyncio.run(ladder(src, out))
                ladder_s.append(took)
                single = Path(tmp) / f"single{height}-{run}"
                single.mkdir()
                started = time.perf_counter()
                top_rung_only(src, single, height)
                singles.append(time.perf_counter() - started)
            row = {
                "source": f"{height}p {args.seconds}s",
                "rungs": names,
                "ladder_s": round(statistics.median(ladder_s), 2),
                "ladder_x_realtime": round(args.seconds / statistics.median(ladder_s), 2),
                "top_rung_only_s": round(statistics.median(singles), 2),
                "ladder_over_top_rung": round(
                    statistics.median(ladder_s) / statistics.median(singles), 2
                ),
            }
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
