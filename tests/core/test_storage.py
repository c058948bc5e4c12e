"""The local blob store: round trips, sealed at rest, atomic writes, keys that cannot
escape, and the maintenance used by `yiyun storage`."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.sealed import BlobKeys
from yiyun.core.storage import LocalStore, check_key

KEYS = BlobKeys.from_secrets({"k1": "first", "k2": "second"}, "k1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"pixels of an ECG strip " * 50


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "blobs", KEYS)


async def test_it_returns_the_bytes_it_stored(store: LocalStore) -> None:
    data = bytes(range(256)) * 10
    await store.put("documents/7/abc-123.bin", data)
    assert await store.exists("documents/7/abc-123.bin")
    assert await store.get("documents/7/abc-123.bin") == data


async def test_what_lies_on_disk_is_ciphertext(store: LocalStore) -> None:
    await store.put("documents/7/ecg", PNG)
    raw = (store.root / "documents" / "7" / "ecg").read_bytes()
    assert raw.startswith(b"YYEB")
    assert PNG[:16] not in raw and b"ECG strip" not in raw  # (8+ bytes: no chance hits)
    assert store.key_id("documents/7/ecg") == "k1"


async def test_it_overwrites_and_leaves_no_temporary_file(store: LocalStore) -> None:
    await store.put("a/b", b"first")
    await store.put("a/b", b"second")
    assert await store.get("a/b") == b"second"
    assert sorted(p.name for p in (store.root / "a").iterdir()) == ["b"]


async def test_it_stores_empty_blobs(store: LocalStore) -> None:
    await store.put("empty", b"")
    assert await store.exists("empty")
    assert await store.get("empty") == b""


async def test_a_missing_blob_is_not_found(store: LocalStore) -> None:
    assert await store.exists("nothing/here") is False
    with pytest.raises(NotFound) as caught:
        await store.get("nothing/here")
    assert caught.value.code == "storage.not_found"


async def test_delete_removes_the_blob_and_tolerates_a_missing_one(store: LocalStore) -> None:
    await store.put("x/y.txt", b"data")
    await store.delete("x/y.txt")
    assert await store.exists("x/y.txt") is False
    await store.delete("x/y.txt")  # idempotent
    with pytest.raises(NotFound):
        await store.get("x/y.txt")


BAD_KEYS = [
    "",
    "../outside",
    "a/../../outside",
    "a/..",
    "/etc/passwd",
    "a//b",
    "a/",
    ".hidden",
    "a/.hidden",
    "a\\b",
    "a b",
    "ключ",
    "a/b\x00c",
    "-rf",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_check_key_refuses_keys_that_could_escape(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_key(key)
    assert caught.value.code == "storage.invalid_key"


@pytest.mark.parametrize("key", ["a", "a/b/c", "documents/12/0f3a-9c.pdf", "A_b-c.1", "9"])
def test_check_key_accepts_plain_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["../outside", "/tmp/abs", "a/../../b"])
async def test_no_operation_reaches_outside_the_root(
    store: LocalStore, tmp_path: Path, key: str
) -> None:
    for call in (
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidInput):
            await call()
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "b").exists()


async def test_put_file_seals_a_large_file_and_removes_the_plaintext(
    store: LocalStore, tmp_path: Path
) -> None:
    source = tmp_path / "work" / "rec.webm"
    source.parent.mkdir()
    data = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4000  # ~1 MB, 16 chunks
    source.write_bytes(data)
    await store.put_file("recordings/1/part-0.webm", source)
    assert not source.exists()
    raw = (store.root / "recordings" / "1" / "part-0.webm").read_bytes()
    assert data[:16] not in raw and bytes(range(64)) not in raw
    with await store.open("recordings/1/part-0.webm") as reader:
        assert reader.size == len(data)
        reader.seek(65_530)
        assert reader.read(20) == data[65_530:65_550]
    assert await store.get("recordings/1/part-0.webm") == data
    with pytest.raises(NotFound):
        await store.open("recordings/1/part-9.webm")


async def test_a_failed_write_leaves_neither_blob_nor_temporary_file(
    store: LocalStore, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await store.put_file("a/b", tmp_path / "missing")
    assert list(store.keys_stored()) == []
    assert [p.name for p in (store.root / "a").iterdir()] == []


async def test_rewrap_moves_every_blob_to_the_new_key_without_rewriting_bodies(
    tmp_path: Path,
) -> None:
    old = LocalStore(tmp_path / "blobs", KEYS)
    await old.put("a/1", PNG)
    await old.put("b/2", b"")
    bodies = {k: (old.root / k).read_bytes()[224:] for k in old.keys_stored()}
    rotating = LocalStore(old.root, BlobKeys(KEYS.keys, "k2"))
    assert [rotating.rewrap(k) for k in rotating.keys_stored()] == [True, True]
    assert [rotating.rewrap(k) for k in rotating.keys_stored()] == [False, False]
    for key, body in bodies.items():
        assert (old.root / key).read_bytes()[224:] == body
    new_only = LocalStore(old.root, BlobKeys({"k2": KEYS.keys["k2"]}, "k2"))
    assert await new_only.get("a/1") == PNG
    assert await new_only.get("b/2") == b""
    assert {new_only.key_id(k) for k in new_only.keys_stored()} == {"k2"}


async def test_plaintext_left_by_an_earlier_version_is_sealed_in_place(store: LocalStore) -> None:
    legacy = store.root / "documents" / "3" / "old-scan"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(PNG)
    assert list(store.keys_stored()) == ["documents/3/old-scan"]
    assert store.is_sealed("documents/3/old-scan") is False
    with pytest.raises(Exception, match="integrity"):  # never served as if it were sealed
        await store.get("documents/3/old-scan")
    assert store.seal_legacy("documents/3/old-scan") is True
    assert store.seal_legacy("documents/3/old-scan") is False
    assert PNG[:16] not in legacy.read_bytes()
    assert await store.get("documents/3/old-scan") == PNG
    assert [p.name for p in legacy.parent.iterdir()] == ["old-scan"]
