"""Receiving a video upload: streamed to a working file with a size limit, sniffed, and
probed by FFmpeg before anything is stored, so a refused file leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Protocol

from yiyun.core.errors import InvalidInput
from yiyun.teaching import service, transcode

CHUNK = 1 << 20


class Upload(Protocol):
    """A file part of a form (Starlette's `UploadFile`)."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


async def receive(upload: Upload, work_dir: Path, max_bytes: int) -> tuple[Path, str, int]:
    """The working file, the clean file name and the size; `InvalidInput` if refused."""
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    path = work_dir / f"upload-{secrets.token_hex(8)}"
    size = 0
    name = ""
    fh = await asyncio.to_thread(path.open, "wb")
    try:
        try:
            while chunk := await upload.read(CHUNK):
                if not name:
                    name = service.sniff_video(upload.filename or "upload", chunk[:8192])
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(
                        "the file is too large",
                        code="upload.too_large",
                        details={"max_bytes": max_bytes},
                    )
                await asyncio.to_thread(fh.write, chunk)
        finally:
            fh.close()
        if size == 0:
            raise InvalidInput("the file is empty", code="upload.empty")
        if transcode.tools_missing() is None:
            await transcode.probe(path)  # refuses a container with no playable video
        return path, name, size
    except BaseException:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.unlink)
        raise
