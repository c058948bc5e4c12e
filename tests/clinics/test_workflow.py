"""Clinic tables on the state machine: every (state, action) pair taken for real, who may
take each step, and what a step leaves behind (audit row, bus event after commit)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.workflow_checks import (
    assert_illegal,
    assert_legal,
    assert_refused,
    assert_rolled_back,
    attempt,
)
from yiyun.auth import service as auth_service
from yiyun.clinics import visits, workflow
from yiyun.clinics.models import (
    ClinicSession,
    ClinicVisit,
    Prescription,
    PrescriptionState,
    SessionState,
    VisitState,
)
from yiyun.core.errors import PermissionDenied
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent

SS, VS, PS = SessionState, VisitState, PrescriptionState
AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
ILLEGAL = "clinic.illegal_transition"
# Written out by hand from the documented machines, not computed from the tables.
SESSION_LEGAL = {(SS.PUBLISHED, "close"): SS.CLOSED, (SS.PUBLISHED, "cancel"): SS.CANCELLED}
VISIT_LEGAL = {
    (VS.BOOKED, "check_in"): VS.CHECKED_IN,
    (VS.CHECKED_IN, "call"): VS.IN_VISIT,
    (VS.IN_VISIT, "complete"): VS.COMPLETED,
    (VS.BOOKED, "no_show"): VS.NO_SHOW,
    (VS.CHECKED_IN, "no_show"): VS.NO_SHOW,
    (VS.BOOKED, "cancel"): VS.CANCELLED,
    (VS.CHECKED_IN, "cancel"): VS.CANCELLED,
    (VS.BOOKED, "mark_urgent"): VS.BOOKED,
    (VS.CHECKED_IN, "mark_urgent"): VS.CHECKED_IN,
    (VS.IN_VISIT, "write_note"): VS.IN_VISIT,
}
RX_LEGAL = {
    (PS.DRAFT, "sign"): PS.SIGNED,
    (PS.DRAFT, "withdraw"): PS.WITHDRAWN,
    (PS.DRAFT, "edit"): PS.DRAFT,
}
VISIT_ACTIONS = ["check_in", "call", "complete", "no_show", "cancel", "mark_urgent", "write_note"]
SESSION_PAIRS = list(itertools.product(SessionState, ["close", "cancel", "book"]))
VISIT_PAIRS = list(itertools.product(VisitState, VISIT_ACTIONS))
RX_PAIRS = list(itertools.product(PrescriptionState, ["sign", "withdraw", "edit"]))
# Who takes each visit action in the table test: the centre (alice) or the specialist (bob).
BY = {"check_in": "alice", "cancel": "alice", "mark_urgent": "alice"}


def test_the_tables_are_the_documented_ones() -> None:
    assert {p: s.to for p, s in workflow.SESSION.table.items()} == SESSION_LEGAL
    assert {p: s.to for p, s in workflow.VISIT.table.items()} == VISIT_LEGAL
    assert {p: s.to for p, s in workflow.PRESCRIPTION.table.items()} == RX_LEGAL


async def make_session(app: Any, world: World, state: SessionState = SS.PUBLISHED) -> int:
    async with app.state.sessions() as s, s.begin():
        clinic = ClinicSession(
            institution_id=world.inst["lead"].id,
            specialist_id=world.users["bob"].id,
            title="心内科远程门诊",
            starts_at=AT,
            ends_at=AT + timedelta(hours=2),
            slot_minutes=15,
            state=state,
            created_at=AT,
        )
        s.add(clinic)
        await s.flush()
        return clinic.id


async def make_visit(app: Any, world: World, state: VisitState) -> int:
    session_id = await make_session(app, world)
    async with app.state.sessions() as s, s.begin():
        consent = Consent(
            patient_id=world.patients["pa"].id,
            purpose=ConsentPurpose.TELEMEDICINE,
            granted_at=AT,
            granted_by_id=world.users["alice"].id,
        )
        s.add(consent)
        await s.flush()
        visit = ClinicVisit(
            session_id=session_id,
            patient_id=world.patients["pa"].id,
            specialist_id=world.users["bob"].id,
            institution_id=world.inst["chc_a"].id,
            booked_by_id=world.users["alice"].id,
            consent_id=consent.id,
            state=state,
            booked_at=AT,
            expected_at=AT,
        )
        s.add(visit)
        await s.flush()
        return visit.id


async def make_rx(app: Any, world: World, state: PrescriptionState) -> int:
    visit_id = await make_visit(app, world, VS.IN_VISIT)
    async with app.state.sessions() as s, s.begin():
        rx = Prescription(
            visit_id=visit_id,
            state=state,
            items=[{"code": "AMLO5", "dose": "1", "frequency": "qd", "days": 7}],
            drafted_by_id=world.users["bob"].id,
            drafted_at=AT,
        )
        s.add(rx)
        await s.flush()
        return rx.id


def _principal(world: World, who: str) -> Any:
    return auth_service.principal_of(world.users[who])


def _visit_step(app: Any, world: World, action: str, who: str):  # type: ignore[no-untyped-def]
    principal = _principal(world, who)

    async def step(session: AsyncSession, visit: ClinicVisit) -> None:
        await workflow.step_visit(
            session=session,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            visit=visit,
            action=action,
        )

    return step


@pytest.mark.parametrize(
    ("state", "action"), SESSION_PAIRS, ids=[f"{s}-{a}" for s, a in SESSION_PAIRS]
)
async def test_every_session_pair_follows_the_table(
    app: Any, world: World, state: SessionState, action: str
) -> None:
    session_id = await make_session(app, world, state)
    principal = _principal(world, "bob")

    async def step(session: AsyncSession, clinic: ClinicSession) -> None:
        await workflow.step_session(
            session=session,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            clinic=clinic,
            action=action,
        )

    out = await attempt(
        app,
        machine=workflow.SESSION,
        model=ClinicSession,
        entity_id=session_id,
        action=action,
        step=step,
    )
    if (state, action) in SESSION_LEGAL:
        assert_legal(out, to=SESSION_LEGAL[(state, action)], action=action, entity_id=session_id)
        return
    assert_illegal(out, state=state.value, action=action, code=ILLEGAL)


@pytest.mark.parametrize(("state", "action"), VISIT_PAIRS, ids=[f"{s}-{a}" for s, a in VISIT_PAIRS])
async def test_every_visit_pair_follows_the_table(
    app: Any, world: World, state: VisitState, action: str
) -> None:
    visit_id = await make_visit(app, world, state)
    out = await attempt(
        app,
        machine=workflow.VISIT,
        model=ClinicVisit,
        entity_id=visit_id,
        action=action,
        step=_visit_step(app, world, action, BY.get(action, "bob")),
    )
    if (state, action) in VISIT_LEGAL:
        to = VISIT_LEGAL[(state, action)]
        assert_legal(out, to=to, action=action, entity_id=visit_id)
        assert out.published[0]["institution_id"] == world.inst["chc_a"].id
        assert "name" not in str(out.published[0])
        return
    assert_illegal(out, state=state.value, action=action, code=ILLEGAL)


@pytest.mark.parametrize(("state", "action"), RX_PAIRS, ids=[f"{s}-{a}" for s, a in RX_PAIRS])
async def test_every_prescription_pair_follows_the_table(
    app: Any, world: World, state: PrescriptionState, action: str
) -> None:
    rx_id = await make_rx(app, world, state)
    principal = _principal(world, "bob")

    async def step(session: AsyncSession, rx: Prescription) -> None:
        visit = await session.get(ClinicVisit, rx.visit_id)
        await workflow.step_prescription(
            session=session,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            rx=rx,
            visit=visit,
            action=action,
        )

    out = await attempt(
        app,
        machine=workflow.PRESCRIPTION,
        model=Prescription,
        entity_id=rx_id,
        action=action,
        step=step,
    )
    if (state, action) in RX_LEGAL:
        assert_legal(out, to=RX_LEGAL[(state, action)], action=action, entity_id=rx_id)
        return
    assert_illegal(out, state=state.value, action=action, code=ILLEGAL)


@pytest.mark.parametrize(
    ("state", "action", "who", "code"),
    [
        (VS.BOOKED, "check_in", "bob", "clinic.site_only"),  # the specialist does not check in
        (VS.BOOKED, "check_in", "mallory", "clinic.site_only"),  # another centre
        (VS.BOOKED, "check_in", "ines", "clinic.site_only"),  # the centre's administrator
        (VS.CHECKED_IN, "call", "alice", "clinic.specialist_only"),
        (VS.IN_VISIT, "complete", "alice", "clinic.specialist_only"),
        (VS.IN_VISIT, "write_note", "mallory", "clinic.specialist_only"),
        (VS.BOOKED, "cancel", "mallory", "clinic.participant_only"),
        (VS.BOOKED, "no_show", "carol", "clinic.participant_only"),
    ],
)
async def test_each_visit_rule_refuses_the_wrong_people(
    app: Any, world: World, state: VisitState, action: str, who: str, code: str
) -> None:
    visit_id = await make_visit(app, world, state)
    out = await attempt(
        app,
        machine=workflow.VISIT,
        model=ClinicVisit,
        entity_id=visit_id,
        action=action,
        step=_visit_step(app, world, action, who),
    )
    assert_refused(out, state=state.value, code=code)


async def test_only_the_drafter_signs_and_only_the_holder_closes(app: Any, world: World) -> None:
    rx_id = await make_rx(app, world, PS.DRAFT)
    async with app.state.sessions() as s:
        rx = await s.get(Prescription, rx_id)
        with pytest.raises(PermissionDenied) as denied:
            workflow.PRESCRIPTION.check(rx, "sign", _principal(world, "alice"))
        assert denied.value.code == "clinic.drafter_only"
        clinic = await s.get(ClinicSession, await make_session(app, world))
        with pytest.raises(PermissionDenied):
            workflow.SESSION.check(clinic, "close", _principal(world, "carol"))


async def test_a_rolled_back_step_leaves_nothing(app: Any, world: World) -> None:
    visit_id = await make_visit(app, world, VS.BOOKED)
    out = await attempt(
        app,
        machine=workflow.VISIT,
        model=ClinicVisit,
        entity_id=visit_id,
        action="check_in",
        step=_visit_step(app, world, "check_in", "alice"),
        roll_back=True,
    )
    assert_rolled_back(out, state="booked")


def _visit(
    vid: int, *, urgent: bool = False, minute: int = 0, arrived: int | None = None
) -> ClinicVisit:
    return ClinicVisit(
        id=vid,
        urgent=urgent,
        expected_at=AT + timedelta(minutes=minute),
        checked_in_at=AT + timedelta(minutes=arrived) if arrived is not None else None,
    )


@pytest.mark.parametrize(
    ("visits_in", "order"),
    [
        ([_visit(1, minute=0), _visit(2, minute=15)], [1, 2]),
        ([_visit(1, minute=0), _visit(2, minute=15, urgent=True)], [2, 1]),
        ([_visit(1, minute=0, arrived=5), _visit(2, minute=0, arrived=1)], [2, 1]),
        (
            [_visit(3, urgent=True, minute=30), _visit(2, urgent=True, minute=0), _visit(1)],
            [2, 3, 1],
        ),
    ],
)
def test_the_queue_puts_urgent_cases_first_then_booked_time_then_arrival(
    visits_in: list[ClinicVisit], order: list[int]
) -> None:
    assert [v.id for v in visits.queue_order(visits_in)] == order


def test_waiting_time_counts_from_check_in_to_the_call() -> None:
    v = _visit(1, arrived=0)
    assert visits.waiting_minutes(v, AT + timedelta(minutes=12, seconds=30)) == 12
    v.called_at = AT + timedelta(minutes=7)
    assert visits.waiting_minutes(v, AT + timedelta(minutes=30)) == 7
    assert visits.waiting_minutes(_visit(2), AT) is None
