"""The sealed-blob format: round trips, byte ranges, tampering, key rotation."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from yiyun.core.sealed import (
    HEADER_SIZE,
    PREFIX_SIZE,
    SLOT_SIZE,
    TAG_SIZE,
    BlobCorrupt,
    BlobKeyMissing,
    BlobKeys,
    SealedReader,
    SealWriter,
    rewrap,
    seal_stream,
)

CHUNK = 1024
OLD = BlobKeys.from_secrets({"k1": "first secret"}, "k1")


def _keys(*ids: str, current: str) -> BlobKeys:
    secrets = {"k1": "first secret", "k2": "second secret"}
    ring = BlobKeys.from_secrets({i: secrets[i] for i in ids}, current)
    return BlobKeys(ring.keys, current, chunk_size=CHUNK)


KEYS = _keys("k1", current="k1")


def _seal(path: Path, data: bytes, keys: BlobKeys = KEYS, context: str = "a/blob") -> Path:
    with path.open("wb") as out:
        seal_stream(io.BytesIO(data), out, keys, context)
    return path


def _data(n: int) -> bytes:
    """Recognisable, non-repeating plaintext (so a misplaced chunk shows)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 17])
def test_it_round_trips_every_length_around_chunk_boundaries(tmp_path: Path, size: int) -> None:
    data = _data(size)
    path = _seal(tmp_path / "b", data)
    chunks = max(1, -(-size // CHUNK))
    assert path.stat().st_size == HEADER_SIZE + size + chunks * TAG_SIZE
    with SealedReader(path, KEYS, "a/blob") as reader:
        assert reader.size == size
        assert reader.read() == data
        assert reader.read() == b""


def test_written_in_odd_pieces_it_reads_the_same(tmp_path: Path) -> None:
    data = _data(7 * CHUNK + 5)
    with (tmp_path / "b").open("wb") as out:
        writer = SealWriter(out, KEYS, "a/blob")
        for at in range(0, len(data), 333):
            writer.write(data[at : at + 333])
        writer.write(b"")
        writer.close()
    with SealedReader(tmp_path / "b", KEYS, "a/blob") as reader:
        assert reader.read() == data


def test_the_file_holds_no_plaintext(tmp_path: Path) -> None:
    data = b"%PDF-1.7\n" + b"patient Zhang San 440305198506151234 " * 200
    raw = _seal(tmp_path / "b", data).read_bytes()
    assert raw.startswith(b"YYEB\x01")
    assert data[:16] not in raw and b"Zhang San" not in raw and b"440305198506" not in raw


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 1),  # first byte
        (CHUNK - 3, 10),  # across one boundary
        (CHUNK - 1, 2 * CHUNK + 2),  # across two
        (2 * CHUNK, CHUNK),  # exactly one chunk
        (5 * CHUNK + 16, 1),  # last byte
        (4 * CHUNK, 10_000),  # runs past the end
    ],
)
def test_a_range_reads_the_right_bytes(tmp_path: Path, start: int, length: int) -> None:
    data = _data(5 * CHUNK + 17)
    path = _seal(tmp_path / "b", data)
    with SealedReader(path, KEYS, "a/blob") as reader:
        assert reader.seek(start) == start
        assert reader.read(length) == data[start : start + length]
        assert reader.tell() == min(len(data), start + length)
        reader.seek(-5, io.SEEK_END)
        assert reader.read() == data[-5:]


def test_a_range_opens_only_the_chunks_it_needs(tmp_path: Path) -> None:
    data = _data(20 * CHUNK)
    path = _seal(tmp_path / "b", data)
    opened: list[int] = []
    with SealedReader(path, KEYS, "a/blob") as reader:
        real = reader.chunk

        def counting(index: int) -> bytes:
            opened.append(index)
            return real(index)

        reader.chunk = counting  # type: ignore[method-assign]
        reader.seek(10 * CHUNK - 2)
        assert reader.read(4) == data[10 * CHUNK - 2 : 10 * CHUNK + 2]
    assert opened == [9, 10]


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def _read_all(path: Path, keys: BlobKeys = KEYS, context: str = "a/blob") -> bytes:
    with SealedReader(path, keys, context) as reader:
        return reader.read()


@pytest.mark.parametrize(
    "offset",
    [
        HEADER_SIZE + 5,  # first chunk's ciphertext
        HEADER_SIZE + 2 * (CHUNK + TAG_SIZE) + CHUNK + 3,  # a tag in the middle
        -1,  # the last chunk's tag
        9,  # the chunk size in the header
        14,  # the nonce prefix
        PREFIX_SIZE + 60,  # the wrapped data key
    ],
)
def test_a_changed_byte_is_an_error_not_garbage(tmp_path: Path, offset: int) -> None:
    data = _data(4 * CHUNK + 100)
    path = _seal(tmp_path / "b", data)
    _flip(path, offset if offset >= 0 else path.stat().st_size + offset)
    with pytest.raises(BlobCorrupt):
        _read_all(path)


