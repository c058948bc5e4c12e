"""`yiyun teaching status` and `yiyun teaching transcode` on the app's own database and store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.factories import World
from tests.teaching.clips import make_clip
from yiyun.cli import main
from yiyun.settings import Settings


def cli(settings: Settings, *args: str) -> Any:
    sec = settings.security
    env = {
        "YIYUN_DB__URL": settings.db.url,
        "YIYUN_DATA_DIR": str(settings.data_dir),
        "YIYUN_STORAGE__PATH": str(settings.storage.path),
        "YIYUN_SECURITY__SECRET_KEY": sec.secret_key.get_secret_value() if sec.secret_key else "",
        "YIYUN_SECURITY__DATA_KEY": sec.data_key.get_secret_value() if sec.data_key else "",
    }
    return CliRunner().invoke(main, ["teaching", *args], env=env)


@pytest.mark.commits
async def test_the_command_line_shows_waiting_videos_and_transcodes_them(
    client: httpx.AsyncClient, world: World, settings: Settings, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2).read_bytes()
    res = await client.post(
        "/api/v1/teaching/videos",
        headers=world.auth("alice"),
        data={"title": "血压测量规范"},
        files={"file": ("bp.mp4", clip, "video/mp4")},
    )
    video_id = res.json()["id"]
    before = await asyncio.to_thread(cli, settings, "status")
    assert before.exit_code == 0, before.output
    assert "uploaded: 1" in before.output and f"#{video_id}" in before.output
    done = await asyncio.to_thread(cli, settings, "transcode", "--all")
    assert done.exit_code == 0, done.output
    assert "100.0%" in done.output and "1 video(s) transcoded" in done.output
    after = await asyncio.to_thread(cli, settings, "status")
    assert "ready: 1" in after.output and f"#{video_id}" not in after.output
    res = await client.get(
        f"/teaching/videos/{video_id}/hls/master.m3u8", headers=world.auth("bob")
    )
    assert res.status_code == 200  # the app reads what the command stored
    again = await asyncio.to_thread(cli, settings, "transcode")
    assert "nothing is waiting" in again.output
