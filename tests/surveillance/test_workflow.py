"""The alert state machine: every (state, action) pair against the table, who may take each
step, and what a step records (alert event, audit entry, bus event, notifications)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.auth import service as auth_service
from yiyun.core.bus import InProcessBus
from yiyun.core.errors import IllegalTransition, InvalidInput, PermissionDenied
from yiyun.notify.models import Notification
from yiyun.surveillance import syndromes, workflow
from yiyun.surveillance.models import Alert, AlertEvent, AlertState, Severity
from yiyun.surveillance.workflow import AlertAction

S, A = AlertState, AlertAction
AT = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)

# Written out by hand from the brief, not computed from workflow.TRANSITIONS.
LEGAL: dict[tuple[AlertState, AlertAction], AlertState] = {
    (S.NEW, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.ACKNOWLEDGED, A.INVESTIGATE): S.INVESTIGATING,
    (S.INVESTIGATING, A.CONFIRM): S.CONFIRMED,
    (S.INVESTIGATING, A.DISMISS): S.DISMISSED,
    (S.ACKNOWLEDGED, A.DISMISS): S.DISMISSED,
    (S.CONFIRMED, A.CLOSE): S.CLOSED,
    (S.DISMISSED, A.CLOSE): S.CLOSED,
    (S.NEW, A.ASSIGN): S.NEW,
    (S.ACKNOWLEDGED, A.ASSIGN): S.ACKNOWLEDGED,
    (S.INVESTIGATING, A.ASSIGN): S.INVESTIGATING,
    (S.CONFIRMED, A.ASSIGN): S.CONFIRMED,
}
PAIRS = list(itertools.product(AlertState, AlertAction))


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_the_transition_table(state: AlertState, action: AlertAction) -> None:
    if (state, action) in LEGAL:
        assert workflow.next_state(state, action) == LEGAL[(state, action)]
        return
    with pytest.raises(IllegalTransition) as refused:
        workflow.next_state(state, action)
    assert refused.value.status == 409
    assert refused.value.details == {"state": state.value, "action": action.value}
    assert refused.value.code == "surveillance.illegal_transition"


async def make_alert(
    session: AsyncSession,
    world: World,
    state: AlertState = S.NEW,
    site: str | None = "chc_a",
    syndrome: str = "ili",
    created_at: datetime = AT,
) -> Alert:
    """An alert as detection leaves it, moved straight to `state` (a fixture, not a step)."""
    async with session.begin():
        await syndromes.ensure_builtin(session)
        alert = Alert(
            institution_id=world.inst[site].id if site else None,
            syndrome=syndrome,
            period_start=date(2026, 11, 24),
            period_end=date(2026, 11, 25),
            state=state,
            severity=Severity.MEDIUM,
            method="ears-c2",
            score=4.2,
            observed=12,
            expected=3.0,
            signal_count=2,
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(alert)
    session.expunge(alert)  # a detached snapshot: later rollbacks do not expire it
    return alert


async def _take(
    session: AsyncSession,
    world: World,
    name: str,
    alert: Alert,
    action: AlertAction,
    bus: InProcessBus | None = None,
    **kw: object,
) -> Alert:
    principal = auth_service.principal_of(world.users[name])
    await session.rollback()  # end the read transaction a check may have begun
    async with session.begin():
        return await workflow.take(
            session=session,
            bus=bus or InProcessBus(),
            principal=principal,
            actor=principal.actor(),
            alert=await session.get(Alert, alert.id, populate_existing=True),
            action=action,
            **kw,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_the_authority_takes_every_legal_step_and_no_other(
    session: AsyncSession, world: World, state: AlertState, action: AlertAction
) -> None:
    alert = await make_alert(session, world, state)
    extra = {"assignee_id": world.users["alice"].id} if action is A.ASSIGN else {}
    if (state, action) not in LEGAL:
        with pytest.raises(IllegalTransition):
            await _take(session, world, "hana", alert, action, **extra)
        unchanged = await session.get(Alert, alert.id, populate_existing=True)
        assert unchanged is not None and unchanged.state == state
        return
    done = await _take(session, world, "hana", alert, action, **extra)
    assert done.state == LEGAL[(state, action)]
    event = (await session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id))).one()
    assert (event.action, event.from_state, event.to_state, event.actor) == (
        action.value,
        state.value,
        done.state.value,
        "hana",
    )
    entry = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == f"surveillance.alert.{action.value}")
        )
    ).one()
    assert entry.entity_id == str(alert.id)
    assert entry.institution_id == world.inst["chc_a"].id


async def test_site_staff_acknowledge_and_investigate_at_their_own_site_only(
    session: AsyncSession, world: World
) -> None:
    own = await make_alert(session, world)
    assert (await _take(session, world, "alice", own, A.ACKNOWLEDGE)).state == S.ACKNOWLEDGED
    assert (await _take(session, world, "nina", own, A.INVESTIGATE)).state == S.INVESTIGATING
    for decision in (A.CONFIRM, A.DISMISS, A.ASSIGN):
        with pytest.raises(PermissionDenied):
            await _take(session, world, "ines", own, decision, assignee_id=None)
    other = await make_alert(session, world, site="chc_b")
    district = await make_alert(session, world, site=None)
    for alert in (other, district):
        with pytest.raises(PermissionDenied):
            await _take(session, world, "alice", alert, A.ACKNOWLEDGE)
    for name in ("otto", "carol", "admin"):  # the consortium admin watches, does not decide
        with pytest.raises(PermissionDenied):
            await _take(session, world, name, district, A.ACKNOWLEDGE)


async def test_it_records_response_times_and_keeps_the_outcome_after_closing(
    session: AsyncSession, world: World
) -> None:
    alert = await make_alert(session, world)
    times = [AT + timedelta(hours=h) for h in (2, 3, 5, 9)]
    steps = (A.ACKNOWLEDGE, A.INVESTIGATE, A.CONFIRM, A.CLOSE)
    for at, step in zip(times, steps, strict=True):
        await _take(session, world, "hana", alert, step, now=at, note=f"{step} note")
    done = await session.get(Alert, alert.id, populate_existing=True)
    assert done is not None
    assert done.acknowledged_at == times[0] and done.first_response_at == times[0]
    assert done.closed_at == times[3]
    assert (done.state, done.outcome) == (S.CLOSED, S.CONFIRMED)
    notes = (
        await session.scalars(
            select(AlertEvent.note).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)
        )
    ).all()
    assert notes == [f"{s} note" for s in steps]


async def test_assignment_names_authority_or_site_staff_and_tells_them(
    session: AsyncSession, world: World
) -> None:
    alert = await make_alert(session, world)
    await _take(session, world, "hana", alert, A.ASSIGN, assignee_id=world.users["alice"].id)
    assigned = await session.get(Alert, alert.id, populate_existing=True)
    assert assigned is not None and assigned.assigned_to_id == world.users["alice"].id
    told = (
        await session.scalars(
            select(Notification).where(Notification.user_id == world.users["alice"].id)
        )
    ).one()
    assert told.kind == "surveillance.alert" and told.data["action"] == "assign"
    for wrong in (world.users["mallory"].id, world.users["otto"].id, 999_999, None):
        with pytest.raises(InvalidInput):
            await _take(session, world, "hana", alert, A.ASSIGN, assignee_id=wrong)
    with pytest.raises(InvalidInput):
        await _take(session, world, "hana", alert, A.ACKNOWLEDGE, assignee_id=1)


async def test_the_bus_event_goes_out_after_commit_and_never_on_rollback(
    session: AsyncSession, world: World
) -> None:
    bus = InProcessBus()
    alert = await make_alert(session, world)
    principal = auth_service.principal_of(world.users["hana"])
    async with bus.subscribe(workflow.CHANNEL) as events:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await workflow.take(
                    session=session,
                    bus=bus,
                    principal=principal,
                    actor=principal.actor(),
                    alert=await session.get(Alert, alert.id),
                    action=A.ACKNOWLEDGE,
                )
                raise RuntimeError("the request failed after the step")
        assert await events.get(timeout=0.3) is None
        session.expunge_all()
        await _take(session, world, "alice", alert, A.ACKNOWLEDGE, bus=bus)
        message = await events.get(timeout=2)
    assert message is not None
    assert message["alert_id"] == alert.id and message["action"] == "acknowledge"
    assert message["state"] == "acknowledged" and message["site_id"] == world.inst["chc_a"].id
    rung = (
        await session.scalars(
            select(Notification.user_id).where(Notification.kind == "surveillance.alert")
        )
    ).all()
    # The authority and the site's admin hear of it; the actor does not.
    assert set(rung) == {world.users["hana"].id, world.users["ines"].id}
