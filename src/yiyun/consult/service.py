"""Consultation use cases: request, submit, assign, answer, cancel, start, decide; reads.

Rules live here and in `workflow.py`; routes parse, call one function and render. Every
read of the patient's data through a consultation is audited with the patient's
institutions (`subject_institutions`), so the inviting institution sees who read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth import service as auth_service
from yiyun.auth import step_up
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.consult import calendar, workflow
from yiyun.consult.config import ConsultSettings
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultKind, ConsultState
from yiyun.consult.schemas import Assign, ConsultCreate
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, district, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yiyun.i18n.text import Localised, Text
from yiyun.meetings import schedule as meetings_schedule
from yiyun.meetings import workflow as meetings_workflow
from yiyun.meetings.models import Meeting
from yiyun.meetings.schemas import MeetingCreate, Subject
from yiyun.notify import service as notify_service
from yiyun.org import specialties
from yiyun.org.enums import CLINICAL_ROLES, Role, StaffTitle
from yiyun.org.models import Department, User, UserRole
from yiyun.records.access import Ctx, age_on, institutions_of, load_patient
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent, Document, Patient
from yiyun.records.schemas import ADULT_AGE

C = ConsultState
MIN_YEARS = 3
SUBJECT = "consult"
LIVE_ANSWERS = (Answer.PENDING, Answer.ACCEPTED)


def number(consult: Consult) -> str:
    """The reference people quote: HZ + the district's date of the request + id."""
    return f"HZ{district(consult.created_at):%Y%m%d}-{consult.id:05d}"


def mask_name(name: str) -> str:
    """张三 → 张*, 王小明 → 王*明 (the first and, from three characters, the last)."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# --- loading and who sees what ---------------------------------------------------------


async def experts_of(session: AsyncSession, consult_id: int) -> list[ConsultExpert]:
    rows = await session.scalars(
        select(ConsultExpert)
        .where(ConsultExpert.consult_id == consult_id)
        .order_by(ConsultExpert.id)
    )
    return list(rows.all())


def attach(consult: Consult, experts: Sequence[ConsultExpert]) -> None:
    consult.expert_ids = frozenset(e.expert_id for e in experts)
    consult.accepted_ids = frozenset(e.expert_id for e in experts if e.answer is Answer.ACCEPTED)


def may_view(principal: Principal, consult: Consult, experts: Sequence[ConsultExpert]) -> bool:
    """The requester, the inviting institution's clinical staff, every expert ever asked,
    the telemedicine centre's dispatchers and the health authority (read-only)."""
    if principal.user_id == consult.requester_id:
        return True
    if any(e.expert_id == principal.user_id for e in experts):
        return True
    if principal.user_id in consult.department_staff_ids:
        return True  # the invited department's specialists
    if principal.has(Role.DISPATCHER, Role.AUTHORITY):
        return True
    return principal.institution_id == consult.institution_id and principal.has(*CLINICAL_ROLES)


def sees_clinical(principal: Principal, consult: Consult, experts: Sequence[ConsultExpert]) -> bool:
    """Who sees the case summary, documents and opinion (not the dispatchers)."""
    if principal.has(Role.AUTHORITY):
        return True
    if principal.user_id == consult.requester_id or principal.user_id in consult.accepted_ids:
        return True
    pending = {e.expert_id for e in experts if e.answer is Answer.PENDING}
    if principal.user_id in pending:
        return True  # an invited expert reads the summary to decide
    if principal.user_id in consult.department_staff_ids and consult.state is C.REQUESTED:
        return True  # so does the invited department, to accept directly
    return principal.institution_id == consult.institution_id and principal.has(*CLINICAL_ROLES)


def may_read_record(
    principal: Principal, consult: Consult, experts: Sequence[ConsultExpert]
) -> bool:
    """The patient's summary and attached documents: always for the inviting side; for an
    expert only through this consultation while it is open (an invited expert reads the
    request to decide while it is assigned)."""
    if principal.has(Role.AUTHORITY):
        return True
    if principal.user_id == consult.requester_id or (
        principal.institution_id == consult.institution_id and principal.has(*CLINICAL_ROLES)
    ):
        return True
    answers = {e.expert_id: e.answer for e in experts}
    mine = answers.get(principal.user_id)
    if mine is Answer.ACCEPTED:
        return consult.state in workflow.OPEN_STATES
    return mine is Answer.PENDING and consult.state is C.ASSIGNED


