"""Referrals through the API: up with an appointment and the clinical summary, the
receiving hospital reads the record through the referral (audited for the sender),
accept/reject with reasons, arrival, down with a discharge summary and a care plan;
both institutions see the status; bad input gets the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from yiyun.audit.models import AuditEvent

API = "/api/v1"


def later(days: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


async def refer_up(client: httpx.AsyncClient, world: World, **extra: Any) -> httpx.Response:
    body = {
        "patient_id": world.patients["pa"].id,
        "to_institution_id": world.inst["lead"].id,
        "to_department_id": world.departments["cardio"].id,
        "reason": "胸痛待查，需冠脉评估",
        "summary": "反复胸闷 2 周，心电图 ST 段压低。",
        "appointment_at": later(),
    } | extra
    return await client.post(f"{API}/referrals/up", headers=world.auth("alice"), json=body)


async def act(
    client: httpx.AsyncClient, world: World, rid: int, action: str, who: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{API}/referrals/{rid}/{action}", headers=world.auth(who), json=body)


async def test_a_referral_up_and_back_down(
    client: httpx.AsyncClient, world: World, session: Any
) -> None:
    pa = world.patients["pa"].id
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 404
    up = await refer_up(client, world)
    assert up.status_code == 201, up.text
    rid = up.json()["id"]
    # Both institutions see it; the receiving hospital reads the record through it.
    for who in ("alice", "bob"):
        listed = (await client.get(f"{API}/referrals", headers=world.auth(who))).json()
        assert [r["id"] for r in listed] == [rid], who
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 200
    read = await session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "patient.read",
            AuditEvent.actor_id == world.users["bob"].id,
            AuditEvent.patient_id == pa,
        )
    )
    assert read is not None and read.subject_institutions
    for who in ("mallory", "carol"):
        res = await client.get(f"{API}/referrals/{rid}", headers=world.auth(who))
        assert res.status_code == 404, who
    # Only the receiver decides; a rejection needs a reason.
    assert (await act(client, world, rid, "accept", "alice")).status_code == 403
    no_reason = await act(client, world, rid, "reject", "bob")
    assert (
        no_reason.status_code == 422
        and no_reason.json()["error"]["code"] == "referral.reason_required"
    )
    accepted = await act(client, world, rid, "accept", "bob", appointment_at=later(3))
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    twice = await act(client, world, rid, "accept", "bob")
    assert twice.status_code == 409
    assert twice.json()["error"]["details"] == {"state": "accepted", "action": "accept"}
    assert (await act(client, world, rid, "arrive", "bob")).json()["state"] == "arrived"
    # Down: the discharge summary and the care plan go back to CHC A.
    down = await client.post(
        f"{API}/referrals/down",
        headers=world.auth("bob"),
        json={
            "patient_id": pa,
            "to_institution_id": world.inst["chc_a"].id,
            "parent_id": rid,
            "reason": "病情稳定，转回社区康复",
            "summary": "PCI 术后第 5 天，恢复良好。",
            "care_plan": "阿司匹林 100mg qd；每周随访血压；1 月后复查。",
        },
    )
    assert down.status_code == 201, down.text
    did = down.json()["id"]
    assert (await act(client, world, rid, "complete", "bob")).json()["state"] == "completed"
    # The hospital's grant lapses with the upward referral closed.
    assert (await client.get(f"{API}/patients/{pa}", headers=world.auth("bob"))).status_code == 404
    for action in ("accept", "arrive", "complete"):
        res = await act(client, world, did, action, "alice")
        assert res.status_code == 200, (action, res.text)
    both = {
        r["id"]: r["state"]
        for r in (await client.get(f"{API}/referrals", headers=world.auth("bob"))).json()
    }
    assert both == {rid: "completed", did: "completed"}


async def test_a_rejection_keeps_its_reason_and_a_cancel_is_the_senders(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await refer_up(client, world)).json()["id"]
    assert (await act(client, world, rid, "cancel", "bob", reason="x")).status_code == 403
    res = await act(client, world, rid, "reject", "bob", reason="本院床位已满，建议转乙院")
    assert res.json()["state"] == "rejected"
    assert res.json()["decision_reason"] == "本院床位已满，建议转乙院"
    late = await act(client, world, rid, "cancel", "alice", reason="x")
    assert late.status_code == 409


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"to_institution_id": "chc_b"}, "referral.bad_target"),  # upward to a centre
        ({"to_department_id": "gp"}, "referral.bad_department"),
        ({"appointment_at": "2020-01-01T09:00:00+08:00"}, "referral.past"),
        ({"appointment_at": "2030-01-01T09:00:00"}, None),  # no offset
        ({"summary": ""}, None),
        ({"patient_id": "pb"}, "patient.not_found"),  # another centre's patient
    ],
)
async def test_bad_referrals_are_refused_with_the_reason(
    client: httpx.AsyncClient, world: World, extra: dict[str, Any], code: str | None
) -> None:
    fixed = {
        k: (
            world.inst[v].id
            if k == "to_institution_id"
            else world.departments[v].id
            if k == "to_department_id"
            else world.patients[v].id
            if k == "patient_id"
            else v
        )
        for k, v in extra.items()
    }
    res = await refer_up(client, world, **fixed)
    assert 400 <= res.status_code < 500, res.text
    if code:
        assert res.json()["error"]["code"] == code
    listed = (await client.get(f"{API}/referrals", headers=world.auth("alice"))).json()
    assert listed == []


async def test_a_hospital_refers_down_only_a_patient_who_is_here(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await refer_up(client, world)).json()["id"]
    body = {
        "patient_id": world.patients["pa"].id,
        "to_institution_id": world.inst["chc_a"].id,
        "parent_id": rid,
        "reason": "转回",
        "summary": "出院小结",
        "care_plan": "随访",
    }
    early = await client.post(f"{API}/referrals/down", headers=world.auth("bob"), json=body)
    assert early.status_code == 409
    assert early.json()["error"]["details"] == {"state": "requested", "action": "refer_down"}
    no_parent = await client.post(
        f"{API}/referrals/down", headers=world.auth("bob"), json=body | {"parent_id": None}
    )
    assert no_parent.status_code == 403  # it reads the patient, but is not its institution
