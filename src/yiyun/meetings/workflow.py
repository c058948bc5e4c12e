"""The meeting state machine.

    scheduled --open--> open --end--> ended
        |
        +--cancel--> cancelled

Instant meetings are created `open`. A scheduled meeting opens when the first join token
is issued, from `join_early_minutes` before its start. Other actions keep the state but
are allowed only in some states (`ALLOWED`); anything else is an `IllegalTransition`
(409) naming the state and the action.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.clock import as_utc, district, now
from yiyun.core.errors import IllegalTransition
from yiyun.meetings.models import Meeting

SCHEDULED, OPEN, ENDED, CANCELLED = "scheduled", "open", "ended", "cancelled"
STATES = (SCHEDULED, OPEN, ENDED, CANCELLED)
LIVE = (SCHEDULED, OPEN)  # not over yet

TRANSITIONS: dict[tuple[str, str], str] = {
    (SCHEDULED, "open"): OPEN,
    (OPEN, "end"): ENDED,
    (SCHEDULED, "cancel"): CANCELLED,
}
# Actions that keep the state, and the states they are allowed in.
ALLOWED: dict[str, frozenset[str]] = {
    "edit": frozenset(LIVE),
    "reschedule": frozenset({SCHEDULED}),
    "invite": frozenset(LIVE),
    "invite_guest": frozenset(LIVE),
    "set_role": frozenset(LIVE),
    "join": frozenset(LIVE),
    "ring": frozenset({OPEN}),
}
DEFAULT_DURATION = 60


def _refuse(state: str, action: str) -> IllegalTransition:
    code = {ENDED: "meeting.ended", CANCELLED: "meeting.cancelled"}.get(
        state, "meeting.illegal_transition"
    )
    return IllegalTransition(state=state, action=action, code=code)


def next_state(state: str, action: str) -> str:
    """The state after `action`, or `IllegalTransition` when it is not allowed now."""
    if (state, action) in TRANSITIONS:
        return TRANSITIONS[(state, action)]
    if state in ALLOWED.get(action, ()):
        return state
    raise _refuse(state, action)


def check(meeting: Meeting, action: str) -> None:
    """Raise `IllegalTransition` unless `action` is allowed in the meeting's state."""
    next_state(meeting.state, action)


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


async def transition(
    *,
    session: AsyncSession,
    meeting: Meeting,
    action: str,
    actor: Actor,
    details: dict[str, Any] | None = None,
) -> str:
    """Check the table, change the state and write the audit entry (one transaction)."""
    before = meeting.state
    meeting.state = next_state(before, action)
    if meeting.state == ENDED:
        meeting.ended_at = now()
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action=f"meeting.{action}",
        entity_type="meeting",
        entity_id=meeting.id,
        patient_id=meeting.patient_id,
        details={"from": before, "to": meeting.state, **(details or {})},
    )
    return meeting.state


async def open_for_join(
    *,
    session: AsyncSession,
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
        error = IllegalTransition(state=meeting.state, action="join", code="meeting.not_started")
        error.details["opens_at"] = opens.isoformat()
        raise error
    await transition(session=session, meeting=meeting, action="open", actor=actor)
