"""Emergency command: incidents, one-click convening with rings, tasks with a strict
state machine, resource reports; only the authority commands, sites answer their own."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import World


async def _incident(client: httpx.AsyncClient, world: World, *sites: str) -> dict:
    res = await client.post(
        "/api/v1/emergency/incidents",
        headers=world.auth("hana"),
        json={"title": "发热聚集", "site_ids": [world.inst[s].id for s in sites]},
    )
    assert res.status_code == 201, res.text
    return res.json()


async def test_only_the_command_roles_open_incidents_and_see_the_board(
    client: httpx.AsyncClient, world: World
) -> None:
    for who in ("alice", "ines", "otto", "bob"):
        res = await client.post(
            "/api/v1/emergency/incidents",
            headers=world.auth(who),
            json={"title": "x", "site_ids": [world.inst["chc_a"].id]},
        )
        assert res.status_code == 403, who
        assert (
            await client.get("/api/v1/emergency/board", headers=world.auth(who))
        ).status_code == 403
    board = (await client.get("/api/v1/emergency/board", headers=world.auth("hana"))).json()
    assert {s["code"] for s in board["sites"]} == {"LEAD", "CHC-A", "CHC-B"}
    chc_a = next(s for s in board["sites"] if s["code"] == "CHC-A")
    assert chc_a["terminals"] == {"online": 0, "total": 1}


async def test_convening_rings_the_sites_on_duty_staff_into_one_meeting(
    client: httpx.AsyncClient, world: World
) -> None:
    incident = await _incident(client, world, "chc_a")
    res = await client.post(
        f"/api/v1/emergency/incidents/{incident['id']}/convene", headers=world.auth("hana")
    )
    assert res.status_code == 200, res.text
    done = res.json()
    assert done["sites"] == 1 and done["rung"] == 3  # alice, nina, ines at CHC A
    meeting = (
        await client.get(f"/api/v1/meetings/{done['meeting_id']}", headers=world.auth("alice"))
    ).json()
    assert {m["username"] for m in meeting["members"]} == {"hana", "alice", "nina", "ines"}
    inbox = (await client.get("/api/v1/notifications", headers=world.auth("nina"))).json()
    assert inbox["items"][0]["kind"] == "meeting.ring"
    assert (
        await client.get(f"/api/v1/meetings/{done['meeting_id']}", headers=world.auth("mallory"))
    ).status_code == 404


async def test_convene_all_brings_in_every_care_site(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        "/api/v1/emergency/convene-all", headers=world.auth("hana"), json={"title": "全区会商"}
    )
    assert res.status_code == 200, res.text
    assert res.json()["sites"] == 3
    assert res.json()["rung"] == 5  # CHC A: alice, nina, ines; CHC B: mallory; lead: bob


async def test_tasks_follow_their_state_machine_and_sites_answer_their_own(
    client: httpx.AsyncClient, world: World
) -> None:
    incident = await _incident(client, world, "chc_a", "chc_b")
    res = await client.post(
        f"/api/v1/emergency/incidents/{incident['id']}/tasks",
        headers=world.auth("hana"),
        json={"site_ids": [world.inst["chc_a"].id], "title": "上报发热门诊就诊人数"},
    )
    assert res.status_code == 201, res.text
    task = res.json()[0]
    path = f"/api/v1/emergency/tasks/{task['id']}"
    assert (
        await client.post(f"{path}/acknowledge", json={}, headers=world.auth("mallory"))
    ).status_code == 403
    done_too_early = await client.post(f"{path}/complete", json={}, headers=world.auth("alice"))
    assert done_too_early.status_code == 409
    assert done_too_early.json()["error"]["details"] == {"state": "sent", "action": "complete"}
    assert (await client.post(f"{path}/acknowledge", json={}, headers=world.auth("alice"))).json()[
        "state"
    ] == "acknowledged"
    again = await client.post(f"{path}/acknowledge", json={}, headers=world.auth("alice"))
    assert again.status_code == 409
    done = await client.post(
        f"{path}/complete", json={"result": "12人"}, headers=world.auth("alice")
    )
    assert done.json()["state"] == "done"
    assert (
        await client.post(f"{path}/cancel", json={}, headers=world.auth("hana"))
    ).status_code == 409
    mine = (await client.get("/api/v1/emergency/tasks", headers=world.auth("mallory"))).json()
    assert mine == []
    detail = (
        await client.get(
            f"/api/v1/emergency/incidents/{incident['id']}", headers=world.auth("hana")
        )
    ).json()
    assert [e["kind"] for e in detail["log"]][-3:] == ["task", "task.acknowledge", "task.complete"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "beds_total": 10,
                "beds_free": 4,
                "fever_clinic_capacity": 20,
                "fever_clinic_waiting": 3,
            },
            201,
        ),
        (
            {
                "beds_total": 10,
                "beds_free": 40,
                "fever_clinic_capacity": 20,
                "fever_clinic_waiting": 3,
            },
            422,
        ),
        (
            {
                "beds_total": -1,
                "beds_free": 0,
                "fever_clinic_capacity": 0,
                "fever_clinic_waiting": 0,
            },
            422,
        ),
    ],
)
async def test_resource_reports_are_checked(
    client: httpx.AsyncClient, world: World, body: dict, status: int
) -> None:
    res = await client.post("/api/v1/emergency/resources", headers=world.auth("alice"), json=body)
    assert res.status_code == status, res.text


async def test_a_site_cannot_report_for_another(client: httpx.AsyncClient, world: World) -> None:
    res = await client.post(
        "/api/v1/emergency/resources",
        headers=world.auth("alice"),
        json={
            "site_id": world.inst["chc_b"].id,
            "beds_total": 1,
            "beds_free": 1,
            "fever_clinic_capacity": 1,
            "fever_clinic_waiting": 0,
        },
    )
    assert res.status_code == 403


async def test_incidents_close_once(client: httpx.AsyncClient, world: World) -> None:
    incident = await _incident(client, world, "chc_a")
    path = f"/api/v1/emergency/incidents/{incident['id']}"
    assert (await client.post(f"{path}/close", headers=world.auth("hana"))).status_code == 200
    again = await client.post(f"{path}/close", headers=world.auth("hana"))
    assert again.status_code == 409
    assert (await client.post(f"{path}/reopen", headers=world.auth("hana"))).status_code == 200
