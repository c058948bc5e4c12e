"""The live HLS stream of a lecture, for audiences beyond the WebRTC limit.

The media engine forwards the presenter's RTP (VP8, Opus) to a port pair on this
machine (`media.rtp_out`); FFmpeg reads it with an SDP file, encodes H.264 (x264,
`zerolatency`) and AAC, and writes CMAF (fragmented MP4) segments of
`segment_seconds` with a keyframe at every segment start, into a working directory
the app serves with the lecture's access check. Debian 12's FFmpeg 5.1 has no LL-HLS
parts (`EXT-X-PART`) in its HLS muxer, so latency comes from short segments instead.
Segments roll (the playlist keeps the last few); the directory is removed when the
stream stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from yiyun.media.rtp_out import RtpTarget, sdp_for

logger = logging.getLogger(__name__)

FILE = re.compile(r"^(?:index\.m3u8|init\.mp4|seg_\d{5}\.m4s)$")
TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4", ".m4s": "video/iso.segment"}
LIST_SIZE = 6


def free_port_pair() -> int:
    """An even UDP port whose successor (RTCP) is free too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1]) & ~1
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
            ):
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise OSError("no free UDP port pair")


def ffmpeg_args(sdp: Path, out: Path, *, segment_seconds: float, audio: bool) -> list[str]:
    seg = f"{segment_seconds:g}"
    args = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-protocol_whitelist",
        "file,udp,rtp",
        "-fflags",
        "+genpts",
        "-flags",
        "low_delay",
        "-analyzeduration",
        "1000000",
        "-probesize",
        "1000000",
        "-i",
        str(sdp),
        "-map",
        "0:v:0",
    ]
    if audio:
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "64k", "-ar", "48000"]
    args += [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{seg})",
        "-f",
        "hls",
        "-hls_time",
        seg,
        "-hls_list_size",
        str(LIST_SIZE),
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        str(out / "seg_%05d.m4s"),
        "-hls_flags",
        "delete_segments+independent_segments+program_date_time",
        str(out / "index.m3u8"),
    ]
    return args


@dataclass
class LiveStream:
    directory: Path
    target: RtpTarget
    process: asyncio.subprocess.Process
    forward_id: str | None = None
    room_id: str = ""
    participant: str = ""
    stderr: list[str] = field(default_factory=list)

    @property
    def playlist(self) -> Path:
        return self.directory / "index.m3u8"

    @property
    def running(self) -> bool:
        return self.process.returncode is None


async def start(directory: Path, *, segment_seconds: float, audio: bool = True) -> LiveStream:
    """Start FFmpeg listening on a fresh port pair (the caller starts the forward)."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("FFmpeg is not installed")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    video = free_port_pair()
    target = RtpTarget("127.0.0.1", video, free_port_pair() if audio else None)
    sdp = directory / "stream.sdp"
    await asyncio.to_thread(sdp.write_text, sdp_for(target))
    process = await asyncio.create_subprocess_exec(
        *ffmpeg_args(sdp, directory, segment_seconds=segment_seconds, audio=audio),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    stream = LiveStream(directory=directory, target=target, process=process)
    await _listening(stream)
    return stream


async def _listening(stream: LiveStream, within: float = 10.0) -> None:
    """Until FFmpeg holds its video port: packets sent before would be lost, the first
    keyframe with them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline and stream.running:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((stream.target.host, stream.target.video_port))
            except OSError:
                return
        await asyncio.sleep(0.02)
    raise RuntimeError("FFmpeg did not start listening")


async def stop(stream: LiveStream) -> None:
    """End FFmpeg (it writes its last segment) and remove the working directory."""
    if stream.running:
        with contextlib.suppress(ProcessLookupError):
            stream.process.terminate()
        try:
            await asyncio.wait_for(stream.process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                stream.process.kill()
            await stream.process.wait()
    if stream.process.stderr is not None:
        with contextlib.suppress(Exception):
            text = (await stream.process.stderr.read()).decode(errors="replace")
            stream.stderr = text.splitlines()[-5:]
    await asyncio.to_thread(shutil.rmtree, stream.directory, True)


def file_path(stream: LiveStream, name: str) -> Path | None:
    """The file to serve for `name`, if it is one of the stream's and exists now."""
    if not FILE.match(name):
        return None
    path = stream.directory / name
    return path if path.is_file() else None