async def get(
    *, session: AsyncSession, principal: Principal, consult_id: int, lock: bool = False
) -> Consult:
    """The consultation if the caller may see it (else "not found"), with its experts."""
    query = select(Consult).where(Consult.id == consult_id)
    if lock:  # answers serialise on the row (PostgreSQL; SQLite has one writer anyway)
        query = query.with_for_update().execution_options(populate_existing=True)
    consult = await session.scalar(query)
    if consult is None:
        raise NotFound("consultation not found", code="consult.not_found")
    consult.department_staff_ids = await department_staff(session, consult.department_id)
    experts = await experts_of(session, consult.id)
    if not may_view(principal, consult, experts):
        raise NotFound("consultation not found", code="consult.not_found")
    attach(consult, experts)
    return consult


async def department_staff(session: AsyncSession, department_id: int | None) -> frozenset[int]:
    """The active specialists of the invited department (none when no department)."""
    if department_id is None:
        return frozenset()
    rows = await session.scalars(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.department_id == department_id,
            User.active.is_(True),
            UserRole.role == Role.SPECIALIST,
        )
    )
    return frozenset(rows.all())


async def _patient(session: AsyncSession, consult: Consult) -> Patient:
    patient = await session.get(Patient, consult.patient_id)
    if patient is None:  # pragma: no cover - a foreign key
        raise NotFound("patient not found", code="patient.not_found")
    return patient


async def audit_read(
    session: AsyncSession, ctx: Ctx, consult: Consult, action: str, **details: Any
) -> None:
    """A read of the patient's data through the consultation, shown to their institutions."""
    patient = await _patient(session, consult)
    await audit.record(
        session=session,
        actor=ctx.actor,
        action=action,
        entity_type="consult",
        entity_id=consult.id,
        patient_id=patient.id,
        subject_institutions=institutions_of(patient) | {consult.institution_id},
        details=details or None,
    )


async def _users(session: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(list(ids))))
    return {u.id: u for u in rows.all()}


async def dispatcher_ids(session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.DISPATCHER, User.active.is_(True))
    )
    return list(rows.all())


def _link(consult: Consult) -> str:
    return f"/consults/{consult.id}"


async def tell(
    session: AsyncSession,
    bus: EventBus,
    consult: Consult,
    user_ids: Sequence[int],
    kind: str,
    title: Text,
    body: Text | str = "",
    *,
    urgent: bool = False,
) -> None:
    await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=[u for u in user_ids if u],
        kind=kind,
        title=title,
        body=body,
        link=_link(consult),
        data={"consult_id": consult.id},
        urgent=urgent,
        out_of_app=True,  # e-mail and SMS where the person has an address on record
    )


def urgency_text(consult: Consult) -> Text:
    return {
        "emergency": Text("Emergency"),
        "urgent": Text("Urgent"),
        "routine": Text("Routine"),
    }[consult.urgency.value]


def specialty_text(code: str) -> Localised:
    found = specialties.get(code)
    if found is None:
        return Localised({"zh_CN": code, "en": code})
    return Localised({"zh_CN": found.name, "en": found.name_en})


# --- the request -----------------------------------------------------------------------


