"""Rows the learning tests build on: a meeting with recorded stays, a ready video with a
viewer's progress, a finished recording."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.factories import World
from yiyun.core.clock import now
from yiyun.meetings.models import Attendance, Recording
from yiyun.teaching.models import Video, VideoState

API = "/api/v1"


async def meeting(client: httpx.AsyncClient, world: World, host: str = "bob", **extra: Any) -> int:
    res = await client.post(
        f"{API}/meetings",
        headers=world.auth(host),
        json={"title": "社区高血压管理讲座", "invitees": ["alice", "nina", "mallory"]} | extra,
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def stay(
    app: Any,
    world: World,
    meeting_id: int,
    who: str,
    minutes: float,
    *,
    start: datetime | None = None,
    connection: str = "c1",
) -> None:
    """A stay of `minutes` that ended (or started at `start`)."""
    begin = start or now() - timedelta(minutes=minutes + 1)
    user = world.users[who]
    async with app.state.sessions() as s, s.begin():
        s.add(
            Attendance(
                meeting_id=meeting_id,
                identity=f"u{user.id}",
                user_id=user.id,
                institution_id=user.institution_id,
                connection=f"{who}-{connection}",
                joined_at=begin,
                left_at=begin + timedelta(minutes=minutes),
            )
        )


async def video(app: Any, world: World, owner: str = "alice", seconds: float = 100.0) -> int:
    async with app.state.sessions() as s, s.begin():
        row = Video(
            institution_id=world.users[owner].institution_id,
            uploaded_by_id=world.users[owner].id,
            title="心电图判读入门",
            source_key="teaching/videos/x/source.mp4",
            source_name="x.mp4",
            state=VideoState.READY,
            tags=[],
            renditions=[],
            hls_prefix="teaching/videos/x/hls/1",
            duration_s=seconds,
        )
        s.add(row)
        await s.flush()
        return row.id


async def watch_all(client: httpx.AsyncClient, world: World, who: str, video_id: int) -> None:
    res = await client.put(
        f"{API}/teaching/videos/{video_id}/progress",
        headers=world.auth(who),
        json={"position_s": 100, "played": [[0, 100]]},
    )
    assert res.status_code == 200 and res.json()["completed_at"], res.text


async def recording(app: Any, world: World, meeting_id: int, who: str = "bob") -> int:
    key = f"recordings/test-{meeting_id}/recording.mkv"
    await app.state.store.put(key, b"\x1a\x45\xdf\xa3" + b"\0" * 2000)
    async with app.state.sessions() as s, s.begin():
        row = Recording(
            meeting_id=meeting_id,
            state="ready",
            engine="embedded",
            started_by_id=world.users[who].id,
            started_at=now() - timedelta(minutes=30),
            ended_at=now(),
            included=[],
            excluded=[],
            storage_key=key,
            size=2004,
            tracks=[],
        )
        s.add(row)
        await s.flush()
        return row.id
