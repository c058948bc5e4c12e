"""Sealed blobs: files encrypted at rest with AES-GCM, written and read as streams.

Every blob gets its own random 256-bit data key, wrapped (AES-GCM) by a key-encryption
key named by a *key id*. The body is cut into fixed-size chunks, each sealed on its
own, so a 2 GB recording is encrypted and decrypted a chunk at a time and a byte
range is served by opening only the chunks it touches. Layout (docs/storage.md):

    prefix   32 bytes  b"YYEB", version 1, 3 reserved, chunk size (u32 BE),
                       nonce prefix (8 random bytes), 12 reserved
    slot A   96 bytes  generation (u32 BE), key id (32 bytes, NUL-padded),
                       wrap nonce (12), wrapped data key (32 + 16 tag)
    slot B   96 bytes  the same; rotation writes the idle slot, then clears the other
    chunks             chunk i = AES-GCM(data key, nonce = nonce prefix + i (u32 BE),
                       aad = prefix + i (u64 BE) + last flag (1 byte)); every chunk
                       holds `chunk size` bytes but the last, which may hold fewer
                       (an empty blob is one empty last chunk)

A wrapped key's associated data is the prefix, its slot's generation and key id and the
blob's storage key, so a wrapped key cannot be moved to another blob and a blob cannot
be passed off under another name. A chunk moved, dropped, repeated or cut short fails
to authenticate: reading it raises `BlobCorrupt`, never returns garbage.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yiyun.core.errors import YiyunError

MAGIC = b"YYEB"
VERSION = 1
PREFIX_SIZE = 32
KEY_ID_SIZE = 32
SLOT_SIZE = 4 + KEY_ID_SIZE + 12 + 32 + 16
HEADER_SIZE = PREFIX_SIZE + 2 * SLOT_SIZE
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 1024, 16 * 1024 * 1024
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_SLOT = struct.Struct(f">I{KEY_ID_SIZE}s12s48s")


class BlobCorrupt(YiyunError):
    """A stored file failed its integrity check (changed, cut short or not sealed)."""

    status = 500
    code = "storage.corrupt"


class BlobKeyMissing(YiyunError):
    """A stored file was sealed with a key that is not configured."""

    status = 500
    code = "storage.key_missing"


def _corrupt() -> BlobCorrupt:
    return BlobCorrupt("the stored file failed its integrity check")


def derive_kek(secret: str) -> bytes:
    """A 256-bit key-encryption key from a configured secret (any length, HKDF-SHA256)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"yiyun blob key-encryption key v1"
    ).derive(secret.encode("utf-8"))


@dataclass(frozen=True)
class BlobKeys:
    """Key-encryption keys by id; `current` wraps new blobs, any of them unwraps."""

    keys: Mapping[str, bytes]
    current: str
    chunk_size: int = DEFAULT_CHUNK_SIZE
    _aead: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"a blob key id is 1-32 letters, digits, '.', '_', '-': {key_id!r}"
                )
            if len(key) != 32:
                raise ValueError("a blob key-encryption key is 32 bytes")
        if self.current not in self.keys:
            raise ValueError(f"the current blob key id {self.current!r} is not configured")
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError("the chunk size is between 1 KiB and 16 MiB")

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, str], current: str) -> BlobKeys:
        return cls({kid: derive_kek(s) for kid, s in secrets.items()}, current)

    def aead(self, key_id: str) -> AESGCM:
        found = self._aead.get(key_id)
        if found is None:
            found = self._aead[key_id] = AESGCM(self.keys[key_id])
        return found


# --- header ----------------------------------------------------------------------------


@dataclass
class _Slot:
    generation: int
    key_id: str
    nonce: bytes
    wrapped: bytes

    def pack(self) -> bytes:
        return _SLOT.pack(self.generation, self.key_id.encode(), self.nonce, self.wrapped)

    @classmethod
    def unpack(cls, raw: bytes) -> _Slot:
        generation, kid, nonce, wrapped = _SLOT.unpack(raw)
        return cls(generation, kid.rstrip(b"\0").decode("ascii", "replace"), nonce, wrapped)

    def aad(self, prefix: bytes, context: bytes) -> bytes:
        kid = self.key_id.encode().ljust(KEY_ID_SIZE, b"\0")  # fixed width: unambiguous
        return prefix + self.generation.to_bytes(4, "big") + kid + context


