"""Referral state machine (on `yiyun.core.statemachine`).

    requested --accept--> accepted --arrive--> arrived --complete--> completed
        |   \\                 |
        |    +--reject--> rejected
        +------cancel---------+--> cancelled

The receiving institution's clinicians accept (confirming the appointment) or reject
with a reason, record the patient's arrival and complete the referral; the sending
institution's clinicians may cancel until the patient has arrived. Both institutions
see every state. Any other (state, action) pair is an `IllegalTransition` (409).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.statemachine import Machine, Step, Who
from yiyun.referrals.models import Referral, ReferralState

RS = ReferralState
ILLEGAL = "referral.illegal_transition"
CHANNEL = "referral.referral"


def _receiver(principal: Any, referral: Referral) -> bool:
    return allows(principal, Action.REFER, Target.of(referral.to_institution_id))


def _sender(principal: Any, referral: Referral) -> bool:
    return allows(principal, Action.REFER, Target.of(referral.from_institution_id))


RECEIVER: Who[Referral] = Who(
    _receiver, code="referral.receiver_only", message="only the receiving institution can do this"
)
SENDER: Who[Referral] = Who(
    _sender, code="referral.sender_only", message="only the referring institution can do this"
)

TABLE: dict[tuple[ReferralState, str], Step[ReferralState, Referral]] = {
    (RS.REQUESTED, "accept"): Step(RS.ACCEPTED, RECEIVER),
    (RS.REQUESTED, "reject"): Step(RS.REJECTED, RECEIVER),
    (RS.ACCEPTED, "arrive"): Step(RS.ARRIVED, RECEIVER),
    (RS.ARRIVED, "complete"): Step(RS.COMPLETED, RECEIVER),
    (RS.REQUESTED, "cancel"): Step(RS.CANCELLED, SENDER),
    (RS.ACCEPTED, "cancel"): Step(RS.CANCELLED, SENDER),
}

MACHINE: Machine[ReferralState, Referral] = Machine(
    name="referral",
    states=ReferralState,
    table=TABLE,
    audit=audit.record,
    entity_type="referral",
    audit_prefix="referral",
    channel=CHANNEL,
    illegal_code=ILLEGAL,
)


def event_fields(referral: Referral) -> dict[str, Any]:
    return {
        "referral_id": referral.id,
        "direction": referral.direction.value,
        "from_institution_id": referral.from_institution_id,
        "to_institution_id": referral.to_institution_id,
    }


async def step(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    referral: Referral,
    action: str,
    reason: str = "",
) -> ReferralState:
    state = await MACHINE.transition(
        session=session,
        bus=bus,
        entity=referral,
        action=action,
        actor=actor,
        principal=principal,
        details={"reason": reason} if reason else None,
        event=event_fields(referral),
        patient_id=referral.patient_id,
        institution_id=referral.from_institution_id,
    )
    at = now()
    if action in ("accept", "reject"):
        referral.decided_at, referral.decided_by_id = at, principal.user_id
        referral.decision_reason = reason
    elif action == "arrive":
        referral.arrived_at = at
    elif action == "complete":
        referral.completed_at = at
    elif action == "cancel":
        referral.decision_reason = reason
    return state
