"""Meeting notifications read as sentences in the reader's language (who did what to
which meeting), and what announced a meeting is read once its reader joins it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import update

from tests.factories import World
from yiyun.core.clock import now
from yiyun.org.models import User


async def _inbox(client: httpx.AsyncClient, world: World, who: str) -> dict:
    res = await client.get("/api/v1/notifications", headers=world.auth(who))
    assert res.status_code == 200
    return res.json()


async def test_a_ring_says_who_invites_whom_to_what(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    async with app.state.sessions.begin() as db:  # type: ignore[attr-defined]
        await db.execute(update(User).where(User.username == "carol").values(locale="en"))
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("bob"),
        json={"title": "病例讨论", "invitees": ["alice", "carol"]},
    )
    assert res.status_code == 201, res.text
    zh = (await _inbox(client, world, "alice"))["items"][0]
    assert zh["kind"] == "meeting.ring"
    assert zh["title"] == "Bob邀请您参加视频会议「病例讨论」"
    en = (await _inbox(client, world, "carol"))["items"][0]
    assert en["title"] == "Bob invites you to the video meeting “病例讨论”"


async def test_a_scheduled_invitation_names_the_host_and_the_role_change_is_a_sentence(
    client: httpx.AsyncClient, world: World
) -> None:
    starts = (now() + timedelta(days=1)).replace(microsecond=0).isoformat()
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("bob"),
        json={"title": "周会", "invitees": ["alice"], "starts_at": starts},
    )
    assert res.status_code == 201, res.text
    meeting = res.json()["id"]
    note = (await _inbox(client, world, "alice"))["items"][0]
    assert note["title"] == "Bob邀请您参加视频会议「周会」"
    alice_id = world.users["alice"].id
    res = await client.put(
        f"/api/v1/meetings/{meeting}/members/{alice_id}",
        headers=world.auth("bob"),
        json={"role": "cohost"},
    )
    assert res.status_code == 200, res.text
    note = (await _inbox(client, world, "alice"))["items"][0]
    assert note["title"] == "Bob调整了您在会议「周会」中的角色"
    assert note["body"] == "您的角色：联席主持人"


async def test_joining_the_meeting_marks_what_announced_it_read(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    made = []
    for title in ("会诊一", "会诊二"):
        res = await client.post(
            "/api/v1/meetings",
            headers=world.auth("bob"),
            json={"title": title, "invitees": ["alice"]},
        )
        made.append(res.json()["id"])
    assert (await _inbox(client, world, "alice"))["unread"] == 2
    channel = f"user:{world.users['alice'].id}"
    async with app.state.bus.subscribe(channel) as sub:  # type: ignore[attr-defined]
        res = await client.post(f"/api/v1/meetings/{made[0]}/token", headers=world.auth("alice"))
        assert res.status_code == 200, res.text
        bell = await asyncio.wait_for(anext(aiter(sub)), timeout=5)
    assert bell == {"type": "hello", "unread": 1}  # her open pages' bell follows
    inbox = await _inbox(client, world, "alice")
    assert inbox["unread"] == 1
    still_new = [n["link"] for n in inbox["items"] if n["read_at"] is None]
    assert still_new == [f"/meetings/{made[1]}"]