def _wrap(
    keys: BlobKeys, key_id: str, generation: int, prefix: bytes, context: bytes, dek: bytes
) -> _Slot:
    slot = _Slot(generation, key_id, os.urandom(12), b"")
    slot.wrapped = keys.aead(key_id).encrypt(slot.nonce, dek, slot.aad(prefix, context))
    return slot


@dataclass
class Header:
    prefix: bytes
    chunk_size: int
    nonce_prefix: bytes
    slots: list[_Slot]
    active: int  # the slot whose wrap opened
    dek: bytes

    @property
    def key_id(self) -> str:
        return self.slots[self.active].key_id


def _new_prefix(chunk_size: int) -> bytes:
    return (
        MAGIC
        + bytes([VERSION, 0, 0, 0])
        + struct.pack(">I", chunk_size)
        + os.urandom(8)
        + bytes(12)
    )


def is_sealed(path: Path) -> bool:
    """Whether a file starts like a sealed blob (says nothing of its integrity)."""
    with path.open("rb") as f:
        return f.read(5) == MAGIC + bytes([VERSION])


def read_header(f: BinaryIO, keys: BlobKeys, context: bytes) -> Header:
    f.seek(0)
    raw = f.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE or raw[:5] != MAGIC + bytes([VERSION]):
        raise _corrupt()
    prefix = raw[:PREFIX_SIZE]
    (chunk_size,) = struct.unpack(">I", prefix[8:12])
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise _corrupt()
    slots = [
        _Slot.unpack(raw[PREFIX_SIZE + i * SLOT_SIZE : PREFIX_SIZE + (i + 1) * SLOT_SIZE])
        for i in (0, 1)
    ]
    missing = None
    for i in sorted((0, 1), key=lambda i: -slots[i].generation):
        slot = slots[i]
        if slot.generation == 0:
            continue
        if slot.key_id not in keys.keys:
            missing = missing or slot.key_id
            continue
        try:
            dek = keys.aead(slot.key_id).decrypt(
                slot.nonce, slot.wrapped, slot.aad(prefix, context)
            )
        except InvalidTag:
            continue
        return Header(prefix, chunk_size, prefix[12:20], slots, i, dek)
    if missing is not None:
        raise BlobKeyMissing(
            "the key the stored file was sealed with is not configured",
            details={"key_id": missing},
        )
    raise _corrupt()


