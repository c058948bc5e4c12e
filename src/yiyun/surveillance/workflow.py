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

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.core.errors import InvalidInput
from yiyun.core.statemachine import Machine, Step, Who, steps
from yiyun.i18n.text import Localised, Text
from yiyun.notify import service as notify_service
from yiyun.org.enums import Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.surveillance.models import Alert, AlertEvent, AlertState, Syndrome

S = AlertState
CHANNEL = "surveillance.alert"
ILLEGAL = "surveillance.illegal_transition"


# What detection itself does to an alert, outside the table of steps (see `record`).
DetectionAction = Literal["create", "merge", "escalate"]


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    CLOSE = "close"
    ASSIGN = "assign"


def _site_or_authority(principal: Any, alert: Alert) -> bool:
    target = Target() if alert.institution_id is None else Target.of(alert.institution_id)
    return policy.allows(principal, Action.RESPOND_ALERT, target)


def _authority(principal: Any, _alert: Alert) -> bool:
    return policy.allows(principal, Action.MANAGE_ALERTS)


_REFUSED = "you may not take this step on the alert"
SITE: Who[Alert] = Who(_site_or_authority, code="surveillance.not_allowed", message=_REFUSED)
AUTHORITY: Who[Alert] = Who(_authority, code="surveillance.not_allowed", message=_REFUSED)

A = AlertAction
TABLE: dict[tuple[AlertState, str], Step[AlertState, Alert]] = {
    **steps(A.ACKNOWLEDGE, [S.NEW], S.ACKNOWLEDGED, SITE),
    **steps(A.INVESTIGATE, [S.ACKNOWLEDGED], S.INVESTIGATING, SITE),
    **steps(A.CONFIRM, [S.INVESTIGATING], S.CONFIRMED, AUTHORITY),
    **steps(A.DISMISS, [S.ACKNOWLEDGED, S.INVESTIGATING], S.DISMISSED, AUTHORITY),
    **steps(A.CLOSE, [S.CONFIRMED, S.DISMISSED], S.CLOSED, AUTHORITY),
    **steps(A.ASSIGN, [S.NEW, S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED], who=AUTHORITY),
}
MACHINE: Machine[AlertState, Alert] = Machine(
    name="alert",
    states=AlertState,
    table=TABLE,
    audit=audit.record,
    entity_type="surveillance_alert",
    audit_prefix="surveillance.alert",
    channel=CHANNEL,
    illegal_code=ILLEGAL,
)
# Human steps that count as a response to the alert (CIDARS: the signal was looked at).
RESPONSES = frozenset(
    {AlertAction.ACKNOWLEDGE, AlertAction.INVESTIGATE, AlertAction.CONFIRM, AlertAction.DISMISS}
)


def action_label(action: str) -> Text:
    """What happened to the alert, as the notification says it."""
    labels = {
        "create": Text("new alert"),
        "merge": Text("new signal merged"),
        "escalate": Text("not acknowledged in time, escalated"),
        "acknowledge": Text("acknowledged"),
        "investigate": Text("investigation started"),
        "confirm": Text("outbreak confirmed"),
        "dismiss": Text("dismissed"),
        "close": Text("closed"),
        "assign": Text("assigned"),
    }
    return labels[action]


def next_state(state: AlertState, action: AlertAction) -> AlertState:
    """The state after `action` from `state`, or `IllegalTransition` naming both (pure)."""
    return MACHINE.next_state(state, action)


def may(principal: Principal, alert: Alert, action: AlertAction) -> bool:
    """Whether the principal may take `action` on this alert (whatever its state)."""
    return MACHINE.may(principal, alert, action)


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
    after = MACHINE.check(alert, action, principal).to
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
    alert.updated_at = at
    if action is AlertAction.ACKNOWLEDGE:
        alert.acknowledged_at = at
    if action in RESPONSES and alert.first_response_at is None:
        alert.first_response_at = at
    if after in (S.CONFIRMED, S.DISMISSED):
        alert.outcome = after
    if after is S.CLOSED:
        alert.closed_at = at
    await MACHINE.transition(
        session=session,
        bus=bus,
        entity=alert,
        action=action,
        actor=actor,
        principal=principal,
        details=_audit_details(alert, note, details),
        event=_event_fields(alert),
        institution_id=alert.institution_id,
        at=at,
    )
    await _log(session, alert, action, actor, before, note, details, at)
    await _notify(session, bus, alert, action, actor, note, extra, False, False)
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


def _audit_details(alert: Alert, note: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"severity": alert.severity.value, **({"note": note} if note else {}), **details}


def _event_fields(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "severity": alert.severity.value,
        "site_id": alert.institution_id,
        "syndrome": alert.syndrome,
    }


async def _log(
    session: AsyncSession,
    alert: Alert,
    action: str,
    actor: Actor,
    from_state: AlertState | None,
    note: str,
    details: dict[str, Any],
    at: datetime,
) -> AlertEvent:
    entry = AlertEvent(
        alert_id=alert.id,
        at=at,
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        from_state=from_state.value if from_state else None,
        to_state=alert.state.value,
        note=note,
        details=details,
    )
    session.add(entry)
    await session.flush()
    return entry


async def record(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    alert: Alert,
    action: DetectionAction,
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
    """What detection does to an alert without a step of the table: `create`, `merge`
    (`notify=False`) and `escalate` (`authority_only=True`: the on-duty authority staff
    are paged again). Alert event and audit entry now; bus event and notifications when
    the commit lands (none without a bus)."""
    at = at or clock_now()
    await session.flush()  # a new alert needs its id
    entry = await _log(session, alert, action, actor, from_state, note, details or {}, at)
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
            **_audit_details(alert, note, details or {}),
        },
        at=at,
    )
    if bus is not None:
        MACHINE.announce(
            session=session,
            bus=bus,
            entity_id=alert.id,
            action=action,
            before=from_state,
            after=alert.state,
            at=at,
            extra=_event_fields(alert),
        )
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
    names = (
        await session.execute(
            select(Syndrome.name, Syndrome.name_en).where(Syndrome.code == alert.syndrome)
        )
    ).first()
    syndrome = (
        Localised({"zh_CN": names[0], "en": names[1] or names[0]}) if names else alert.syndrome
    )
    site: str | Text = (
        await session.scalar(select(Institution.name).where(Institution.id == alert.institution_id))
        or ""
        if alert.institution_id is not None
        else Text("whole district")
    )
    title = Text(
        "Surveillance alert #{id} ({syndrome} · {site}): {action}",
        id=alert.id,
        syndrome=syndrome,
        site=site,
        action=action_label(action),
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
