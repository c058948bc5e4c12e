"""The alert state machine: who may take which step, and what each step records.

    new --acknowledge--> acknowledged --investigate--> investigating --confirm--> confirmed
                              |                             |                          |
                              +---------dismiss-------------+--dismiss--> dismissed    |
                                                                              |        |
                                                              closed <--close-+--------+

`assign` keeps the state (any open state but a decided one, dismissed or closed) and names
who follows the alert up. The health authority may take every step; a site's own staff may
acknowledge and investigate alerts of their site. Any other (state, action) pair raises
`IllegalTransition` (409) naming both. Each step writes an alert event and an audit entry,
and after the transaction commits publishes `surveillance.alert` on the bus and notifies
the people concerned in the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.core.errors import IllegalTransition, InvalidInput, PermissionDenied
from yiyun.notify import service as notify_service
from yiyun.org.enums import Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.surveillance.models import Alert, AlertEvent, AlertState, Syndrome

logger = logging.getLogger(__name__)

S = AlertState
CHANNEL = "surveillance.alert"
ILLEGAL = "surveillance.illegal_transition"


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    CLOSE = "close"
    ASSIGN = "assign"


class Who(StrEnum):
    SITE = "site"  # the authority, or staff of the alert's own site
    AUTHORITY = "authority"


@dataclass(frozen=True)
class Step:
    sources: frozenset[AlertState]
    target: AlertState | None  # None: the state stays
    who: Who


TRANSITIONS: dict[AlertAction, Step] = {
    AlertAction.ACKNOWLEDGE: Step(frozenset({S.NEW}), S.ACKNOWLEDGED, Who.SITE),
    AlertAction.INVESTIGATE: Step(frozenset({S.ACKNOWLEDGED}), S.INVESTIGATING, Who.SITE),
    AlertAction.CONFIRM: Step(frozenset({S.INVESTIGATING}), S.CONFIRMED, Who.AUTHORITY),
    AlertAction.DISMISS: Step(
        frozenset({S.ACKNOWLEDGED, S.INVESTIGATING}), S.DISMISSED, Who.AUTHORITY
    ),
    AlertAction.CLOSE: Step(frozenset({S.CONFIRMED, S.DISMISSED}), S.CLOSED, Who.AUTHORITY),
    AlertAction.ASSIGN: Step(
        frozenset({S.NEW, S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED}), None, Who.AUTHORITY
    ),
}
# Human steps that count as a response to the alert (CIDARS: the signal was looked at).
RESPONSES = frozenset(
    {AlertAction.ACKNOWLEDGE, AlertAction.INVESTIGATE, AlertAction.CONFIRM, AlertAction.DISMISS}
)
ACTION_ZH = {
    "create": "新预警",
    "merge": "新信号并入",
    "escalate": "超时未签收，已升级",
    "acknowledge": "已签收",
    "investigate": "开始调查",
    "confirm": "确认暴发",
    "dismiss": "已排除",
    "close": "已关闭",
    "assign": "已指派",
}


def next_state(state: AlertState, action: AlertAction) -> AlertState:
    """The state after `action` from `state`, or `IllegalTransition` naming both (pure)."""
    step = TRANSITIONS[action]
    if state not in step.sources:
        raise IllegalTransition(state=state.value, action=action.value, code=ILLEGAL)
    return step.target or state


def may(principal: Principal, alert: Alert, action: AlertAction) -> bool:
    """Whether the principal may take `action` on this alert (whatever its state)."""
    if TRANSITIONS[action].who is Who.AUTHORITY:
        return policy.allows(principal, Action.MANAGE_ALERTS)
    target = Target() if alert.institution_id is None else Target.of(alert.institution_id)
    return policy.allows(principal, Action.RESPOND_ALERT, target)


async def take(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    alert: Alert,
    action: AlertAction,
    note: str = "",
    assignee_id: int | None = None,
    now: datetime | None = None,
) -> Alert:
    """Take one step on an alert the principal can see (visibility is the caller's check)."""
    before = alert.state
    after = next_state(before, action)
    if not may(principal, alert, action):
        raise PermissionDenied(
            "you may not take this step on the alert",
            code="surveillance.not_allowed",
            details={"action": action.value},
        )
    at = now or clock_now()
    details: dict[str, Any] = {}
    extra: list[int] = []
    if action is AlertAction.ASSIGN:
        assignee = await _assignee(session, alert, assignee_id)
        alert.assigned_to_id = assignee.id
        details["assigned_to"] = assignee.username
        extra.append(assignee.id)
    elif assignee_id is not None:
        raise InvalidInput("only assign takes a user", code="surveillance.unexpected_user")
    alert.state = after
    alert.updated_at = at
    if action is AlertAction.ACKNOWLEDGE:
        alert.acknowledged_at = at
    if action in RESPONSES and alert.first_response_at is None:
        alert.first_response_at = at
    if after in (S.CONFIRMED, S.DISMISSED):
        alert.outcome = after
    if after is S.CLOSED:
        alert.closed_at = at
    await record(
        session=session,
        bus=bus,
        alert=alert,
        action=action.value,
        actor=actor,
        from_state=before,
        note=note,
        details=details,
        at=at,
        also_notify=extra,
    )
    return alert


async def _assignee(session: AsyncSession, alert: Alert, user_id: int | None) -> User:
    """An active authority user, or staff of the alert's own site."""
    if user_id is None:
        raise InvalidInput("assign needs a user_id", code="surveillance.assignee_missing")
    user = await session.get(User, user_id)
    if user is not None and user.active:
        roles = user.role_set
        if Role.AUTHORITY in roles or (
            alert.institution_id is not None
            and user.institution_id == alert.institution_id
            and roles & {Role.INSTITUTION_ADMIN, Role.COMMUNITY_DOCTOR, Role.SPECIALIST, Role.NURSE}
        ):
            return user
    raise InvalidInput(
        "the assignee must be health-authority staff or clinical staff of the alert's site",
        code="surveillance.bad_assignee",
        details={"user_id": user_id},
    )


# --- what every step records ------------------------------------------------------------------


async def record(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    alert: Alert,
    action: str,
    actor: Actor,
    from_state: AlertState | None,
    note: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    also_notify: Iterable[int] = (),
    urgent: bool = False,
    notify: bool = True,
    authority_only: bool = False,
) -> AlertEvent:
    """Alert event + audit entry now; bus event and notifications when the commit lands.

    Also used by detection for `create`, `merge` (`notify=False`) and `escalate`
    (`authority_only=True`: the on-duty authority staff are paged again).
    """
    at = at or clock_now()
    await session.flush()  # a new alert needs its id
    entry = AlertEvent(
        alert_id=alert.id,
        at=at,
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        from_state=from_state.value if from_state else None,
        to_state=alert.state.value,
        note=note,
        details=details or {},
    )
    session.add(entry)
    await audit.record(
        session=session,
        actor=actor,
        action=f"surveillance.alert.{action}",
        entity_type="surveillance_alert",
        entity_id=alert.id,
        institution_id=alert.institution_id,
        details={
            "from": entry.from_state,
            "to": entry.to_state,
            "severity": alert.severity.value,
            **({"note": note} if note else {}),
            **(details or {}),
        },
        at=at,
    )
    if bus is not None:
        message = {
            "type": CHANNEL,
            "alert_id": alert.id,
            "action": action,
            "state": alert.state.value,
            "severity": alert.severity.value,
            "site_id": alert.institution_id,
            "syndrome": alert.syndrome,
            "at": at.isoformat(),
        }
        _publish_after_commit(session, bus, message)
        if notify:
            await _notify(
                session, bus, alert, action, actor, note, also_notify, urgent, authority_only
            )
    return entry


async def authority_user_ids(session: AsyncSession) -> list[int]:
    """The health authority's staff (until a duty roster exists, all of them are on duty)."""
    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.AUTHORITY, User.active.is_(True))
        .order_by(User.id)
    )
    return list((await session.scalars(query)).all())


