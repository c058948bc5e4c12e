"""The meeting state machine (on `yiyun.core.statemachine`).

    scheduled --open--> open --end--> ended
        |
        +--cancel--> cancelled

Instant meetings are created `open`. A scheduled meeting opens when the first join token
is issued, from `join_early_minutes` before its start. Ending and cancelling are the
host's (the meeting room lets its chair end a meeting: it checks that itself). Other
actions keep the state but are allowed only in some states; anything else is an
`IllegalTransition` (409) naming the state and the action. Every step is audited and
announced on the bus (`meetings.meeting`) after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, district, now
from yiyun.core.errors import IllegalTransition
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.meetings.models import Meeting, MeetingState

SCHEDULED, OPEN, ENDED, CANCELLED = (
    MeetingState.SCHEDULED,
    MeetingState.OPEN,
    MeetingState.ENDED,
    MeetingState.CANCELLED,
)
STATES = tuple(MeetingState)
LIVE = (SCHEDULED, OPEN)  # not over yet
CHANNEL = "meetings.meeting"


def _is_host(principal: Any, meeting: Meeting) -> bool:
    return bool(principal.user_id == meeting.host_id)


HOST: Who[Meeting] = Who(_is_host, code="meeting.host_only", message="only the host can do this")

TABLE: dict[tuple[MeetingState, str], Step[MeetingState, Meeting]] = {
    (SCHEDULED, "open"): Step(OPEN),
    (OPEN, "end"): Step(ENDED, HOST),
    (SCHEDULED, "cancel"): Step(CANCELLED, HOST),
    # Actions that keep the state, and the states they are allowed in.
    **steps("edit", LIVE),
    **steps("reschedule", [SCHEDULED]),
    **steps("invite", LIVE),
    **steps("invite_guest", LIVE),
    **steps("set_role", LIVE),
    **steps("join", LIVE),
    **steps("ring", [OPEN]),
}
DEFAULT_DURATION = 60


def _illegal_code(state: StrEnum, action: str) -> str:
    return {ENDED: "meeting.ended", CANCELLED: "meeting.cancelled"}.get(
        MeetingState(state), "meeting.illegal_transition"
    )


MACHINE: Machine[MeetingState, Meeting] = Machine(
    name="meeting",
    states=MeetingState,
    table=TABLE,
    audit=audit.record,
    entity_type="meeting",
    audit_prefix="meeting",
    channel=CHANNEL,
    illegal_code=_illegal_code,
)


def next_state(state: str, action: str) -> MeetingState:
    """The state after `action`, or `IllegalTransition` when it is not allowed now."""
    return MACHINE.next_state(state, action)


def check(meeting: Meeting, action: str) -> None:
    """Raise `IllegalTransition` unless `action` is allowed in the meeting's state."""
    MACHINE.check(meeting, action)


def starts_at(meeting: Meeting) -> datetime:
    """When the meeting starts (instant meetings: when they were created)."""
    return as_utc(meeting.starts_at or meeting.created_at)


def ends_at(meeting: Meeting) -> datetime:
    """The planned end: start plus duration."""
    return starts_at(meeting) + timedelta(minutes=meeting.duration_minutes or DEFAULT_DURATION)


def when_text(meeting: Meeting) -> str:
    """Start and end in China Standard Time, e.g. `2026-12-01 14:00–15:00` (any language)."""
    start, end = district(starts_at(meeting)), district(ends_at(meeting))
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"


def join_opens_at(meeting: Meeting, early_minutes: int) -> datetime:
    return starts_at(meeting) - timedelta(minutes=early_minutes)


def event_fields(meeting: Meeting) -> dict[str, Any]:
    """What every `meetings.meeting` event says besides the step (no titles, no patients)."""
    return {
        "meeting_id": meeting.id,
        "room_id": meeting.room_id,
        "subject_type": meeting.subject_type,
        "subject_id": meeting.subject_id,
    }


async def transition(
    *,
    session: AsyncSession,
    bus: EventBus,
    meeting: Meeting,
    action: str,
    actor: Actor,
    principal: Any = None,
    details: dict[str, Any] | None = None,
) -> MeetingState:
    """Take a step (see `Machine.transition`); an ended meeting records when it ended."""
    state = await MACHINE.transition(
        session=session,
        bus=bus,
        entity=meeting,
        action=action,
        actor=actor,
        principal=principal,
        details=details,
        event=event_fields(meeting),
        patient_id=meeting.patient_id,
    )
    if state is ENDED:
        meeting.ended_at = now()
    return state


async def open_for_join(
    *,
    session: AsyncSession,
    bus: EventBus,
    meeting: Meeting,
    actor: Actor,
    early_minutes: int,
    at: datetime | None = None,
) -> None:
    """Allow a join: a scheduled meeting opens from `early_minutes` before its start.

    Too early is an `IllegalTransition` with code `meeting.not_started` (as the staff
    token endpoint answers) and the time joining opens in `details`.
    """
    check(meeting, "join")
    if meeting.state != SCHEDULED:
        return
    opens = join_opens_at(meeting, early_minutes)
    if (at or now()) < opens:
        error = IllegalTransition(
            state=str(meeting.state), action="join", code="meeting.not_started"
        )
        error.details["opens_at"] = opens.isoformat()
        raise error
    await transition(session=session, bus=bus, meeting=meeting, action="open", actor=actor)