async def create(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    data: ConsultCreate,
    settings: ConsultSettings,
) -> Consult:
    """A request for a patient of the caller's institution (submitted unless `submit=False`)."""
    principal = ctx.principal
    if not principal.has(Role.COMMUNITY_DOCTOR, Role.SPECIALIST):
        raise PermissionDenied(
            "only a doctor can request a consultation", code="consult.doctor_only"
        )
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=data.patient_id, action=Action.WRITE_PATIENT
    )
    if principal.institution_id not in institutions_of(patient):
        raise PermissionDenied(
            "request consultations for your institution's patients only",
            code="consult.not_own_patient",
        )
    specialty = specialties.require(data.specialty, field="specialty")
    if data.department_id is not None:
        dept = await session.get(Department, data.department_id)
        if dept is None or not dept.active or dept.institution_id == principal.institution_id:
            raise InvalidInput(
                "invite an active department of another institution",
                code="consult.bad_department",
                details={"field": "department_id"},
            )
    if data.min_title is not None and data.min_title not in specialties.PHYSICIAN_RANK:
        raise InvalidInput(
            "choose a physician's title", code="consult.bad_title", details={"field": "min_title"}
        )
    doc_ids = list(dict.fromkeys(data.document_ids))
    if doc_ids:
        found = set(
            (
                await session.scalars(
                    select(Document.id).where(
                        Document.id.in_(doc_ids), Document.patient_id == patient.id
                    )
                )
            ).all()
        )
        if found != set(doc_ids):
            raise InvalidInput(
                "attach documents from this patient's record only",
                code="consult.bad_document",
                details={"field": "document_ids"},
            )
    consult = Consult(
        state=C.DRAFT,
        kind=data.kind,
        urgency=data.urgency,
        patient_id=patient.id,
        institution_id=principal.institution_id,
        requester_id=principal.user_id,
        reason=data.reason,
        purpose=data.purpose,
        summary=data.summary,
        specialty=specialty,
        department_id=data.department_id,
        min_title=data.min_title,
        document_ids=doc_ids,
        created_at=now(),
    )
    session.add(consult)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="consult.create",
        entity_type="consult",
        entity_id=consult.id,
        patient_id=patient.id,
        institution_id=consult.institution_id,
        subject_institutions=institutions_of(patient),
        details={"urgency": data.urgency.value, "specialty": specialty},
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=consult.id,
        action="create",
        before=None,
        after=consult.state,
        at=consult.created_at,
        extra=workflow.fields(consult),
    )
    if data.submit:
        await submit(session=session, ctx=ctx, bus=bus, consult_id=consult.id, settings=settings)
    return consult


