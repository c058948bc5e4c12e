"""FFmpeg: probe an uploaded video and transcode it to an HLS ladder (CMAF/fMP4
segments, keyframes on segment boundaries), plus a thumbnail.

The ladder is 1080p, 720p and 360p video (each rung only when the source is at least
that tall; a smaller source gets one rung at its own height) and an audio-only
rendition when the source has sound. One FFmpeg run encodes every rung, so the source
is decoded once; `-progress` reports how far it got.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from yiyun.core.errors import InvalidInput


class TranscodeError(Exception):
    """FFmpeg could not read or encode the video (the message says why, for the item)."""


@dataclass(frozen=True)
class Probe:
    duration_s: float
    width: int
    height: int
    has_audio: bool


@dataclass(frozen=True)
class Rung:
    name: str
    height: int | None  # None: audio only
    video_kbps: int
    audio_kbps: int


LADDER = (
    Rung("1080p", 1080, 4500, 128),
    Rung("720p", 720, 2500, 128),
    Rung("360p", 360, 700, 96),
)
AUDIO = Rung("audio", None, 0, 96)


def tools_missing() -> str | None:
    """Why this server cannot transcode, or None."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


async def _run(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


async def probe(path: Path) -> Probe:
    """Duration, size and sound of a video file; `InvalidInput` if it holds no video."""
    code, out, _ = await _run(
        "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
        str(path),
    )  # fmt: skip
    info = json.loads(out or b"{}") if code == 0 else {}
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or not video.get("width"):
        raise InvalidInput("the file holds no video that can be played", code="teaching.no_video")
    duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0)
    if duration <= 0:
        raise InvalidInput("the video has no length", code="teaching.no_video")
    return Probe(
        duration_s=duration,
        width=int(video["width"]),
        height=int(video["height"]),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )


def ladder(source: Probe) -> list[Rung]:
    """The rungs worth encoding for this source (never upscaled)."""
    rungs = [r for r in LADDER if r.height is not None and r.height <= source.height]
    if not rungs:  # smaller than 360p: one rung at the source's own (even) height
        height = max(2, source.height - source.height % 2)
        rungs = [Rung(f"{height}p", height, 500, 96)]
    return [*rungs, AUDIO] if source.has_audio else rungs


def command(src: Path, out: Path, source: Probe, rungs: list[Rung], segment_s: int) -> list[str]:
    """The one FFmpeg command line for the whole ladder."""
    video_rungs = [r for r in rungs if r.height is not None]
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", str(src)]
    split = len(video_rungs)
    outs = "".join(f"[v{i}]" for i in range(split))
    scales = ";".join(
        f"[v{i}]scale=-2:{r.height}[s{i}]" for i, r in enumerate(video_rungs)
    )  # fmt: skip
    args += ["-filter_complex", f"[0:v]split={split}{outs};{scales}"]
    stream_map = []
    audio_index = 0
    for i, rung in enumerate(video_rungs):
        args += ["-map", f"[s{i}]", f"-c:v:{i}", "libx264", f"-b:v:{i}", f"{rung.video_kbps}k"]
        args += [f"-maxrate:v:{i}", f"{rung.video_kbps * 12 // 10}k"]
        args += [f"-bufsize:v:{i}", f"{rung.video_kbps * 2}k"]
        entry = f"v:{i}"
        if source.has_audio:
            args += ["-map", "0:a:0", f"-c:a:{audio_index}", "aac"]
            args += [f"-b:a:{audio_index}", f"{rung.audio_kbps}k", f"-ac:a:{audio_index}", "2"]
            entry += f",a:{audio_index}"
            audio_index += 1
        stream_map.append(f"{entry},name:{rung.name}")
    if any(r.height is None for r in rungs):
        args += ["-map", "0:a:0", f"-c:a:{audio_index}", "aac", f"-b:a:{audio_index}", "96k"]
        args += [f"-ac:a:{audio_index}", "2"]
        stream_map.append(f"a:{audio_index},name:{AUDIO.name}")
    args += [
        "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-force_key_frames", f"expr:gte(t,n_forced*{segment_s})", "-sc_threshold", "0",
        "-f", "hls", "-hls_time", str(segment_s), "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", str(out / "%v" / "seg_%05d.m4s"),
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", " ".join(stream_map),
        "-progress", "pipe:1", "-nostats",
        str(out / "%v" / "index.m3u8"),
    ]  # fmt: skip
    return args


Progress = Callable[[float], Awaitable[None]]


async def transcode(
    src: Path, out: Path, source: Probe, rungs: list[Rung], *, segment_s: int, progress: Progress
) -> None:
    """Encode the ladder into `out` (master.m3u8, <rung>/index.m3u8, init.mp4, segments)."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *command(src, out, source, rungs, segment_s),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if proc.stdout is None or proc.stderr is None:  # pragma: no cover (asked for pipes)
        raise TranscodeError("FFmpeg's output could not be read")
    errors = asyncio.create_task(proc.stderr.read())
    try:
        async for raw in proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdecimal():
                await progress(min(1.0, int(value) / 1e6 / source.duration_s))
        code = await proc.wait()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    stderr = (await errors).decode(errors="replace")
    if code != 0:
        last = [line for line in stderr.splitlines() if line.strip()][-1:] or ["no output"]
        raise TranscodeError(f"FFmpeg failed ({code}): {last[0][:300]}")
    if not await asyncio.to_thread((out / "master.m3u8").exists):
        raise TranscodeError("FFmpeg wrote no master playlist")
    await asyncio.to_thread(_fix_init_paths, out, rungs)


def _fix_init_paths(out: Path, rungs: list[Rung]) -> None:
    """FFmpeg names each rung's init segment `init_<n>.mp4` (beside the master playlist
    in some versions, in the rung's folder in others): give every rung an `init.mp4` in
    its own folder, so a rung is self-contained and its files have fixed names."""
    for index, rung in enumerate(rungs):
        folder = out / rung.name
        playlist = folder / "index.m3u8"
        names = (folder / f"init_{index}.mp4", out / f"init_{index}.mp4", folder / "init.mp4")
        for candidate in names:
            if candidate.exists():
                if candidate != folder / "init.mp4":
                    candidate.replace(folder / "init.mp4")
                break
        text = playlist.read_text()
        for name in (f"init_{index}.mp4", "init.mp4"):
            text = text.replace(f'URI="{name}"', 'URI="init.mp4"')
        playlist.write_text(text)


async def thumbnail(src: Path, dest: Path, source: Probe) -> None:
    """A 320-pixel-wide JPEG from a tenth of the way in (at most 5 s)."""
    at = min(source.duration_s * 0.1, 5.0)
    code, _, err = await _run(
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-ss", f"{at:.2f}", "-i", str(src),
        "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "4", str(dest),
    )  # fmt: skip
    if code != 0 or not await asyncio.to_thread(dest.exists):
        raise TranscodeError("could not take a thumbnail: " + err.decode(errors="replace")[-200:])
