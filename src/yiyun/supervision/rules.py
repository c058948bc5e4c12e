"""The regulator's rule checks (监管规则): one registry, one declaration per rule.

A rule reads the workflow tables as they are and returns its violations in a period
(`Window`, UTC bounds of district days): the case, the institution answerable for it,
when it happened, and a short reason made of codes and figures, never patient data.
Pages, API, counts per institution and the export all iterate `RULES`; a new check is one
`declare(Rule(...))` with a `find` function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from yiyun.audit.models import AuditEvent
from yiyun.clinics.models import ClinicVisit
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultState
from yiyun.core.clock import as_utc
from yiyun.i18n.text import Text
from yiyun.meetings.models import Meeting, MeetingMember, Recording
from yiyun.org.enums import InstitutionKind, StaffTitle
from yiyun.org.models import Institution, User
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import BreakGlass, Consent
from yiyun.referrals.models import Referral, ReferralState
from yiyun.supervision.config import SupervisionSettings


@dataclass(frozen=True)
class Window:
    """The period checked: `[start, end)` in UTC, and the moment of the check."""

    start: datetime
    end: datetime
    now: datetime
    limits: SupervisionSettings = field(default_factory=SupervisionSettings)


@dataclass(frozen=True)
class Violation:
    """One case breaking one rule. `case_type`/`case_id` name the audited entity (its
    trail is `/audit?entity_type=…&entity_id=…`); `detail` holds codes and figures only."""

    rule: str
    case_type: str
    case_id: int
    institution_id: int | None
    at: datetime
    patient_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def case_url(self) -> str:
        return {
            "consult": f"/consults/{self.case_id}",
            "referral": f"/referrals/{self.case_id}",
            "clinic_visit": f"/clinics/visits/{self.case_id}",
            "recording": f"/meetings/{self.detail.get('meeting_id', 0)}/recordings/{self.case_id}",
            "patient": f"/patients/{self.case_id}",
        }.get(self.case_type, "")

    @property
    def audit_url(self) -> str:
        if self.case_type == "patient":
            return f"/audit?patient_id={self.case_id}"
        return f"/audit?entity_type={self.case_type}&entity_id={self.case_id}"


Finder = Callable[[AsyncSession, Window], Awaitable[list[Violation]]]


@dataclass(frozen=True)
class Rule:
    """A declared check: its name and definition (rendered in the reader's language),
    the workflow it watches, and the function that finds its violations."""

    code: str
    workflow: str
    label: Text
    definition: Text
    find: Finder


RULES: dict[str, Rule] = {}


def declare(rule: Rule) -> Rule:
    if rule.code in RULES:
        raise ValueError(f"supervision rule {rule.code!r} declared twice")
    RULES[rule.code] = rule
    return rule


def get(code: str) -> Rule | None:
    return RULES.get(code)


def _at(value: datetime | None) -> datetime:
    """A time column the query selected as set (filtered on), in UTC."""
    assert value is not None  # noqa: S101 (the query's WHERE excludes NULL)
    return as_utc(value)


def _in(column: Any, w: Window) -> Any:
    return and_(column >= w.start, column < w.end)


# --- consultations -----------------------------------------------------------------------


async def _consult_without_consent(session: AsyncSession, w: Window) -> list[Violation]:
    consent = aliased(Consent)
    rows = await session.execute(
        select(
            Consult.id,
            Consult.institution_id,
            Consult.submitted_at,
            Consult.patient_id,
            consent.id,
            consent.purpose,
            consent.patient_id,
            consent.granted_at,
            consent.withdrawn_at,
        )
        .outerjoin(consent, consent.id == Consult.consent_id)
        .where(_in(Consult.submitted_at, w))
        .order_by(Consult.submitted_at)
    )
    found = []
    for cid, inst, at, patient, kid, purpose, owner, granted, withdrawn in rows.all():
        at = _at(at)
        if kid is None:
            reason = "none"
        elif purpose != ConsentPurpose.TELEMEDICINE or owner != patient:
            reason = "other_purpose"
        elif as_utc(granted) > at:
            reason = "granted_later"
        elif withdrawn is not None and as_utc(withdrawn) <= at:
            reason = "withdrawn"
        else:
            continue
        found.append(
            Violation(
                "consult_without_consent", "consult", cid, inst, at, patient, {"consent": reason}
            )
        )
    return found


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


async def _opinion_late(session: AsyncSession, w: Window) -> list[Violation]:
    rows = await session.execute(
        select(
            Consult.id,
            Consult.institution_id,
            Consult.urgency,
            Consult.submitted_at,
            Consult.reported_at,
            Consult.patient_id,
            Consult.accepted_by_id,
        )
        .where(_in(Consult.reported_at, w), Consult.submitted_at.is_not(None))
        .order_by(Consult.reported_at)
    )
    found = []
    for cid, inst, urgency, submitted, reported, patient, _by in rows.all():
        took = _at(reported) - _at(submitted)
        limit = w.limits.opinion_limit(urgency.value)
        if took > limit:
            detail = {"urgency": urgency.value, "hours": _hours(took), "limit": _hours(limit)}
            found.append(
                Violation("opinion_late", "consult", cid, inst, _at(reported), patient, detail)
            )
    return found


WAITING_FOR_OPINION = (
    ConsultState.REQUESTED,
    ConsultState.ASSIGNED,
    ConsultState.ACCEPTED,
    ConsultState.IN_SESSION,
)


async def _opinion_missing(session: AsyncSession, w: Window) -> list[Violation]:
    rows = await session.execute(
        select(
            Consult.id,
            Consult.institution_id,
            Consult.urgency,
            Consult.submitted_at,
            Consult.state,
            Consult.patient_id,
        )
        .where(
            _in(Consult.submitted_at, w),
            Consult.state.in_([s.value for s in WAITING_FOR_OPINION]),
        )
        .order_by(Consult.submitted_at)
    )
    found = []
    for cid, inst, urgency, submitted, state, patient in rows.all():
        limit = w.limits.opinion_limit(urgency.value)
        due = _at(submitted) + limit
        if due < w.now:
            detail = {
                "urgency": urgency.value,
                "state": state.value,
                "hours": _hours(w.now - _at(submitted)),
                "limit": _hours(limit),
            }
            found.append(Violation("opinion_missing", "consult", cid, inst, due, patient, detail))
    return found


# Physicians' titles from lowest to highest; a nurse's or other title meets no physician's.
PHYSICIAN_RANK = {
    StaffTitle.RESIDENT_PHYSICIAN: 1,
    StaffTitle.ATTENDING_PHYSICIAN: 2,
    StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN: 3,
    StaffTitle.CHIEF_PHYSICIAN: 4,
}


def title_meets(title: StaffTitle | None, wanted: StaffTitle | None) -> bool:
    if wanted is None:
        return True
    if title is None:
        return False
    if wanted in PHYSICIAN_RANK:
        return PHYSICIAN_RANK.get(title, 0) >= PHYSICIAN_RANK[wanted]
    return title == wanted


async def _expert_unqualified(session: AsyncSession, w: Window) -> list[Violation]:
    rows = await session.execute(
        select(
            Consult.id,
            ConsultExpert.institution_id,
            ConsultExpert.starts_at,
            Consult.min_title,
            Consult.patient_id,
            User.id,
            User.title,
            User.licence_no,
            User.licence_valid_until,
        )
        .join(ConsultExpert, ConsultExpert.consult_id == Consult.id)
        .join(User, User.id == ConsultExpert.expert_id)
        .where(ConsultExpert.answer == Answer.ACCEPTED.value, _in(ConsultExpert.starts_at, w))
        .order_by(ConsultExpert.starts_at, Consult.id)
    )
    found = []
    for cid, inst, starts, wanted, patient, uid, title, licence, valid in rows.all():
        starts = as_utc(starts)
        problems = []
        if not licence:
            problems.append("no_licence")
        elif valid is None or valid < starts.date():
            problems.append("licence_expired")
        if not title_meets(title, wanted):
            problems.append("title_below")
        if problems:
            detail = {
                "expert_id": uid,
                "problems": problems,
                "title": title.value if title else "",
                "required": wanted.value if wanted else "",
            }
            found.append(
                Violation("expert_unqualified", "consult", cid, inst, starts, patient, detail)
            )
    return found


# --- recordings, record reads --------------------------------------------------------------


async def _recording_without_consent(session: AsyncSession, w: Window) -> list[Violation]:
    consented = exists().where(
        Consent.patient_id == Meeting.patient_id,
        Consent.purpose == ConsentPurpose.RECORDING,
        Consent.granted_at <= Recording.started_at,
        or_(Consent.withdrawn_at.is_(None), Consent.withdrawn_at > Recording.started_at),
    )
    rows = await session.execute(
        select(
            Recording.id,
            Meeting.id,
            Meeting.institution_id,
            Recording.started_at,
            Meeting.patient_id,
        )
        .join(Meeting, Meeting.id == Recording.meeting_id)
        .where(Meeting.patient_id.is_not(None), _in(Recording.started_at, w), ~consented)
        .order_by(Recording.started_at)
    )
    return [
        Violation(
            "recording_without_consent",
            "recording",
            rid,
            inst,
            as_utc(at),
            pid,
            {"meeting_id": mid},
        )
        for rid, mid, inst, at, pid in rows.all()
    ]


READS = ("patient.read", "referral.read", "clinic.visit.read", "consult.read")


async def _relationship(session: AsyncSession, event: AuditEvent) -> str | None:
    """What linked the reader to the patient at the time of the read, if anything."""
    pid, uid, inst, at = event.patient_id, event.actor_id, event.institution_id, event.at
    checks: list[tuple[str, Any]] = [
        (
            "consultation",
            select(Consult.id)
            .join(ConsultExpert, ConsultExpert.consult_id == Consult.id)
            .where(Consult.patient_id == pid, ConsultExpert.expert_id == uid),
        ),
        (
            "clinic_visit",
            select(ClinicVisit.id).where(
                ClinicVisit.patient_id == pid, ClinicVisit.specialist_id == uid
            ),
        ),
        (
            "referral",
            select(Referral.id).where(
                Referral.patient_id == pid,
                or_(Referral.to_institution_id == inst, Referral.from_institution_id == inst),
            ),
        ),
        (
            "meeting",
            select(Meeting.id)
            .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
            .where(Meeting.patient_id == pid, MeetingMember.user_id == uid),
        ),
        (
            "break_glass",
            select(BreakGlass.id).where(
                BreakGlass.patient_id == pid,
                BreakGlass.user_id == uid,
                BreakGlass.started_at <= at,
                BreakGlass.expires_at >= at,
            ),
        ),
    ]
    for name, query in checks:
        if await session.scalar(query.limit(1)) is not None:
            return name
    return None


async def _read_without_relationship(session: AsyncSession, w: Window) -> list[Violation]:
    authority = select(Institution.id).where(
        Institution.kind == InstitutionKind.HEALTH_AUTHORITY.value
    )
    rows = await session.scalars(
        select(AuditEvent)
        .where(
            _in(AuditEvent.at, w),
            AuditEvent.action.in_(READS),
            AuditEvent.outcome == "success",
            AuditEvent.patient_id.is_not(None),
            AuditEvent.actor_id.is_not(None),
            AuditEvent.institution_id.is_not(None),
            AuditEvent.institution_id.not_in(authority),
        )
        .order_by(AuditEvent.seq)
    )
    found = []
    seen: set[tuple[int | None, int | None]] = set()
    for event in rows.all():
        inst = event.institution_id
        if inst is None or inst in event.subject_institution_ids:
            continue
        key = (event.actor_id, event.patient_id)
        if key in seen or await _relationship(session, event) is not None:
            continue
        seen.add(key)
        detail = {"actor_id": event.actor_id, "action": event.action, "seq": event.seq}
        assert event.patient_id is not None  # noqa: S101 (filtered above)
        found.append(
            Violation(
                "read_without_relationship",
                "patient",
                event.patient_id,
                inst,
                as_utc(event.at),
                event.patient_id,
                detail,
            )
        )
    return found


# --- referrals ---------------------------------------------------------------------------


async def _referral_overdue(session: AsyncSession, w: Window) -> list[Violation]:
    rows = await session.execute(
        select(
            Referral.id,
            Referral.to_institution_id,
            Referral.state,
            Referral.created_at,
            Referral.appointment_at,
            Referral.direction,
            Referral.patient_id,
        )
        .where(
            _in(Referral.created_at, w),
            Referral.state.in_([ReferralState.REQUESTED.value, ReferralState.ACCEPTED.value]),
        )
        .order_by(Referral.created_at)
    )
    decide = timedelta(hours=w.limits.referral_decide_hours)
    arrive = timedelta(hours=w.limits.referral_arrive_hours)
    found = []
    for rid, inst, state, created, appointment, direction, patient in rows.all():
        if state == ReferralState.REQUESTED:
            due = as_utc(created) + decide
            stage = "decision"
        else:
            due = as_utc(appointment or created) + arrive
            stage = "arrival"
        if due < w.now:
            detail = {"stage": stage, "direction": direction.value, "hours": _hours(w.now - due)}
            found.append(Violation("referral_overdue", "referral", rid, inst, due, patient, detail))
    return found


declare(
    Rule(
        "consult_without_consent",
        "consult",
        Text("Consultation without consent on record"),
        Text(
            "A consultation request submitted without the patient's (or guardian's) telemedicine "
            "consent in force at submission: none linked, another purpose or patient, granted "
            "later, or withdrawn before. Counted by submission time; institution: the inviting one."
        ),
        _consult_without_consent,
    )
)
declare(
    Rule(
        "opinion_late",
        "consult",
        Text("Opinion signed late"),
        Text(
            "A signed consultation opinion whose time from request (submission) to signature "
            "exceeds the limit of its urgency (emergency 2 h, urgent 24 h, routine 72 h by "
            "default). Counted by signature time; institution: the inviting one."
        ),
        _opinion_late,
    )
)
declare(
    Rule(
        "opinion_missing",
        "consult",
        Text("Opinion not signed in time"),
        Text(
            "A consultation still without a signed opinion (requested, assigned, accepted or in "
            "session) after the limit of its urgency has passed. Counted by submission time; "
            "institution: the inviting one."
        ),
        _opinion_missing,
    )
)
declare(
    Rule(
        "expert_unqualified",
        "consult",
        Text("Expert not qualified"),
        Text(
            "An expert who accepted a consultation without a practising licence valid on the "
            "booked day, or with a title below the one the request asked for. Counted by the "
            "booked time; institution: the expert's."
        ),
        _expert_unqualified,
    )
)
declare(
    Rule(
        "recording_without_consent",
        "meeting",
        Text("Recording without consent"),
        Text(
            "A recording of a meeting about a patient started while no recording consent of the "
            "patient was in force. Counted by the recording's start; institution: the meeting's."
        ),
        _recording_without_consent,
    )
)
declare(
    Rule(
        "read_without_relationship",
        "records",
        Text("Cross-institution read without a relationship"),
        Text(
            "A patient record, referral or visit read by staff of an institution the patient is "
            "not registered at, with no consultation, clinic visit, referral, meeting about the "
            "patient or emergency access linking the reader to the patient (the health "
            "authority's reads excluded). One per reader and patient; institution: the reader's."
        ),
        _read_without_relationship,
    )
)
declare(
    Rule(
        "referral_overdue",
        "referral",
        Text("Referral overdue"),
        Text(
            "A referral the receiving institution has not decided within 48 h of the request, "
            "or an accepted referral whose patient has not arrived 72 h after the appointment "
            "(defaults). Counted by request time; institution: the receiving one."
        ),
        _referral_overdue,
    )
)


# --- the reason shown for a violation (codes and figures in, a sentence out) -------------

URGENCY = {"emergency": Text("Emergency"), "urgent": Text("Urgent"), "routine": Text("Routine")}
CONSENT = {
    "none": Text("No consent linked to the request"),
    "other_purpose": Text("The linked consent is for another purpose or patient"),
    "granted_later": Text("The consent was granted after the request"),
    "withdrawn": Text("The consent was withdrawn before the request"),
}
PROBLEMS = {
    "no_licence": Text("no practising licence on record"),
    "licence_expired": Text("practising licence not valid on the booked day"),
    "title_below": Text("title below the one requested"),
}


def reason(v: Violation) -> Text:
    """Why the case breaks its rule, as a sentence in the reader's language."""
    d = v.detail
    if v.rule == "consult_without_consent":
        return CONSENT.get(str(d.get("consent")), CONSENT["none"])
    if v.rule == "opinion_late":
        return Text(
            "{urgency}: signed {hours} h after the request (limit {limit} h)",
            urgency=URGENCY.get(str(d["urgency"]), Text("Routine")),
            hours=d["hours"],
            limit=d["limit"],
        )
    if v.rule == "opinion_missing":
        return Text(
            "{urgency}: no signed opinion {hours} h after the request (limit {limit} h)",
            urgency=URGENCY.get(str(d["urgency"]), Text("Routine")),
            hours=d["hours"],
            limit=d["limit"],
        )
    if v.rule == "expert_unqualified":
        problems = [PROBLEMS[p] for p in d.get("problems", ()) if p in PROBLEMS]
        if len(problems) == 1:
            return Text("Expert #{expert}: {problem}", expert=d["expert_id"], problem=problems[0])
        return Text(
            "Expert #{expert}: {problem}; {other}",
            expert=d["expert_id"],
            problem=problems[0],
            other=problems[1],
        )
    if v.rule == "recording_without_consent":
        return Text("No recording consent in force when the recording started")
    if v.rule == "read_without_relationship":
        return Text(
            "Read by user #{actor} (audit entry {seq}); no workflow links them to the patient",
            actor=d["actor_id"],
            seq=d["seq"],
        )
    if v.rule == "referral_overdue" and d.get("stage") == "decision":
        return Text("Not decided; {hours} h past the deadline", hours=d["hours"])
    return Text("Patient not arrived; {hours} h past the deadline", hours=d.get("hours", 0))


CASES = {
    "consult": Text("Consultation"),
    "clinic_visit": Text("Clinic visit"),
    "referral": Text("Referral"),
    "recording": Text("Meeting recording"),
    "patient": Text("Patient record"),
}
VERDICTS = {
    "compliant": Text("Compliant"),
    "minor": Text("Minor deficiencies"),
    "major": Text("Non-compliant"),
}
