"""The HLS ladder FFmpeg makes from a short generated clip, checked with ffprobe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.teaching.clips import make_clip, probe_streams
from yiyun.core.errors import InvalidInput
from yiyun.teaching import transcode

# FFmpeg comes from Debian (scripts/install-system.sh); without it these fail, not skip.


def durations(playlist: Path) -> list[float]:
    return [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", playlist.read_text())]


async def test_a_720p_clip_becomes_720p_360p_and_sound_only_with_even_segments(
    tmp_path: Path,
) -> None:
    src = make_clip(tmp_path / "lecture.mp4", seconds=5, size="1280x720")
    source = await transcode.probe(src)
    assert (source.width, source.height, source.has_audio) == (1280, 720, True)
    assert 4.9 < source.duration_s < 5.2
    rungs = transcode.ladder(source)
    assert [r.name for r in rungs] == ["720p", "360p", "audio"]  # never upscaled to 1080p

    seen: list[float] = []

    async def progress(share: float) -> None:
        seen.append(share)

    out = tmp_path / "hls"
    await transcode.transcode(src, out, source, rungs, segment_s=2, progress=progress)
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0, abs=0.05)

    master = (out / "master.m3u8").read_text()
    assert [line for line in master.splitlines() if line.endswith(".m3u8")] == [
        "720p/index.m3u8",
        "360p/index.m3u8",
        "audio/index.m3u8",
    ]
    assert "RESOLUTION=1280x720" in master and "RESOLUTION=640x360" in master
    for rung, height in (("720p", "720"), ("360p", "360"), ("audio", None)):
        playlist = out / rung / "index.m3u8"
        assert '#EXT-X-MAP:URI="init.mp4"' in playlist.read_text()
        assert (out / rung / "init.mp4").exists()
        lengths = durations(playlist)
        # Keyframes are forced on the 2-second boundaries: every segment but the last is
        # exactly 2 s, and together they cover the clip.
        assert all(d == pytest.approx(2.0, abs=0.05) for d in lengths[:-1]), lengths
        assert sum(lengths) == pytest.approx(source.duration_s, abs=0.15)
        streams = probe_streams(playlist)
        kinds = sorted(s["codec_type"] for s in streams)
        if height is None:
            assert kinds == ["audio"]
        else:
            assert kinds == ["audio", "video"]
            assert str(next(s for s in streams if s["codec_type"] == "video")["height"]) == height


async def test_a_silent_small_clip_gets_one_rung_at_its_own_height(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "small.mp4", seconds=2, size="320x240", audio=False)
    source = await transcode.probe(src)
    rungs = transcode.ladder(source)
    assert [(r.name, r.height) for r in rungs] == [("240p", 240)]


async def test_a_file_with_no_video_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    with pytest.raises(InvalidInput) as refused:
        await transcode.probe(junk)
    assert refused.value.code == "teaching.no_video"
