"""The library video's state machine (on `yiyun.core.statemachine`).

    uploaded --start--> transcoding --finish--> ready --withdraw--> withdrawn
                            |                     ^                     |
                            +--fail--> failed     +-----republish-------+
                                         |
                                         +--start--> transcoding  (a retry)
    failed --withdraw--> withdrawn

`start`, `finish` and `fail` are the transcoder's (a system job, no principal).
Withdrawing and republishing are the uploader's, their institution administrator's or
the consortium administrator's. Every step is audited and announced on
`teaching.video` after commit.
"""

from __future__ import annotations

from typing import Any

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, Target, allows
from yiyun.core.statemachine import Machine, Step, Who
from yiyun.teaching.models import Video, VideoState

UPLOADED, TRANSCODING, READY, FAILED, WITHDRAWN = (
    VideoState.UPLOADED,
    VideoState.TRANSCODING,
    VideoState.READY,
    VideoState.FAILED,
    VideoState.WITHDRAWN,
)
CHANNEL = "teaching.video"


def _owner_or_admin(principal: Any, video: Video) -> bool:
    return bool(
        principal.user_id == video.uploaded_by_id
        or allows(principal, Action.MANAGE_TEACHING, Target.of(video.institution_id))
    )


OWNER: Who[Video] = Who(
    _owner_or_admin,
    code="teaching.not_owner",
    message="only the person who uploaded the video or an administrator can do this",
)

TABLE: dict[tuple[VideoState, str], Step[VideoState, Video]] = {
    (UPLOADED, "start"): Step(TRANSCODING),
    (FAILED, "start"): Step(TRANSCODING),
    (TRANSCODING, "finish"): Step(READY),
    (TRANSCODING, "fail"): Step(FAILED),
    (READY, "withdraw"): Step(WITHDRAWN, OWNER),
    (FAILED, "withdraw"): Step(WITHDRAWN, OWNER),
    (WITHDRAWN, "republish"): Step(READY, OWNER),
}

MACHINE: Machine[VideoState, Video] = Machine(
    name="teaching video",
    states=VideoState,
    table=TABLE,
    audit=audit.record,
    entity_type="teaching_video",
    audit_prefix="teaching.video",
    channel=CHANNEL,
    illegal_code="teaching.illegal_transition",
)


def fields(video: Video) -> dict[str, Any]:
    """What the bus event carries besides the step (no personal data)."""
    return {"institution_id": video.institution_id, "progress": video.progress}
