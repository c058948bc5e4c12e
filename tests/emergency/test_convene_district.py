"""Convening the whole demo district (94 sites, every site's on-duty staff) works in one
click: no invitee cap, every member rung, and an internal schema never surfaces as a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
from sqlalchemy import func, select

from yiyun.demo import data
from yiyun.demo.seed import seed
from yiyun.emergency import service as emergency_service
from yiyun.meetings.models import MeetingMember
from yiyun.notify.models import Notification
from yiyun.settings import Settings


async def test_convene_all_rings_every_site_of_the_full_demo_consortium(
    app: Any, settings: Settings, client: httpx.AsyncClient
) -> None:
    summary = await seed(app.state.sessions, settings, patients_per_centre=0)
    secret = next(x.totp_secret for x in summary.logins if x.username == "authority")
    res = await client.post("/api/v1/auth/token", json={
        "username": "authority", "password": data.DEMO_PASSWORD,
        "code": pyotp.TOTP(secret).now()})  # fmt: skip
    authority = {"Authorization": f"Bearer {res.json()['access_token']}"}
    async with app.state.sessions() as s:
        sites = await emergency_service.care_site_ids(s)
        staff = await emergency_service.on_duty_staff(s, sites)
    assert len(sites) == 94
    assert len(staff) > 200  # more than a hand-typed invitation may list

    res = await client.post(
        "/api/v1/emergency/convene-all", headers=authority, json={"title": "全区应急会商"}
    )
    assert res.status_code == 200, res.text
    done = res.json()
    assert done["sites"] == 94 and done["rung"] == len(staff)
    async with app.state.sessions() as s:
        members = await s.scalar(
            select(func.count()).where(MeetingMember.meeting_id == done["meeting_id"])
        )
        rings = await s.scalar(
            select(func.count()).where(
                Notification.kind == "meeting.ring",
                Notification.link == f"/meetings/{done['meeting_id']}",
            )
        )
    assert members == len(staff) + 1  # and the authority, as host
    assert rings == len(staff)
    meeting = await client.get(f"/api/v1/meetings/{done['meeting_id']}", headers=authority)
    assert meeting.status_code == 200
    assert len(meeting.json()["members"]) == len(staff) + 1


async def test_a_hand_typed_invitation_list_is_still_capped_with_a_reason(
    client: httpx.AsyncClient, world: Any
) -> None:
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("bob"),
        json={"title": "太多人", "invitees": [f"user{i}" for i in range(201)]},
    )
    assert res.status_code == 422