async def telemedicine_consent(session: AsyncSession, patient: Patient) -> Consent | None:
    """The telemedicine consent in force on the patient's record (the newest)."""
    return await session.scalar(
        select(Consent)
        .where(
            Consent.patient_id == patient.id,
            Consent.purpose == ConsentPurpose.TELEMEDICINE,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(1)
    )


def _consent_missing(patient: Patient, *, state: str, action: str) -> Conflict:
    minor = age_on(patient.birth_on, now().date()) < ADULT_AGE
    if minor:
        return Conflict(
            "the guardian's telemedicine consent for this minor is not on record",
            code="consult.guardian_consent_missing",
            details={"consent": "telemedicine", "by": "guardian", "state": state, "action": action},
        )
    return Conflict(
        "the patient's telemedicine consent is not on record",
        code="consult.consent_missing",
        details={"consent": "telemedicine", "by": "patient", "state": state, "action": action},
    )


async def submit(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    consult_id: int,
    settings: ConsultSettings,
) -> Consult:
    """Send the request to the telemedicine centre: needs the telemedicine consent."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "submit", ctx.principal)
    patient = await _patient(session, consult)
    consent = await telemedicine_consent(session, patient)
    if consent is None:
        raise _consent_missing(patient, state=consult.state.value, action="submit")
    consult.consent_id = consent.id
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="submit",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"consent_id": consent.id},
    )
    consult.due_at = now() + settings.sla(consult.urgency.value)
    consult.reminded_at = consult.escalated_at = None
    await tell(
        session,
        bus,
        consult,
        await dispatcher_ids(session),
        "consult.requested",
        Text("New consultation request ({urgency})", urgency=urgency_text(consult)),
        Text("Specialty: {specialty}", specialty=specialty_text(consult.specialty)),
        urgent=consult.urgency.value == "emergency",
    )
    return consult


# --- matching and assignment -------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    user: User
    codes: frozenset[str]
    refusal: str | None  # why the expert cannot be assigned (None: eligible)
    busy: bool


def refusal(user: User, consult: Consult, on: date) -> str | None:
    """Why this person may not be assigned (the 2018 rules: licence, 3 years; the request:
    specialty and title), or None."""
    if not user.active or Role.SPECIALIST not in user.role_set:
        return "the expert must be an active specialist"
    if user.licence_no is None or user.licence_valid_until is None:
        return "the expert has no practising licence on record"
    if user.licence_valid_until < on:
        return "the expert's practising licence has expired"
    if (user.years_of_practice or 0) < MIN_YEARS:
        return "the expert needs at least 3 years of practice"
    if not specialties.title_at_least(user.title, consult.min_title):
        return "the expert's title is below the one requested"
    return None


async def held_codes(session: AsyncSession, users: Sequence[User]) -> dict[int, frozenset[str]]:
    dept_ids = {u.department_id for u in users if u.department_id}
    depts = {}
    if dept_ids:
        rows = await session.scalars(select(Department).where(Department.id.in_(dept_ids)))
        depts = {d.id: d.code for d in rows.all()}
    return {
        u.id: specialties.held(u.specialties or [], depts.get(u.department_id or 0)) for u in users
    }


async def candidates(
    *,
    session: AsyncSession,
    principal: Principal,
    consult_id: int,
    starts_at: datetime | None = None,
    duration_minutes: int = 30,
) -> list[Candidate]:
    """Specialists holding the wanted specialty, eligible first, then by title."""
    consult = await get(session=session, principal=principal, consult_id=consult_id)
    if not principal.has(Role.DISPATCHER):
        raise PermissionDenied("only a dispatcher can do this", code="consult.dispatcher_only")
    users = list(
        (
            await session.scalars(
                select(User)
                .join(UserRole, UserRole.user_id == User.id)
                .where(UserRole.role == Role.SPECIALIST, User.active.is_(True))
            )
        ).all()
    )
    codes = await held_codes(session, users)
    when = starts_at or consult.scheduled_at or now() + timedelta(hours=1)
    on = district(when).date()
    out = []
    for user in users:
        if consult.kind is ConsultKind.SINGLE and not specialties.matches(
            consult.specialty, codes[user.id]
        ):
            continue
        if consult.kind is ConsultKind.MDT and not codes[user.id]:
            continue
        until = when + timedelta(minutes=duration_minutes)
        booked = await calendar.booking_at(
            session, user.id, when, until, exclude_consult=consult.id
        )
        busy = booked is not None or not await calendar.covered(session, user.id, when, until)
        out.append(Candidate(user, codes[user.id], refusal(user, consult, on), busy))
    rank = specialties.PHYSICIAN_RANK
    out.sort(
        key=lambda c: (
            c.refusal is not None,
            c.busy,
            not specialties.matches(consult.specialty, c.codes),
            -rank.get(c.user.title or StaffTitle.NURSE, 0),
            c.user.display_name,
        )
    )
    return out[:100]


async def assign(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    consult_id: int,
    data: Assign,
    settings: ConsultSettings,
) -> Consult:
    """The dispatcher books expert(s) and a time; each expert is checked and must be free."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "assign", ctx.principal)
    starts_at = calendar.local(data.starts_at)
    if starts_at < now() - timedelta(minutes=5):
        raise InvalidInput(
            "the consultation time must be in the future",
            code="consult.time_past",
            details={"field": "starts_at"},
        )
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)
    expert_ids = list(dict.fromkeys(data.expert_ids))
    if consult.kind is ConsultKind.MDT and len(expert_ids) + len(consult.accepted_ids) < 2:
        raise InvalidInput(
            "a multidisciplinary consultation needs at least two experts",
            code="consult.mdt_needs_two",
            details={"field": "expert_ids"},
        )
    existing = {e.expert_id: e for e in await experts_of(session, consult.id)}
    users = await _users(session, expert_ids)
    codes = await held_codes(session, list(users.values()))
    on = district(starts_at).date()
    for expert_id in expert_ids:
        user = users.get(expert_id)
        if user is None:
            raise InvalidInput(
                "the expert does not exist",
                code="consult.bad_expert",
                details={"field": "expert_ids", "expert_id": expert_id},
            )
        why = refusal(user, consult, on)
        if (
            why is None
            and consult.kind is ConsultKind.SINGLE
            and not specialties.matches(consult.specialty, codes[user.id])
        ):
            why = "the expert does not practise the requested specialty"
        if why is not None:
            raise InvalidInput(
                why,
                code="consult.expert_refused",
                details={"field": "expert_ids", "expert_id": expert_id},
            )
        if expert_id == consult.requester_id:
            raise InvalidInput(
                "the requesting doctor cannot be the expert",
                code="consult.expert_is_requester",
                details={"field": "expert_ids", "expert_id": expert_id},
            )
        if expert_id in existing and existing[expert_id].answer is not Answer.WITHDRAWN:
            raise Conflict(
                "this expert was already asked for this consultation",
                code="consult.already_asked",
                details={"expert_id": expert_id},
            )
        await calendar.require_free(
            session, consult, expert_id, starts_at, ends_at, action="assign"
        )
    at = now()
    for expert_id in expert_ids:
        row = existing.get(expert_id)
        if row is None:
            row = ConsultExpert(
                consult_id=consult.id,
                expert_id=expert_id,
                institution_id=users[expert_id].institution_id,
                assigned_by_id=ctx.principal.user_id,
                assigned_at=at,
                starts_at=starts_at,
                ends_at=ends_at,
            )
            session.add(row)
        row.answer, row.answered_at, row.answer_reason = Answer.PENDING, None, ""
        row.starts_at, row.ends_at = starts_at, ends_at
    # Experts already accepted (an MDT topped up) move to the new time too.
    for row in existing.values():
        if row.answer is Answer.ACCEPTED:
            row.starts_at, row.ends_at = starts_at, ends_at
    await session.flush()
    consult.scheduled_at, consult.duration_minutes = starts_at, data.duration_minutes
    consult.dispatcher_id = ctx.principal.user_id
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="assign",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"expert_ids": expert_ids, "starts_at": starts_at.isoformat()},
    )
    attach(consult, await experts_of(session, consult.id))
    consult.due_at = at + settings.sla(consult.urgency.value)
    consult.reminded_at = consult.escalated_at = None
    await tell(
        session,
        bus,
        consult,
        expert_ids,
        "consult.assigned",
        Text("You are invited to a consultation ({urgency})", urgency=urgency_text(consult)),
        Text("Booked for {when} (Beijing time)", when=f"{district(starts_at):%Y-%m-%d %H:%M}"),
        urgent=consult.urgency.value == "emergency",
    )
    await tell(
        session,
        bus,
        consult,
        [consult.requester_id],
        "consult.scheduled",
        Text("Your consultation request has experts and a time"),
        Text("Booked for {when} (Beijing time)", when=f"{district(starts_at):%Y-%m-%d %H:%M}"),
    )
    return consult


