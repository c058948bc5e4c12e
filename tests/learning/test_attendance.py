"""Lecture attendance from recorded stays: overlapping connections counted once, open
stays closed by the meeting's end, per-site figures and the XLSX for the organiser, and
each learner's own record."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.factories import World
from tests.learning.helpers import API, meeting, stay
from yiyun.core.clock import now
from yiyun.learning.attendance import merged_seconds

T0 = now()


def test_overlapping_spans_count_once() -> None:
    m = timedelta(minutes=1)
    assert merged_seconds([]) == 0
    assert merged_seconds([(T0, T0 + 10 * m), (T0 + 5 * m, T0 + 12 * m)]) == 12 * 60
    assert merged_seconds([(T0, T0 + m), (T0 + 2 * m, T0 + 3 * m)]) == 2 * 60
    assert merged_seconds([(T0, T0 + 10 * m), (T0 + m, T0 + 2 * m)]) == 10 * 60


async def test_the_organiser_sees_who_came_from_which_site_and_for_how_long(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)
    start = now() - timedelta(minutes=60)
    # alice reconnects once; her two connections overlap by 5 minutes.
    await stay(app, world, mid, "alice", 30, start=start, connection="a")
    await stay(app, world, mid, "alice", 20, start=start + timedelta(minutes=25), connection="b")
    await stay(app, world, mid, "nina", 10, start=start)
    await stay(app, world, mid, "mallory", 40, start=start)

    res = await client.get(f"{API}/learning/meetings/{mid}/attendance", headers=world.auth("bob"))
    assert res.status_code == 200, res.text
    body = res.json()
    minutes = {p["name"]: p["minutes"] for p in body["people"]}
    assert minutes[world.users["alice"].display_name] == 45
    assert minutes[world.users["nina"].display_name] == 10
    sites = {s["institution_id"]: s for s in body["sites"]}
    assert sites[world.inst["chc_a"].id]["people"] == 2
    assert sites[world.inst["chc_a"].id]["minutes"] == 55
    assert sites[world.inst["chc_b"].id]["people"] == 1

    page = await client.get(f"/learning/meetings/{mid}/attendance", headers=world.auth("bob"))
    assert page.status_code == 200 and world.inst["chc_b"].name in page.text

    xlsx = await client.get(f"/learning/meetings/{mid}/attendance.xlsx", headers=world.auth("bob"))
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(min_row=5, values_only=True)]
    assert [r[0] for r in rows][:1] == [world.users["alice"].display_name]
    assert rows[0][4] == 45


async def test_attendance_is_the_organisers_not_the_audiences(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)
    for who, status in [
        ("alice", 403),
        ("mallory", 403),
        ("carol", 403),
        ("ines", 403),  # another site's administrator
        ("admin", 200),
        ("bob", 200),
    ]:
        res = await client.get(f"{API}/learning/meetings/{mid}/attendance", headers=world.auth(who))
        assert res.status_code == status, who
    res = await client.get(f"{API}/learning/meetings/999999/attendance", headers=world.auth("bob"))
    assert res.status_code == 404


async def test_a_stay_left_open_ends_with_the_meeting(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    from yiyun.meetings.models import Attendance, Meeting

    mid = await meeting(client, world)
    user = world.users["alice"]
    async with app.state.sessions() as s, s.begin():
        s.add(
            Attendance(
                meeting_id=mid,
                identity=f"u{user.id}",
                user_id=user.id,
                institution_id=user.institution_id,
                connection="x",
                joined_at=now() - timedelta(minutes=50),
            )
        )
        row = await s.get(Meeting, mid)
        assert row is not None
        row.ended_at = now() - timedelta(minutes=20)
    body = (
        await client.get(f"{API}/learning/meetings/{mid}/attendance", headers=world.auth("bob"))
    ).json()
    assert body["people"][0]["minutes"] == 30 and body["people"][0]["last_left"] is not None


async def test_each_learner_sees_their_own_record(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)
    await stay(app, world, mid, "alice", 35)
    await stay(app, world, mid, "nina", 5)
    mine = (await client.get(f"{API}/learning/attendance/mine", headers=world.auth("alice"))).json()
    assert [(m["meeting_id"], m["minutes"]) for m in mine] == [(mid, 35)]
    theirs = (await client.get(f"{API}/learning/attendance/mine", headers=world.auth("bob"))).json()
    assert theirs == []
    page = await client.get("/learning", headers=world.auth("alice"))
    assert page.status_code == 200 and "社区高血压管理讲座" in page.text
