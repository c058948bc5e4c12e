"""The working folders of running recordings (`<data_dir>/recordings-work/`).

A media engine writes plaintext there while a recording runs (docs/storage.md). The
process that runs a recording holds an exclusive lock on `.lock` in its folder until the
recording is finished and sealed; the operating system releases the lock when that
process dies. At start-up, a folder whose lock can be taken therefore belongs to a
recording nobody runs any more (the process was killed mid-recording, or sealing
failed): its plaintext is removed and its row, if still `recording`, marked `failed`.
Folders of recordings running in another app process on the same data directory keep
their lock and are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.bus import EventBus
from yiyun.core.db import retry_when_locked
from yiyun.meetings import recording
from yiyun.meetings.models import Recording

logger = logging.getLogger(__name__)
LOCK = ".lock"
FOLDER = re.compile(r"meeting-(\d+)-rec-(\d+)")


def hold(directory: Path) -> int:
    """Take this recording's lock (a file descriptor, released by `release` or when the
    process ends)."""
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _abandoned(base: Path) -> list[tuple[Path, int, int]]:
    """Folders nobody holds, each with the lock taken (folder, recording id, lock)."""
    found: list[tuple[Path, int, int]] = []
    if not base.is_dir():
        return found
    for folder in sorted(base.iterdir()):
        match = FOLDER.fullmatch(folder.name)
        if match is None or not folder.is_dir():
            continue
        try:
            fd = hold(folder)
        except OSError:  # held: the recording runs in another process
            continue
        found.append((folder, int(match.group(2)), fd))
    return found


@dataclass(frozen=True)
class Swept:
    folders: int
    failed: int


async def sweep(sessions: async_sessionmaker[AsyncSession], bus: EventBus, base: Path) -> Swept:
    """Remove the working files of recordings no longer running; mark their rows failed."""
    abandoned = await asyncio.to_thread(_abandoned, base)
    failed = 0
    for folder, recording_id, fd in abandoned:
        try:
            await asyncio.to_thread(shutil.rmtree, folder, True)

            async def mark(recording_id: int = recording_id) -> bool:
                async with sessions.begin() as db:
                    row = await db.get(Recording, recording_id)
                    if row is None or row.state != "recording":
                        return False
                    await recording.fail(db, bus, recording_id)
                    return True

            failed += await retry_when_locked(mark)
        finally:
            release(fd)
    swept = Swept(folders=len(abandoned), failed=failed)
    if abandoned:
        logger.warning(
            "removed the working files of %d recordings no longer running (%d marked failed)",
            swept.folders,
            swept.failed,
        )
    return swept