# --- the experts' answers ------------------------------------------------------------------


async def answer(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    consult_id: int,
    accept: bool,
    reason: str,
    settings: ConsultSettings,
) -> Consult:
    """An assigned expert accepts or declines (with a reason).

    Single-expert: the first acceptance wins by a conditional UPDATE of `accepted_by_id`
    (a second expert accepting at the same moment gets 409); the other candidates are
    withdrawn. MDT: accepted once every asked expert has accepted. The last decline
    returns the request to the dispatcher.
    """
    principal = ctx.principal
    consult = await get(session=session, principal=principal, consult_id=consult_id, lock=True)
    action = "accept" if accept else "decline"
    workflow.MACHINE.check(consult, action, principal)
    mine = await session.scalar(
        select(ConsultExpert).where(
            ConsultExpert.consult_id == consult.id, ConsultExpert.expert_id == principal.user_id
        )
    )
    if mine is None or mine.answer is not Answer.PENDING:
        raise Conflict("you have already answered", code="consult.already_answered")
    if not accept and len(reason.strip()) < 2:
        raise InvalidInput(
            "say why you decline", code="consult.reason_required", details={"field": "reason"}
        )
    at = now()
    if accept and consult.kind is ConsultKind.SINGLE:
        won = await session.execute(
            update(Consult)
            .where(
                Consult.id == consult.id,
                Consult.accepted_by_id.is_(None),
                Consult.state == C.ASSIGNED.value,
            )
            .values(accepted_by_id=principal.user_id)
            .execution_options(synchronize_session=False)
        )
        if getattr(won, "rowcount", 0) != 1:
            raise Conflict("another expert accepted this consultation first", code="consult.taken")
        consult.accepted_by_id = principal.user_id
    mine.answer = Answer.ACCEPTED if accept else Answer.DECLINED
    mine.answered_at, mine.answer_reason = at, reason.strip()[:500]
    others = [e for e in await experts_of(session, consult.id) if e.id != mine.id]
    if accept and consult.kind is ConsultKind.SINGLE:
        for other in others:
            if other.answer is Answer.PENDING:
                other.answer, other.answered_at = Answer.WITHDRAWN, at
    await session.flush()
    experts = await experts_of(session, consult.id)
    pending = [e for e in experts if e.answer is Answer.PENDING]
    accepted = [e for e in experts if e.answer is Answer.ACCEPTED]
    details = (
        {"expert_id": principal.user_id, "reason": mine.answer_reason}
        if not accept
        else {"expert_id": principal.user_id}
    )
    if accept and not pending:
        await workflow.step(
            session=session,
            bus=bus,
            consult=consult,
            action="accept",
            actor=ctx.actor,
            principal=principal,
            details=details,
        )
        consult.due_at = None
        await tell(
            session,
            bus,
            consult,
            [consult.requester_id, *(e.expert_id for e in accepted)],
            "consult.accepted",
            Text("The consultation was accepted"),
            Text(
                "Booked for {when} (Beijing time)",
                when=f"{district(consult.scheduled_at or at):%Y-%m-%d %H:%M}",
            ),
        )
    elif not accept and not pending and not accepted:
        await workflow.step(
            session=session,
            bus=bus,
            consult=consult,
            action="decline",
            actor=ctx.actor,
            principal=principal,
            details=details,
        )
        consult.accepted_by_id = None
        consult.due_at = at + settings.sla(consult.urgency.value)
        consult.reminded_at = consult.escalated_at = None
        await tell(
            session,
            bus,
            consult,
            await dispatcher_ids(session),
            "consult.declined",
            Text("An expert declined a consultation; assign another"),
            Text("Reason: {reason}", reason=mine.answer_reason),
            urgent=True,
        )
    else:
        # One answer of several: recorded, the request's state unchanged.
        await audit.record(
            session=session,
            actor=ctx.actor,
            action=f"consult.expert_{action}",
            entity_type="consult",
            entity_id=consult.id,
            patient_id=consult.patient_id,
            institution_id=consult.institution_id,
            details=details,
        )
        if not accept:
            await tell(
                session,
                bus,
                consult,
                await dispatcher_ids(session),
                "consult.declined",
                Text("An expert declined a consultation; assign another"),
                Text("Reason: {reason}", reason=mine.answer_reason),
            )
    attach(consult, experts)
    return consult


