"""FHIR R4 Schedule, Slot, Appointment (remote clinics) and ServiceRequest (referrals):
read and search, each body validated with the R4B models of fhir.resources; outsiders get
404 for patient-bearing resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.slot import Slot

from tests.clinics.helpers import book, consent, publish, step
from tests.factories import World

FHIR = "/fhir/r4"


async def test_clinic_resources_read_and_search(client: httpx.AsyncClient, world: World) -> None:
    await consent(client, world)
    clinic = await publish(client, world)
    slot_id = clinic["slots"][0]["id"]
    visit = (await book(client, world, clinic["id"], slot_id=slot_id, urgent=True)).json()
    await step(client, world, visit["id"], "check_in")

    res = await client.get(f"{FHIR}/Schedule/{clinic['id']}", headers=world.auth("mallory"))
    schedule = Schedule.model_validate_json(res.text)
    assert schedule.actor[0].reference == f"Practitioner/{world.users['bob'].id}"
    assert schedule.specialty[0].coding[0].code == "03.04"

    res = await client.get(
        f"{FHIR}/Slot",
        params={"schedule": f"Schedule/{clinic['id']}", "status": "busy"},
        headers=world.auth("alice"),
    )
    bundle = Bundle.model_validate_json(res.text)
    assert bundle.total == 1
    slot = Slot.model_validate(bundle.entry[0].resource.model_dump())
    assert slot.id == str(slot_id) and slot.status == "busy"
    assert (await client.get(f"{FHIR}/Slot", headers=world.auth("alice"))).status_code == 400

    res = await client.get(f"{FHIR}/Appointment/{visit['id']}", headers=world.auth("bob"))
    appt = Appointment.model_validate_json(res.text)
    assert appt.status == "checked-in" and appt.priority == 1
    assert appt.slot[0].reference == f"Slot/{slot_id}"
    assert {p.actor.reference for p in appt.participant} >= {f"Patient/{world.patients['pa'].id}"}
    for who in ("mallory", "carol"):
        denied = await client.get(f"{FHIR}/Appointment/{visit['id']}", headers=world.auth(who))
        assert denied.status_code == 404, who
    found = Bundle.model_validate_json(
        (
            await client.get(
                f"{FHIR}/Appointment",
                params={"patient": f"Patient/{world.patients['pa'].id}", "status": "checked-in"},
                headers=world.auth("alice"),
            )
        ).text
    )
    assert found.total == 1
    none = Bundle.model_validate_json(
        (await client.get(f"{FHIR}/Appointment", headers=world.auth("mallory"))).text
    )
    assert none.total == 0


async def test_referrals_are_service_requests(client: httpx.AsyncClient, world: World) -> None:
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    made = await client.post(
        "/api/v1/referrals/up",
        headers=world.auth("alice"),
        json={
            "patient_id": world.patients["pa"].id,
            "to_institution_id": world.inst["lead"].id,
            "reason": "胸痛待查",
            "summary": "反复胸闷 2 周。",
            "appointment_at": when,
        },
    )
    rid = made.json()["id"]
    res = await client.get(f"{FHIR}/ServiceRequest/{rid}", headers=world.auth("bob"))
    request = ServiceRequest.model_validate_json(res.text)
    assert request.status == "active" and request.intent == "order"
    assert request.subject.reference == f"Patient/{world.patients['pa'].id}"
    assert request.performer[0].reference == f"Organization/{world.inst['lead'].id}"
    assert request.meta.tag[0].code == "requested"
    for who in ("mallory", "carol", "otto"):
        denied = await client.get(f"{FHIR}/ServiceRequest/{rid}", headers=world.auth(who))
        assert denied.status_code == 404, who
    bundle = Bundle.model_validate_json(
        (
            await client.get(
                f"{FHIR}/ServiceRequest", params={"status": "active"}, headers=world.auth("alice")
            )
        ).text
    )
    assert bundle.total == 1


async def test_ids_that_only_look_like_numbers_are_refused_not_crashed_on(
    client: httpx.AsyncClient, world: World
) -> None:
    """'¹' and '²' are digits to `str.isdigit()` but not to `int()`: a 4xx, never a 500."""
    for rtype in ("Appointment", "Slot", "Schedule", "ServiceRequest"):
        for raw in ("¹", "²3", "٣"):
            res = await client.get(f"/fhir/r4/{rtype}/{raw}", headers=world.auth("alice"))
            assert 400 <= res.status_code < 500, (rtype, raw, res.status_code)
        res = await client.get(
            f"/fhir/r4/{rtype}", headers=world.auth("alice"), params={"_id": "¹"}
        )
        assert res.status_code < 500, (rtype, res.status_code)
