"""FHIR writes by a partner: Patient create (MPI: never duplicated, conditional create),
ServiceRequest create (an upward referral into the workflow), and bad input answered
with an OperationOutcome naming the path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from tests.factories import World
from tests.partners.helpers import bearer, make_partner
from yiyun.audit.models import AuditEvent
from yiyun.referrals.models import Referral

FHIR = "/fhir/r4"
RID = "urn:oid:1.2.156.112655.3.1"
WRITE = "system/Patient.crus system/ServiceRequest.crs"


def patient(number: str = "11010519491231002X") -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": RID, "value": number}],
        "name": [{"text": "赵六"}],
        "telecom": [{"system": "phone", "value": "13800138000"}],
    }


async def test_a_partner_registers_a_patient_once(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    headers = await bearer(client, await make_partner(app, world), WRITE)
    made = await client.post(f"{FHIR}/Patient", headers=headers, json=patient())
    assert made.status_code == 201, made.text
    assert made.headers["location"].endswith(f"/Patient/{made.json()['id']}")
    twice = await client.post(f"{FHIR}/Patient", headers=headers, json=patient())
    assert twice.status_code == 409
    assert twice.json()["resourceType"] == "OperationOutcome"
    conditional = await client.post(
        f"{FHIR}/Patient",
        headers=headers | {"If-None-Exist": f"identifier={RID}|11010519491231002X"},
        json=patient(),
    )
    assert conditional.status_code == 200
    assert conditional.json()["id"] == made.json()["id"]


async def test_bad_resources_get_an_operation_outcome_with_the_path(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    headers = await bearer(client, await make_partner(app, world), WRITE)
    cases = [
        (b"{not json", "Patient"),
        (b'{"resourceType": "Observation"}', "Patient.resourceType"),
        (b'{"resourceType": "Patient", "gender": 7}', "Patient.gender"),
        (
            b'{"resourceType": "Patient", "name": [{"text": "x"}], "birthDate": "1990-02-30"}',
            "Patient.birthDate",
        ),
        (
            b'{"resourceType": "Patient", "name": [{"text": ""}], "gender": "male",'
            b' "birthDate": "1990-02-03"}',
            "Patient.name.0.text",
        ),
    ]
    for body, path in cases:
        res = await client.post(
            f"{FHIR}/Patient",
            headers=headers | {"Content-Type": "application/fhir+json"},
            content=body,
        )
        assert res.status_code == 400, (body, res.text)
        outcome = res.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == [path], outcome


async def test_writing_needs_the_create_scope(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    headers = await bearer(client, await make_partner(app, world), "system/Patient.rs")
    res = await client.post(f"{FHIR}/Patient", headers=headers, json=patient())
    assert res.status_code == 403


async def test_a_service_request_enters_the_referral_workflow(
    app: object, client: httpx.AsyncClient, world: World, session: object
) -> None:
    partner = await make_partner(app, world)
    headers = await bearer(client, partner, WRITE)
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    body = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{world.patients['pa'].id}"},
        "requester": {"reference": f"Practitioner/{world.users['alice'].id}"},
        "performer": [{"reference": f"Organization/{world.inst['lead'].id}"}],
        "reasonCode": [{"text": "胸痛待查"}],
        "note": [{"text": "反复胸闷 2 周。"}],
        "occurrenceDateTime": when,
    }
    res = await client.post(f"{FHIR}/ServiceRequest", headers=headers, json=body)
    assert res.status_code == 201, res.text
    referral = await session.get(Referral, int(res.json()["id"]))  # type: ignore[attr-defined]
    assert referral is not None and referral.requested_by_id == world.users["alice"].id
    entry = await session.scalar(  # type: ignore[attr-defined]
        select(AuditEvent).where(AuditEvent.action == "referral.request")
    )
    assert entry is not None and entry.actor == f"partner:{partner.client_id}"
    # another institution's patient: as if it did not exist
    other = body | {"subject": {"reference": f"Patient/{world.patients['pb'].id}"}}
    assert (
        await client.post(f"{FHIR}/ServiceRequest", headers=headers, json=other)
    ).status_code == 404
    # a requester of another institution
    stranger = body | {"requester": {"reference": f"Practitioner/{world.users['mallory'].id}"}}
    refused = await client.post(f"{FHIR}/ServiceRequest", headers=headers, json=stranger)
    assert refused.status_code == 400 and "requester" in refused.text