def test_reordered_dropped_or_cut_chunks_are_detected(tmp_path: Path) -> None:
    data = _data(4 * CHUNK)
    path = _seal(tmp_path / "b", data)
    raw = path.read_bytes()
    header, body = raw[:HEADER_SIZE], raw[HEADER_SIZE:]
    full = CHUNK + TAG_SIZE
    chunks = [body[i : i + full] for i in range(0, len(body), full)]
    variants = {
        "swapped": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "dropped middle": header + chunks[0] + b"".join(chunks[2:]),
        "cut at a boundary": header + b"".join(chunks[:3]),
        "cut inside": raw[:-100],
        "repeated": header + chunks[0] + b"".join(chunks),
        "appended": raw + b"\0" * 40,
        "header only": header,
    }
    for name, content in variants.items():
        path.write_bytes(content)
        with pytest.raises(BlobCorrupt):
            _read_all(path)
        assert name


def test_a_blob_cannot_be_read_under_another_name(tmp_path: Path) -> None:
    path = _seal(tmp_path / "b", b"hello", context="documents/1/x")
    assert _read_all(path, context="documents/1/x") == b"hello"
    with pytest.raises(BlobCorrupt):
        _read_all(path, context="documents/2/x")


def test_a_plaintext_file_is_not_taken_for_a_sealed_one(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 1000)
    with pytest.raises(BlobCorrupt):
        _read_all(path)


def test_rewrap_changes_the_key_id_and_not_the_body(tmp_path: Path) -> None:
    data = _data(3 * CHUNK + 1)
    path = _seal(tmp_path / "b", data)
    before = path.read_bytes()
    both = _keys("k1", "k2", current="k2")
    assert rewrap(path, both, "a/blob") is True
    after = path.read_bytes()
    assert after[HEADER_SIZE:] == before[HEADER_SIZE:]
    assert after[:PREFIX_SIZE] == before[:PREFIX_SIZE]
    only_new = _keys("k2", current="k2")
    with SealedReader(path, only_new, "a/blob") as reader:
        assert reader.key_id == "k2"
        assert reader.read() == data
    # the old key's wrap is gone from the file: the old key alone opens nothing
    with pytest.raises(BlobKeyMissing) as caught:
        _read_all(path, keys=_keys("k1", current="k1"))
    assert caught.value.details == {"key_id": "k2"}
    assert rewrap(path, only_new, "a/blob") is False  # nothing left to do
    # and back again: generations keep counting up, either slot works
    assert rewrap(path, both, "a/blob", to="k1") is True
    assert _read_all(path, keys=_keys("k1", current="k1")) == data


def test_a_crash_in_the_middle_of_a_rewrap_leaves_a_readable_blob(tmp_path: Path) -> None:
    data = _data(2 * CHUNK)
    path = _seal(tmp_path / "b", data)
    before = path.read_bytes()
    both = _keys("k1", "k2", current="k2")
    rewrap(path, both, "a/blob")
    after = path.read_bytes()
    a = slice(PREFIX_SIZE, PREFIX_SIZE + SLOT_SIZE)
    b = slice(PREFIX_SIZE + SLOT_SIZE, HEADER_SIZE)
    assert before[b] == bytes(SLOT_SIZE) and after[a] == bytes(SLOT_SIZE)
    body = before[HEADER_SIZE:]
    # stopped after the new slot was written, before the old one was cleared
    path.write_bytes(before[:PREFIX_SIZE] + before[a] + after[b] + body)
    assert _read_all(path, keys=both) == data
    assert _read_all(path, keys=_keys("k1", current="k1")) == data
    # stopped while the new slot was being written: the old one still opens it
    torn = bytearray(after[b])
    torn[60:80] = os.urandom(20)
    path.write_bytes(before[:PREFIX_SIZE] + before[a] + bytes(torn) + body)
    assert _read_all(path, keys=both) == data
    assert rewrap(path, both, "a/blob") is True  # and the rotation can be run again
    assert _read_all(path, keys=_keys("k2", current="k2")) == data


def test_an_unknown_key_id_says_which_key_is_missing(tmp_path: Path) -> None:
    path = _seal(tmp_path / "b", b"x", keys=_keys("k1", "k2", current="k2"))
    with pytest.raises(BlobKeyMissing) as caught:
        _read_all(path, keys=_keys("k1", current="k1"))
    assert caught.value.code == "storage.key_missing"
    assert caught.value.details == {"key_id": "k2"}


def test_bad_key_rings_are_refused() -> None:
    with pytest.raises(ValueError, match="current"):
        BlobKeys.from_secrets({"k1": "s"}, "k2")
    with pytest.raises(ValueError, match="key id"):
        BlobKeys.from_secrets({"bad id!": "s"}, "bad id!")
    with pytest.raises(ValueError, match="chunk size"):
        BlobKeys(OLD.keys, "k1", chunk_size=10)
