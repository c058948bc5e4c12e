"""The de-identification review of a clinical recording (on `yiyun.core.statemachine`).

    submitted --approve--> approved --publish--> approved (its copy is in the library)
        |
        +------reject----> rejected --resubmit--> submitted

A recording of a meeting about a patient becomes teaching material only through this
review. Its organiser (the meeting's host or an administrator of its site) submits it
with a note of what was removed; a reviewer — an administrator who may manage teaching
for that site, never the submitter — approves, or rejects with a reason. Only an
approved review publishes. Every step is audited as `learning.review.<action>` and
announced on `learning.review`.
"""

from __future__ import annotations

from typing import Any

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, Target, allows
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.learning.models import DeidReview, ReviewState

SUBMITTED, APPROVED, REJECTED = ReviewState.SUBMITTED, ReviewState.APPROVED, ReviewState.REJECTED
CHANNEL = "learning.review"


def _reviewer(principal: Any, review: DeidReview) -> bool:
    return bool(
        principal.user_id != review.submitted_by_id
        and allows(principal, Action.MANAGE_TEACHING, Target.of(review.institution_id))
    )


def _organiser(principal: Any, review: DeidReview) -> bool:
    return bool(
        principal.user_id == review.submitted_by_id
        or allows(principal, Action.MANAGE_TEACHING, Target.of(review.institution_id))
    )


REVIEWER: Who[DeidReview] = Who(
    _reviewer,
    code="learning.reviewer_only",
    message="only a reviewer other than the submitter can decide on de-identification",
)
ORGANISER: Who[DeidReview] = Who(
    _organiser,
    code="learning.organiser_only",
    message="only the organiser or an administrator can do this",
)

TABLE: dict[tuple[ReviewState, str], Step[ReviewState, DeidReview]] = {
    (SUBMITTED, "approve"): Step(APPROVED, REVIEWER),
    (SUBMITTED, "reject"): Step(REJECTED, REVIEWER),
    (REJECTED, "resubmit"): Step(SUBMITTED, ORGANISER),
    **steps("publish", [APPROVED], who=ORGANISER),
}

MACHINE: Machine[ReviewState, DeidReview] = Machine(
    name="de-identification review",
    states=ReviewState,
    table=TABLE,
    audit=audit.record,
    entity_type="learning_deid_review",
    audit_prefix="learning.review",
    channel=CHANNEL,
    illegal_code="learning.review_illegal",
)