async def site_admin_ids(session: AsyncSession, site_id: int | None) -> list[int]:
    if site_id is None:
        return []
    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            UserRole.role == Role.INSTITUTION_ADMIN,
            User.institution_id == site_id,
            User.active.is_(True),
        )
    )
    return list((await session.scalars(query)).all())


async def _notify(
    session: AsyncSession,
    bus: EventBus,
    alert: Alert,
    action: str,
    actor: Actor,
    note: str,
    also: Iterable[int],
    urgent: bool,
    authority_only: bool,
) -> None:
    name = await session.scalar(select(Syndrome.name).where(Syndrome.code == alert.syndrome))
    site = (
        await session.scalar(select(Institution.name).where(Institution.id == alert.institution_id))
        if alert.institution_id is not None
        else "全区"
    )
    title = (
        f"监测预警 #{alert.id}（{name or alert.syndrome}·{site}）：{ACTION_ZH.get(action, action)}"
    )
    data = {
        "alert_id": alert.id,
        "action": action,
        "state": alert.state.value,
        "severity": alert.severity.value,
        "syndrome": alert.syndrome,
        "site_id": alert.institution_id,
    }
    skip = {actor.user_id}
    command_room = [u for u in await authority_user_ids(session) if u not in skip]
    site_admins = [] if authority_only else await site_admin_ids(session, alert.institution_id)
    others = [
        u for u in dict.fromkeys([*site_admins, *also]) if u not in skip and u not in command_room
    ]
    for user_ids, link in ((command_room, "/emergency"), (others, None)):
        if user_ids:
            await notify_service.notify(
                session=session,
                bus=bus,
                user_ids=user_ids,
                kind="surveillance.alert",
                title=title,
                body=note,
                link=link,
                data=data,
                urgent=urgent,
            )


# --- bus events after commit ------------------------------------------------------------------

_PENDING = "yiyun_surveillance_events"


def _publish_after_commit(session: AsyncSession, bus: EventBus, message: dict[str, Any]) -> None:
    pending: list[tuple[EventBus, dict[str, Any]]] = session.sync_session.info.setdefault(
        _PENDING, []
    )
    pending.append((bus, message))


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    loop = asyncio.get_running_loop()
    for bus, message in pending:
        task = loop.create_task(bus.publish(CHANNEL, message))
        task.add_done_callback(_log_failure)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("alert event not published: %s", type(task.exception()).__name__)


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