async def cancel(
    *, session: AsyncSession, ctx: Ctx, bus: EventBus, consult_id: int, reason: str
) -> Consult:
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="cancel",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"reason": reason[:500]},
    )
    consult.cancel_reason, consult.due_at = reason[:500], None
    await tell(
        session,
        bus,
        consult,
        [consult.requester_id, *consult.expert_ids],
        "consult.cancelled",
        Text("A consultation was cancelled"),
        Text("Reason: {reason}", reason=reason[:200]),
    )
    return consult


# --- the session ---------------------------------------------------------------------------


async def start(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    consult_id: int,
    settings: ConsultSettings,
) -> Consult:
    """One click: the meeting for exactly the participants (recent TOTP, consent in force)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "start", ctx.principal)
    await step_up.require_recent(session, ctx.principal)
    patient = await _patient(session, consult)
    consent = (
        await session.get(Consent, consult.consent_id) if consult.consent_id is not None else None
    )
    if consent is None or consent.withdrawn_at is not None:
        err = _consent_missing(patient, state=consult.state.value, action="start")
        if consent is not None:
            err = Conflict(
                "the patient's telemedicine consent was withdrawn",
                code="consult.consent_withdrawn",
                details={
                    "consent": "telemedicine",
                    "state": consult.state.value,
                    "action": "start",
                },
            )
        raise err
    opens = as_utc(consult.scheduled_at or now()) - timedelta(minutes=settings.start_early_minutes)
    if now() < opens:
        raise Conflict(
            "the consultation cannot start yet",
            code="consult.too_early",
            details={
                "opens_at": opens.isoformat(),
                "state": consult.state.value,
                "action": "start",
            },
        )
    participants = [consult.requester_id, *sorted(consult.accepted_ids)]
    # The inviting doctor hosts the meeting about their patient, whoever clicks (the
    # audit names who did); an expert may read the patient, not open meetings about them.
    requester = await session.get(User, consult.requester_id)
    if requester is None:  # pragma: no cover - a foreign key
        raise NotFound("user not found", code="user.not_found")
    host = Ctx(principal=auth_service.principal_of(requester), actor=ctx.actor, cipher=ctx.cipher)
    meeting = await meetings_schedule.create(
        session=session,
        ctx=host,
        data=MeetingCreate(
            title=f"远程会诊 {number(consult)}",
            patient_id=consult.patient_id,
            duration_minutes=max(15, consult.duration_minutes),
            waiting_room=False,
        ),
        bus=bus,
        subject=Subject(type=SUBJECT, id=consult.id),
        invitee_ids=[u for u in participants if u != consult.requester_id],
    )
    consult.meeting_id = meeting.id
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="start",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"meeting_id": meeting.id},
    )
    return consult


async def end_meeting(*, session: AsyncSession, bus: EventBus, ctx: Ctx, consult: Consult) -> None:
    """A closed case ends its meeting too, so the meeting grants no more record access."""
    if consult.meeting_id is None:
        return
    meeting = await session.get(Meeting, consult.meeting_id)
    if meeting is not None and meeting.state in meetings_workflow.LIVE:
        # the inviting doctor closes the case: the workflow decided who acts
        await meetings_workflow.transition(
            session=session, bus=bus, meeting=meeting, action="end", actor=ctx.actor
        )


async def decide(
    *, session: AsyncSession, ctx: Ctx, bus: EventBus, consult_id: int, decision: str
) -> Consult:
    """The inviting doctor's treatment decision closes the case (it stays their patient)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "decide", ctx.principal)
    consult.decision, consult.decided_by_id = decision[:4000], ctx.principal.user_id
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="decide",
        actor=ctx.actor,
        principal=ctx.principal,
    )
    await end_meeting(session=session, bus=bus, ctx=ctx, consult=consult)
    await tell(
        session,
        bus,
        consult,
        sorted(consult.accepted_ids),
        "consult.closed",
        Text("The inviting doctor recorded the treatment decision; the case is closed"),
    )
    return consult


