"""Files shared in a meeting, call quality and recordings over the API and pages: who may
see what (host, participant, observer, ops, outsider) and how bad input is refused."""

from __future__ import annotations

import io
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from sqlalchemy import func, select

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor
from yiyun.core.clock import now
from yiyun.media import signaling as sig
from yiyun.meetings import quality, recording
from yiyun.meetings.models import Meeting, MeetingFile, MeetingGuest, MeetingMember
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent

API = "/api/v1"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


async def _meeting(client: Any, world: World, host: str, *invitees: str) -> int:
    res = await client.post(
        f"{API}/meetings", headers=world.auth(host), json={"title": "会诊", "invitees": invitees}
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def _make_observer(session: Any, meeting: int, user_id: int) -> None:
    member = await session.scalar(
        select(MeetingMember).where(
            MeetingMember.meeting_id == meeting, MeetingMember.user_id == user_id
        )
    )
    member.role = "observer"
    await session.commit()


async def test_files_are_checked_stored_and_scoped(client, world: World, session) -> None:
    meeting = await _meeting(client, world, "bob", "alice", "nina")
    await _make_observer(session, meeting, world.users["nina"].id)
    url = f"{API}/meetings/{meeting}/files"
    up = await client.post(url, headers=world.auth("alice"), files={"file": ("心电图.png", PNG)})
    assert up.status_code == 201, up.text
    assert up.json()["content_type"] == "image/png" and up.json()["size"] == len(PNG)
    refused = {
        "disguised": ("report.pdf", PNG),
        "unknown": ("x.bin", b"\x00\x01\x02\x03" * 100),
        "empty": ("empty.txt", b""),
        "oversize": ("big.txt", b"a" * (20 * 1024 * 1024 + 1)),
    }
    for name, (filename, data) in refused.items():
        res = await client.post(url, headers=world.auth("alice"), files={"file": (filename, data)})
        assert res.status_code == 422, (name, res.text)
        assert res.json()["error"]["code"].startswith("upload."), name
    assert (await session.scalar(select(func.count()).select_from(MeetingFile))) == 1
    for who, status in (("nina", 403), ("mallory", 404), ("otto", 404)):
        res = await client.post(url, headers=world.auth(who), files={"file": ("a.png", PNG)})
        assert res.status_code == status, who
    file_url = f"{url}/{up.json()['id']}"
    got = await client.get(file_url, headers=world.auth("bob"))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(file_url, headers=world.auth("nina"))).status_code == 200
    assert (await client.get(file_url, headers=world.auth("mallory"))).status_code == 404
    assert (await client.get(f"{url}/99999", headers=world.auth("bob"))).status_code == 404
    await client.post(f"{API}/meetings/{meeting}/end", headers=world.auth("bob"))
    late = await client.post(url, headers=world.auth("alice"), files={"file": ("a.png", PNG)})
    assert late.status_code == 409 and late.json()["error"]["code"] == "meeting.not_open"


def _two_party_mkv(path: Path, participants: list[str]) -> None:
    """A small Matroska file laid out like an engine's: one titled Opus stream each."""
    with av.open(str(path), "w", format="matroska") as out:
        streams = []
        for p in participants:
            s = out.add_stream("libopus", rate=48000)
            s.metadata["title"] = f"{p}:audio"
            streams.append(s)
        for s in streams:
            for i in range(10):
                frame = av.AudioFrame.from_ndarray(
                    np.zeros((1, 960), dtype=np.int16), format="s16", layout="mono"
                )
                frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
                for packet in s.encode(frame):
                    out.mux(packet)
            for packet in s.encode(None):
                out.mux(packet)


