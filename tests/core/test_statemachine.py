"""The machine itself, without a database: table lookups, rules and refusals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pytest

from yiyun.core.errors import IllegalTransition, PermissionDenied
from yiyun.core.statemachine import Machine, Step, Who, steps


class Light(StrEnum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


class Other(StrEnum):
    OFF = "off"


@dataclass
class Lamp:
    id: int
    owner: int
    state: Light = Light.OFF


async def _no_audit(**_: Any) -> None:
    return None


OWNER: Who[Lamp] = Who(lambda p, lamp: p == lamp.owner, code="lamp.owner_only", message="no")
TABLE = {
    (Light.OFF, "switch_on"): Step(Light.ON),
    (Light.ON, "switch_off"): Step(Light.OFF),
    **steps("break", [Light.OFF, Light.ON], Light.BROKEN, OWNER),
    **steps("look", [Light.OFF, Light.ON]),
}


def _machine(table: Any = TABLE) -> Machine[Light, Lamp]:
    return Machine(
        name="lamp",
        states=Light,
        table=table,
        audit=_no_audit,
        entity_type="lamp",
        audit_prefix="lamp",
        channel="lamp",
        illegal_code=lambda state, _action: f"lamp.{state}",
    )


def test_lookups_follow_the_table() -> None:
    lamp = _machine()
    assert lamp.next_state("off", "switch_on") is Light.ON
    assert lamp.next_state(Light.ON, "look") is Light.ON  # a step that keeps the state
    assert lamp.allowed(Light.ON) == ["switch_off", "break", "look"]
    assert lamp.allowed(Light.BROKEN) == []
    assert lamp.actions == {"switch_on", "switch_off", "break", "look"}


def test_an_illegal_pair_is_a_409_naming_state_and_action() -> None:
    with pytest.raises(IllegalTransition) as refused:
        _machine().next_state(Light.BROKEN, "switch_on")
    assert refused.value.status == 409 and refused.value.code == "lamp.broken"
    assert refused.value.details == {"state": "broken", "action": "switch_on"}


def test_rules_are_checked_before_the_state_and_name_their_code() -> None:
    lamp = _machine()
    mine = Lamp(id=1, owner=7, state=Light.BROKEN)
    with pytest.raises(PermissionDenied) as denied:
        lamp.check(mine, "break", principal=8)
    assert denied.value.code == "lamp.owner_only"
    with pytest.raises(IllegalTransition):
        lamp.check(mine, "break", principal=7)
    assert lamp.may(7, mine, "break") and not lamp.may(8, mine, "break")
    assert lamp.check(Lamp(id=2, owner=7), "break", principal=7).to is Light.BROKEN


def test_a_table_of_another_enum_is_refused() -> None:
    with pytest.raises(TypeError):
        _machine({(Other.OFF, "switch_on"): Step(Light.ON)})