# --- worklists -----------------------------------------------------------------------------

VIEWS = ("mine", "institution", "invited", "dispatch", "all")


def default_view(principal: Principal) -> str:
    if principal.has(Role.DISPATCHER):
        return "dispatch"
    if principal.has(Role.SPECIALIST):
        return "invited"
    if principal.has(Role.COMMUNITY_DOCTOR):
        return "mine"
    if principal.has(Role.AUTHORITY):
        return "all"
    return "institution"


def views_for(principal: Principal) -> list[str]:
    out = []
    if principal.has(Role.COMMUNITY_DOCTOR, Role.SPECIALIST):
        out.append("mine")
    if principal.has(*CLINICAL_ROLES):
        out.append("institution")
    if principal.has(Role.SPECIALIST):
        out.append("invited")
    if principal.has(Role.DISPATCHER):
        out.append("dispatch")
    if principal.has(Role.AUTHORITY):
        out.append("all")
    return out


def _view_query(principal: Principal, view: str) -> Select[Any]:
    if view not in views_for(principal):
        raise NotFound("no such list", code="consult.no_view")
    query = select(Consult)
    if view == "mine":
        return query.where(Consult.requester_id == principal.user_id)
    if view == "institution":
        return query.where(Consult.institution_id == principal.institution_id)
    if view == "invited":
        mine = select(User.department_id).where(User.id == principal.user_id).scalar_subquery()
        # `IN (the expert's own rows)` uses the expert's index; a correlated EXISTS ran once
        # per consultation of the year (bench_workflows: the slowest worklist)
        asked = select(ConsultExpert.consult_id).where(
            ConsultExpert.expert_id == principal.user_id,
            ConsultExpert.answer.in_([Answer.PENDING.value, Answer.ACCEPTED.value]),
        )
        return query.where(
            or_(
                Consult.id.in_(asked),
                (Consult.department_id == mine) & (Consult.state == C.REQUESTED.value),
            )
        )
    if view == "dispatch":
        return query.where(Consult.state != C.DRAFT.value)
    return query.where(Consult.state != C.DRAFT.value)


@dataclass(frozen=True)
class Worklist:
    view: str
    counts: dict[str, int]
    items: list[Consult]
    total: int


async def worklist(
    *,
    session: AsyncSession,
    principal: Principal,
    view: str | None = None,
    state: str | None = None,
    urgency: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Worklist:
    """The caller's list with counts per state; the most pressing first."""
    view = view or default_view(principal)
    base = _view_query(principal, view)
    if urgency:
        base = base.where(Consult.urgency == urgency)
    sub = base.subquery()
    counts = {
        str(s): int(n)
        for s, n in (
            await session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
        ).all()
    }
    query = base
    if state == "active":
        query = query.where(Consult.state.in_([s.value for s in workflow.ACTIVE_STATES]))
    elif state:
        query = query.where(Consult.state == state)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(
            or_(Consult.state == C.CLOSED.value, Consult.state == C.CANCELLED.value),
            Consult.due_at.is_(None),
            Consult.due_at,
            Consult.id.desc(),
        )
        .limit(limit)
        .offset(offset)
    )
    return Worklist(view=view, counts=counts, items=list(rows.all()), total=total)
