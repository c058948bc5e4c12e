"""Surveillance over HTTP: who sees what (district, own site, nothing), reporting in three
formats with row-numbered rejections, re-sends audited, and the alert state machine's 409s."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.surveillance.test_workflow import LEGAL, make_alert
from yiyun.audit.models import AuditEvent
from yiyun.core.clock import now
from yiyun.surveillance import api as surveillance_api
from yiyun.surveillance.models import AlertState, local_date
from yiyun.surveillance.workflow import AlertAction

API = "/api/v1/surveillance"
TODAY = local_date(now())
DAY = (TODAY - timedelta(days=1)).isoformat()


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The app with this router, whether or not `web/routes.py` mounts it yet."""
    if not any(getattr(r, "path", "").startswith(API) for r in app.routes):
        app.include_router(surveillance_api.router, prefix="/api/v1", tags=["surveillance"])
    return app


def _rows(*specs: tuple[str, str, int], day: str = DAY) -> dict:
    return {"rows": [{"date": day, "site": s, "syndrome": c, "count": n} for s, c, n in specs]}


async def _report(client: httpx.AsyncClient, world: World, who: str, body: dict) -> dict:
    res = await client.post(f"{API}/counts", headers=world.auth(who), json=body)
    assert res.status_code == 200, res.text
    return res.json()


async def _district(client: httpx.AsyncClient, world: World) -> None:
    body = _rows(("CHC-A", "ili", 4), ("CHC-B", "ili", 6), ("LEAD", "ili", 20))
    assert (await _report(client, world, "hana", body))["accepted"] == 3


async def test_the_authority_sees_the_district_and_a_centre_only_itself(
    client: httpx.AsyncClient, world: World
) -> None:
    await _district(client, world)
    for who in ("hana", "admin"):
        board = (await client.get(f"{API}/dashboard", headers=world.auth(who))).json()
        assert board["scope"] == "district"
        assert {s["code"]: s["total"] for s in board["sites"]} == {
            "LEAD": 20,
            "CHC-A": 4,
            "CHC-B": 6,
        }
        ili = next(s for s in board["daily"]["series"] if s["syndrome"] == "ili")
        assert ili["counts"][board["daily"]["dates"].index(DAY)] == 30
    mine = (await client.get(f"{API}/dashboard", headers=world.auth("alice"))).json()
    assert mine["scope"] == "site" and [s["code"] for s in mine["sites"]] == ["CHC-A"]
    counts = (await client.get(f"{API}/counts", headers=world.auth("alice"))).json()
    assert counts["total"] == 1 and counts["items"][0]["site_id"] == world.inst["chc_a"].id
    other = await client.get(
        f"{API}/counts", headers=world.auth("alice"), params={"site_id": world.inst["chc_b"].id}
    )
    assert other.json()["total"] == 0
    backwards = await client.get(
        f"{API}/dashboard", headers=world.auth("hana"), params={"start": DAY, "end": "2020-01-01"}
    )
    assert backwards.status_code == 422
    trends = (await client.get(f"{API}/trends?days=7", headers=world.auth("mallory"))).json()
    ili = next(s for s in trends["series"] if s["syndrome"] == "ili")
    assert len(trends["dates"]) == 7 and sum(ili["counts"]) == 6 and ili["name"] == "流感样病例"
    # today is still being counted: marked partial, so a chart does not show a fall to zero
    assert trends["partial"] == [TODAY.isoformat()] and trends["dates"][-1] == TODAY.isoformat()
    past = await client.get(f"{API}/trends?days=7&end={DAY}", headers=world.auth("mallory"))
    assert past.json()["partial"] == []


@pytest.mark.parametrize("who", ["otto", "carol"])
async def test_ops_and_dispatch_are_refused_everything(
    client: httpx.AsyncClient, world: World, session: AsyncSession, who: str
) -> None:
    alert = await make_alert(session, world)
    calls = [
        ("GET", f"{API}/counts", None),
        ("GET", f"{API}/dashboard", None),
        ("GET", f"{API}/trends", None),
        ("GET", f"{API}/syndromes", None),
        ("GET", f"{API}/alerts", None),
        ("GET", f"{API}/alerts/{alert.id}", None),
        ("POST", f"{API}/alerts/{alert.id}/acknowledge", None),
        ("GET", f"{API}/kpi", None),
        ("POST", f"{API}/run", None),
        ("POST", f"{API}/counts", _rows(("LEAD", "ili", 1))),
    ]
    for method, url, body in calls:
        res = await client.request(method, url, headers=world.auth(who), json=body)
        assert res.status_code == 403, (method, url, res.text)
    assert (await client.get(f"{API}/alerts")).status_code == 401


