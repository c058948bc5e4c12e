"""FHIR R4 for consultations: the request (ServiceRequest), its workflow state (Task) and
the signed opinion (DiagnosticReport, the PDF as presentedForm); every body validated with
the R4B models of fhir.resources; outsiders get 404; reads are audited."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from tests.consult.conftest import CW, OPINION, accepted, requested, step_up
from yiyun.audit.models import AuditEvent

FHIR = "/fhir/r4"


async def test_a_request_its_task_and_its_signed_opinion(
    app: Any, client: httpx.AsyncClient, cw: CW
) -> None:
    waiting = await requested(client, cw)
    res = await client.get(
        f"{FHIR}/ServiceRequest/consult-{waiting['id']}", headers=cw.auth("carol")
    )
    assert res.status_code == 200, res.text
    request = ServiceRequest.model_validate_json(res.text)
    assert (request.status, request.priority, request.intent) == ("active", "urgent", "order")
    assert request.subject.reference == f"Patient/{cw.world.patients['pa'].id}"
    assert request.code.coding[0].code == "03.04"
    assert request.note is None  # the dispatcher sees the request, not the case summary
    task = Task.model_validate_json(
        (await client.get(f"{FHIR}/Task/consult-{waiting['id']}", headers=cw.auth("alice"))).text
    )
    assert (task.status, task.businessStatus.coding[0].code) == ("requested", "requested")
    assert task.focus.reference == f"ServiceRequest/consult-{waiting['id']}"

    consult = await accepted(client, cw)
    cid = consult["id"]
    await step_up(client, cw, "alice")
    assert (await client.post(f"/api/v1/consults/{cid}/start", headers=cw.auth("alice"))).is_success
    await client.put(f"/api/v1/consults/{cid}/opinion", headers=cw.auth("bob"), json=OPINION)
    await step_up(client, cw, "bob")
    signed = (await client.post(f"/api/v1/consults/{cid}/sign", headers=cw.auth("bob"))).json()

    found = Bundle.model_validate_json(
        (
            await client.get(
                f"{FHIR}/Task",
                params={"focus": f"ServiceRequest/consult-{cid}"},
                headers=cw.auth("bob"),
            )
        ).text
    )
    task = Task.model_validate(found.entry[0].resource.model_dump())
    assert (task.status, task.owner.reference) == ("completed", f"Practitioner/{cw.uid('bob')}")

    res = await client.get(
        f"{FHIR}/DiagnosticReport/opinion-{signed['id']}", headers=cw.auth("alice")
    )
    assert res.status_code == 200, res.text
    report = DiagnosticReport.model_validate_json(res.text)
    assert report.status == "final"
    assert [c.coding[0].code for c in report.conclusionCode] == ["I10", "I20.9"]
    assert report.basedOn[0].reference == f"ServiceRequest/consult-{cid}"
    form = report.presentedForm[0]
    assert form.contentType == "application/pdf"
    # On the wire: the PDF's bytes base64-encoded once (the model decodes them again).
    pdf = base64.b64decode(json.loads(res.text)["presentedForm"][0]["data"])
    assert form.data in (pdf, base64.b64encode(pdf))
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == signed["sha256"]
    listed = Bundle.model_validate_json(
        (
            await client.get(
                f"{FHIR}/DiagnosticReport",
                params={"based-on": f"ServiceRequest/consult-{cid}"},
                headers=cw.auth("alice"),
            )
        ).text
    )
    assert [e.resource.id for e in listed.entry] == [f"opinion-{signed['id']}"]

    searched = Bundle.model_validate_json(
        (
            await client.get(
                f"{FHIR}/ServiceRequest",
                params={"patient": f"Patient/{cw.world.patients['pa'].id}"},
                headers=cw.auth("alice"),
            )
        ).text
    )
    ids = {e.resource.id for e in searched.entry or []}
    assert {f"consult-{cid}", f"consult-{waiting['id']}"} <= ids

    # Outsiders: nothing, as if it did not exist.
    for path in (
        f"ServiceRequest/consult-{cid}",
        f"Task/consult-{cid}",
        f"DiagnosticReport/opinion-{signed['id']}",
    ):
        res = await client.get(f"{FHIR}/{path}", headers=cw.auth("mallory"))
        assert res.status_code == 404, path
    # The dispatcher sees the request, never the opinion.
    res = await client.get(
        f"{FHIR}/DiagnosticReport/opinion-{signed['id']}", headers=cw.auth("carol")
    )
    assert res.status_code == 404
    for bad in ("consult-x", "consult-0", "12", "opinion-"):
        assert (await client.get(f"{FHIR}/Task/{bad}", headers=cw.auth("alice"))).status_code == 404

    async with app.state.sessions() as s:
        reads = (
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action.in_(["consult.read", "consult.opinion_read"]),
                    AuditEvent.entity_id == str(cid),
                )
            )
        ).all()
    assert {r.actor for r in reads} >= {"alice", "bob"}
    assert all(cw.world.inst["chc_a"].id in r.subject_institution_ids for r in reads)
