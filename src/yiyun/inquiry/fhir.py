"""A light consultation as a FHIR R4 Communication (built with fhir.resources R4B).

One Communication per question: `topic` is its title, `payload` the thread in order
(text, then each attachment's type, name and size as an Attachment without its
bytes), `subject` the linked patient record, `recipient` the pool's Organization
and the claiming Practitioner, `status` in-progress / completed / stopped. Attachment
bytes stay on the server (the pages serve them, audited).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.communication import Communication

from yiyun.inquiry.models import InquiryState
from yiyun.inquiry.service import Thread

SYS_INQUIRY = "urn:yiyun:inquiry"
SYS_CATEGORY = "urn:yiyun:communication-category"
STATUS = {
    InquiryState.OPEN: "in-progress",
    InquiryState.CLAIMED: "in-progress",
    InquiryState.ANSWERED: "in-progress",
    InquiryState.CLOSED: "completed",
    InquiryState.WITHDRAWN: "stopped",
}
# FHIR status -> the states it stands for (search)
STATES = {fhir: [s.value for s, f in STATUS.items() if f == fhir] for fhir in set(STATUS.values())}


def communication(thread: Thread) -> Communication:
    q = thread.inquiry
    payload: list[dict[str, Any]] = []
    for m in thread.messages:
        payload.append({"contentString": m.body})
        for f in thread.files.get(m.id, []):
            payload.append(
                {
                    "contentAttachment": {
                        "contentType": f.content_type,
                        "title": f.filename,
                        "size": f.size_bytes,
                        "creation": f.created_at.isoformat(),
                    }
                }
            )
    recipient = [{"reference": f"Organization/{q.institution_id}"}]
    if q.claimed_by_id:
        recipient.append({"reference": f"Practitioner/{q.claimed_by_id}"})
    body: dict[str, Any] = {
        "id": str(q.id),
        "meta": {"lastUpdated": q.updated_at.isoformat()},
        "identifier": [{"system": SYS_INQUIRY, "value": str(q.id)}],
        "status": STATUS[q.state],
        "category": [
            {
                "coding": [
                    {"system": SYS_CATEGORY, "code": "light-consultation", "display": "轻问诊"}
                ]
            }
        ],
        "topic": {"text": q.title},
        "sent": q.created_at.isoformat(),
        "recipient": recipient,
        "payload": payload or [{"contentString": q.title}],
    }
    if q.patient_id:
        body["subject"] = {"reference": f"Patient/{q.patient_id}"}
        body["sender"] = {"reference": f"Patient/{q.patient_id}"}
    if q.rating:
        body["note"] = [{"text": f"rating {q.rating}/5 {q.rating_comment}".strip()}]
    return Communication.model_validate(body)
