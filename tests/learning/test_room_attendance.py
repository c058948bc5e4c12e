"""Stays are recorded by the live meeting room itself: admission opens one, leaving (here:
removed by the chair) closes it, and the organiser's attendance reads them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import World
from tests.meetings.test_room import ids, open_room
from yiyun.meetings.models import Attendance

pytestmark = pytest.mark.commits


async def until(check: Any, wait: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not await check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_joining_and_leaving_the_room_are_recorded_with_the_site(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        mid = await room.create("bob", "alice")
        bob = await room.join("bob")
        await room.join("alice")
        roster = await bob.expect("roster")
        while len(roster["participants"]) < 2:
            roster = await bob.expect("roster")
        alice = world.users["alice"]

        async def rows() -> list[Attendance]:
            async with app.state.sessions() as db:
                found = await db.scalars(select(Attendance).where(Attendance.meeting_id == mid))
                return list(found)

        async def two_open() -> bool:
            return len([r for r in await rows() if r.left_at is None]) == 2

        await until(two_open)
        mine = next(r for r in await rows() if r.user_id == alice.id)
        assert mine.institution_id == world.inst["chc_a"].id and mine.identity == f"u{alice.id}"

        await bob.send(type="control", action="remove", target=ids(roster)[f"u{alice.id}"]["id"])

        async def alice_left() -> bool:
            return any(r.user_id == alice.id and r.left_at is not None for r in await rows())

        await until(alice_left)
        res = await room.client.get(
            f"/api/v1/learning/meetings/{mid}/attendance", headers=world.auth("bob")
        )
        people = {p["user_id"]: p for p in res.json()["people"]}
        assert people[alice.id]["last_left"] is not None
        assert people[world.users["bob"].id]["last_left"] is None  # still there
        sites = {s["institution_id"]: s["people"] for s in res.json()["sites"]}
        assert sites == {world.inst["chc_a"].id: 1, world.inst["lead"].id: 1}
