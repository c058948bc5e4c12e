"""The local blob store: round trips, atomic writes and keys that cannot escape."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.storage import LocalStore, check_key


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "blobs")


async def test_it_returns_the_bytes_it_stored(store: LocalStore) -> None:
    data = bytes(range(256)) * 10
    await store.put("documents/7/abc-123.bin", data)
    assert await store.exists("documents/7/abc-123.bin")
    assert await store.get("documents/7/abc-123.bin") == data
    assert (store.root / "documents" / "7" / "abc-123.bin").read_bytes() == data


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
