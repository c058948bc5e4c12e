"""Task and incident state machines (who may take which step is in service.py)."""

from __future__ import annotations

from yiyun.core.errors import IllegalTransition

TASK_TRANSITIONS: dict[tuple[str, str], str] = {
    ("sent", "acknowledge"): "acknowledged",
    ("sent", "cancel"): "cancelled",
    ("acknowledged", "complete"): "done",
    ("acknowledged", "cancel"): "cancelled",
}

INCIDENT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "close"): "closed",
    ("closed", "reopen"): "open",
}


def next_state(table: dict[tuple[str, str], str], state: str, action: str, *, code: str) -> str:
    """The state after `action`, or `IllegalTransition` (409) naming both."""
    target = table.get((state, action))
    if target is None:
        raise IllegalTransition(state=state, action=action, code=code)
    return target
