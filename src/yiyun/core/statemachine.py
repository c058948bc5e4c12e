"""The one way to write a workflow: states, a table, and `transition()`.

A workflow is a `StrEnum` of states and a table from (state, action) to a `Step`: the
state after the action (the same state for actions that only need the state to allow
them) and, optionally, who may take it. `Machine.transition()` is the only code that
writes a state column. In one call, inside the caller's transaction, it

1. checks who acts against the step's rule (`PermissionDenied`, the rule's code),
2. checks the table (`IllegalTransition`, 409, naming the state and the action),
3. sets the state,
4. writes the audit entry (`from`, `to` and the caller's details), and
5. queues a domain event on the bus, published only after the transaction commits.

Core imports no domain: the audit writer is passed in when a domain builds its machine
(`audit=audit.record`), and rules receive the caller's principal untyped. See
`docs/workflows.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Enum
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core import events
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import IllegalTransition, PermissionDenied

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E")


class AuditWriter(Protocol):
    """Appends one audit entry in the caller's transaction (`yiyun.audit.service.record`)."""

    async def __call__(
        self,
        *,
        session: AsyncSession,
        actor: Any,
        action: str,
        entity_type: str | None = None,
        entity_id: str | int | None = None,
        patient_id: int | None = None,
        institution_id: int | None = None,
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> object: ...


@dataclass(frozen=True)
class Who(Generic[E]):
    """Who may take a step: a test of (principal, entity), and the refusal it earns."""

    test: Callable[[Any, E], bool]
    code: str = "access.denied"
    message: str = "you are not allowed to do this"


@dataclass(frozen=True)
class Step(Generic[S, E]):
    to: S
    who: Who[E] | None = None  # None: anyone the caller let this far


def steps(
    action: str,
    sources: Iterable[S],
    to: S | None = None,
    who: Who[E] | None = None,
) -> dict[tuple[S, str], Step[S, E]]:
    """Table rows for one action from several states; `to=None` keeps the state."""
    return {(source, action): Step(to if to is not None else source, who) for source in sources}


def state_type(states: type[StrEnum]) -> Enum:
    """The column type of a state: stored as the enum's plain string values."""
    return Enum(
        states,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


def seed(entity: object, state: StrEnum, *, column: str = "state") -> None:
    """Put an entity straight into a state with no step, audit or event.

    For demo data and imports that recreate history only; every live change goes
    through `Machine.transition()`.
    """
    setattr(entity, column, state)


IllegalCode = str | Callable[[StrEnum, str], str]


class Machine(Generic[S, E]):
    """One workflow: its states, its table and how its steps are audited and announced."""

    def __init__(
        self,
        *,
        name: str,
        states: type[S],
        table: Mapping[tuple[S, str], Step[S, E]],
        audit: AuditWriter,
        entity_type: str,
        audit_prefix: str,
        channel: str,
        illegal_code: IllegalCode,
        column: str = "state",
    ) -> None:
        for state, action in table:
            if not isinstance(state, states):
                raise TypeError(f"{name}: {state!r} is not a {states.__name__}")
            if not action:
                raise TypeError(f"{name}: an action needs a name")
        self.name = name
        self.states = states
        self.table: dict[tuple[S, str], Step[S, E]] = dict(table)
        self.audit = audit
        self.entity_type = entity_type
        self.audit_prefix = audit_prefix
        self.channel = channel
        self.illegal_code = illegal_code
        self.column = column

    # --- pure -------------------------------------------------------------------------

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(action for _, action in self.table)

    def illegal(self, state: StrEnum | str, action: str) -> IllegalTransition:
        value = self.states(state)
        code = self.illegal_code
        return IllegalTransition(
            state=value.value,
            action=action,
            code=code if isinstance(code, str) else code(value, action),
        )

    def step(self, state: StrEnum | str, action: str) -> Step[S, E]:
        """The table's step for (state, action), or `IllegalTransition` (409) naming both."""
        found = self.table.get((self.states(state), action))
        if found is None:
            raise self.illegal(state, action)
        return found

    def next_state(self, state: StrEnum | str, action: str) -> S:
        return self.step(state, action).to

    def allowed(self, state: StrEnum | str) -> list[str]:
        """The actions the table allows in `state`, in table order."""
        value = self.states(state)
        return [action for source, action in self.table if source == value]

    def state_of(self, entity: E) -> S:
        return self.states(getattr(entity, self.column))

    def may(self, principal: Any, entity: E, action: str) -> bool:
        """Whether `principal` passes the rule of every step named `action` (state aside)."""
        rules = [s.who for (_, a), s in self.table.items() if a == action]
        return all(rule is None or rule.test(principal, entity) for rule in rules)

    def check(self, entity: E, action: str, principal: Any = None) -> Step[S, E]:
        """Raise unless `action` is allowed now (and, given a principal, allowed to them)."""
        if principal is not None:
            self._authorise(principal, entity, action)
        return self.step(self.state_of(entity), action)

    def _authorise(self, principal: Any, entity: E, action: str) -> None:
        for (_, a), step in self.table.items():
            if a == action and step.who is not None and not step.who.test(principal, entity):
                raise PermissionDenied(
                    step.who.message, code=step.who.code, details={"action": action}
                )

    # --- the one writer of state ------------------------------------------------------

    async def transition(
        self,
        *,
        session: AsyncSession,
        bus: EventBus,
        entity: E,
        action: str,
        actor: Any,
        principal: Any = None,
        details: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
        patient_id: int | None = None,
        institution_id: int | None = None,
        at: datetime | None = None,
    ) -> S:
        """Take `action`: check, set the state, audit, and queue the event; returns the state.

        `principal` is checked against the step's rule; pass None only where the caller
        has already decided who may act (a system job, the meeting room's chair check).
        `details` go into the audit entry, `event` into the bus message.
        """
        before = self.state_of(entity)
        step = self.check(entity, action, principal)
        setattr(entity, self.column, step.to)
        at = at or now()
        await session.flush()
        entity_id = _id_of(entity)
        await self.audit(
            session=session,
            actor=actor,
            action=f"{self.audit_prefix}.{action}",
            entity_type=self.entity_type,
            entity_id=entity_id,
            patient_id=patient_id,
            institution_id=institution_id,
            details={"from": before.value, "to": step.to.value, **(details or {})},
            at=at,
        )
        self.announce(
            session=session,
            bus=bus,
            entity_id=entity_id,
            action=action,
            before=before,
            after=step.to,
            at=at,
            extra=event,
        )
        return step.to

    def announce(
        self,
        *,
        session: AsyncSession,
        bus: EventBus,
        entity_id: int,
        action: str,
        before: StrEnum | str | None,
        after: StrEnum | str,
        at: datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue this workflow's bus event (also for steps that create the entity)."""
        events.publish_after_commit(
            session,
            bus,
            self.channel,
            {
                "type": self.channel,
                "id": entity_id,
                "action": action,
                "from": self.states(before).value if before is not None else None,
                "state": self.states(after).value,
                "at": at.isoformat(),
                **(extra or {}),
            },
        )


def _id_of(entity: object) -> int:
    value = getattr(entity, "id", None)
    if not isinstance(value, int):
        raise TypeError(f"{type(entity).__name__} has no id yet")
    return value
