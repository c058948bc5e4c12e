"""The consultation from request to closed case, over the API, on SQLite or PostgreSQL."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select

from tests.consult.conftest import (
    CW,
    OPINION,
    accepted,
    assigned,
    request_body,
    requested,
    soon,
    step_up,
)
from yiyun.audit.models import AuditEvent
from yiyun.consult import signing
from yiyun.core.clock import now
from yiyun.records.models import Consent, Document


async def test_a_whole_consultation_ends_in_a_signed_pdf_both_institutions_hold(
    app: object, client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await accepted(client, cw)
    cid = consult["id"]
    assert consult["state"] == "accepted"
    assert consult["consent_id"] == cw.consent_id
    await step_up(client, cw, "alice")
    res = await client.post(f"/api/v1/consults/{cid}/start", headers=cw.auth("alice"))
    assert res.status_code == 200, res.text
    meeting_id = res.json()["meeting_id"]
    meeting = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=cw.auth("bob"))).json()
    assert {m["username"] for m in meeting["members"]} == {"alice", "bob"}
    assert (meeting["subject_type"], meeting["subject_id"]) == ("consult", cid)
    # the expert reads the record through the consultation; audited for CHC A
    res = await client.get(f"/api/v1/consults/{cid}/record", headers=cw.auth("bob"))
    assert res.status_code == 200, res.text
    assert res.json()["patient"]["name"] == "测****A"
    assert res.json()["documents"][0]["title"] == "高血压随访小结"
    res = await client.put(f"/api/v1/consults/{cid}/opinion", headers=cw.auth("bob"), json=OPINION)
    assert res.status_code == 200, res.text
    assert res.json()["diagnoses"][0] == {"code": "I10", "name": "特发性（原发性）高血压"}
    await step_up(client, cw, "bob")
    res = await client.post(f"/api/v1/consults/{cid}/sign", headers=cw.auth("bob"))
    assert res.status_code == 200, res.text
    signed = res.json()
    pdf = await client.get(
        f"/api/v1/consults/{cid}/opinions/{signed['id']}/pdf", headers=cw.auth("alice")
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert hashlib.sha256(pdf.content).hexdigest() == signed["sha256"]
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        ca = await signing.ca_row(s)
        docs = (
            await s.scalars(select(Document).where(Document.id.in_(signed["document_ids"])))
        ).all()
        reads = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "consult.record_read"))
        ).all()
    verdict = await signing.verify_pdf(pdf.content, ca.cert_pem.encode())
    assert verdict.intact and verdict.valid and verdict.signer == "Bob"
    assert {d.institution_id for d in docs} == {cw.world.inst["chc_a"].id, cw.world.inst["lead"].id}
    assert {d.sha256 for d in docs} == {signed["sha256"]}
    assert any(cw.world.inst["chc_a"].id in r.subject_institution_ids for r in reads)
    # signing twice is illegal: 409 naming state and action
    res = await client.post(f"/api/v1/consults/{cid}/sign", headers=cw.auth("bob"))
    assert res.status_code == 409
    assert res.json()["error"]["details"] == {"state": "reported", "action": "sign"}
    res = await client.post(
        f"/api/v1/consults/{cid}/decide",
        headers=cw.auth("alice"),
        json={"decision": "按会诊意见调整降压方案，转上级医院行冠脉CTA。"},
    )
    assert res.status_code == 200 and res.json()["state"] == "closed"
    # closed: still visible to participants, the record no longer open to the expert
    assert (await client.get(f"/api/v1/consults/{cid}", headers=cw.auth("bob"))).status_code == 200
    assert (
        await client.get(f"/api/v1/consults/{cid}/record", headers=cw.auth("bob"))
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/patients/{cw.world.patients['pa'].id}", headers=cw.auth("bob"))
    ).status_code == 404


async def test_submitting_without_telemedicine_consent_names_the_missing_consent(
    client: httpx.AsyncClient, cw: CW
) -> None:
    res = await client.post(
        "/api/v1/consults",
        headers=cw.auth("mallory"),
        json=request_body(cw, patient_id=cw.world.patients["pb"].id, document_ids=[]),
    )
    assert res.status_code == 409, res.text
    body = res.json()["error"]
    assert body["code"] == "consult.consent_missing"
    assert body["details"]["consent"] == "telemedicine"
    assert "consent" in body["message"].lower() or "同意" in body["message"]


async def test_starting_after_the_consent_was_withdrawn_is_refused(
    app: object, client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await accepted(client, cw)
    async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        consent = await s.get(Consent, cw.consent_id)
        consent.withdrawn_at, consent.withdrawn_by_id = now(), cw.uid("alice")
    await step_up(client, cw, "alice")
    res = await client.post(f"/api/v1/consults/{consult['id']}/start", headers=cw.auth("alice"))
    assert res.status_code == 409, res.text
    assert res.json()["error"]["code"] == "consult.consent_withdrawn"
    assert res.json()["error"]["details"]["state"] == "accepted"
    assert res.json()["error"]["details"]["action"] == "start"


async def test_starting_and_signing_need_a_recent_totp(client: httpx.AsyncClient, cw: CW) -> None:
    consult = await accepted(client, cw)
    res = await client.post(f"/api/v1/consults/{consult['id']}/start", headers=cw.auth("alice"))
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "auth.step_up_required"
    res = await client.post(
        "/api/v1/auth/step-up", headers=cw.auth("alice"), json={"totp_code": "000000"}
    )
    assert res.status_code == 422


@pytest.mark.parametrize(
    ("expert", "reason"),
    [
        ("cleo", "licence has expired"),
        ("dan", "3 years"),
        ("alice", "specialist"),
    ],
)
async def test_the_dispatcher_cannot_assign_an_unqualified_expert(
    client: httpx.AsyncClient, cw: CW, expert: str, reason: str
) -> None:
    consult = await requested(client, cw)
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid(expert)], "starts_at": soon()},
    )
    assert res.status_code == 422, res.text
    assert (
        reason in res.json()["error"]["message"]
        or res.json()["error"]["code"] == "consult.expert_refused"
    )
    assert res.json()["error"]["code"] == "consult.expert_refused"


async def test_an_expert_is_never_double_booked(client: httpx.AsyncClient, cw: CW) -> None:
    await assigned(client, cw, "bob", minutes=60)
    other = await requested(client, cw)
    res = await client.post(
        f"/api/v1/consults/{other['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid("bob")], "starts_at": soon(75)},
    )
    assert res.status_code == 409 and res.json()["error"]["code"] == "consult.double_booked"
    res = await client.post(
        f"/api/v1/consults/{other['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid("bob")], "starts_at": soon(95)},
    )
    assert res.status_code == 200, res.text


async def test_accepting_a_cancelled_request_is_a_409(client: httpx.AsyncClient, cw: CW) -> None:
    consult = await assigned(client, cw)
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/cancel",
        headers=cw.auth("alice"),
        json={"reason": "患者已转院"},
    )
    assert res.status_code == 200
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bob"), json={"accept": True}
    )
    assert res.status_code == 409
    assert res.json()["error"]["details"] == {"state": "cancelled", "action": "accept"}


async def test_single_expert_first_accept_wins_and_the_other_is_withdrawn(
    client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await assigned(client, cw, "bob", "bea")
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bea"), json={"accept": True}
    )
    assert res.status_code == 200 and res.json()["state"] == "accepted"
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bob"), json={"accept": True}
    )
    assert res.status_code == 409


async def test_the_last_decline_returns_the_request_to_the_dispatcher(
    client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await assigned(client, cw)
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bob"), json={"accept": False}
    )
    assert res.status_code == 422  # a reason is required
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer",
        headers=cw.auth("bob"),
        json={"accept": False, "reason": "当日门诊手术冲突"},
    )
    assert res.status_code == 200 and res.json()["state"] == "requested"
    inbox = (await client.get("/api/v1/notifications", headers=cw.auth("carol"))).json()
    assert any(i["kind"] == "consult.declined" for i in inbox["items"])


async def test_mdt_is_accepted_when_every_expert_accepted(
    client: httpx.AsyncClient, cw: CW
) -> None:
    consult = await assigned(client, cw, "bob", "bea", kind="mdt")
    first = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bob"), json={"accept": True}
    )
    assert first.json()["state"] == "assigned"
    second = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bea"), json={"accept": True}
    )
    assert second.json()["state"] == "accepted"


async def test_outsiders_do_not_see_a_consultation(client: httpx.AsyncClient, cw: CW) -> None:
    consult = await requested(client, cw)
    for who in ("mallory", "otto", "bob"):
        res = await client.get(f"/api/v1/consults/{consult['id']}", headers=cw.auth(who))
        assert res.status_code == 404, who
    res = await client.get(f"/api/v1/consults/{consult['id']}", headers=cw.auth("carol"))
    assert res.status_code == 200 and res.json()["summary"] == ""  # no clinical text


async def test_worklists_count_per_state(client: httpx.AsyncClient, cw: CW) -> None:
    await requested(client, cw)
    await assigned(client, cw)
    mine = (await client.get("/api/v1/consults", headers=cw.auth("alice"))).json()
    assert mine["counts"] == {"requested": 1, "assigned": 1}
    invited = (await client.get("/api/v1/consults", headers=cw.auth("bob"))).json()
    assert invited["total"] == 1 and invited["items"][0]["state"] == "assigned"
    dispatch = (
        await client.get("/api/v1/consults?state=requested", headers=cw.auth("carol"))
    ).json()
    assert dispatch["total"] == 1
    assert (
        await client.get("/api/v1/consults?view=dispatch", headers=cw.auth("alice"))
    ).status_code == 404
