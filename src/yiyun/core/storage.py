"""Blob storage behind one interface; a local directory is the default.

Every blob is sealed at rest (`yiyun.core.sealed`: AES-GCM, a data key per blob
wrapped by the configured key-encryption key). Callers see plaintext only: `get` for
small files, `open` for a seekable stream of a large one (playback with byte ranges).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.sealed import BlobKeys, SealedReader, SealWriter, is_sealed, rewrap, seal_stream

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
PART = ".part"  # suffix of a blob being written


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def put_file(self, key: str, source: Path) -> None:
        """Store a (possibly large) file without reading it into memory; `source` is
        removed once stored."""

    async def open(self, key: str) -> SealedReader:
        """A seekable, blocking reader of the blob's plaintext (use it off the event
        loop); reads open only the chunks they touch."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (`..`, absolute paths, odd characters)."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidInput("invalid storage key", code="storage.invalid_key")
    return key


def _not_found() -> NotFound:
    return NotFound("blob not found", code="storage.not_found")


class LocalStore:
    """Sealed files under one directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path, keys: BlobKeys) -> None:
        self.root = root
        self.keys = keys

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write(self, key: str, fill: bytes | Path) -> None:
        """Seal into `<path>.part`, flush it to disk, then rename over the blob."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + PART)
        try:
            with tmp.open("wb") as out:
                if isinstance(fill, bytes):
                    writer = SealWriter(out, self.keys, key)
                    writer.write(fill)
                    writer.close()
                else:
                    with fill.open("rb") as src:
                        seal_stream(src, out, self.keys, key)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, bytes(data))

    async def put_file(self, key: str, source: Path) -> None:
        def seal_and_remove() -> None:
            self._write(key, source)
            source.unlink()

        await asyncio.to_thread(seal_and_remove)

    def open_sync(self, key: str) -> SealedReader:
        try:
            return SealedReader(self._path(key), self.keys, key)
        except FileNotFoundError as exc:
            raise _not_found() from exc

    async def open(self, key: str) -> SealedReader:
        return await asyncio.to_thread(self.open_sync, key)

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            with self.open_sync(key) as reader:
                return reader.read()

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)

    # --- maintenance (the `yiyun storage` commands; blocking) -------------------------

    def keys_stored(self) -> Iterator[str]:
        """Every blob's key, in a stable order (blobs being written are skipped)."""
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(PART):
                key = path.relative_to(self.root).as_posix()
                with contextlib.suppress(InvalidInput):
                    yield check_key(key)

    def is_sealed(self, key: str) -> bool:
        return is_sealed(self._path(key))

    def key_id(self, key: str) -> str:
        """The id of the key that now wraps a sealed blob's data key."""
        with self.open_sync(key) as reader:
            return reader.key_id

    def rewrap(self, key: str, to: str | None = None) -> bool:
        """Wrap a sealed blob's data key with `to` (default: the current key) in place."""
        return rewrap(self._path(key), self.keys, key, to)

    def seal_legacy(self, key: str) -> bool:
        """Encrypt, in place and atomically, a blob an earlier version stored in plain
        form; False when it is sealed already."""
        path = self._path(key)
        if is_sealed(path):
            return False
        self._write(key, path)
        return True
