"""Light consultations as FHIR R4 Communication: read and search, validated with the R4B
models of fhir.resources; scoped like the pages and audited as patient data."""

from __future__ import annotations

from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from sqlalchemy import select

from tests.factories import World
from tests.inquiry.helpers import add_file, make_inquiry, make_resident
from yiyun.audit.models import AuditEvent
from yiyun.inquiry.models import InquiryState

FHIR = "/fhir/r4"


async def test_a_doctor_reads_a_question_as_a_communication(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    resident = await make_resident(app, world, patient="pa")
    inquiry_id = await make_inquiry(app, world, resident, InquiryState.ANSWERED, claimer="alice")
    await add_file(app, inquiry_id)
    res = await client.get(f"{FHIR}/Communication/{inquiry_id}", headers=world.auth("alice"))
    assert res.status_code == 200, res.text
    comm = Communication.model_validate_json(res.text)
    assert comm.status == "in-progress" and comm.topic.text == "血压偏高"
    assert comm.subject.reference == f"Patient/{world.patients['pa'].id}"
    refs = {r.reference for r in comm.recipient}
    assert refs == {
        f"Organization/{world.inst['chc_a'].id}",
        f"Practitioner/{world.users['alice'].id}",
    }
    assert comm.payload[0].contentString == "早上145"
    assert comm.payload[1].contentAttachment.contentType == "image/png"
    async with app.state.sessions() as s:
        entry = await s.scalar(select(AuditEvent).where(AuditEvent.action == "inquiry.read"))
    assert entry is not None and entry.patient_id == world.patients["pa"].id


async def test_outsiders_get_not_found(app: Any, client: httpx.AsyncClient, world: World) -> None:
    resident = await make_resident(app, world, patient="pa")
    inquiry_id = await make_inquiry(app, world, resident)
    for who in ("mallory", "bob", "nina", "hana"):
        res = await client.get(f"{FHIR}/Communication/{inquiry_id}", headers=world.auth(who))
        assert res.status_code == 404, who
        assert res.json()["resourceType"] == "OperationOutcome"


async def test_search_by_patient_and_status(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    linked = await make_resident(app, world, patient="pa")
    other = await make_resident(app, world)
    open_id = await make_inquiry(app, world, linked)
    closed_id = await make_inquiry(app, world, linked, InquiryState.CLOSED, claimer="alice")
    await make_inquiry(app, world, other)
    await make_inquiry(app, world, await make_resident(app, world, centre="chc_b"), pool="chc_b")
    pa = world.patients["pa"].id

    async def ids(params: dict[str, str], who: str = "alice") -> list[str]:
        res = await client.get(f"{FHIR}/Communication", params=params, headers=world.auth(who))
        assert res.status_code == 200, res.text
        bundle = Bundle.model_validate_json(res.text)
        return sorted(e.resource.id for e in bundle.entry or [])

    assert len(await ids({})) == 3  # the pool's three, not the other centre's
    assert await ids({"subject": f"Patient/{pa}"}) == sorted([str(open_id), str(closed_id)])
    assert await ids({"subject": f"Patient/{pa}", "status": "completed"}) == [str(closed_id)]
    assert await ids({}, who="mallory") == sorted(await ids({}, who="mallory"))
    assert str(open_id) not in await ids({}, who="mallory")
    assert await ids({}, who="hana") == []