def _chunk_aad(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _nonce(nonce_prefix: bytes, index: int) -> bytes:
    if index >= 1 << 32:
        raise ValueError("a sealed blob holds at most 2**32 chunks")
    return nonce_prefix + index.to_bytes(4, "big")


# --- writing ---------------------------------------------------------------------------


class SealWriter:
    """Seal what is written to it into `out`, a chunk at a time; `close()` seals the last.

    Holds at most one pending chunk in memory besides what the caller passes in.
    """

    def __init__(self, out: BinaryIO, keys: BlobKeys, context: str) -> None:
        self._out = out
        self._size = keys.chunk_size
        self._prefix = _new_prefix(self._size)
        self._nonce_prefix = self._prefix[12:20]
        dek = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(dek)
        slot = _wrap(keys, keys.current, 1, self._prefix, context.encode(), dek)
        out.write(self._prefix + slot.pack() + bytes(SLOT_SIZE))
        self._pending = bytearray()
        self._index = 0
        self.plaintext_size = 0

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> None:
        nonce = _nonce(self._nonce_prefix, self._index)
        aad = _chunk_aad(self._prefix, self._index, last)
        self._out.write(self._aead.encrypt(nonce, chunk, aad))
        self._index += 1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.plaintext_size += len(view)
        size, pending = self._size, self._pending
        if len(pending) + len(view) <= size:  # the newest chunk may be the last: keep it
            pending += view
            return
        if pending:  # complete the pending chunk; more follows, so it is not the last
            take = size - len(pending)
            pending += view[:take]
            self._seal(pending, last=False)
            view = view[take:]
        at = 0
        while len(view) - at > size:
            self._seal(view[at : at + size], last=False)
            at += size
        self._pending = bytearray(view[at:])

    def close(self) -> None:
        self._seal(self._pending, last=True)
        self._pending = bytearray()


def seal_stream(source: BinaryIO, out: BinaryIO, keys: BlobKeys, context: str) -> int:
    """Seal everything `source` yields into `out`; returns the plaintext size."""
    writer = SealWriter(out, keys, context)
    while block := source.read(1 << 20):
        writer.write(block)
    writer.close()
    return writer.plaintext_size


# --- reading ---------------------------------------------------------------------------


class SealedReader(io.RawIOBase):
    """A sealed blob read as a seekable binary file of its plaintext.

    Reads open only the chunks they touch (the newest one is kept), so seeking to a
    byte range costs one or two chunks, whatever the blob's size.
    """

    def __init__(self, path: Path, keys: BlobKeys, context: str) -> None:
        super().__init__()
        self._f = path.open("rb")
        try:
            self._header = read_header(self._f, keys, context.encode())
            body = os.fstat(self._f.fileno()).st_size - HEADER_SIZE
            full = self._header.chunk_size + TAG_SIZE
            self._count = -(-body // full) if body > 0 else 0
            if self._count == 0 or (body % full and body % full < TAG_SIZE):
                raise _corrupt()
        except BaseException:
            self._f.close()
            raise
        self.size = body - self._count * TAG_SIZE
        self._aead = AESGCM(self._header.dek)
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    @property
    def key_id(self) -> str:
        return self._header.key_id

    @property
    def chunk_size(self) -> int:
        return self._header.chunk_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def chunk(self, index: int) -> bytes:
        """The plaintext of chunk `index`, authenticated."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        h = self._header
        last = index == self._count - 1
        self._f.seek(HEADER_SIZE + index * (h.chunk_size + TAG_SIZE))
        sealed = self._f.read(h.chunk_size + TAG_SIZE)
        try:
            plain = self._aead.decrypt(
                _nonce(h.nonce_prefix, index), sealed, _chunk_aad(h.prefix, index, last)
            )
        except InvalidTag as exc:
            raise _corrupt() from exc
        if not last and len(plain) != h.chunk_size:
            raise _corrupt()
        self._cached = (index, plain)
        return plain

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if self._pos >= end:
            if self.size == 0 and self._pos == 0:
                self.chunk(0)  # an empty blob still proves it was not cut short
            return b""
        cs = self._header.chunk_size
        parts = []
        while self._pos < end:
            index, offset = divmod(self._pos, cs)
            data = self.chunk(index)
            take = data[offset : offset + end - self._pos]
            parts.append(take)
            self._pos += len(take)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        self._f.close()
        super().close()


# --- rotation --------------------------------------------------------------------------


def rewrap(path: Path, keys: BlobKeys, context: str, to: str | None = None) -> bool:
    """Wrap a blob's data key with key `to` (default: the current one) in place.

    Only the 224-byte header changes, never the body. The new wrap goes into the idle
    slot and is flushed to disk before the old slot is cleared, so a crash at any point
    leaves a readable blob. Returns False when nothing needed doing.
    """
    target = to or keys.current
    if target not in keys.keys:
        raise BlobKeyMissing("the key to wrap with is not configured", details={"key_id": target})
    with path.open("r+b") as f:
        h = read_header(f, keys, context.encode())
        idle = 1 - h.active
        if h.key_id == target and h.slots[idle].generation == 0:
            return False
        generation = max(s.generation for s in h.slots) + 1
        slot = _wrap(keys, target, generation, h.prefix, context.encode(), h.dek)
        f.seek(PREFIX_SIZE + idle * SLOT_SIZE)
        f.write(slot.pack())
        f.flush()
        os.fsync(f.fileno())
        f.seek(PREFIX_SIZE + h.active * SLOT_SIZE)
        f.write(bytes(SLOT_SIZE))
        f.flush()
        os.fsync(f.fileno())
    return True
