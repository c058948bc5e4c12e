"""The alarm state machine (on `yiyun.core.statemachine`).

    raised --acknowledge--> acknowledged
       |                        |
       +--------clear-----------+--> cleared

An alarm is created `raised` by the evaluation job (`alarms.raise_alarm`, announced as
`create`). Operations acknowledge it (someone is on it); the job clears it when the fault
is gone, and operations may clear it by hand (a terminal taken out of service). A fault
that comes back after clearing raises a new alarm. Every step is audited
(`ops.alarm.<action>`) and announced on `ops.alarm` after commit.
"""

from __future__ import annotations

from typing import Any

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, allows
from yiyun.core.statemachine import Machine, Step, Who
from yiyun.ops.models import Alarm, AlarmState

A = AlarmState
CHANNEL = "ops.alarm"
ILLEGAL = "ops.illegal_transition"


def _manages(principal: Any, _alarm: Alarm) -> bool:
    return principal is None or allows(principal, Action.MANAGE_ALARMS)


OPERATIONS: Who[Alarm] = Who(
    _manages, code="ops.alarm_denied", message="only operations can handle alarms"
)

TABLE: dict[tuple[AlarmState, str], Step[AlarmState, Alarm]] = {
    (A.RAISED, "acknowledge"): Step(A.ACKNOWLEDGED, OPERATIONS),
    (A.RAISED, "clear"): Step(A.CLEARED, OPERATIONS),
    (A.ACKNOWLEDGED, "clear"): Step(A.CLEARED, OPERATIONS),
}

MACHINE: Machine[AlarmState, Alarm] = Machine(
    name="alarm",
    states=AlarmState,
    table=TABLE,
    audit=audit.record,
    entity_type="alarm",
    audit_prefix="ops.alarm",
    channel=CHANNEL,
    illegal_code=ILLEGAL,
)
