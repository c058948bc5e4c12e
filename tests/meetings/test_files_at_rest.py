"""What a meeting leaves on disk is ciphertext; playback still seeks with byte ranges."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tests.factories import World
from yiyun.audit.service import Actor
from yiyun.meetings import recording
from yiyun.settings import Settings

API = "/api/v1"
EBML = b"\x1a\x45\xdf\xa3"  # the magic of every Matroska / WebM file
TITLES = ["u1-aaaaaa", "u2-bbbbbb"]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def _stored(settings: Settings) -> dict[str, bytes]:
    root = settings.storage.path
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _noisy_mkv(path: Path, participants: list[str], seconds: int) -> None:
    """An engine-like Matroska file: one titled Opus stream each, noise (so the parts
    span several 64 KiB chunks)."""
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", format="matroska") as out:
        streams = []
        for p in participants:
            s = out.add_stream("libopus", rate=48000)
            s.bit_rate = 256_000
            s.metadata["title"] = f"{p}:audio"
            streams.append(s)
        for s in streams:
            for i in range(seconds * 50):
                samples = rng.integers(-20_000, 20_000, (1, 960), dtype=np.int16)
                frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
                for packet in s.encode(frame):
                    out.mux(packet)
            for packet in s.encode(None):
                out.mux(packet)


async def _meeting(client: Any, world: World) -> int:
    res = await client.post(
        f"{API}/meetings", headers=world.auth("bob"), json={"title": "会诊", "invitees": ["alice"]}
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def _recorded(app: Any, client: Any, world: World, tmp_path: Path) -> tuple[int, int, Path]:
    meeting = await _meeting(client, world)
    async with app.state.sessions.begin() as db:
        row = await recording.begin(
            db,
            meeting_id=meeting,
            engine="fake",
            started_by=Actor(user_id=world.users["bob"].id, username="bob"),
            included=["u1", "u2"],
            excluded=[],
        )
    work = tmp_path / "recordings-work" / f"meeting-{meeting}-rec-{row.id}"
    work.mkdir(parents=True)
    source = work / f"{row.id}.mkv"
    _noisy_mkv(source, TITLES, seconds=6)
    await recording.finish(
        app.state.sessions, app.state.store, row.id, source, bus=app.state.bus, actor=None
    )
    return meeting, row.id, work


async def test_a_recording_and_a_shared_file_are_ciphertext_on_disk(
    app: Any, client: Any, world: World, settings: Settings, tmp_path: Path
) -> None:
    meeting, rec_id, work = await _recorded(app, client, world, tmp_path)
    up = await client.post(
        f"{API}/meetings/{meeting}/files",
        headers=world.auth("alice"),
        files={"file": ("ecg.png", PNG)},
    )
    assert up.status_code == 201, up.text
    assert list(work.iterdir()) == []  # the engine's file and the split parts are gone

    stored = _stored(settings)
    assert sorted(k for k in stored if k.startswith("recordings/")) == [
        f"recordings/{rec_id}/part-0.webm",
        f"recordings/{rec_id}/part-1.webm",
        f"recordings/{rec_id}/recording.mkv",
    ]
    assert any(k.startswith(f"meetings/{meeting}/files/") for k in stored)
    # Needles of 8 bytes or more: a short one turns up in random ciphertext by chance.
    for key, raw in stored.items():
        assert raw.startswith(b"YYEB"), key
        with app.state.store.open_sync(key) as reader:
            head = reader.read(32)  # the file's own first bytes: magic, EBML header, …
        assert head.startswith((EBML, PNG[:8])), key
        for plaintext in (
            head[:16],
            head[16:32],
            PNG[:16],
            *(f"{t}:audio".encode() for t in TITLES),
        ):
            assert plaintext not in raw, (key, plaintext)

    # and the plaintext comes back whole
    file_id = up.json()["id"]
    got = await client.get(f"{API}/meetings/{meeting}/files/{file_id}", headers=world.auth("bob"))
    assert got.status_code == 200 and got.content == PNG
    part = await client.get(
        f"{API}/meetings/{meeting}/recordings/{rec_id}/parts/0", headers=world.auth("bob")
    )
    assert part.status_code == 200 and part.content.startswith(EBML)


async def test_byte_ranges_of_a_sealed_recording_match_the_plaintext(
    app: Any, client: Any, world: World, tmp_path: Path
) -> None:
    meeting, rec_id, _work = await _recorded(app, client, world, tmp_path)
    url = f"{API}/meetings/{meeting}/recordings/{rec_id}/parts/0"
    auth = world.auth("bob")
    whole = await client.get(url, headers=auth)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    body = whole.content
    size = len(body)
    assert size > 2 * 65536 + 1000, size  # spans three chunks
    assert int(whole.headers["content-length"]) == size
    chunk = 65536
    cases = {
        "bytes=0-0": (0, 0),
        f"bytes={chunk - 10}-{2 * chunk + 9}": (chunk - 10, 2 * chunk + 9),
        f"bytes={chunk}-{chunk}": (chunk, chunk),
        f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
        f"bytes={size - 1}-": (size - 1, size - 1),
        "bytes=-1": (size - 1, size - 1),
        "bytes=-70000": (size - 70000, size - 1),
        f"bytes={size - 100}-{size + 5000}": (size - 100, size - 1),
        "bytes=100-": (100, size - 1),
        f"bytes=-{size + 10}": (0, size - 1),
    }
    for header, (first, last) in cases.items():
        res = await client.get(url, headers={**auth, "Range": header})
        assert res.status_code == 206, header
        assert res.headers["content-range"] == f"bytes {first}-{last}/{size}", header
        assert res.content == body[first : last + 1], header
        assert int(res.headers["content-length"]) == last + 1 - first, header
    for header in (f"bytes={size}-", "bytes=-0"):
        res = await client.get(url, headers={**auth, "Range": header})
        assert res.status_code == 416, header
        assert res.headers["content-range"] == f"bytes */{size}"
    for header in ("bytes=5-1", "bytes=0-1,5-9", "items=0-1"):  # ignored: the whole file
        res = await client.get(url, headers={**auth, "Range": header})
        assert res.status_code == 200 and res.content == body, header


async def test_a_tampered_recording_is_refused_not_played(
    app: Any, client: Any, world: World, settings: Settings, tmp_path: Path
) -> None:
    meeting, rec_id, _work = await _recorded(app, client, world, tmp_path)
    url = f"{API}/meetings/{meeting}/recordings/{rec_id}/parts/0"
    path = settings.storage.path / "recordings" / str(rec_id) / "part-0.webm"
    raw = bytearray(path.read_bytes())
    raw[224 + 65552 + 100] ^= 0xFF  # a byte of the second chunk
    path.write_bytes(bytes(raw))
    auth = world.auth("bob")
    first = await client.get(url, headers={**auth, "Range": "bytes=0-1000"})
    assert first.status_code == 206  # the first chunk is intact
    res = await client.get(url, headers={**auth, "Range": "bytes=65600-65700"})
    assert res.status_code == 500
    assert res.json()["error"]["code"] == "storage.corrupt"
    assert res.json()["error"]["message"] != ""
