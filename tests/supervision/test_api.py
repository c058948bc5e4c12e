"""Supervision through the API and pages: scope (an institution sees only its own cases),
drill-down links to the case and its audit trail, sampling review by the authority only
(audited, repeatable from its seed), the institution reading its verdicts, bad input."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.consult.models import Consult, ConsultState
from yiyun.core.clock import now

API = "/api/v1"


async def _consults(session: AsyncSession, world: World, inst: str, n: int, **kw: Any) -> list[int]:
    at = now() - timedelta(days=2)
    doctor = "alice" if inst == "chc_a" else "mallory"
    patient = "pa" if inst == "chc_a" else "pb"
    rows = [
        Consult(
            patient_id=world.patients[patient].id,
            institution_id=world.inst[inst].id,
            requester_id=world.users[doctor].id,
            reason="r",
            specialty="CARD",
            created_at=at,
            submitted_at=at,
            **kw,
        )
        for _ in range(n)
    ]
    session.add_all(rows)
    await session.commit()
    return [r.id for r in rows]


async def test_counts_and_violations_are_scoped_to_the_caller(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    mine = await _consults(session, world, "chc_a", 2, state=ConsultState.REQUESTED)
    theirs = await _consults(session, world, "chc_b", 3, state=ConsultState.REQUESTED)
    hana = (await client.get(f"{API}/supervision/summary", headers=world.auth("hana"))).json()
    assert hana["totals"]["consult_without_consent"] == 5
    by_inst = {i["institution_id"]: i["counts"] for i in hana["institutions"]}
    assert by_inst[world.inst["chc_a"].id]["consult_without_consent"] == 2
    assert by_inst[world.inst["chc_b"].id]["consult_without_consent"] == 3
    ines = (await client.get(f"{API}/supervision/summary", headers=world.auth("ines"))).json()
    assert ines["totals"]["consult_without_consent"] == 2
    listed = await client.get(
        f"{API}/supervision/violations",
        params={"rule": "consult_without_consent"},
        headers=world.auth("ines"),
    )
    assert listed.status_code == 200
    assert sorted(v["case_id"] for v in listed.json()) == sorted(mine)
    first = listed.json()[0]
    assert first["case_url"] == f"/consults/{first['case_id']}"
    assert first["audit_url"] == f"/audit?entity_type=consult&entity_id={first['case_id']}"
    assert first["reason"] == "申请未关联知情同意书"
    # another institution's figures: refused; other roles: refused
    other = {"institution_id": world.inst["chc_b"].id}
    assert (
        await client.get(f"{API}/supervision/summary", params=other, headers=world.auth("ines"))
    ).status_code == 403
    for who in ("alice", "bob", "otto", "carol"):
        res = await client.get(f"{API}/supervision/summary", headers=world.auth(who))
        assert res.status_code == 403, who
    narrowed = await client.get(
        f"{API}/supervision/violations",
        params={"rule": "consult_without_consent"} | other,
        headers=world.auth("hana"),
    )
    assert sorted(v["case_id"] for v in narrowed.json()) == sorted(theirs)
    looked = await session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "supervision.violations",
            AuditEvent.actor_id == world.users["hana"].id,
        )
    )
    assert looked is not None and looked.details["count"] == 3


async def test_bad_parameters_get_a_reason(client: httpx.AsyncClient, world: World) -> None:
    h = world.auth("hana")
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"rule": "nope"}, 404, "supervision.unknown_rule"),
        ({"rule": "Bad-Rule"}, 422, None),
        (
            {"rule": "opinion_late", "start": "2026-05-02", "end": "2026-05-01"},
            422,
            "supervision.period_reversed",
        ),
        (
            {"rule": "opinion_late", "start": "2024-01-01", "end": "2026-05-01"},
            422,
            "supervision.period_too_long",
        ),
        ({"rule": "opinion_late", "start": "1800-01-01"}, 422, None),
        ({"rule": "opinion_late", "institution_id": "99999999999"}, 422, None),
    ]
    for params, status, code in cases:
        res = await client.get(f"{API}/supervision/violations", params=params, headers=h)
        assert res.status_code == status, (params, res.text)
        if code:
            assert res.json()["error"]["code"] == code
    res = await client.get("/supervision/rules/nope", headers=h)
    assert res.status_code == 404


async def test_sampling_review_by_the_authority(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    closed_at = now() - timedelta(days=1)
    ids = await _consults(
        session, world, "chc_a", 8, state=ConsultState.CLOSED, closed_at=closed_at
    )
    await _consults(session, world, "chc_a", 2, state=ConsultState.REPORTED)  # not closed
    body = {"kind": "consult", "institution_id": world.inst["chc_a"].id, "size": 3, "seed": 42}
    made = await client.post(f"{API}/supervision/samples", json=body, headers=world.auth("hana"))
    assert made.status_code == 201, made.text
    sample = made.json()
    assert sample["size"] == 3 and sample["population"] == 8
    picked = [c["case_id"] for c in sample["cases"]]
    assert set(picked) <= set(ids) and len(set(picked)) == 3
    again = await client.post(f"{API}/supervision/samples", json=body, headers=world.auth("hana"))
    assert [c["case_id"] for c in again.json()["cases"]] == picked  # the seed repeats it
    # only the authority draws and scores
    for who in ("ines", "admin", "alice"):
        res = await client.post(f"{API}/supervision/samples", json=body, headers=world.auth(who))
        assert res.status_code == 403, who
    case = sample["cases"][0]
    verdict = {"verdict": "minor", "score": 85, "comment": "意见缺随访计划"}
    url = f"{API}/supervision/reviews/{case['id']}"
    assert (await client.put(url, json=verdict, headers=world.auth("ines"))).status_code == 403
    saved = await client.put(url, json=verdict, headers=world.auth("hana"))
    assert saved.status_code == 200, saved.text
    assert saved.json()["verdict"] == "minor" and saved.json()["score"] == 85
    bad = await client.put(url, json=verdict | {"score": 101}, headers=world.auth("hana"))
    assert bad.status_code == 422
    # the institution reads its verdicts and comments; another institution does not
    seen = await client.get(f"{API}/supervision/samples/{sample['id']}", headers=world.auth("ines"))
    assert seen.status_code == 200
    assert [c["comment"] for c in seen.json()["cases"] if c["verdict"]] == ["意见缺随访计划"]
    assert seen.json()["reviewed"] == 1
    mallory_admin = await client.get(
        f"{API}/supervision/samples/{sample['id']}", headers=world.auth("mallory")
    )
    assert mallory_admin.status_code == 403
    page = await client.get(f"/supervision/samples/{sample['id']}", headers=world.auth("ines"))
    assert "意见缺随访计划" in page.text and "保存结论" not in page.text
    actions = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("supervision.%"))
        )
    ).all()
    assert actions.count("supervision.sample") == 2 and actions.count("supervision.review") == 1
    # nothing to sample in the period
    empty = body | {"institution_id": world.inst["chc_b"].id}
    res = await client.post(f"{API}/supervision/samples", json=empty, headers=world.auth("hana"))
    assert res.status_code == 409 and res.json()["error"]["code"] == "supervision.nothing_to_sample"


async def test_pages_drill_down_to_the_audit_trail_and_export(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    [cid] = await _consults(session, world, "chc_a", 1, state=ConsultState.REQUESTED)
    h = world.auth("hana")
    overview = await client.get("/supervision", headers=h)
    assert overview.status_code == 200 and "远程医疗监管" in overview.text
    assert 'data-testid="total-consult_without_consent">1<' in overview.text
    rule = await client.get("/supervision/rules/consult_without_consent", headers=h)
    assert f'href="/audit?entity_type=consult&amp;entity_id={cid}"' in rule.text
    assert f'href="/consults/{cid}"' in rule.text
    trail = await client.get(
        "/audit", params={"entity_type": "consult", "entity_id": cid}, headers=h
    )
    assert trail.status_code == 200 and 'data-testid="entity-filter"' in trail.text
    xlsx = await client.get("/supervision/export.xlsx", headers=h)
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws is not None
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert [(r[0], r[3]) for r in rows] == [("会诊无知情同意", cid)]