async def test_alerts_are_scoped_and_outsiders_get_404(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    at_a = await make_alert(session, world, site="chc_a")
    district = await make_alert(session, world, site=None, syndrome="fever")
    seen = {}
    for who in ("hana", "admin", "alice", "mallory"):
        page = (await client.get(f"{API}/alerts", headers=world.auth(who))).json()
        seen[who] = {a["id"] for a in page["items"]}
    assert seen == {
        "hana": {at_a.id, district.id},
        "admin": {at_a.id, district.id},
        "alice": {at_a.id},
        "mallory": set(),
    }
    assert (
        await client.get(f"{API}/alerts/{at_a.id}", headers=world.auth("alice"))
    ).status_code == 200
    for who, alert_id in (("mallory", at_a.id), ("alice", district.id), ("alice", 987_654)):
        res = await client.get(f"{API}/alerts/{alert_id}", headers=world.auth(who))
        assert res.status_code == 404, who
        acted = await client.post(f"{API}/alerts/{alert_id}/acknowledge", headers=world.auth(who))
        assert acted.status_code == 404, who
    opened = await client.get(f"{API}/alerts?open=true", headers=world.auth("hana"))
    assert {a["site_id"] for a in opened.json()["items"]} == {world.inst["chc_a"].id, None}


async def test_csv_upload_keeps_good_rows_and_names_the_bad_ones(
    client: httpx.AsyncClient, world: World
) -> None:
    csv = (
        "date,site,syndrome,count\n"
        f"{DAY},CHC-A,diarrhoea,3\n"
        f"{DAY},CHC-A,diarrhoea,4\n"
        "yesterday,CHC-A,ili,2\n"
        f"{DAY},CHC-A,ili,-2\n"
        f"{DAY},CHC-B,ili,2\n"
        f"{DAY},CHC-A,fever,7\n"
    )
    res = await client.post(
        f"{API}/counts/csv",
        headers=world.auth("alice"),
        files={"file": ("counts.csv", csv.encode(), "text/csv")},
    )
    assert res.status_code == 200, res.text
    result = res.json()
    assert (result["accepted"], result["replaced"], result["late"]) == (2, 0, 0)
    assert [r["row"] for r in result["rejected"]] == [3, 4, 5, 6]
    reasons = [r["reason"] for r in result["rejected"]]
    assert "duplicate of row 2" in reasons[0] and "YYYY-MM-DD" in reasons[1]
    assert "0 or more" in reasons[2] and "may not report" in reasons[3]
    bad = await client.post(
        f"{API}/counts/csv",
        headers=world.auth("alice"),
        files={"file": ("x.csv", b"day,where,count\n", "text/csv")},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "surveillance.csv_columns"


async def test_a_resend_replaces_the_day_and_the_audit_keeps_both_counts(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await _report(client, world, "alice", _rows(("CHC-A", "fever", 5)))
    again = await _report(client, world, "alice", _rows(("CHC-A", "fever", 8)))
    assert (again["accepted"], again["replaced"]) == (1, 1)
    stored = (await client.get(f"{API}/counts?syndrome=fever", headers=world.auth("hana"))).json()
    assert [c["count"] for c in stored["items"]] == [8]
    entry = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "surveillance.counts.replace")
        )
    ).one()
    assert entry.details["changes"] == [
        {"site": "CHC-A", "syndrome": "fever", "on": DAY, "old": 5, "new": 8}
    ]
    late_day = (TODAY - timedelta(days=5)).isoformat()
    late = await _report(client, world, "alice", _rows(("CHC-A", "fever", 2), day=late_day))
    assert late["late"] == 1


async def test_a_fhir_measure_report_is_accepted(client: httpx.AsyncClient, world: World) -> None:
    report = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": "urn:yiyun:measure:syndromic-daily",
        "subject": {"identifier": {"system": "urn:yiyun:institution-code", "value": "CHC-A"}},
        "period": {"start": DAY, "end": DAY},
        "group": [
            {
                "code": {"coding": [{"system": "urn:yiyun:syndrome", "code": code}]},
                "population": [{"code": {"coding": [{"code": "initial-population"}]}, "count": n}],
            }
            for code, n in (("ili", 7), ("hfmd", 2))
        ],
    }
    res = await client.post(
        f"{API}/counts/fhir",
        headers={**world.auth("alice"), "Content-Type": "application/fhir+json"},
        content=httpx.Request("POST", "/", json=report).content,
    )
    assert res.status_code == 200, res.text
    assert res.json() == {"accepted": 2, "replaced": 0, "late": 0, "rejected": []}
    items = (await client.get(f"{API}/counts", headers=world.auth("alice"))).json()["items"]
    assert {(c["syndrome"], c["count"], c["source"]) for c in items} == {
        ("ili", 7, "fhir"),
        ("hfmd", 2, "fhir"),
    }
    wrong = await client.post(
        f"{API}/counts/fhir", headers=world.auth("alice"), json={"resourceType": "Patient"}
    )
    assert wrong.status_code == 422


