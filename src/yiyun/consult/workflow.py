"""The consultation state machine (on `yiyun.core.statemachine`).

    draft --submit--> requested --assign--> assigned --accept--> accepted --start--> in_session
      |                   ^  |                 |  |                  |                  |
      |                   |  |                 |  +--decline (last)--+-> requested      |
      +--cancel--+        |  +--cancel--+      +--cancel--+          +--cancel--+       |
                 v        |             v                 v                     v       |
             cancelled    +------(decline)           cancelled              cancelled   |
                                                                                        |
    in_session --sign--> reported --amend--> reported --decide--> closed <--------------+

- submit (the requester): needs the patient's telemedicine consent (or the guardian's
  for a minor) on record; the request links it.
- assign (the lead hospital's dispatcher): experts and a time; licence and years checked.
- take (a specialist of the invited department): accepts a single-expert request
  directly, at a time of their own calendar, without the dispatcher.
- accept / decline (an assigned expert): single-expert requests take the first accept
  (a conditional UPDATE: exactly one expert wins); an MDT request is accepted when every
  assigned expert has accepted. The last decline returns the request to the dispatcher.
- start (the requester or an accepted expert, with recent TOTP): opens the meeting for
  exactly the participants; the consent must still be in force.
- sign (an accepted expert, with recent TOTP): the opinion as a signed PDF; never edited.
- amend (the signer): a new signed version naming the old; the state stays reported.
- decide (the requester): the treatment decision; the case closes and becomes read-only.
- cancel (the requester or a dispatcher) before the session starts.

Any other (state, action) pair is a 409 naming both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.consult.models import Consult, ConsultState
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.org.enums import Role

C = ConsultState
CHANNEL = "consult.consult"
ILLEGAL = "consult.illegal_transition"
# Where the patient's record is open to the consultation's experts (the relationship).
OPEN_STATES = (C.ACCEPTED, C.IN_SESSION, C.REPORTED)
ACTIVE_STATES = (C.REQUESTED, C.ASSIGNED, C.ACCEPTED, C.IN_SESSION, C.REPORTED)
FINAL_STATES = (C.CLOSED, C.CANCELLED)


def _requester(principal: Any, consult: Consult) -> bool:
    return bool(principal.user_id == consult.requester_id)


def _dispatcher(principal: Any, _consult: Consult) -> bool:
    return bool(principal.has(Role.DISPATCHER))


def _requester_or_dispatcher(principal: Any, consult: Consult) -> bool:
    return _requester(principal, consult) or _dispatcher(principal, consult)


def _expert(principal: Any, consult: Consult) -> bool:
    """An expert assigned to the consultation (the service loads `expert_ids`)."""
    return bool(principal.user_id in getattr(consult, "expert_ids", ()))


def _department_specialist(principal: Any, consult: Consult) -> bool:
    """A specialist of the invited department (the service loads `department_staff_ids`)."""
    return bool(principal.user_id in getattr(consult, "department_staff_ids", ()))


def _accepted_expert(principal: Any, consult: Consult) -> bool:
    return bool(principal.user_id in getattr(consult, "accepted_ids", ()))


def _participant(principal: Any, consult: Consult) -> bool:
    return _requester(principal, consult) or _accepted_expert(principal, consult)


REQUESTER: Who[Consult] = Who(
    _requester, code="consult.requester_only", message="only the requesting doctor can do this"
)
DISPATCHER: Who[Consult] = Who(
    _dispatcher, code="consult.dispatcher_only", message="only a dispatcher can do this"
)
REQUESTER_OR_DISPATCHER: Who[Consult] = Who(
    _requester_or_dispatcher,
    code="consult.requester_or_dispatcher",
    message="only the requesting doctor or a dispatcher can do this",
)
EXPERT: Who[Consult] = Who(
    _expert, code="consult.expert_only", message="only an assigned expert can do this"
)
INVITED_DEPARTMENT: Who[Consult] = Who(
    _department_specialist,
    code="consult.invited_department_only",
    message="only a specialist of the invited department can accept this directly",
)
ACCEPTED_EXPERT: Who[Consult] = Who(
    _accepted_expert,
    code="consult.accepted_expert_only",
    message="only an expert who accepted the consultation can do this",
)
PARTICIPANT: Who[Consult] = Who(
    _participant,
    code="consult.participant_only",
    message="only the consultation's doctors can do this",
)

TABLE: dict[tuple[ConsultState, str], Step[ConsultState, Consult]] = {
    (C.DRAFT, "submit"): Step(C.REQUESTED, REQUESTER),
    (C.REQUESTED, "assign"): Step(C.ASSIGNED, DISPATCHER),
    (C.REQUESTED, "take"): Step(C.ACCEPTED, INVITED_DEPARTMENT),
    (C.ASSIGNED, "accept"): Step(C.ACCEPTED, EXPERT),
    (C.ASSIGNED, "decline"): Step(C.REQUESTED, EXPERT),
    (C.ACCEPTED, "start"): Step(C.IN_SESSION, PARTICIPANT),
    (C.IN_SESSION, "sign"): Step(C.REPORTED, ACCEPTED_EXPERT),
    (C.REPORTED, "amend"): Step(C.REPORTED, ACCEPTED_EXPERT),
    (C.REPORTED, "decide"): Step(C.CLOSED, REQUESTER),
    **steps(
        "cancel",
        [C.DRAFT, C.REQUESTED, C.ASSIGNED, C.ACCEPTED],
        C.CANCELLED,
        REQUESTER_OR_DISPATCHER,
    ),
}

MACHINE: Machine[ConsultState, Consult] = Machine(
    name="consult",
    states=ConsultState,
    table=TABLE,
    audit=audit.record,
    entity_type="consult",
    audit_prefix="consult",
    channel=CHANNEL,
    illegal_code=ILLEGAL,
)


def fields(consult: Consult) -> dict[str, Any]:
    """The bus message's fields: ids only, no names or patient data."""
    return {
        "consult_id": consult.id,
        "institution_id": consult.institution_id,
        "urgency": consult.urgency.value,
    }


async def step(
    *,
    session: AsyncSession,
    bus: EventBus,
    consult: Consult,
    action: str,
    actor: Actor,
    principal: Principal | None,
    details: dict[str, Any] | None = None,
) -> ConsultState:
    """Take `action` and stamp the fields that belong to the step."""
    state = await MACHINE.transition(
        session=session,
        bus=bus,
        entity=consult,
        action=action,
        actor=actor,
        principal=principal,
        details=details,
        event=fields(consult),
        patient_id=consult.patient_id,
        institution_id=consult.institution_id,
    )
    at = now()
    if action == "submit":
        consult.submitted_at = at
    elif action == "start":
        consult.started_at = at
    elif action == "sign":
        consult.reported_at = at
    elif action == "decide":
        consult.closed_at = at
    elif action == "cancel":
        consult.cancelled_at = at
    return state
