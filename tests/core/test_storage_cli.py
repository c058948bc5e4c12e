"""`yiyun storage`: key rotation without rewriting files, and sealing legacy plaintext."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from yiyun.cli import main
from yiyun.core.sealed import HEADER_SIZE, BlobKeys
from yiyun.core.storage import LocalStore

WEBM = b"\x1a\x45\xdf\xa3" + b"\x42\x86\x81\x01" + b"frames of a consultation " * 5000
PDF = b"%PDF-1.7\n" + b"discharge summary " * 300
NEW_SECRET = "a-new-key-encryption-secret-for-2027"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "YIYUN_DATA_DIR": str(tmp_path),
        "YIYUN_STORAGE__PATH": str(tmp_path / "blobs"),
        "YIYUN_SECURITY__SECRET_KEY": "cli-test-secret-key",
        "YIYUN_SECURITY__DATA_KEY": "cli-test-data-key",
        **extra,
    }


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["storage", *args], env=_env(tmp_path, **env))
    return result.exit_code, result.output


async def test_rotation_rewraps_every_file_and_the_old_key_is_then_not_needed(
    tmp_path: Path,
) -> None:
    data_kek = BlobKeys.from_secrets({"data": "cli-test-data-key"}, "data")
    store = LocalStore(tmp_path / "blobs", data_kek)  # what the app wrote so far
    await store.put("recordings/1/part-0.webm", WEBM)
    await store.put("documents/2/scan", PDF)
    bodies = {k: (store.root / k).read_bytes()[HEADER_SIZE:] for k in store.keys_stored()}

    code, out = _run(tmp_path, "status")
    assert code == 0 and "key data: 2" in out, out

    rotate = {"YIYUN_SECURITY__BLOB_KEYS": f'{{"k2027": "{NEW_SECRET}"}}'}
    code, out = _run(tmp_path, "rewrap", **rotate)
    assert code == 0 and "rewrapped to k2027: 2" in out, out
    code, out = _run(tmp_path, "rewrap", **rotate)
    assert code == 0 and "already k2027: 2" in out, out
    code, out = _run(tmp_path, "status", **rotate)
    assert code == 0 and "key k2027: 2" in out and "key data" not in out, out

    for key, body in bodies.items():  # the bodies were not rewritten
        assert (store.root / key).read_bytes()[HEADER_SIZE:] == body
    new_only = LocalStore(store.root, BlobKeys.from_secrets({"k2027": NEW_SECRET}, "k2027"))
    assert await new_only.get("recordings/1/part-0.webm") == WEBM
    assert await new_only.get("documents/2/scan") == PDF


async def test_a_file_under_a_key_no_longer_configured_is_reported(tmp_path: Path) -> None:
    gone = LocalStore(tmp_path / "blobs", BlobKeys.from_secrets({"old": "lost"}, "old"))
    await gone.put("documents/1/a", PDF)
    code, out = _run(tmp_path, "rewrap")
    assert code == 1
    assert "FAILED documents/1/a" in out and "not configured" in out, out


async def test_plaintext_from_an_earlier_version_is_sealed_by_the_seal_command(
    tmp_path: Path,
) -> None:
    legacy = tmp_path / "blobs" / "meetings" / "4" / "files" / "abc"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(PDF)
    code, out = _run(tmp_path, "status")
    assert "plaintext: 1" in out, out
    code, out = _run(tmp_path, "rewrap")
    assert code == 0 and "skipped" in out, out
    code, out = _run(tmp_path, "seal")
    assert code == 0 and "sealed: 1" in out, out
    assert PDF[:16] not in legacy.read_bytes()
    code, out = _run(tmp_path, "seal")
    assert code == 0 and "already sealed: 1" in out, out
    store = LocalStore(
        tmp_path / "blobs", BlobKeys.from_secrets({"data": "cli-test-data-key"}, "data")
    )
    assert await store.get("meetings/4/files/abc") == PDF
