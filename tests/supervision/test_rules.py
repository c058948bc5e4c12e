"""Each supervision rule flags exactly the cases that break it: rows are made directly in
the workflow tables (good and bad side by side) and the rule's violations compared with
the bad ones, by case id and answerable institution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.clinics.models import ClinicSession, ClinicVisit, VisitState
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultState, Urgency
from yiyun.core.clock import now
from yiyun.meetings.models import Meeting, Recording
from yiyun.org.enums import StaffTitle
from yiyun.org.models import User
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent
from yiyun.referrals.models import Direction, Referral, ReferralState
from yiyun.supervision import rules
from yiyun.supervision.config import SupervisionSettings
from yiyun.supervision.rules import Window, title_meets

NOW = now().replace(microsecond=0)
H = timedelta(hours=1)


@dataclass
class Maker:
    session: AsyncSession
    world: World

    def id(self, key: str) -> int:
        return self.world.inst[key].id

    def uid(self, name: str) -> int:
        return self.world.users[name].id

    async def add(self, row: Any) -> Any:
        self.session.add(row)
        await self.session.flush()
        return row

    async def consent(self, purpose: ConsentPurpose, granted: datetime, **kw: Any) -> Consent:
        return await self.add(
            Consent(
                patient_id=self.world.patients["pa"].id,
                purpose=purpose,
                granted_at=granted,
                granted_by_id=self.uid("alice"),
                **kw,
            )
        )

    async def consult(self, **kw: Any) -> Consult:
        values: dict[str, Any] = {
            "patient_id": self.world.patients["pa"].id,
            "institution_id": self.id("chc_a"),
            "requester_id": self.uid("alice"),
            "reason": "r",
            "specialty": "CARD",
            "created_at": NOW - 50 * H,
            "submitted_at": NOW - 48 * H,
            "state": ConsultState.REQUESTED,
        }
        return await self.add(Consult(**(values | kw)))


def window(limits: SupervisionSettings | None = None) -> Window:
    return Window(NOW - timedelta(days=10), NOW + H, NOW, limits or SupervisionSettings())


async def found(session: AsyncSession, code: str) -> set[tuple[int, int | None]]:
    return {(v.case_id, v.institution_id) for v in await rules.RULES[code].find(session, window())}


@pytest.fixture
async def make(session: AsyncSession, world: World) -> Maker:
    return Maker(session, world)


def test_every_rule_is_declared_once_with_a_definition() -> None:
    assert list(rules.RULES) == [
        "consult_without_consent",
        "opinion_late",
        "opinion_missing",
        "expert_unqualified",
        "recording_without_consent",
        "read_without_relationship",
        "referral_overdue",
    ]
    for rule in rules.RULES.values():
        assert rule.label.render("zh_CN") != rule.label.render("en")
        assert len(rule.definition.render("en")) > 60
    with pytest.raises(ValueError, match="declared twice"):
        rules.declare(rules.RULES["opinion_late"])


async def test_consultations_without_consent_in_force(make: Maker, session: AsyncSession) -> None:
    good = await make.consent(ConsentPurpose.TELEMEDICINE, NOW - 72 * H)
    later = await make.consent(ConsentPurpose.TELEMEDICINE, NOW - 10 * H)
    gone = await make.consent(ConsentPurpose.TELEMEDICINE, NOW - 72 * H, withdrawn_at=NOW - 60 * H)
    other = await make.consent(ConsentPurpose.RECORDING, NOW - 72 * H)
    ok = await make.consult(consent_id=good.id)
    bad = [
        await make.consult(consent_id=None),
        await make.consult(consent_id=later.id),
        await make.consult(consent_id=gone.id),
        await make.consult(consent_id=other.id),
    ]
    # withdrawn only after the request: in force when it was made
    late_withdrawal = await make.consent(
        ConsentPurpose.TELEMEDICINE, NOW - 72 * H, withdrawn_at=NOW - 1 * H
    )
    fine = await make.consult(consent_id=late_withdrawal.id)
    # outside the period: not counted
    await make.consult(consent_id=None, submitted_at=NOW - timedelta(days=30))
    got = await found(session, "consult_without_consent")
    assert got == {(c.id, make.id("chc_a")) for c in bad}
    assert ok.id not in {i for i, _ in got} and fine.id not in {i for i, _ in got}
    reasons = {
        v.detail["consent"]
        for v in await rules.RULES["consult_without_consent"].find(session, window())
    }
    assert reasons == {"none", "granted_later", "withdrawn", "other_purpose"}


async def test_opinions_late_and_missing_by_urgency(make: Maker, session: AsyncSession) -> None:
    # emergency limit 2 h, urgent 24 h, routine 72 h
    on_time = await make.consult(
        urgency=Urgency.EMERGENCY,
        state=ConsultState.REPORTED,
        submitted_at=NOW - 5 * H,
        reported_at=NOW - 3.5 * H,
    )
    late = await make.consult(
        urgency=Urgency.EMERGENCY,
        state=ConsultState.CLOSED,
        submitted_at=NOW - 5 * H,
        reported_at=NOW - 2.5 * H,
    )
    routine_ok = await make.consult(
        urgency=Urgency.ROUTINE,
        state=ConsultState.REPORTED,
        submitted_at=NOW - 80 * H,
        reported_at=NOW - 9 * H,
    )
    assert await found(session, "opinion_late") == {(late.id, make.id("chc_a"))}
    waiting_ok = await make.consult(urgency=Urgency.URGENT, submitted_at=NOW - 23 * H)
    overdue = await make.consult(
        urgency=Urgency.URGENT, submitted_at=NOW - 25 * H, state=ConsultState.IN_SESSION
    )
    cancelled = await make.consult(
        urgency=Urgency.URGENT, submitted_at=NOW - 25 * H, state=ConsultState.CANCELLED
    )
    got = await found(session, "opinion_missing")
    assert got == {(overdue.id, make.id("chc_a"))}
    assert {on_time.id, routine_ok.id, waiting_ok.id, cancelled.id}.isdisjoint(i for i, _ in got)
    # the limits are settings
    strict = window(SupervisionSettings(opinion_routine_hours=24))
    late_ids = {v.case_id for v in await rules.RULES["opinion_late"].find(session, strict)}
    assert late_ids == {late.id, routine_ok.id}


async def test_experts_without_licence_or_title(make: Maker, session: AsyncSession) -> None:
    bob = make.world.users["bob"]  # attending physician, licence to 2030
    booked = NOW - 3 * H
    fine = await make.consult(min_title=StaffTitle.ATTENDING_PHYSICIAN)
    too_low = await make.consult(min_title=StaffTitle.CHIEF_PHYSICIAN)
    for consult in (fine, too_low):
        await make.add(
            ConsultExpert(
                consult_id=consult.id,
                expert_id=bob.id,
                institution_id=make.id("lead"),
                answer=Answer.ACCEPTED,
                starts_at=booked,
                ends_at=booked + H,
                assigned_by_id=make.uid("carol"),
                assigned_at=booked - H,
            )
        )
    declined = await make.consult(min_title=StaffTitle.CHIEF_PHYSICIAN)
    await make.add(
        ConsultExpert(
            consult_id=declined.id,
            expert_id=bob.id,
            institution_id=make.id("lead"),
            answer=Answer.DECLINED,
            starts_at=booked,
            ends_at=booked + H,
            assigned_by_id=make.uid("carol"),
            assigned_at=booked - H,
        )
    )
    assert await found(session, "expert_unqualified") == {(too_low.id, make.id("lead"))}
    expired = (booked - timedelta(days=1)).date()
    await session.execute(update(User).where(User.id == bob.id).values(licence_valid_until=expired))
    got = await rules.RULES["expert_unqualified"].find(session, window())
    assert {(v.case_id, tuple(v.detail["problems"])) for v in got} == {
        (fine.id, ("licence_expired",)),
        (too_low.id, ("licence_expired", "title_below")),
    }


def test_titles_rank_physicians_only() -> None:
    assert title_meets(StaffTitle.CHIEF_PHYSICIAN, StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN)
    assert not title_meets(StaffTitle.RESIDENT_PHYSICIAN, StaffTitle.ATTENDING_PHYSICIAN)
    assert not title_meets(StaffTitle.NURSE_IN_CHARGE, StaffTitle.RESIDENT_PHYSICIAN)
    assert not title_meets(None, StaffTitle.RESIDENT_PHYSICIAN)
    assert title_meets(None, None)


async def test_recordings_without_recording_consent(make: Maker, session: AsyncSession) -> None:
    def meeting(code: str, patient: int | None) -> Meeting:
        return Meeting(
            code=code,
            title="m",
            host_id=make.uid("bob"),
            institution_id=make.id("lead"),
            patient_id=patient,
        )

    pa = make.world.patients["pa"].id
    about, plain = await make.add(meeting("SV1", pa)), await make.add(meeting("SV2", None))

    async def record(m: Meeting, at: datetime) -> Recording:
        return await make.add(
            Recording(
                meeting_id=m.id, engine="embedded", started_by_id=make.uid("bob"), started_at=at
            )
        )

    before = await record(about, NOW - 30 * H)
    await record(plain, NOW - 30 * H)  # no patient: no consent needed
    await make.consent(ConsentPurpose.RECORDING, NOW - 20 * H, withdrawn_at=NOW - 10 * H)
    inside = await record(about, NOW - 15 * H)
    after = await record(about, NOW - 5 * H)
    got = await rules.RULES["recording_without_consent"].find(session, window())
    assert {v.case_id for v in got} == {before.id, after.id}
    assert inside.id not in {v.case_id for v in got}
    assert got[0].case_url == f"/meetings/{about.id}/recordings/{before.id}"


async def _read(make: Maker, who: str, patient: str, seq: int) -> AuditEvent:
    user = make.world.users[who]
    home = make.world.patients[patient].home_institution_id
    return await make.add(
        AuditEvent(
            seq=10_000_000 + seq,
            at=NOW - 2 * H,
            actor_id=user.id,
            actor=who,
            action="patient.read",
            entity_type="patient",
            entity_id=str(make.world.patients[patient].id),
            patient_id=make.world.patients[patient].id,
            institution_id=user.institution_id,
            subject_institutions=f",{home},",
            outcome="success",
            details={},
            prev_hash="0" * 64,
            hash=f"{seq:064d}",
        )
    )


async def test_cross_institution_reads_need_a_relationship(
    make: Maker, session: AsyncSession
) -> None:
    await _read(make, "alice", "pa", 1)  # her own institution's patient
    await _read(make, "hana", "pa", 2)  # the authority reads everywhere
    stray = await _read(make, "mallory", "pa", 3)  # chc_b reads chc_a's patient: nothing links
    await _read(make, "mallory", "pa", 4)  # the same reader and patient: listed once
    await _read(make, "bob", "pa", 5)  # bob: a clinic visit links him below
    sess = await make.add(
        ClinicSession(
            institution_id=make.id("lead"),
            specialist_id=make.uid("bob"),
            title="s",
            starts_at=NOW - 3 * H,
            ends_at=NOW,
            slot_minutes=15,
            created_at=NOW - 9 * H,
        )
    )
    consent = await make.consent(ConsentPurpose.TELEMEDICINE, NOW - 9 * H)
    await make.add(
        ClinicVisit(
            session_id=sess.id,
            patient_id=make.world.patients["pa"].id,
            specialist_id=make.uid("bob"),
            institution_id=make.id("chc_a"),
            booked_by_id=make.uid("alice"),
            consent_id=consent.id,
            state=VisitState.COMPLETED,
            booked_at=NOW - 8 * H,
            expected_at=NOW - 3 * H,
        )
    )
    got = await rules.RULES["read_without_relationship"].find(session, window())
    assert [(v.case_id, v.institution_id, v.detail["seq"]) for v in got] == [
        (make.world.patients["pa"].id, make.id("chc_b"), stray.seq)
    ]
    assert got[0].audit_url == f"/audit?patient_id={make.world.patients['pa'].id}"


async def test_referrals_overdue_for_decision_or_arrival(
    make: Maker, session: AsyncSession
) -> None:
    def referral(state: ReferralState, created: datetime, **kw: Any) -> Referral:
        return Referral(
            direction=Direction.UP,
            patient_id=make.world.patients["pa"].id,
            from_institution_id=make.id("chc_a"),
            to_institution_id=make.id("lead"),
            reason="r",
            summary="s",
            state=state,
            requested_by_id=make.uid("alice"),
            created_at=created,
            **kw,
        )

    waiting = await make.add(referral(ReferralState.REQUESTED, NOW - 49 * H))
    fresh = await make.add(referral(ReferralState.REQUESTED, NOW - 47 * H))
    no_show = await make.add(
        referral(ReferralState.ACCEPTED, NOW - 100 * H, appointment_at=NOW - 73 * H)
    )
    coming = await make.add(
        referral(ReferralState.ACCEPTED, NOW - 100 * H, appointment_at=NOW - 71 * H)
    )
    done = await make.add(referral(ReferralState.COMPLETED, NOW - 100 * H))
    got = await rules.RULES["referral_overdue"].find(session, window())
    assert {(v.case_id, v.detail["stage"]) for v in got} == {
        (waiting.id, "decision"),
        (no_show.id, "arrival"),
    }
    assert {fresh.id, coming.id, done.id}.isdisjoint(v.case_id for v in got)
    assert {rules.reason(v).render("zh_CN") for v in got} != {
        rules.reason(v).render("en") for v in got
    }