async def test_recordings_play_for_the_meetings_staff_only_and_every_play_is_audited(
    app, client, world: World, session, tmp_path: Path
) -> None:
    meeting = await _meeting(client, world, "bob", "alice", "nina")
    await _make_observer(session, meeting, world.users["nina"].id)
    async with app.state.sessions.begin() as db:
        row = await recording.begin(
            db,
            meeting_id=meeting,
            engine="fake",
            started_by=Actor(user_id=world.users["bob"].id, username="bob"),
            included=["u1", "u2"],
            excluded=[],
        )
        rec_id = row.id
    source = tmp_path / "rec.mkv"
    _two_party_mkv(source, ["u1-aaaaaa", "u2-bbbbbb"])
    await recording.finish(
        app.state.sessions,
        app.state.store,
        rec_id,
        source,
        bus=app.state.bus,
        actor=None,
        names={"u1-aaaaaa": ("u1", "Bob"), "u2-bbbbbb": ("u2", "Alice")},
    )
    listed = await client.get(f"{API}/meetings/{meeting}/recordings", headers=world.auth("alice"))
    assert listed.status_code == 200
    rec = listed.json()[0]
    assert rec["state"] == "ready" and len(rec["sha256"]) == 64
    assert [t["name"] for t in rec["tracks"]] == ["Bob", "Alice"]
    assert all("key" not in t for t in rec["tracks"])  # storage keys stay inside
    part = f"{API}/meetings/{meeting}/recordings/{rec_id}/parts/1"
    played = await client.get(part, headers=world.auth("alice"))
    assert played.status_code == 200
    with av.open(io.BytesIO(played.content)) as container:
        assert [s.type for s in container.streams] == ["audio"]
    ranged = await client.get(part, headers={**world.auth("alice"), "Range": "bytes=100-"})
    assert ranged.status_code == 206
    for who, status in (("nina", 403), ("mallory", 404), ("otto", 404), ("hana", 404)):
        assert (await client.get(part, headers=world.auth(who))).status_code == status, who
        listed = await client.get(f"{API}/meetings/{meeting}/recordings", headers=world.auth(who))
        assert listed.status_code == status, who
    assert (
        await client.get(
            f"{API}/meetings/{meeting}/recordings/{rec_id}/parts/7", headers=world.auth("bob")
        )
    ).status_code == 404
    info = await client.get(f"/meetings/{meeting}/info", headers=world.auth("bob"))
    assert f"/meetings/{meeting}/recordings/{rec_id}" in info.text
    info = await client.get(f"/meetings/{meeting}/info", headers=world.auth("nina"))
    assert info.status_code == 200 and "/recordings/" not in info.text
    page = await client.get(f"/meetings/{meeting}/recordings/{rec_id}", headers=world.auth("bob"))
    assert page.status_code == 200 and f"/recordings/{rec_id}/parts/0" in page.text
    outsider = await client.get(
        f"/meetings/{meeting}/recordings/{rec_id}", headers=world.auth("mallory")
    )
    assert outsider.status_code == 404
    plays = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "meeting.recording.play")
    )
    assert plays == 1  # the range request continued the same playback


async def test_operations_see_every_calls_quality(app, client, world: World) -> None:
    meeting = await _meeting(client, world, "bob", "alice")
    rated = quality.rate(sig.Stats(type="stats", rtt_ms=600, jitter_ms=40, loss_pct=8))
    async with app.state.sessions.begin() as db:
        db.add(quality.sample(meeting, "u9", "Alice", rated))
    page = await client.get("/calls/quality", headers=world.auth("otto"))
    assert page.status_code == 200
    assert "会诊" in page.text and 'class="badge bad"' in page.text
    assert (await client.get("/calls/quality", headers=world.auth("alice"))).status_code == 403


async def test_only_guests_whose_patient_consented_count_as_consenting(
    client, world: World, session
) -> None:
    meeting_id = await _meeting(client, world, "alice")
    guests = {}
    for n, patient in enumerate(("pa", "pb", None)):
        guest = MeetingGuest(
            meeting_id=meeting_id,
            display_name=f"guest {n}",
            patient_id=world.patients[patient].id if patient else None,
            token_hash=f"{n}" * 64,
            code_hash="c" * 64,
            expires_at=now() + timedelta(hours=1),
            invited_by_id=world.users["alice"].id,
        )
        session.add(guest)
        guests[patient] = guest
    consent = Consent(
        patient_id=world.patients["pa"].id,
        purpose=ConsentPurpose.RECORDING,
        granted_at=now(),
        granted_by_id=world.users["alice"].id,
    )
    session.add_all(
        [
            consent,
            Consent(  # another purpose does not count
                patient_id=world.patients["pb"].id,
                purpose=ConsentPurpose.TELEMEDICINE,
                granted_at=now(),
                granted_by_id=world.users["alice"].id,
            ),
        ]
    )
    await session.commit()
    meeting = await session.get(Meeting, meeting_id)
    assert await recording.consenting_guests(session, meeting) == {guests["pa"].id}
    consent.withdrawn_at = now()
    await session.commit()
    assert await recording.consenting_guests(session, meeting) == set()
