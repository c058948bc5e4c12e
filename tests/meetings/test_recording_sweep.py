"""Plaintext left by a recording whose process died is removed at the next start-up."""

from __future__ import annotations

import asyncio
import logging
import sys
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor
from yiyun.meetings import recording, recording_work
from yiyun.meetings.models import Recording

API = "/api/v1"
HOLDER = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


async def _running_recording(app: Any, client: Any, world: World) -> tuple[int, Path]:
    """A recording row in `recording` and its working folder with engine plaintext."""
    res = await client.post(
        f"{API}/meetings", headers=world.auth("bob"), json={"title": "会诊", "invitees": ["alice"]}
    )
    assert res.status_code == 201, res.text
    meeting = int(res.json()["id"])
    async with app.state.sessions.begin() as db:
        row = await recording.begin(
            db,
            meeting_id=meeting,
            engine="embedded",
            started_by=Actor(user_id=world.users["bob"].id, username="bob"),
            included=["u1"],
            excluded=[],
        )
    folder = app.state.rooms.recordings_base / f"meeting-{meeting}-rec-{row.id}"
    (folder / f".{row.id}.parts").mkdir(parents=True)
    (folder / f".{row.id}.parts" / "u1-audio.frames").write_bytes(b"plaintext media")
    return row.id, folder


async def _state(app: Any, recording_id: int) -> str:
    async with app.state.sessions() as db:
        row = await db.get(Recording, recording_id)
        assert row is not None
        return str(row.state)


async def test_a_killed_recordings_plaintext_is_swept_and_its_row_failed(
    app: Any, client: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    rec_id, folder = await _running_recording(app, client, world)
    holder = await asyncio.create_subprocess_exec(  # another app process, recording here
        sys.executable, "-c", HOLDER, str(folder / recording_work.LOCK), stdout=PIPE
    )
    try:
        assert holder.stdout is not None and (await holder.stdout.readline()).strip() == b"held"
        swept = await app.state.rooms.sweep_working_files()
        assert swept == recording_work.Swept(folders=0, failed=0)  # still running there
        assert (folder / f".{rec_id}.parts" / "u1-audio.frames").exists()
        assert await _state(app, rec_id) == "recording"
    finally:
        holder.kill()  # the process dies mid-recording
        await holder.wait()

    with caplog.at_level(logging.INFO, logger="yiyun.meetings.recording_work"):
        swept = await app.state.rooms.sweep_working_files()
    assert swept == recording_work.Swept(folders=1, failed=1)
    assert not folder.exists()
    assert await _state(app, rec_id) == "failed"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "1 recordings" in logged and folder.name not in logged and "meeting-" not in logged

    async with app.state.sessions() as db:  # through the recording's state machine
        entries = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "meeting.recording.fail",
                    AuditEvent.entity_id == str(rec_id),
                )
            )
        ).all()
    assert [(e.details["from"], e.details["to"]) for e in entries] == [("recording", "failed")]

    again = await app.state.rooms.sweep_working_files()
    assert again == recording_work.Swept(folders=0, failed=0)


async def test_a_finished_recordings_leftover_folder_goes_and_its_row_stays_ready(
    app: Any, client: Any, world: World
) -> None:
    rec_id, folder = await _running_recording(app, client, world)
    async with app.state.sessions.begin() as db:
        row = await db.get(Recording, rec_id)
        assert row is not None
        row.state = "ready"
    other = app.state.rooms.recordings_base / "not-a-recording"
    other.mkdir()
    swept = await app.state.rooms.sweep_working_files()
    assert swept == recording_work.Swept(folders=1, failed=0)
    assert not folder.exists() and other.exists()  # only recordings' folders are touched
    assert await _state(app, rec_id) == "ready"


async def test_a_running_recording_in_this_process_is_left_alone(
    app: Any, client: Any, world: World
) -> None:
    rec_id, folder = await _running_recording(app, client, world)
    lock = recording_work.hold(folder)  # as `_start_recording` holds it
    try:
        swept = await app.state.rooms.sweep_working_files()
        assert swept == recording_work.Swept(folders=0, failed=0)
        assert folder.exists() and await _state(app, rec_id) == "recording"
    finally:
        recording_work.release(lock)
