"""One way to create a meeting: the API, the page form and other domains all go through
`schedule.create`, which may link the meeting to what it is for and takes any number of
invitees chosen by the calling domain."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import World
from yiyun.auth import service as auth_service
from yiyun.core import events
from yiyun.core.errors import InvalidInput
from yiyun.meetings import schedule, workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.meetings.schemas import MeetingCreate, Subject
from yiyun.org.models import User
from yiyun.records import service as records_service


def _ctx(app: Any, world: World, who: str) -> records_service.Ctx:
    principal = auth_service.principal_of(world.users[who])
    return records_service.Ctx(
        principal=principal, actor=principal.actor(), cipher=app.state.cipher
    )


async def test_convening_an_incident_opens_a_meeting_linked_to_it(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    async with app.state.bus.subscribe(workflow.CHANNEL) as sub:
        incident = await client.post(
            "/api/v1/emergency/incidents",
            headers=world.auth("hana"),
            json={"title": "发热聚集", "site_ids": [world.inst["chc_a"].id]},
        )
        convened = await client.post(
            f"/api/v1/emergency/incidents/{incident.json()['id']}/convene",
            headers=world.auth("hana"),
        )
        assert convened.status_code == 200, convened.text
        await events.settle()
        created = await sub.get(timeout=2)
    meeting_id = convened.json()["meeting_id"]
    read = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=world.auth("hana"))).json()
    assert (read["subject_type"], read["subject_id"]) == (
        "emergency.incident",
        incident.json()["id"],
    )
    assert read["state"] == "open" and read["kind"] == "instant"
    assert {m["username"] for m in read["members"]} >= {"hana", "alice", "nina", "ines"}
    assert created is not None and created["action"] == "create"
    assert (created["subject_type"], created["subject_id"]) == (
        "emergency.incident",
        incident.json()["id"],
    )


async def test_the_page_form_creates_through_the_same_function(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        "/meetings",
        headers=world.auth("alice"),
        data={"title": "快速会诊", "invitees": "bob, nina"},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    meeting_id = int(res.headers["location"].rsplit("/", 1)[1])
    read = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=world.auth("alice"))).json()
    assert read["state"] == "open" and read["subject_type"] is None
    roles = {m["username"]: m["role"] for m in read["members"]}
    assert roles == {"alice": "host", "bob": "participant", "nina": "participant"}


async def test_a_domain_may_invite_more_people_than_a_form_allows(app: Any, world: World) -> None:
    async with app.state.sessions() as s, s.begin():
        crowd = [
            User(
                username=f"site{i:03d}",
                display_name=f"Site {i}",
                institution_id=world.inst["chc_b"].id,
            )
            for i in range(250)
        ]
        s.add_all(crowd)
    async with app.state.sessions() as s, s.begin():
        meeting = await schedule.create(
            session=s,
            ctx=_ctx(app, world, "hana"),
            data=MeetingCreate(title="全区会商"),
            bus=app.state.bus,
            subject=Subject(type="emergency.incident", id=1),
            invitee_ids=[u.id for u in crowd],
        )
    async with app.state.sessions() as s:
        members = await s.scalar(select(func.count()).where(MeetingMember.meeting_id == meeting.id))
        stored = await s.get(Meeting, meeting.id)
    assert members == 251
    assert stored is not None and (stored.subject_type, stored.subject_id) == (
        "emergency.incident",
        1,
    )


async def test_unknown_invitees_by_id_are_refused(app: Any, world: World) -> None:
    async with app.state.sessions() as s:
        with pytest.raises(InvalidInput) as refused:
            await schedule.create(
                session=s,
                ctx=_ctx(app, world, "alice"),
                data=MeetingCreate(title="x"),
                bus=app.state.bus,
                invitee_ids=[world.users["bob"].id, 999_999],
            )
        await s.rollback()
    assert refused.value.code == "meeting.unknown_invitee"
    assert refused.value.details["ids"] == [999_999]
