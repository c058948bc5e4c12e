"""The light consultation state machine (on `yiyun.core.statemachine`).

    open --claim--> claimed --reply--> answered --close (rating)--> closed
     |  ^             |   ^                |  ^
     |  +--release----+   +---follow_up----+  +--reply (more)
     +--withdraw--> withdrawn

A doctor of the pool (a community doctor or specialist of the inquiry's institution)
claims it; only one claim wins (`service.claim` takes the row with a conditional
UPDATE first). Only the claiming doctor replies, releases it back to the pool or turns
it into a video visit (`video`, the state stays). Only the asking resident follows up,
withdraws an unclaimed question or closes an answered one. The reply-SLA job
`escalate`s an open or claimed inquiry whose reply is overdue (the state stays; the
step is audited and announced). Anything else is an `IllegalTransition` (409) naming the
state and the action.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.inquiry.models import Inquiry, InquiryState
from yiyun.org.enums import Role
from yiyun.resident.service import ResidentPrincipal

S = InquiryState
CHANNEL = "inquiry.inquiry"
ILLEGAL = "inquiry.illegal_transition"
DOCTOR_ROLES = (Role.COMMUNITY_DOCTOR, Role.SPECIALIST)
LIVE = (S.OPEN, S.CLAIMED, S.ANSWERED)
AWAITING_REPLY = (S.OPEN, S.CLAIMED)


def in_pool(principal: Any, inquiry: Inquiry) -> bool:
    return (
        isinstance(principal, Principal)
        and principal.has(*DOCTOR_ROLES)
        and principal.institution_id == inquiry.institution_id
    )


def _claimer(principal: Any, inquiry: Inquiry) -> bool:
    return isinstance(principal, Principal) and principal.user_id == inquiry.claimed_by_id


def _asker(principal: Any, inquiry: Inquiry) -> bool:
    return isinstance(principal, ResidentPrincipal) and principal.resident_id == inquiry.resident_id


DOCTOR: Who[Inquiry] = Who(
    in_pool, code="inquiry.pool_only", message="only a doctor of this pool can do this"
)
CLAIMER: Who[Inquiry] = Who(
    _claimer,
    code="inquiry.claimer_only",
    message="only the doctor who took this question can do this",
)
ASKER: Who[Inquiry] = Who(
    _asker, code="inquiry.asker_only", message="only the resident who asked can do this"
)

TABLE: dict[tuple[InquiryState, str], Step[InquiryState, Inquiry]] = {
    (S.OPEN, "claim"): Step(S.CLAIMED, DOCTOR),
    (S.OPEN, "withdraw"): Step(S.WITHDRAWN, ASKER),
    (S.CLAIMED, "release"): Step(S.OPEN, CLAIMER),
    (S.CLAIMED, "reply"): Step(S.ANSWERED, CLAIMER),
    (S.ANSWERED, "reply"): Step(S.ANSWERED, CLAIMER),
    **steps("video", [S.CLAIMED, S.ANSWERED], who=CLAIMER),
    **steps("follow_up", [S.OPEN, S.CLAIMED], who=ASKER),
    (S.ANSWERED, "follow_up"): Step(S.CLAIMED, ASKER),
    (S.ANSWERED, "close"): Step(S.CLOSED, ASKER),
    **steps("escalate", AWAITING_REPLY),
}

MACHINE: Machine[InquiryState, Inquiry] = Machine(
    name="inquiry",
    states=InquiryState,
    table=TABLE,
    audit=audit.record,
    entity_type="inquiry",
    audit_prefix="inquiry",
    channel=CHANNEL,
    illegal_code=ILLEGAL,
)


def event_fields(inquiry: Inquiry) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry.id,
        "institution_id": inquiry.institution_id,
        "department_id": inquiry.department_id,
    }


async def transition(
    *,
    session: AsyncSession,
    bus: EventBus,
    inquiry: Inquiry,
    action: str,
    actor: Any,
    principal: Any,
    details: dict[str, Any] | None = None,
) -> InquiryState:
    state = await MACHINE.transition(
        session=session,
        bus=bus,
        entity=inquiry,
        action=action,
        actor=actor,
        principal=principal,
        details=details,
        event=event_fields(inquiry),
        patient_id=inquiry.patient_id,
        institution_id=inquiry.institution_id,
    )
    at = now()
    inquiry.updated_at = at
    if action == "release":
        inquiry.claimed_by_id, inquiry.claimed_at = None, None
    elif action == "close":
        inquiry.closed_at = at
    elif action == "reply" and inquiry.answered_at is None:
        inquiry.answered_at = at
    await session.flush()
    return state
