"""Stream a stored (sealed) file over HTTP, with single byte ranges for playback.

Only the chunks a range touches are opened; the body is read and decrypted a block at
a time on a worker thread, so a large recording never sits in memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from yiyun.core.sealed import SealedReader
from yiyun.core.storage import BlobStore

logger = logging.getLogger(__name__)
BLOCK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    """The range asks for bytes the file does not have."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single `Range: bytes=` request, or None
    to send the whole file (no header, several ranges or one we do not understand: a
    server may ignore Range, RFC 9110 §14.2). Raises `Unsatisfiable`."""
    if not header:
        return None
    found = _RANGE.match(header.replace(" ", ""))
    if found is None:
        return None
    first, last = found.groups()
    if not first:
        if not last:
            return None
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable()
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise Unsatisfiable()
    return start, end


async def _body(reader: SealedReader, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        pos = start
        while pos <= end:
            block = await asyncio.to_thread(reader.read, min(BLOCK, end + 1 - pos))
            if not block:
                break
            pos += len(block)
            yield block
    finally:
        reader.close()


async def blob_response(
    store: BlobStore,
    key: str,
    *,
    range_header: str | None,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """200 with the whole file, 206 with one range, or 416 (`Content-Range: */size`)."""
    reader = await store.open(key)
    try:
        size = reader.size
        try:
            wanted = parse_range(range_header, size)
        except Unsatisfiable:
            reader.close()
            return Response(
                status_code=416, headers={"Content-Range": f"bytes */{size}", **(headers or {})}
            )
        start, end = wanted if wanted is not None else (0, size - 1)
        reader.seek(start)
        # Open the first chunk now: a damaged file fails before any byte is sent.
        await asyncio.to_thread(reader.chunk, start // reader.chunk_size)
    except BaseException:
        reader.close()
        raise
    out = {"Accept-Ranges": "bytes", "Content-Length": str(end + 1 - start), **(headers or {})}
    status = 200
    if wanted is not None:
        status = 206
        out["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _body(reader, start, end), status_code=status, media_type=media_type, headers=out
    )


PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


async def private_file(request: Request, store: BlobStore, key: str, media_type: str) -> Response:
    """A user's own upload (a photo, an attachment): ranges served, never cached, never
    sniffed into another type."""
    return await blob_response(
        store,
        key,
        range_header=request.headers.get("range"),
        media_type=media_type,
        headers=PRIVATE,
    )
