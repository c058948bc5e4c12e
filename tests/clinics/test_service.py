"""Remote clinics through the API on a real database: publish, book (consent, one slot
one booking), check in, queue order, call next into a video visit, the record read
through the visit, the note, prescription advice (refused classes, signing with a
current code), no-shows and cancellations; outsiders get 404."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from tests.clinics.helpers import API, book, consent, publish, soon, step
from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import encode_institutions
from yiyun.clinics.board import mask_name
from yiyun.meetings.models import Meeting


async def test_booking_needs_the_patients_telemedicine_consent(
    client: httpx.AsyncClient, world: World
) -> None:
    clinic = await publish(client, world)
    res = await book(client, world, clinic["id"], slot_id=clinic["slots"][0]["id"])
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "clinic.consent_missing"
    assert res.json()["error"]["details"]["missing"] == "telemedicine"
    await consent(client, world)
    res = await book(client, world, clinic["id"], slot_id=clinic["slots"][0]["id"])
    assert res.status_code == 201, res.text
    assert res.json()["state"] == "booked"


async def test_a_slot_is_booked_once_and_freed_by_a_cancellation(
    client: httpx.AsyncClient, world: World
) -> None:
    await consent(client, world)
    await consent(client, world, "pb")
    clinic = await publish(client, world)
    slot = clinic["slots"][0]["id"]
    first = await book(client, world, clinic["id"], slot_id=slot)
    assert first.status_code == 201
    second = await book(client, world, clinic["id"], slot_id=slot, who="mallory", patient="pb")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "clinic.slot_taken"
    again = await book(client, world, clinic["id"], slot_id=clinic["slots"][1]["id"])
    assert again.json()["error"]["code"] == "clinic.already_booked"
    assert (await step(client, world, first.json()["id"], "cancel")).status_code == 200
    retry = await book(client, world, clinic["id"], slot_id=slot, who="mallory", patient="pb")
    assert retry.status_code == 201, retry.text


async def test_the_walk_in_queue_has_its_capacity(client: httpx.AsyncClient, world: World) -> None:
    await consent(client, world)
    await consent(client, world, "pb")
    clinic = await publish(client, world, walk_in=1)
    assert (await book(client, world, clinic["id"])).status_code == 201
    full = await book(client, world, clinic["id"], who="mallory", patient="pb")
    assert full.status_code == 409 and full.json()["error"]["code"] == "clinic.walk_in_full"


async def test_only_specialists_publish_and_only_community_staff_book(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {
        "title": "x",
        "starts_at": soon(5).isoformat(),
        "ends_at": soon(65).isoformat(),
    }
    for who in ("alice", "carol", "hana", "admin"):
        res = await client.post(f"{API}/clinics/sessions", headers=world.auth(who), json=body)
        assert res.status_code == 403, who
    clinic = await publish(client, world)
    await consent(client, world)
    for who in ("bob", "carol", "hana", "mallory"):
        res = await book(client, world, clinic["id"], who=who)
        assert res.status_code in (403, 404), (who, res.text)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"starts_at": "2020-01-01T09:00:00+08:00", "ends_at": "2020-01-01T10:00:00+08:00"},
            "clinic.start_in_past",
        ),
        ({"starts_at": "2030-01-01T09:00:00", "ends_at": "2030-01-01T10:00:00+08:00"}, None),
        ({"slot_minutes": 3}, None),
        ({"ends_at_before": True}, "clinic.end_before_start"),
    ],
)
async def test_bad_sessions_are_refused_with_the_reason(
    client: httpx.AsyncClient, world: World, body: dict[str, object], code: str | None
) -> None:
    data: dict[str, object] = {
        "title": "门诊",
        "starts_at": soon(10).isoformat(),
        "ends_at": soon(70).isoformat(),
    }
    if body.pop("ends_at_before", False):
        data["ends_at"] = soon(5).isoformat()
    data.update(body)
    res = await client.post(f"{API}/clinics/sessions", headers=world.auth("bob"), json=data)
    assert res.status_code == 422, res.text
    if code:
        assert res.json()["error"]["code"] == code


async def test_the_whole_visit_from_check_in_to_signed_advice(
    client: httpx.AsyncClient, world: World, session: object
) -> None:
    await consent(client, world)
    clinic = await publish(client, world)
    visit = (await book(client, world, clinic["id"], slot_id=clinic["slots"][0]["id"])).json()
    pa = world.patients["pa"].id
    # Before the visit the specialist may not read the record.
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 404
    empty = await client.post(
        f"{API}/clinics/sessions/{clinic['id']}/call-next", headers=world.auth("bob")
    )
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "clinic.queue_empty"
    assert (await step(client, world, visit["id"], "check_in", who="bob")).status_code == 403
    assert (await step(client, world, visit["id"], "check_in")).status_code == 200
    again = await step(client, world, visit["id"], "check_in")
    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"state": "checked_in", "action": "check_in"}
    called = await client.post(
        f"{API}/clinics/sessions/{clinic['id']}/call-next", headers=world.auth("bob")
    )
    assert called.status_code == 200, called.text
    assert called.json()["state"] == "in_visit"
    meeting_id = called.json()["meeting_id"]
    meeting = await session.get(Meeting, meeting_id)  # type: ignore[attr-defined]
    assert (meeting.subject_type, meeting.subject_id) == ("clinic.visit", visit["id"])
    members = (await client.get(f"{API}/meetings/{meeting_id}", headers=world.auth("alice"))).json()
    assert {m["username"] for m in members["members"]} == {"bob", "alice"}
    # During the visit the specialist reads the record, audited for CHC A to see.
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 200
    read = await session.scalar(  # type: ignore[attr-defined]
        select(AuditEvent)
        .where(
            AuditEvent.action == "patient.read",
            AuditEvent.actor_id == world.users["bob"].id,
            AuditEvent.patient_id == pa,
        )
        .order_by(AuditEvent.id.desc())
    )
    assert read is not None
    assert encode_institutions(frozenset({world.inst["chc_a"].id})) in (
        read.subject_institutions or ""
    )
    # The visit note, then advice: a psychotropic drug is refused, an ordinary one signed.
    no_note = await client.post(
        f"{API}/clinics/visits/{visit['id']}/complete", headers=world.auth("bob")
    )
    assert no_note.json()["error"]["code"] == "clinic.note_missing"
    res = await client.post(
        f"{API}/clinics/visits/{visit['id']}/note",
        headers=world.auth("bob"),
        json={"note": "血压控制欠佳，调整用药。"},
    )
    assert res.status_code == 200, res.text
    item = {"dose": "1 片", "frequency": "每日一次", "days": 14}
    refused = await client.post(
        f"{API}/clinics/visits/{visit['id']}/prescriptions",
        headers=world.auth("bob"),
        json={"items": [{"code": "ALPR04", **item}]},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "clinic.drug_not_remote"
    rx = await client.post(
        f"{API}/clinics/visits/{visit['id']}/prescriptions",
        headers=world.auth("bob"),
        json={"items": [{"code": "AMLO5", **item}], "advice": "低盐饮食"},
    )
    assert rx.status_code == 201, rx.text
    rx_id = rx.json()["id"]
    bad = await client.post(
        f"{API}/clinics/prescriptions/{rx_id}/sign",
        headers=world.auth("bob"),
        json={"code": "000000"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "auth.step_up_failed"
    open_draft = await client.post(
        f"{API}/clinics/visits/{visit['id']}/complete", headers=world.auth("bob")
    )
    assert open_draft.json()["error"]["code"] == "clinic.draft_open"
    unconfirmed = await client.post(
        f"{API}/clinics/prescriptions/{rx_id}/sign", headers=world.auth("bob"), json={}
    )
    assert unconfirmed.status_code == 403
    assert unconfirmed.json()["error"]["code"] == "auth.step_up_required"
    code = world.code("bob")
    signed = await client.post(
        f"{API}/clinics/prescriptions/{rx_id}/sign", headers=world.auth("bob"), json={"code": code}
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["state"] == "signed"
    twice = await client.post(
        f"{API}/clinics/prescriptions/{rx_id}/sign", headers=world.auth("bob"), json={}
    )
    assert twice.status_code == 409
    # The one step-up: a code is good once, even within its 30-second window.
    second = await client.post(
        f"{API}/clinics/visits/{visit['id']}/prescriptions",
        headers=world.auth("bob"),
        json={"items": [{"code": "AMLO5", **item}]},
    )
    replay = await client.post(
        f"{API}/clinics/prescriptions/{second.json()['id']}/sign",
        headers=world.auth("bob"),
        json={"code": code},
    )
    assert replay.status_code == 422 and replay.json()["error"]["code"] == "auth.step_up_failed"
    # The session passed the check minutes ago: signing needs no new code.
    fresh = await client.post(
        f"{API}/clinics/prescriptions/{second.json()['id']}/sign",
        headers=world.auth("bob"),
        json={},
    )
    assert fresh.status_code == 200 and fresh.json()["state"] == "signed"
    done = await client.post(
        f"{API}/clinics/visits/{visit['id']}/complete", headers=world.auth("bob")
    )
    assert done.status_code == 200 and done.json()["state"] == "completed"
    # After the visit the grant has lapsed.
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 404
    # Outsiders see nothing of the visit.
    for who in ("mallory", "carol", "hana"):
        res = await client.get(f"{API}/clinics/visits/{visit['id']}", headers=world.auth(who))
        assert res.status_code == 404, who


async def test_an_urgent_case_moves_up_and_no_shows_free_the_slot(
    client: httpx.AsyncClient, world: World
) -> None:
    await consent(client, world)
    await consent(client, world, "pb")
    clinic = await publish(client, world)
    # pb (CHC B) holds the earlier slot; pa (CHC A) the later one, then marked urgent.
    early = (
        await book(
            client,
            world,
            clinic["id"],
            slot_id=clinic["slots"][0]["id"],
            who="mallory",
            patient="pb",
        )
    ).json()
    late = (await book(client, world, clinic["id"], slot_id=clinic["slots"][2]["id"])).json()
    assert (await step(client, world, early["id"], "check_in", who="mallory")).status_code == 200
    assert (await step(client, world, late["id"], "check_in")).status_code == 200
    assert (await step(client, world, late["id"], "mark_urgent")).json()["urgent"] is True
    called = await client.post(
        f"{API}/clinics/sessions/{clinic['id']}/call-next", headers=world.auth("bob")
    )
    assert called.json()["id"] == late["id"]
    # One visit at a time.
    busy = await client.post(f"{API}/clinics/visits/{early['id']}/call", headers=world.auth("bob"))
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "clinic.visit_in_progress"
    gone = await step(client, world, early["id"], "no_show", who="bob")
    assert gone.status_code == 200 and gone.json()["state"] == "no_show"
    slots = (
        await client.get(f"{API}/clinics/sessions/{clinic['id']}", headers=world.auth("bob"))
    ).json()
    assert slots["slots"][0]["free"] is True
    # CHC A sees its own booking, not CHC B's.
    mine = await client.get(f"{API}/clinics/visits", headers=world.auth("alice"))
    assert {v["id"] for v in mine.json()} == {late["id"]}


@pytest.mark.parametrize(
    ("name", "masked"), [("张三明", "张*明"), ("李四", "李*"), ("欧阳娜娜", "欧**娜"), ("王", "王")]
)
def test_names_on_the_waiting_board_are_masked(name: str, masked: str) -> None:
    assert mask_name(name) == masked


async def test_the_waiting_board_shows_masked_names_only(
    client: httpx.AsyncClient, world: World, app: object
) -> None:
    await consent(client, world)
    clinic = await publish(client, world)
    visit = (await book(client, world, clinic["id"])).json()
    await step(client, world, visit["id"], "check_in")
    from tests.web.test_access_matrix import Scene  # signed-in browser sessions

    scene = Scene(app=app, world=world, client=client)  # type: ignore[arg-type]
    await scene.sign_in_all(app.state.settings)  # type: ignore[attr-defined]
    token, _csrf = scene.cookies["alice"]
    res = await client.get("/clinics/waiting?kiosk=1", headers={"Cookie": f"yiyun_session={token}"})
    assert res.status_code == 200, res.text[:300]
    name = world.patients["pa"].name
    assert mask_name(name) in res.text and name not in res.text


@pytest.mark.commits
async def test_two_bookings_of_one_slot_race_and_exactly_one_wins(
    client: httpx.AsyncClient, world: World, db_backend: str
) -> None:
    if db_backend != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    await consent(client, world)
    await consent(client, world, "pb")
    clinic = await publish(client, world)
    slot = clinic["slots"][1]["id"]
    results = await asyncio.gather(
        book(client, world, clinic["id"], slot_id=slot),
        book(client, world, clinic["id"], slot_id=slot, who="mallory", patient="pb"),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] == "clinic.slot_taken"


async def test_reminders_go_out_once_before_the_visit_in_each_readers_language(
    client: httpx.AsyncClient, world: World, app: object
) -> None:
    from datetime import timedelta

    from yiyun.clinics import reminders

    await consent(client, world)
    clinic = await publish(client, world, start=20)
    visit = (await book(client, world, clinic["id"], slot_id=clinic["slots"][0]["id"])).json()
    factory = app.state.sessions  # type: ignore[attr-defined]
    bus = app.state.bus  # type: ignore[attr-defined]
    far = soon(20) - timedelta(minutes=45)
    async with factory.begin() as s:
        assert await reminders.remind_due(s, bus, at=far) == 0  # not yet
    async with factory.begin() as s:
        assert await reminders.remind_due(s, bus, at=soon(0)) == 1
    async with factory.begin() as s:
        assert await reminders.remind_due(s, bus, at=soon(1)) == 0  # once
    inbox = (await client.get(f"{API}/notifications", headers=world.auth("alice"))).json()
    mine = [n for n in inbox["items"] if n["kind"] == "clinic.reminder"]
    assert len(mine) == 1 and mine[0]["link"] == f"/clinics/visits/{visit['id']}"
    assert "远程门诊就诊提醒" in mine[0]["title"]
