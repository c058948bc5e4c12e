"""Reminders go out once before a scheduled meeting: in the app, by e-mail, by SMS."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from yiyun.meetings import reminders
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.models import Meeting
from yiyun.notify.channels import ConsoleChannel, console_outbound
from yiyun.notify.models import Notification

# Runners work in background tasks, some racing each other.
pytestmark = pytest.mark.commits

API = "/api/v1/meetings"
PHONE = "13812345678"


def ctx(app: Any, **config: Any) -> reminders.Context:
    return reminders.Context(
        factory=app.state.sessions,
        bus=app.state.bus,
        outbound=console_outbound(),
        cipher=app.state.cipher,
        config=MeetingSettings(**config),
        public_url="https://yiyun.example.org",
    )


async def scheduled(
    client: httpx.AsyncClient, world: World, minutes: int, **fields: Any
) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    body = {"title": "随访会议", "starts_at": start, "invitees": ["bob", "carol"]} | fields
    res = await client.post(API, headers=world.auth("alice"), json=body)
    assert res.status_code == 201, res.text
    return dict(res.json())


async def with_guest(client: httpx.AsyncClient, world: World, meeting: dict[str, Any]) -> str:
    res = await client.post(
        f"{API}/{meeting['id']}/guests",
        headers=world.auth("alice"),
        json={"display_name": "王阿姨", "phone": PHONE},
    )
    assert res.status_code == 201
    return str(res.json()["link"])


async def give_email(client: httpx.AsyncClient, world: World, name: str, email: str) -> None:
    res = await client.patch(
        f"/api/v1/staff/{world.users[name].id}", headers=world.auth("admin"), json={"email": email}
    )
    assert res.status_code == 200 and res.json()["email"] == email


def sent(channel: object) -> list[Any]:
    assert isinstance(channel, ConsoleChannel)
    return channel.sent


async def reminded_kinds(app: Any, meeting_id: int) -> list[tuple[int, str]]:
    async with app.state.sessions() as s:
        rows = await s.scalars(select(Notification).where(Notification.kind == "meeting.reminder"))
        return sorted((n.user_id, n.kind) for n in rows if n.data["meeting_id"] == meeting_id)


async def test_a_reminder_goes_to_everyone_once(
    app: Any, client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await give_email(client, world, "bob", "bob.chen@lead.example.org")
    meeting = await scheduled(client, world, minutes=10)
    link = await with_guest(client, world, meeting)
    later = await scheduled(client, world, minutes=60)  # not due yet
    c = ctx(app)
    caplog.set_level(logging.INFO, logger="yiyun")
    first = await reminders.send_due(c)
    assert first.summary() == {"meetings": 1, "in_app": 3, "emails": 1, "sms": 1, "failed": 0}
    assert await reminded_kinds(app, meeting["id"]) == sorted(
        (world.users[n].id, "meeting.reminder") for n in ("alice", "bob", "carol")
    )
    assert await reminded_kinds(app, later["id"]) == []
    (email,) = sent(c.outbound.email)
    assert email.to == "bob.chen@lead.example.org"
    assert "随访会议" in email.body and f"/meetings/{meeting['id']}" in email.body
    (sms,) = sent(c.outbound.sms)
    assert sms.to == PHONE and "王阿姨" in sms.body and "随访会议" in sms.body
    token = link.rsplit("/", 1)[1]
    assert token not in sms.body  # only the link's hash is stored: it cannot be resent
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "138****78" in logged and "b***@lead.example.org" in logged
    for secret in (PHONE, "bob.chen@", token, "随访会议", "王阿姨"):
        assert secret not in logged
    async with app.state.sessions() as s:
        stamped = await s.get(Meeting, meeting["id"])
        assert stamped is not None and stamped.reminder_sent_at is not None
    again = await reminders.send_due(c)
    assert again.summary()["meetings"] == 0 and len(sent(c.outbound.sms)) == 1


async def test_two_runners_racing_send_it_once(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await give_email(client, world, "carol", "carol@lead.example.org")
    meeting = await scheduled(client, world, minutes=5)
    await with_guest(client, world, meeting)
    one, two = ctx(app), ctx(app)
    results = await asyncio.gather(reminders.send_due(one), reminders.send_due(two))
    assert sum(r.meetings for r in results) == 1
    assert len(sent(one.outbound.sms)) + len(sent(two.outbound.sms)) == 1
    assert len(sent(one.outbound.email)) + len(sent(two.outbound.email)) == 1
    assert len(await reminded_kinds(app, meeting["id"])) == 3
    # whole ticks on two nodes: the job is claimed by one
    await scheduled(client, world, minutes=7)
    ticks = await asyncio.gather(
        reminders.run_due(ctx(app), node="a"), reminders.run_due(ctx(app), node="b")
    )
    assert sorted(bool(t) for t in ticks) == [False, True]
    assert next(t for t in ticks if t)["meetings"] == 1


async def test_no_reminder_for_cancelled_meetings_and_again_after_a_new_time(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    cancelled = await scheduled(client, world, minutes=10)
    await client.post(f"{API}/{cancelled['id']}/cancel", headers=world.auth("alice"))
    moved = await scheduled(client, world, minutes=10)
    c = ctx(app)
    assert (await reminders.send_due(c)).meetings == 1
    assert await reminded_kinds(app, cancelled["id"]) == []
    new_start = (datetime.now(UTC) + timedelta(minutes=12)).isoformat()
    res = await client.patch(
        f"{API}/{moved['id']}", headers=world.auth("alice"), json={"starts_at": new_start}
    )
    assert res.status_code == 200
    assert (await reminders.send_due(c)).meetings == 1
    assert len(await reminded_kinds(app, moved["id"])) == 6


async def test_a_failed_delivery_is_counted_not_retried_forever(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await give_email(client, world, "bob", "bob@lead.example.org")
    await scheduled(client, world, minutes=10)
    c = ctx(app)

    class Down(ConsoleChannel):
        async def send(self, message: Any) -> None:
            from yiyun.notify.channels import DeliveryError

            raise DeliveryError("provider down", permanent=False)

    broken = reminders.Context(
        **{**c.__dict__, "outbound": type(c.outbound)(sms=c.outbound.sms, email=Down("email"))}
    )
    result = await reminders.send_due(broken)
    assert result.summary()["failed"] == 1 and result.summary()["meetings"] == 1
    assert (await reminders.send_due(broken)).meetings == 0  # stamped: never twice


async def test_the_runner_starts_in_the_background_and_can_be_switched_off(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    meeting = await scheduled(client, world, minutes=3)
    runner = reminders.Runner(ctx(app, tick_seconds=0.05))
    runner.start()
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await reminded_kinds(app, meeting["id"]):
                break
    finally:
        await runner.stop()
    assert len(await reminded_kinds(app, meeting["id"])) == 3
    idle = reminders.Runner(ctx(app, jobs_enabled=False))
    idle.start()
    assert idle._task is None
