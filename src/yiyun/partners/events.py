"""Which domain events partners may subscribe to, and which partners an event concerns.

An event type is `<subject kind>.<state>` read from a workflow's bus message (for
example `referral.requested`, `consult.reported` — the opinion is signed —,
`appointment.booked`). A partner hears of an event when its institution takes part:
the referring or receiving institution, the requesting institution of a consultation,
the booking centre or the holding hospital of a clinic visit. Payloads carry ids and
states only (never names): the partner reads the rest through FHIR, within its scopes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yiyun.clinics.models import ClinicSession, ClinicVisit
from yiyun.consult.models import Consult

# bus channel → (event prefix, subject id field)
CHANNELS: dict[str, tuple[str, str]] = {
    "referral.referral": ("referral", "id"),
    "consult.consult": ("consult", "id"),
    "clinic.visit": ("appointment", "id"),
}
EVENT_TYPES: tuple[str, ...] = (
    *(
        f"referral.{s}"
        for s in ("requested", "accepted", "rejected", "arrived", "completed", "cancelled")
    ),
    *(
        f"consult.{s}"
        for s in (
            "requested",
            "assigned",
            "accepted",
            "in_session",
            "reported",
            "closed",
            "cancelled",
        )
    ),
    *(
        f"appointment.{s}"
        for s in ("booked", "checked_in", "in_visit", "completed", "no_show", "cancelled")
    ),
)


def event_type(channel: str, message: dict[str, Any]) -> str | None:
    known = CHANNELS.get(channel)
    if known is None or not isinstance(message.get("state"), str):
        return None
    name = f"{known[0]}.{message['state']}"
    return name if name in EVENT_TYPES else None


def subject(channel: str, message: dict[str, Any]) -> str:
    prefix, field = CHANNELS[channel]
    return f"{prefix}/{message.get(field, message.get('id'))}"


def institutions(session: Session, channel: str, message: dict[str, Any]) -> set[int]:
    """The institutions taking part in the event's subject (read in the same transaction)."""
    if channel == "referral.referral":
        return {
            int(message[k])
            for k in ("from_institution_id", "to_institution_id")
            if isinstance(message.get(k), int)
        }
    if channel == "consult.consult":
        found = session.scalar(
            select(Consult.institution_id).where(Consult.id == message.get("id"))
        )
        return {found} if found is not None else set()
    if channel == "clinic.visit":
        row = session.execute(
            select(ClinicVisit.institution_id, ClinicSession.institution_id)
            .join(ClinicSession, ClinicSession.id == ClinicVisit.session_id)
            .where(ClinicVisit.id == message.get("id"))
        ).first()
        return {int(row[0]), int(row[1])} if row is not None else set()
    return set()
