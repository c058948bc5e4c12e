"""Remote clinic state machines (on `yiyun.core.statemachine`).

    session:       published --close--> closed
                       |
                       +------cancel--> cancelled

    visit:         booked --check_in--> checked_in --call--> in_visit --complete--> completed
                     |  \\                 |   \\
                     |   +--no_show--------+----+--> no_show
                     +------cancel---------+-------> cancelled
                   (mark_urgent keeps booked / checked_in; write_note keeps in_visit)

    prescription:  draft --sign--> signed
                     +----withdraw--> withdrawn      (edit keeps draft)

The booking community centre's doctors and nurses check in, cancel and flag urgent;
the session's specialist calls, writes the note, completes, and signs prescriptions.
Either side may record a no-show. Any other (state, action) pair is an
`IllegalTransition` (409) naming both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.clinics.models import (
    ClinicSession,
    ClinicVisit,
    Prescription,
    PrescriptionState,
    SessionState,
    VisitState,
)
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.statemachine import Machine, Step, Who, steps

SS, VS, PS = SessionState, VisitState, PrescriptionState
ILLEGAL = "clinic.illegal_transition"
SESSION_CHANNEL = "clinic.session"
VISIT_CHANNEL = "clinic.visit"
PRESCRIPTION_CHANNEL = "clinic.prescription"


def _holder(principal: Any, session: ClinicSession) -> bool:
    return bool(principal.user_id == session.specialist_id) and allows(
        principal, Action.HOLD_CLINIC, Target.of(session.institution_id)
    )


def _specialist(principal: Any, visit: ClinicVisit) -> bool:
    return bool(principal.user_id == visit.specialist_id)


def _site(principal: Any, visit: ClinicVisit) -> bool:
    return allows(principal, Action.BOOK_CLINIC, Target.of(visit.institution_id))


def _either(principal: Any, visit: ClinicVisit) -> bool:
    return _specialist(principal, visit) or _site(principal, visit)


def _drafter(principal: Any, rx: Prescription) -> bool:
    return bool(principal.user_id == rx.drafted_by_id)


HOLDER: Who[ClinicSession] = Who(
    _holder, code="clinic.holder_only", message="only the clinic's specialist can do this"
)
SPECIALIST: Who[ClinicVisit] = Who(
    _specialist, code="clinic.specialist_only", message="only the clinic's specialist can do this"
)
SITE: Who[ClinicVisit] = Who(
    _site, code="clinic.site_only", message="only the booking centre's staff can do this"
)
EITHER: Who[ClinicVisit] = Who(
    _either,
    code="clinic.participant_only",
    message="only the specialist or the booking centre can do this",
)
DRAFTER: Who[Prescription] = Who(
    _drafter, code="clinic.drafter_only", message="only the specialist who drafted it can do this"
)

SESSION_TABLE: dict[tuple[SessionState, str], Step[SessionState, ClinicSession]] = {
    (SS.PUBLISHED, "close"): Step(SS.CLOSED, HOLDER),
    (SS.PUBLISHED, "cancel"): Step(SS.CANCELLED, HOLDER),
}
VISIT_TABLE: dict[tuple[VisitState, str], Step[VisitState, ClinicVisit]] = {
    (VS.BOOKED, "check_in"): Step(VS.CHECKED_IN, SITE),
    (VS.CHECKED_IN, "call"): Step(VS.IN_VISIT, SPECIALIST),
    (VS.IN_VISIT, "complete"): Step(VS.COMPLETED, SPECIALIST),
    (VS.BOOKED, "no_show"): Step(VS.NO_SHOW, EITHER),
    (VS.CHECKED_IN, "no_show"): Step(VS.NO_SHOW, EITHER),
    (VS.BOOKED, "cancel"): Step(VS.CANCELLED, EITHER),
    (VS.CHECKED_IN, "cancel"): Step(VS.CANCELLED, EITHER),
    **steps("mark_urgent", [VS.BOOKED, VS.CHECKED_IN], who=EITHER),
    **steps("write_note", [VS.IN_VISIT], who=SPECIALIST),
}
PRESCRIPTION_TABLE: dict[tuple[PrescriptionState, str], Step[PrescriptionState, Prescription]] = {
    (PS.DRAFT, "sign"): Step(PS.SIGNED, DRAFTER),
    (PS.DRAFT, "withdraw"): Step(PS.WITHDRAWN, DRAFTER),
    **steps("edit", [PS.DRAFT], who=DRAFTER),
}

SESSION: Machine[SessionState, ClinicSession] = Machine(
    name="clinic_session",
    states=SessionState,
    table=SESSION_TABLE,
    audit=audit.record,
    entity_type="clinic_session",
    audit_prefix="clinic.session",
    channel=SESSION_CHANNEL,
    illegal_code=ILLEGAL,
)
VISIT: Machine[VisitState, ClinicVisit] = Machine(
    name="clinic_visit",
    states=VisitState,
    table=VISIT_TABLE,
    audit=audit.record,
    entity_type="clinic_visit",
    audit_prefix="clinic.visit",
    channel=VISIT_CHANNEL,
    illegal_code=ILLEGAL,
)
PRESCRIPTION: Machine[PrescriptionState, Prescription] = Machine(
    name="clinic_prescription",
    states=PrescriptionState,
    table=PRESCRIPTION_TABLE,
    audit=audit.record,
    entity_type="clinic_prescription",
    audit_prefix="clinic.prescription",
    channel=PRESCRIPTION_CHANNEL,
    illegal_code=ILLEGAL,
)


def visit_fields(visit: ClinicVisit) -> dict[str, Any]:
    """The bus message's fields: ids only, never names."""
    return {
        "visit_id": visit.id,
        "session_id": visit.session_id,
        "institution_id": visit.institution_id,
        "specialist_id": visit.specialist_id,
    }


async def step_session(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    clinic: ClinicSession,
    action: str,
) -> SessionState:
    return await SESSION.transition(
        session=session,
        bus=bus,
        entity=clinic,
        action=action,
        actor=actor,
        principal=principal,
        event={"session_id": clinic.id, "specialist_id": clinic.specialist_id},
        institution_id=clinic.institution_id,
    )


async def step_visit(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal | None,
    actor: Actor,
    visit: ClinicVisit,
    action: str,
    details: dict[str, Any] | None = None,
) -> VisitState:
    state = await VISIT.transition(
        session=session,
        bus=bus,
        entity=visit,
        action=action,
        actor=actor,
        principal=principal,
        details=details,
        event=visit_fields(visit),
        patient_id=visit.patient_id,
        institution_id=visit.institution_id,
    )
    at = now()
    if action == "check_in":
        visit.checked_in_at = at
    elif action == "call":
        visit.called_at = at
    elif action in ("complete", "no_show", "cancel"):
        visit.finished_at = at
    elif action == "mark_urgent":
        visit.urgent = True
    return state


async def step_prescription(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    rx: Prescription,
    visit: ClinicVisit,
    action: str,
) -> PrescriptionState:
    state = await PRESCRIPTION.transition(
        session=session,
        bus=bus,
        entity=rx,
        action=action,
        actor=actor,
        principal=principal,
        details={"items": len(rx.items)},
        event={"prescription_id": rx.id, "visit_id": visit.id},
        patient_id=visit.patient_id,
        institution_id=visit.institution_id,
    )
    if state is PS.SIGNED:
        rx.signed_at = now()
    return state