async def test_every_illegal_transition_answers_409_naming_state_and_action(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    alerts = {state: await make_alert(session, world, state) for state in AlertState}
    body = {"user_id": world.users["alice"].id}
    for state, action in itertools.product(AlertState, AlertAction):
        if (state, action) in LEGAL:
            continue
        res = await client.post(
            f"{API}/alerts/{alerts[state].id}/{action.value}",
            headers=world.auth("hana"),
            json=body if action is AlertAction.ASSIGN else None,
        )
        assert res.status_code == 409, (state, action, res.text)
        error = res.json()["error"]
        assert error["code"] == "surveillance.illegal_transition"
        assert error["details"] == {"state": state.value, "action": action.value}
    unknown = await client.post(
        f"{API}/alerts/{alerts[AlertState.NEW].id}/delete", headers=world.auth("hana")
    )
    assert unknown.status_code == 422


async def test_an_alert_is_worked_from_new_to_closed(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    alert = await make_alert(session, world)
    url = f"{API}/alerts/{alert.id}"

    async def step(who: str, action: str, **body: object) -> httpx.Response:
        return await client.post(f"{url}/{action}", headers=world.auth(who), json=body or None)

    assert (await step("alice", "acknowledge", note="已电话核实")).json()["state"] == "acknowledged"
    assert (await step("alice", "investigate")).json()["state"] == "investigating"
    assert (await step("alice", "confirm")).status_code == 403
    assigned = await step("hana", "assign", user_id=world.users["alice"].id)
    assert assigned.json()["assigned_to_id"] == world.users["alice"].id
    assert (await step("hana", "assign", user_id=world.users["mallory"].id)).status_code == 422
    assert (await step("hana", "confirm")).json()["state"] == "confirmed"
    closed = (await step("hana", "close", note="疫情处置完毕")).json()
    assert (closed["state"], closed["outcome"]) == ("closed", "confirmed")
    assert [e["action"] for e in closed["events"]] == [
        "acknowledge", "investigate", "assign", "confirm", "close"
    ]  # fmt: skip
    assert closed["events"][0]["note"] == "已电话核实" and closed["events"][0]["actor"] == "alice"
    board = (await client.get("/api/v1/emergency/board", headers=world.auth("hana"))).json()
    chc_a = next(s for s in board["sites"] if s["code"] == "CHC-A")
    assert chc_a["alert"] is None  # closed: the map shows no alert there any more


async def test_the_command_room_map_shows_open_alerts(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await make_alert(session, world, AlertState.NEW)
    worst = await make_alert(session, world, AlertState.INVESTIGATING, syndrome="fever")
    board = (await client.get("/api/v1/emergency/board", headers=world.auth("hana"))).json()
    chc_a = next(s for s in board["sites"] if s["code"] == "CHC-A")
    assert chc_a["alert"]["alert_id"] == worst.id and chc_a["alert"]["open"] == 2
    dashboard = (await client.get(f"{API}/dashboard", headers=world.auth("hana"))).json()
    assert {a["id"] for a in dashboard["open_alerts"]} >= {worst.id}
    assert all("map_x" in a and a["site_name"] for a in dashboard["open_alerts"])


async def test_the_authority_runs_detection_and_reads_the_kpis(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await _district(client, world)
    assert (await client.post(f"{API}/run", headers=world.auth("alice"))).status_code == 403
    res = await client.post(f"{API}/run", headers=world.auth("hana"), json={"lookback_days": 2})
    assert res.status_code == 200, res.text
    summary = res.json()
    assert summary["as_of"] == DAY and summary["days"] == 2
    alert = await make_alert(session, world)
    await client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=world.auth("alice"))
    await make_alert(session, world, site="chc_b")
    kpi = (
        await client.get(f"{API}/kpi", headers=world.auth("hana"), params={"start": "2026-01-01"})
    ).json()
    assert kpi["overall"]["alerts"] == 2 and kpi["overall"]["responded"] == 1
    assert kpi["overall"]["response_rate"] == 0.5
    own = (
        await client.get(f"{API}/kpi", headers=world.auth("alice"), params={"start": "2026-01-01"})
    ).json()
    assert [s["code"] for s in own["sites"]] == ["CHC-A"] and own["overall"]["alerts"] == 1
    syndromes = (await client.get(f"{API}/syndromes", headers=world.auth("alice"))).json()
    assert {s["code"] for s in syndromes} >= {
        "fever",
        "ili",
        "diarrhoea",
        "rash_fever",
        "ari",
        "hfmd",
    }
