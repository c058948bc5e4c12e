"""Benchmark the workflow worklists and an audited patient read with a year of a busy district.

Data: the demo consortium (`yiyun.demo.seed.seed`: 95 institutions, about 370 staff,
25,000 patients: 200 per community centre, 7-20 times as many per hospital) seeded into a
freshly migrated SQLite file or PostgreSQL database, then one year (365 days) of workflows
generated deterministically and loaded with plain executemany (Core INSERTs, ids taken
from the tables' current maximum):

- 50,000 remote consultations from the centres' doctors about their own patients (with a
  telemedicine consent), in every state: older ones mostly closed or cancelled, the last
  two weeks' spread over draft to closed; with their experts (the hospitals' specialists,
  a tenth multidisciplinary with 2-3, some with an earlier decline);
- 15,000 remote clinic sessions of the specialists (the year and two weeks ahead), 24
  slots each, and 300,000 visits booked into them by the centres (completed, no-show,
  cancelled; today's in progress; the coming two weeks booked);
- 100,000 light consultations from 20,000 resident accounts, to the resident's centre
  or the lead hospital, from open to closed;
- the audit entries these imply (each creation and transition, the expert's read of the
  record through a consultation, the specialist's read of the patient in a visit, the
  doctor's read of a question): about 2.2 million, in time order, appended through
  `audit.record()` and its commit hook in transactions of 2,000, so the hash chain is the
  real one (checked with `audit.verify`, timed). Details are abbreviated (the states, the
  urgency); meetings, opinions, messages and prescriptions are not generated.

SLA stamps (reminded, escalated) are set as the background jobs would have left them.
PostgreSQL is ANALYZEd after the load (what autovacuum does on a live database); SQLite
is not (the app never runs ANALYZE).

Timed, in process (the service function behind each route, a fresh session per call,
N calls after two warm-ups; p50 and p95): the consultation worklist of the dispatcher
(`view=dispatch`), of a community doctor (`mine`) and of a specialist (`invited`); the
clinic worklist (`board.worklist`, behind GET /api/v1/clinics/visits) of the specialist
and of the doctor's centre, all days and today; the question pool and "mine" of the
doctor. The plan of every statement of each worklist (EXPLAIN / EXPLAIN QUERY PLAN) is
kept with its figures, full scans listed.

Timed through the app (`create_app` as `bench_api_cpu.py` builds it: default settings,
access log to a null stream, audit and background jobs on; httpx `ASGITransport`, bearer
tokens, 16 concurrent clients, alternating rounds): GET /api/v1/patients/{id} by the
doctor (scoped by institution, audited) and GET /api/v1/institutions/{id} (scoped, not
audited); requests/s, p50/p99 and process CPU per request of each, and the ratios
audited/unaudited. Also a patient read the specialist may do only through an open
consultation (the relationship query over the consultation tables), when one exists.

Usage: ``.venv/bin/python benchmarks/bench_workflows.py [--quick] [--no-pg]`` or
``yiyun bench workflows``. ``--quick`` loads 1/50 of the rows (and 10 residents per
centre) with few iterations. Writes ``benchmarks/results/workflows.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import io
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import asyncpg
import numpy as np
from sqlalchemy import Table, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.auth import passwords, policy
from yiyun.auth import service as auth_service
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.clinics import board
from yiyun.clinics.models import ClinicSession, ClinicSlot, ClinicVisit, SessionState, VisitState
from yiyun.consult import service as consult_service
from yiyun.consult.config import ConsultSettings
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultKind, ConsultState, Urgency
from yiyun.consult.workflow import OPEN_STATES
from yiyun.core import migrate
from yiyun.core.clock import DISTRICT_TZ, now
from yiyun.core.db import create_engine, session_factory, transaction
from yiyun.demo.seed import seed
from yiyun.inquiry import service as inquiry_service
from yiyun.inquiry.config import InquirySettings
from yiyun.inquiry.models import Inquiry, InquiryState
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent, Patient, PatientRecordNo
from yiyun.resident.models import Resident
from yiyun.settings import DbSettings, Settings, with_secrets

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "workflows.json"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DAYS = 365  # the year of history
AHEAD = 14  # clinic sessions published this many days ahead
CHUNK = 5_000  # rows per executemany
AUDIT_BATCH = 2_000  # audit entries per transaction (one commit hook each)
CONCURRENCY = 16  # concurrent clients of the app
C, V, Q = ConsultState, VisitState, InquiryState
Batch = dict[Table, list[dict[str, Any]]]
Call = Callable[[AsyncSession, Principal], Awaitable[Any]]


def table(model: type[Any]) -> Table:
    return cast("Table", model.__table__)


LOADED = [table(m) for m in (Consult, ConsultExpert, ClinicSession, ClinicSlot, ClinicVisit,
                             Resident, Inquiry)]  # fmt: skip


@dataclass(frozen=True)
class Scale:
    consults: int
    visits: int
    inquiries: int
    patients_per_centre: int
    repeat: int  # calls per worklist
    requests: int  # requests per route and round through the app
    rounds: int


FULL = Scale(50_000, 300_000, 100_000, 200, repeat=40, requests=800, rounds=3)
QUICK = Scale(1_000, 6_000, 2_000, 10, repeat=8, requests=160, rounds=2)


# --- the demo world ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    institution_id: int
    department_id: int | None
    specialty: str


@dataclass
class World:
    """What the demo seed created, read back from the database (no id is assumed)."""

    now: datetime
    start: datetime  # the district's midnight DAYS days ago
    lead_id: int
    centres: list[int]  # community centres with doctors and consenting patients
    doctors: dict[int, list[Person]]
    specialists: list[Person]
    dispatchers: list[Person]
    patients: dict[int, list[tuple[int, int]]]  # centre -> (patient id, consent id)
    people: dict[int, Person]
    named: dict[str, Person]

    @cached_property
    def lead_specialists(self) -> list[Person]:
        return [p for p in self.specialists if p.institution_id == self.lead_id]

    @property
    def now_s(self) -> float:
        return (self.now - self.start).total_seconds()

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)


async def load_world(factory: async_sessionmaker[AsyncSession]) -> World:
    at = now()
    midnight = at.astimezone(DISTRICT_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    async with factory() as s:
        kinds = dict((await s.execute(select(Institution.id, Institution.kind))).all())
        staff = (
            await s.execute(
                select(User.id, User.username, User.institution_id, User.department_id,
                       User.specialties, UserRole.role)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.active.is_(True))
                .order_by(User.id)
            )
        ).all()  # fmt: skip
        consenting = (
            await s.execute(
                select(Patient.id, Patient.home_institution_id, func.min(Consent.id))
                .join(Consent, Consent.patient_id == Patient.id)
                .where(
                    Consent.purpose == ConsentPurpose.TELEMEDICINE,
                    Consent.withdrawn_at.is_(None),
                )
                .group_by(Patient.id, Patient.home_institution_id)
                .order_by(Patient.id)
            )
        ).all()
    people: dict[int, Person] = {}
    by_role: dict[Role, list[Person]] = {}
    for uid, username, inst, dept, codes, role in staff:
        person = Person(uid, username, inst, dept, (codes or ["03"])[0])
        people[uid] = person
        by_role.setdefault(Role(role), []).append(person)
    doctors: dict[int, list[Person]] = {}
    for p in by_role.get(Role.COMMUNITY_DOCTOR, []):
        doctors.setdefault(p.institution_id, []).append(p)
    patients: dict[int, list[tuple[int, int]]] = {}
    for pid, home, consent in consenting:
        patients.setdefault(home, []).append((pid, consent))
    centres = sorted(
        i for i, k in kinds.items()
        if k == InstitutionKind.COMMUNITY_HEALTH_CENTRE and doctors.get(i) and patients.get(i)
    )  # fmt: skip
    lead = next(i for i, k in kinds.items() if k == InstitutionKind.LEAD_HOSPITAL)
    return World(
        now=at,
        start=(midnight - timedelta(days=DAYS)).astimezone(UTC),  # the chain hashes UTC
        lead_id=lead,
        centres=centres,
        doctors=doctors,
        specialists=by_role[Role.SPECIALIST],
        dispatchers=by_role[Role.DISPATCHER],
        patients=patients,
        people=people,
        named={p.username: p for p in people.values()},
    )


# --- generated rows and the audit trail they imply --------------------------------------


class Ids:
    """The next id of each loaded table (its maximum + 1 when the load began)."""

    def __init__(self, first: dict[str, int]) -> None:
        self._next = dict(first)

    def take(self, name: str) -> int:
        value = self._next[name]
        self._next[name] = value + 1
        return value


@dataclass(frozen=True)
class Kind:
    action: str
    entity_type: str
    details: dict[str, Any]
    subject: bool  # names the patient's centre (a read, a booking)


class Trail:
    """The audit entries implied by the generated workflows, kept as compact columns."""

    COLUMNS = ("kind", "entity", "patient", "actor", "inst", "subject")

    def __init__(self) -> None:
        self.kinds: list[Kind] = []
        self._codes: dict[tuple[Any, ...], int] = {}
        self.t = array("d")
        self.cols = {name: array("q") for name in self.COLUMNS}

    def __len__(self) -> int:
        return len(self.t)

    def kind(self, action: str, entity_type: str, subject: bool = False, **details: Any) -> int:
        key = (action, entity_type, subject, tuple(sorted(details.items())))
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.kinds)
            self.kinds.append(Kind(action, entity_type, details, subject))
        return code

    def step(self, prefix: str, entity_type: str, action: str, before: str, after: str) -> int:
        return self.kind(f"{prefix}.{action}", entity_type, **{"from": before, "to": after})

    def add(
        self, t: float, kind: int, entity: int, *, actor: int, inst: int, patient: int = 0,
        subject: int = 0,
    ) -> None:  # fmt: skip
        self.t.append(t)
        for name, value in zip(self.COLUMNS, (kind, entity, patient, actor, inst, subject),
                               strict=True):  # fmt: skip
            self.cols[name].append(value)


def working_time(world: World, rng: random.Random, ahead_days: int = 0) -> float:
    """Seconds since the start: a day of the year, between 08:00 and 18:00 district time."""
    last = world.now_s - 60 if not ahead_days else world.now_s + ahead_days * 86400
    s = rng.uniform(0, last)
    day_part = s % 86400
    s = s - day_part + 8 * 3600 + day_part * 10 / 24
    return min(s, last)


def draw(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def spaced(rng: random.Random, t: float, hours: list[float], room: float) -> list[float]:
    """Times of successive steps after `t`, squeezed to fit within `room` seconds."""
    gaps = [h * 3600 * (0.5 + rng.random()) for h in hours]
    squeeze = min(1.0, 0.9 * room / sum(gaps)) if gaps and room > 0 else 1.0
    out, at = [], t
    for gap in gaps:
        at += gap * squeeze
        out.append(at)
    return out


# --- consultations -----------------------------------------------------------------------

CONSULT_PATH = [C.DRAFT, C.REQUESTED, C.ASSIGNED, C.ACCEPTED, C.IN_SESSION, C.REPORTED, C.CLOSED]
CONSULT_STEP = {C.REQUESTED: ("submit", 0.3), C.ASSIGNED: ("assign", 3.0),
                C.ACCEPTED: ("accept", 4.0), C.IN_SESSION: ("start", 30.0),
                C.REPORTED: ("sign", 1.5), C.CLOSED: ("decide", 24.0)}  # fmt: skip
CONSULT_OLD = {C.CLOSED: 0.86, C.CANCELLED: 0.10, C.REPORTED: 0.04}
CONSULT_RECENT = {
    C.DRAFT: 0.04, C.REQUESTED: 0.12, C.ASSIGNED: 0.12, C.ACCEPTED: 0.14,
    C.IN_SESSION: 0.05, C.REPORTED: 0.13, C.CLOSED: 0.30, C.CANCELLED: 0.10,
}  # fmt: skip
URGENCY = {Urgency.ROUTINE: 0.75, Urgency.URGENT: 0.20, Urgency.EMERGENCY: 0.05}
REASONS = ("血压控制不佳，请心内科会诊", "糖尿病足溃疡，请会诊评估", "胸片异常阴影，请会诊",
           "反复头晕，请神经内科会诊", "慢性肾病进展，请会诊调整用药")  # fmt: skip


@dataclass
class ConsultPlan:
    id: int
    t: float
    state: ConsultState
    reached: ConsultState  # the last state of the path (before a cancel)
    centre: int
    requester: Person
    patient: int
    consent: int
    urgency: Urgency
    experts: list[Person]
    dispatcher: Person
    declined: Person | None
    times: dict[str, float] = field(default_factory=dict)


def consult_state(rng: random.Random, world: World, t: float) -> ConsultState:
    recent = world.now_s - t < 14 * 86400
    return cast("ConsultState", draw(rng, CONSULT_RECENT if recent else CONSULT_OLD))


def plan_consult(
    rng: random.Random, world: World, cid: int, t: float, state: ConsultState | None
) -> ConsultPlan:
    centre = rng.choice(world.centres)
    state = state or consult_state(rng, world, t)
    reached = state
    if state is C.CANCELLED:
        reached = rng.choice([C.REQUESTED, C.ASSIGNED, C.ACCEPTED])
    mdt = rng.random() < 0.1
    experts = rng.sample(world.specialists, rng.choice((2, 3)) if mdt else 1)
    declined = None
    if not mdt and rng.random() < 0.08:  # a first expert declined, the dispatcher asked again
        declined = rng.choice([p for p in world.specialists if p not in experts])
    patient, consent = rng.choice(world.patients[centre])
    plan = ConsultPlan(cid, t, state, reached, centre, rng.choice(world.doctors[centre]),
                       patient, consent, draw(rng, URGENCY), experts,
                       rng.choice(world.dispatchers), declined)  # fmt: skip
    steps = CONSULT_PATH[1 : CONSULT_PATH.index(reached) + 1]
    hours = [CONSULT_STEP[s][1] for s in steps] + ([2.0] if state is C.CANCELLED else [])
    times = spaced(rng, t, hours, world.now_s - t)
    plan.times = {CONSULT_STEP[s][0]: x for s, x in zip(steps, times, strict=False)}
    if state is C.CANCELLED:
        plan.times["cancel"] = times[-1]
    return plan


def consult_row(world: World, p: ConsultPlan, cfg: ConsultSettings) -> dict[str, Any]:
    at = {k: world.at(v) for k, v in p.times.items()}
    sla = cfg.sla(p.urgency.value)
    due = None
    if p.state is C.REQUESTED:
        due = at["submit"] + sla
    elif p.state is C.ASSIGNED:
        due = at["assign"] + sla
    overdue = due is not None and due <= world.now
    reminded = due is not None and due - sla * cfg.remind_at_fraction_left <= world.now
    assigned = CONSULT_PATH.index(p.reached) >= CONSULT_PATH.index(C.ASSIGNED)
    scheduled = at.get("start") or (at["assign"] + timedelta(hours=24) if assigned else None)
    single_accepted = len(p.experts) == 1 and "accept" in at
    return {
        "id": p.id, "state": p.state,
        "kind": ConsultKind.MDT if len(p.experts) > 1 else ConsultKind.SINGLE,
        "urgency": p.urgency, "patient_id": p.patient, "institution_id": p.centre,
        "requester_id": p.requester.id, "reason": REASONS[p.id % len(REASONS)], "purpose": "",
        "summary": "", "specialty": p.experts[0].specialty,
        "department_id": p.experts[0].department_id if p.id % 5 < 3 else None,
        "min_title": None, "document_ids": [],
        "consent_id": p.consent if p.state is not C.DRAFT else None,
        "created_at": world.at(p.t), "submitted_at": at.get("submit"), "due_at": due,
        "reminded_at": due - sla * cfg.remind_at_fraction_left if reminded and due else None,
        "escalated_at": due if overdue else None,
        "dispatcher_id": p.dispatcher.id if assigned else None, "scheduled_at": scheduled,
        "duration_minutes": 30,
        "accepted_by_id": p.experts[0].id if single_accepted else None, "meeting_id": None,
        "started_at": at.get("start"), "reported_at": at.get("sign"),
        "decision": "按会诊意见调整治疗" if "decide" in at else "",
        "decided_by_id": p.requester.id if "decide" in at else None,
        "closed_at": at.get("decide"), "cancelled_at": at.get("cancel"),
        "cancel_reason": "患者已转诊" if "cancel" in at else "",
    }  # fmt: skip


def expert_rows(world: World, p: ConsultPlan, ids: Ids) -> list[dict[str, Any]]:
    if "assign" not in p.times:
        return []
    assigned = world.at(p.times["assign"])
    accepted = world.at(p.times["accept"]) if "accept" in p.times else None
    starts = world.at(p.times["start"]) if "start" in p.times else assigned + timedelta(hours=24)
    rows = []
    for expert in p.experts:
        rows.append({"id": ids.take("consult_expert"), "consult_id": p.id,
                     "expert_id": expert.id, "institution_id": expert.institution_id,
                     "answer": Answer.ACCEPTED if accepted else Answer.PENDING,
                     "starts_at": starts, "ends_at": starts + timedelta(minutes=30),
                     "assigned_by_id": p.dispatcher.id, "assigned_at": assigned,
                     "answered_at": accepted, "answer_reason": ""})  # fmt: skip
    if p.declined is not None:
        rows.append({"id": ids.take("consult_expert"), "consult_id": p.id,
                     "expert_id": p.declined.id, "institution_id": p.declined.institution_id,
                     "answer": Answer.DECLINED, "starts_at": starts,
                     "ends_at": starts + timedelta(minutes=30), "assigned_by_id": p.dispatcher.id,
                     "assigned_at": assigned - timedelta(hours=2),
                     "answered_at": assigned - timedelta(hours=1),
                     "answer_reason": "时间冲突"})  # fmt: skip
    return rows


def consult_trail(trail: Trail, p: ConsultPlan) -> None:
    base = {"entity": p.id, "inst": p.centre, "patient": p.patient}
    create = trail.kind("consult.create", "consult", True, urgency=p.urgency.value)
    trail.add(p.t, create, actor=p.requester.id, subject=p.centre, **base)
    before = C.DRAFT.value
    for state in CONSULT_PATH[1 : CONSULT_PATH.index(p.reached) + 1]:
        action = CONSULT_STEP[state][0]
        at = p.times[action]
        actor = {"assign": p.dispatcher, "sign": p.experts[0]}.get(action, p.requester)
        if action == "assign" and p.declined is not None:
            first = at - 2 * 3600
            assign = trail.step("consult", "consult", "assign", before, "assigned")
            decline = trail.step("consult", "consult", "decline", "assigned", "requested")
            trail.add(first, assign, actor=p.dispatcher.id, **base)
            trail.add(first + 3600, decline, actor=p.declined.id, **base)
        if action == "accept":
            for expert in p.experts[:-1]:
                trail.add(at - 600, trail.kind("consult.expert_accept", "consult"),
                          actor=expert.id, **base)  # fmt: skip
            actor = p.experts[-1]
        trail.add(at, trail.step("consult", "consult", action, before, state.value),
                  actor=actor.id, **base)  # fmt: skip
        if action == "accept":
            read = trail.kind("consult.record_read", "consult", True)
            for expert in p.experts:
                trail.add(at + 300, read, entity=p.id, inst=expert.institution_id,
                          patient=p.patient, actor=expert.id, subject=p.centre)  # fmt: skip
        before = state.value
    if p.state is C.CANCELLED:
        actor = p.dispatcher if p.id % 3 == 0 else p.requester
        trail.add(p.times["cancel"], trail.step("consult", "consult", "cancel", before,
                                                "cancelled"), actor=actor.id, **base)  # fmt: skip


def consult_batches(
    world: World, n: int, ids: Ids, trail: Trail, tally: Counter[str]
) -> Iterator[Batch]:
    rng = random.Random("yiyun-bench-consults")
    cfg = ConsultSettings()
    times = sorted(working_time(world, rng) for _ in range(n))
    # The newest few go through every state once, so each state exists at any scale.
    forced = [None] * (n - len(ConsultState)) + list(ConsultState)
    batch: Batch = {table(Consult): [], table(ConsultExpert): []}
    for t, state in zip(times, forced[-n:], strict=True):
        plan = plan_consult(rng, world, ids.take("consult_consult"), t, state)
        batch[table(Consult)].append(consult_row(world, plan, cfg))
        experts = expert_rows(world, plan, ids)
        batch[table(ConsultExpert)].extend(experts)
        consult_trail(trail, plan)
        tally[f"consult_consult.{plan.state.value}"] += 1
        for row in experts:
            tally[f"consult_expert.{row['answer'].value}"] += 1
        if len(batch[table(Consult)]) >= CHUNK:
            yield batch
            batch = {table(Consult): [], table(ConsultExpert): []}
    yield batch


# --- remote clinics ----------------------------------------------------------------------

SLOTS, SLOT_MINUTES, WALK_INS = 24, 10, 3


@dataclass
class VisitPlan:
    id: int
    session_id: int
    specialist: Person
    centre: int
    booker: Person
    patient: int
    consent: int
    slot_id: int | None
    expected: float
    state: VisitState = V.BOOKED
    times: dict[str, float] = field(default_factory=dict)


def visit_state(rng: random.Random, world: World, v: VisitPlan, cancelled: bool) -> None:
    """The visit's state and step times from its time against now."""
    ago = world.now_s - v.expected
    lead = 3600 * (2 if v.slot_id is None else 24 * rng.randint(1, 10))
    v.times["book"] = min(v.expected - lead, world.now_s - 120)
    if cancelled:
        v.state, v.times["cancel"] = V.CANCELLED, cancel_time(rng, world, v)
        return
    if ago > 25 * 60:
        v.state = draw(rng, {V.COMPLETED: 0.86, V.NO_SHOW: 0.06, V.CANCELLED: 0.08})
    elif ago > 15 * 60:
        v.state = V.IN_VISIT
    elif ago > 0 or (ago > -30 * 60 and rng.random() < 0.5):
        v.state = V.CHECKED_IN
    elif rng.random() < 0.05:
        v.state = V.CANCELLED
    if v.state is V.CANCELLED:
        v.times["cancel"] = cancel_time(rng, world, v)
        return
    if v.state is V.NO_SHOW:
        v.times["no_show"] = v.expected + 20 * 60
        return
    if v.state is not V.BOOKED:
        v.times["check_in"] = min(v.expected - rng.uniform(300, 1800), world.now_s - 30)
    if v.state in (V.IN_VISIT, V.COMPLETED):
        v.times["call"] = v.expected + rng.uniform(0, 900)
    if v.state is V.COMPLETED:
        v.times["call"] = min(v.times["call"], world.now_s - 600)
        v.times["complete"] = min(v.times["call"] + rng.uniform(480, 1200), world.now_s - 60)


def cancel_time(rng: random.Random, world: World, v: VisitPlan) -> float:
    """Between the booking and the visit (or now, for a visit still to come)."""
    book = v.times["book"]
    return book + (min(v.expected, world.now_s - 60) - book) * rng.uniform(0.2, 0.9)


def visit_row(world: World, v: VisitPlan) -> dict[str, Any]:
    at = {k: world.at(x) for k, x in v.times.items()}
    expected = world.at(v.expected)
    remind = expected - timedelta(minutes=30)
    reminded = remind if remind <= world.now and v.state is not V.CANCELLED else None
    return {
        "id": v.id, "session_id": v.session_id, "slot_id": v.slot_id, "patient_id": v.patient,
        "specialist_id": v.specialist.id, "institution_id": v.centre,
        "booked_by_id": v.booker.id, "consent_id": v.consent, "reason": "慢病复诊",
        "urgent": v.id % 20 == 0, "walk_in": v.slot_id is None, "state": v.state,
        "booked_at": at["book"], "expected_at": expected, "checked_in_at": at.get("check_in"),
        "called_at": at.get("call"), "finished_at": at.get("complete"),
        "reminded_at": reminded, "meeting_id": None,
        "note": "病情稳定，继续目前治疗" if v.state is V.COMPLETED else "",
    }  # fmt: skip


def visit_trail(trail: Trail, v: VisitPlan) -> None:
    base = {"entity": v.id, "inst": v.centre, "patient": v.patient}
    book = trail.kind("clinic.visit.book", "clinic_visit", True, walk_in=v.slot_id is None)
    trail.add(v.times["book"], book, actor=v.booker.id, subject=v.centre, **base)
    before = V.BOOKED.value
    for action in ("check_in", "call", "complete", "no_show", "cancel"):
        if action not in v.times:
            continue
        after = {"check_in": V.CHECKED_IN, "call": V.IN_VISIT, "complete": V.COMPLETED,
                 "no_show": V.NO_SHOW, "cancel": V.CANCELLED}[action].value  # fmt: skip
        actor = v.specialist if action in ("call", "complete") else v.booker
        trail.add(v.times[action], trail.step("clinic.visit", "clinic_visit", action, before,
                                              after), actor=actor.id, **base)  # fmt: skip
        if action == "call":
            read = trail.kind("patient.read", "patient", True)
            inst = v.specialist.institution_id
            trail.add(v.times["call"] + 30, read, entity=v.patient, inst=inst,
                      patient=v.patient, actor=v.specialist.id, subject=v.centre)  # fmt: skip
        before = after


def session_batch(
    rng: random.Random, world: World, ids: Ids, count: int, trail: Trail, tally: Counter[str],
    *, running: bool = False,
) -> Batch:  # fmt: skip
    """One clinic session with its slots and `count` visits; a `running` one is the named
    specialist's, begun 90 minutes ago (visits done, in progress, waiting and to come)."""
    specialist = world.named["specialist"] if running else rng.choice(world.specialists)
    day = working_time(world, rng, AHEAD) // 86400
    start = day * 86400 + (8.5 if rng.random() < 0.5 else 14.0) * 3600
    if running:
        start = world.now_s - 90 * 60
    end = start + SLOTS * SLOT_MINUTES * 60
    cancelled = rng.random() < 0.02 and not running
    state = SessionState.CANCELLED if cancelled else (
        SessionState.CLOSED if end < world.now_s else SessionState.PUBLISHED)  # fmt: skip
    sid = ids.take("clinic_session")
    published = min(start - rng.uniform(3, 14) * 86400, world.now_s - 3600)
    session = {"id": sid, "institution_id": specialist.institution_id,
               "specialist_id": specialist.id, "specialty": specialist.specialty,
               "title": "远程专科门诊", "starts_at": world.at(start), "ends_at": world.at(end),
               "slot_minutes": SLOT_MINUTES, "walk_in_capacity": WALK_INS, "state": state,
               "created_at": world.at(published)}  # fmt: skip
    inst = specialist.institution_id
    publish = trail.kind("clinic.session.publish", "clinic_session", slots=SLOTS, walk_in=WALK_INS)
    trail.add(published, publish, sid, actor=specialist.id, inst=inst)
    if state is not SessionState.PUBLISHED:
        action = "cancel" if cancelled else "close"
        t_end = min(start - 7200, world.now_s - 60) if cancelled else end
        trail.add(t_end, trail.step("clinic.session", "clinic_session", action, "published",
                                    state.value), sid, actor=specialist.id, inst=inst)  # fmt: skip
    tally[f"clinic_session.{state.value}"] += 1
    slots = [{"id": ids.take("clinic_slot"), "session_id": sid,
              "starts_at": world.at(start + k * SLOT_MINUTES * 60),
              "ends_at": world.at(start + (k + 1) * SLOT_MINUTES * 60), "visit_id": None}
             for k in range(SLOTS)]  # fmt: skip
    walk_ins = min(WALK_INS, sum(rng.random() < 0.1 for _ in range(count)))
    taken = rng.sample(range(SLOTS), count - walk_ins)
    visits = []
    for n in range(count):
        centre = rng.choice(world.centres)
        patient, consent = rng.choice(world.patients[centre])
        slot = slots[taken[n]] if n < len(taken) else None
        expected = start + taken[n] * SLOT_MINUTES * 60 if slot else start
        plan = VisitPlan(ids.take("clinic_visit"), sid, specialist, centre,
                         rng.choice(world.doctors[centre]), patient, consent,
                         slot["id"] if slot else None, expected)  # fmt: skip
        visit_state(rng, world, plan, cancelled)
        row = visit_row(world, plan)
        if slot is not None and plan.state is not V.CANCELLED:
            slot["visit_id"] = plan.id  # a cancelled visit frees its slot
        visit_trail(trail, plan)
        tally[f"clinic_visit.{plan.state.value}"] += 1
        visits.append(row)
    return {table(ClinicSession): [session], table(ClinicSlot): slots, table(ClinicVisit): visits}


def clinic_batches(
    world: World, n: int, ids: Ids, trail: Trail, tally: Counter[str]
) -> Iterator[Batch]:
    rng = random.Random("yiyun-bench-clinics")
    sessions = max(1, n // 20)
    batch: Batch = {table(ClinicSession): [], table(ClinicSlot): [], table(ClinicVisit): []}
    for k in range(sessions):
        count = n // sessions + (1 if k < n % sessions else 0)
        made = session_batch(rng, world, ids, count, trail, tally, running=k == sessions - 1)
        for tbl, rows in made.items():
            batch[tbl].extend(rows)
        if len(batch[table(ClinicVisit)]) >= CHUNK:
            yield batch
            batch = {table(ClinicSession): [], table(ClinicSlot): [], table(ClinicVisit): []}
    yield batch


# --- light consultations ---------------------------------------------------------------------

INQUIRY_OLD = {Q.CLOSED: 0.75, Q.ANSWERED: 0.18, Q.WITHDRAWN: 0.07}
INQUIRY_RECENT = {Q.OPEN: 0.25, Q.CLAIMED: 0.20, Q.ANSWERED: 0.35, Q.CLOSED: 0.15,
                  Q.WITHDRAWN: 0.05}  # fmt: skip
INQUIRY_PATH = {Q.OPEN: [], Q.CLAIMED: ["claim"], Q.ANSWERED: ["claim", "reply"],
                Q.CLOSED: ["claim", "reply", "close"], Q.WITHDRAWN: ["withdraw"]}  # fmt: skip
INQUIRY_HOURS = {"claim": 3.0, "reply": 2.0, "close": 24.0, "withdraw": 2.0}
INQUIRY_AFTER = {"claim": Q.CLAIMED, "reply": Q.ANSWERED, "close": Q.CLOSED,
                 "withdraw": Q.WITHDRAWN}  # fmt: skip


def resident_rows(rng: random.Random, world: World, ids: Ids, n: int) -> list[dict[str, Any]]:
    """Resident accounts (placeholders for the encrypted fields: nothing here decrypts them)."""
    rows = []
    for k in range(n):
        centre = rng.choice(world.centres)
        linked = rng.choice(world.patients[centre])[0] if rng.random() < 0.3 else None
        digest = hashlib.sha256(f"bench-resident-{k}".encode()).hexdigest()
        joined = world.start - timedelta(days=rng.uniform(0, 400))
        rows.append({"id": ids.take("resident_account"), "phone_hash": digest,
                     "phone_enc": "bench", "phone_masked": f"139****{k % 10_000:04d}",
                     "name": f"居民{k}", "id_number_hash": digest[::-1], "id_number_enc": "bench",
                     "id_number_masked": f"440399********{k % 10_000:04d}",
                     "institution_id": centre, "patient_id": linked, "locale": None,
                     "active": True, "last_sign_in_at": None, "created_at": joined,
                     "updated_at": joined})  # fmt: skip
    return rows


def inquiry_row(
    rng: random.Random, world: World, iid: int, t: float, resident: dict[str, Any],
    trail: Trail, reply_hours: float,
) -> dict[str, Any]:  # fmt: skip
    centre = resident["institution_id"]
    at_lead = rng.random() < 0.2
    doctor = rng.choice(world.lead_specialists if at_lead else world.doctors[centre])
    pool = world.lead_id if at_lead else centre
    recent = world.now_s - t < 3 * 86400
    state = cast("InquiryState", draw(rng, INQUIRY_RECENT if recent else INQUIRY_OLD))
    steps = INQUIRY_PATH[state]
    times = dict(zip(steps, spaced(rng, t, [INQUIRY_HOURS[s] for s in steps], world.now_s - t),
                     strict=True))  # fmt: skip
    due = t + reply_hours * 3600
    escalated = due if state in (Q.OPEN, Q.CLAIMED) and due <= world.now_s else None
    patient = resident["patient_id"]
    base = {"entity": iid, "inst": pool, "patient": patient or 0}
    dept = doctor.department_id if at_lead else None
    trail.add(t, trail.kind("inquiry.ask", "inquiry", files=0, department_id=dept),
              actor=-resident["id"], **base)  # fmt: skip
    before = Q.OPEN.value
    for action, at in times.items():
        after = INQUIRY_AFTER[action].value
        actor = doctor.id if action in ("claim", "reply") else -resident["id"]
        trail.add(at, trail.step("inquiry", "inquiry", action, before, after), actor=actor, **base)
        if action == "claim":
            trail.add(at + 60, trail.kind("inquiry.read", "inquiry", True), iid,
                      inst=doctor.institution_id, patient=patient or 0, actor=doctor.id,
                      subject=centre)  # fmt: skip
        before = after
    if escalated is not None:
        trail.add(escalated, trail.step("inquiry", "inquiry", "escalate", state.value,
                                        state.value), actor=0, **base)  # fmt: skip
    claimed = state not in (Q.OPEN, Q.WITHDRAWN)
    last = max([t, *times.values()])
    return {
        "id": iid, "resident_id": resident["id"], "institution_id": pool, "department_id": dept,
        "patient_id": patient, "title": "用药咨询", "state": state,
        "claimed_by_id": doctor.id if claimed else None,
        "claimed_at": world.at(times["claim"]) if "claim" in times else None,
        "reply_due_at": world.at(due),
        "escalated_at": world.at(escalated) if escalated is not None else None,
        "answered_at": world.at(times["reply"]) if "reply" in times else None,
        "closed_at": world.at(times["close"]) if "close" in times else None,
        "rating": 5 if state is Q.CLOSED else None, "rating_comment": "",
        "meeting_id": None, "guest_link_enc": None, "guest_code_enc": None,
        "created_at": world.at(t), "updated_at": world.at(last),
    }  # fmt: skip


def inquiry_batches(
    world: World, n: int, ids: Ids, trail: Trail, tally: Counter[str]
) -> Iterator[Batch]:
    rng = random.Random("yiyun-bench-inquiries")
    residents = resident_rows(rng, world, ids, max(50, n // 5))
    tally["resident_account.all"] = len(residents)
    yield {table(Resident): residents}
    hours = InquirySettings().reply_hours
    rows: list[dict[str, Any]] = []
    for t in sorted(working_time(world, rng) for _ in range(n)):
        row = inquiry_row(rng, world, ids.take("inquiry_inquiry"), t, rng.choice(residents),
                          trail, hours)  # fmt: skip
        tally[f"inquiry_inquiry.{row['state'].value}"] += 1
        rows.append(row)
        if len(rows) >= CHUNK:
            yield {table(Inquiry): rows}
            rows = []
    yield {table(Inquiry): rows}


# --- loading ---------------------------------------------------------------------------------


async def first_ids(conn: AsyncConnection) -> dict[str, int]:
    return {
        t.name: int(await conn.scalar(select(func.coalesce(func.max(t.c.id), 0))) or 0) + 1
        for t in LOADED
    }


async def insert_batch(conn: AsyncConnection, batch: Batch) -> None:
    for tbl, rows in batch.items():  # parents first: the dicts are built in that order
        for i in range(0, len(rows), CHUNK):
            await conn.execute(insert(tbl), rows[i : i + CHUNK])


async def fix_sequences(conn: AsyncConnection) -> None:
    """PostgreSQL: move each serial past the ids given explicitly."""
    if conn.dialect.name != "postgresql":
        return
    for t in LOADED:
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "  # noqa: S608 - our tables
            f"(SELECT max(id) FROM {t.name}))"))  # fmt: skip


async def load_workflows(
    engine: AsyncEngine, world: World, scale: Scale, trail: Trail
) -> Counter[str]:
    tally: Counter[str] = Counter()
    async with engine.begin() as conn:
        ids = Ids(await first_ids(conn))
        for batches in (
            consult_batches(world, scale.consults, ids, trail, tally),
            clinic_batches(world, scale.visits, ids, trail, tally),
            inquiry_batches(world, scale.inquiries, ids, trail, tally),
        ):
            for batch in batches:
                await insert_batch(conn, batch)
        await fix_sequences(conn)
    return tally


def actors_of(world: World, trail: Trail) -> dict[int, audit.Actor]:
    actors = {0: audit.SYSTEM}
    for p in world.people.values():
        actors[p.id] = audit.Actor(
            user_id=p.id, username=p.username, institution_id=p.institution_id
        )
    for rid in set(trail.cols["actor"]) - set(actors):
        actors[rid] = audit.Actor(user_id=None, username=f"resident:{-rid}")
    return actors


async def write_trail(
    factory: async_sessionmaker[AsyncSession], world: World, trail: Trail
) -> None:
    """Append the entries in time order through `audit.record()` and its commit hook."""
    order = np.argsort(np.frombuffer(trail.t, dtype=np.float64), kind="stable")
    actors = actors_of(world, trail)
    c = trail.cols
    for lo in range(0, len(order), AUDIT_BATCH):
        async with transaction(factory) as s:
            for i in order[lo : lo + AUDIT_BATCH].tolist():
                kind = trail.kinds[c["kind"][i]]
                subject = c["subject"][i]
                await audit.record(
                    session=s, actor=actors[c["actor"][i]], action=kind.action,
                    entity_type=kind.entity_type, entity_id=c["entity"][i],
                    patient_id=c["patient"][i] or None, institution_id=c["inst"][i] or None,
                    details=kind.details, at=world.at(trail.t[i]),
                    subject_institutions=frozenset((subject,)) if subject else None,
                )  # fmt: skip


async def row_counts(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    tables = [*LOADED, table(AuditEvent), table(Patient), table(User), table(Institution)]
    async with factory() as s:
        return {
            t.name: int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in tables
        }


async def build(url: str, data_dir: Path, scale: Scale) -> tuple[dict[str, Any], World]:
    """Seed the demo world, load the year of workflows and its audit trail; the timings."""
    settings = with_secrets(Settings(env="demo", data_dir=data_dir, db=DbSettings(url=url)))
    passwords.configure(time_cost=1, memory_kib=1024)  # demo staff passwords only
    engine = create_engine(url)
    factory = session_factory(engine)
    out: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        await seed(factory, settings, patients_per_centre=scale.patients_per_centre)
        out["demo_seconds"] = round(time.perf_counter() - t, 1)
        world = await load_world(factory)
        trail = Trail()
        t = time.perf_counter()
        tally = await load_workflows(engine, world, scale, trail)
        out["workflows_seconds"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        await write_trail(factory, world, trail)
        out["audit_seconds"] = round(time.perf_counter() - t, 1)
        out["audit_entries_generated"] = len(trail)
        if engine.dialect.name == "postgresql":
            t = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            out["analyze_seconds"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        async with factory() as s:
            verified = await audit.verify(session=s)
        out["verify"] = {"ok": verified.ok, "checked": verified.checked,
                         "seconds": round(time.perf_counter() - t, 1)}  # fmt: skip
        out["seed_seconds"] = round(sum(v for k, v in out.items() if k.endswith("_seconds")), 1)
        out["rows"] = await row_counts(factory)
        out["states"] = dict(sorted(tally.items()))
        return out, world
    finally:
        await engine.dispose()


# --- worklists, in process -------------------------------------------------------------------


def worklist_cases() -> list[tuple[str, str, Call]]:
    """(name, demo username, the service call behind the route)."""
    return [
        ("consult_dispatch", "dispatcher",
         lambda s, p: consult_service.worklist(session=s, principal=p, view="dispatch")),
        ("consult_mine", "doctor",
         lambda s, p: consult_service.worklist(session=s, principal=p, view="mine")),
        ("consult_invited", "specialist",
         lambda s, p: consult_service.worklist(session=s, principal=p, view="invited")),
        ("clinic_specialist_all", "specialist",
         lambda s, p: board.worklist(session=s, principal=p, day="all")),
        ("clinic_specialist_today", "specialist",
         lambda s, p: board.worklist(session=s, principal=p, day="today")),
        ("clinic_centre_all", "doctor",
         lambda s, p: board.worklist(session=s, principal=p, day="all")),
        ("inquiry_pool", "doctor",
         lambda s, p: inquiry_service.worklist(session=s, principal=p, view="pool")),
        ("inquiry_mine", "doctor",
         lambda s, p: inquiry_service.worklist(session=s, principal=p, view="mine")),
    ]  # fmt: skip


def size_of(result: Any) -> dict[str, int]:
    """What a worklist returned: items shown and the total it counted."""
    if isinstance(result, list):
        return {"items": len(result)}
    items = getattr(result, "items", None)
    if items is None:
        items = getattr(result, "rows", [])
    return {"items": len(items), "total": int(result.total)}


def percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
    }


async def principal_for(factory: async_sessionmaker[AsyncSession], username: str) -> Principal:
    async with factory() as s:
        user = await auth_service.user_by_username(s, username)
        if user is None:
            raise SystemExit(f"demo user {username!r} not found")
        return auth_service.principal_of(user)


def is_scan(dialect: str, line: str) -> bool:
    if dialect == "sqlite":
        return line.startswith("SCAN") or "TEMP B-TREE" in line
    return "Seq Scan" in line


async def explain(engine: AsyncEngine, call: Call, principal: Principal) -> list[dict[str, Any]]:
    """The plan of every SELECT the call runs, with its full scans."""
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT":
            seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        async with session_factory(engine)() as s:
            await call(s, principal)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)
    dialect = engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    out = []
    async with engine.connect() as conn:
        for statement, params in seen:
            rows = (await conn.exec_driver_sql(prefix + statement, tuple(params))).all()
            lines = [str(r[-1] if dialect == "sqlite" else r[0]) for r in rows]
            scans = [x.strip() for x in lines if is_scan(dialect, x.strip())]
            out.append({"sql": " ".join(statement.split())[:300], "plan": lines, "scans": scans})
    return out


async def time_worklists(url: str, repeat: int) -> tuple[dict[str, Any], dict[str, Any]]:
    engine = create_engine(url)
    factory = session_factory(engine)
    figures: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    try:
        for name, username, call in worklist_cases():
            principal = await principal_for(factory, username)
            for _ in range(2):  # warm up
                async with factory() as s:
                    result = await call(s, principal)
            samples = []
            for _ in range(repeat):
                async with factory() as s:
                    t = time.perf_counter()
                    await call(s, principal)
                    samples.append((time.perf_counter() - t) * 1000)
            figures[name] = {"as": username, **percentiles(samples), **size_of(result)}
            plans[name] = await explain(engine, call, principal)
            print(f"  {name:<24} {figures[name]}", flush=True)
    finally:
        await engine.dispose()
    return figures, plans


# --- an audited read through the app ---------------------------------------------------------


async def related_patient(session: AsyncSession, preferred: Person) -> tuple[int, int] | None:
    """(patient, specialist) of an open consultation the specialist accepted, the patient
    outside the specialist's institutions (so only the relationship grants the read);
    the named specialist's if they have one."""
    row = (
        await session.execute(
            select(Consult.patient_id, ConsultExpert.expert_id)
            .join(ConsultExpert, ConsultExpert.consult_id == Consult.id)
            .where(
                ConsultExpert.answer == Answer.ACCEPTED.value,
                Consult.state.in_([x.value for x in OPEN_STATES]),
                ~select(PatientRecordNo.id)
                .where(
                    PatientRecordNo.patient_id == Consult.patient_id,
                    PatientRecordNo.institution_id == ConsultExpert.institution_id,
                )
                .exists(),
            )
            .order_by((ConsultExpert.expert_id == preferred.id).desc(), Consult.id.desc())
            .limit(1)
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else None


async def fixtures(url: str, world: World) -> dict[str, Any]:
    """Bearer tokens for the doctor and a specialist, and the patients they read."""
    engine = create_engine(url)
    factory = session_factory(engine)
    doctor = world.named["doctor"]
    try:
        async with factory() as s:
            own = await s.scalar(
                select(Patient.id)
                .where(Patient.home_institution_id == doctor.institution_id)
                .order_by(Patient.id)
                .limit(1)
            )
            related = await related_patient(s, world.named["specialist"])
        names = {"doctor": doctor.username}
        if related is not None:
            names["specialist"] = world.people[related[1]].username
        async with transaction(factory) as s:
            tokens = {
                role: (await auth_service.create_api_token(session=s, username=name,
                                                           name="bench", days=1)).token
                for role, name in names.items()
            }  # fmt: skip
        async with factory() as s:
            head = await s.scalar(select(func.max(AuditEvent.seq)))
        return {"tokens": tokens, "doctor": doctor, "own_patient": own,
                "related": related, "audit_head": int(head or 0)}  # fmt: skip
    finally:
        await engine.dispose()


def quiet_logs() -> None:
    """The access log stays on (as deployed) but is written to a null stream."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(io.StringIO())  # type: ignore[arg-type]


async def drive(client: Any, path: str, headers: dict[str, str], total: int) -> dict[str, float]:
    """`total` GETs from CONCURRENCY clients: requests/s, p50/p99 and CPU ms per request."""
    latencies: list[float] = []
    per_client = max(1, total // CONCURRENCY)

    async def one() -> None:
        for _ in range(per_client):
            t = time.perf_counter()
            resp = await client.get(path, headers=headers)
            latencies.append(time.perf_counter() - t)
            if resp.status_code != 200:
                raise SystemExit(f"{path}: HTTP {resp.status_code} {resp.text[:200]}")

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / wall,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "cpu_ms": cpu * 1000 / n,
    }


def api_routes(fx: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    doctor = {"Authorization": f"Bearer {fx['tokens']['doctor']}"}
    routes = {
        "institution": (f"/api/v1/institutions/{fx['doctor'].institution_id}", doctor),
        "patient": (f"/api/v1/patients/{fx['own_patient']}", doctor),
    }
    if fx["related"] is not None:
        specialist = {"Authorization": f"Bearer {fx['tokens']['specialist']}"}
        routes["patient_via_consult"] = (f"/api/v1/patients/{fx['related'][0]}", specialist)
    return routes


async def measure_app(
    url: str, data_dir: Path, routes: dict[str, tuple[str, dict[str, str]]], scale: Scale
) -> dict[str, list[dict[str, float]]]:
    import httpx

    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_api import APP_ENV

    from yiyun.web.app import create_app

    app = create_app(Settings(env=APP_ENV, data_dir=data_dir, db=DbSettings(url=url)))
    quiet_logs()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, (path, headers) in list(routes.items()):
                resp = await client.get(path, headers=headers)
                if resp.status_code != 200 and name == "patient_via_consult":
                    print(f"  {name}: HTTP {resp.status_code}, left out", flush=True)
                    del routes[name]  # the relationship did not grant the read
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in routes}
            for path, headers in routes.values():
                await drive(client, path, headers, 2 * CONCURRENCY)  # warm up
            for n in range(scale.rounds):
                for name, (path, headers) in routes.items():
                    quiet_logs()
                    result = await drive(client, path, headers, scale.requests)
                    samples[name].append(result)
                    print(f"  round {n + 1} {name:<20} {result['rps']:7.0f} req/s  "
                          f"p99 {result['p99_ms']:7.1f} ms  CPU {result['cpu_ms']:.2f} ms",
                          flush=True)  # fmt: skip
    return samples


def summarise(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}
        for name, rows in samples.items()
    }
    base = samples["institution"]
    for name in [n for n in samples if n != "institution"]:
        rounds = list(zip(samples[name], base, strict=True))
        out[f"{name}_vs_institution"] = {
            "rps_ratio": round(statistics.median(a["rps"] / b["rps"] for a, b in rounds), 3),
            "p99_ratio": round(statistics.median(a["p99_ms"] / b["p99_ms"] for a, b in rounds), 2),
            "cpu_ratio": round(statistics.median(a["cpu_ms"] / b["cpu_ms"] for a, b in rounds), 2),
        }
    return out


async def time_api(url: str, data_dir: Path, world: World, scale: Scale) -> dict[str, Any]:
    fx = await fixtures(url, world)
    routes = api_routes(fx)
    samples = await measure_app(url, data_dir, routes, scale)
    out = summarise(samples)
    out["routes"] = {name: path for name, (path, _) in routes.items()}
    if fx["related"] is not None:
        out["routes"]["patient_via_consult_as"] = world.people[fx["related"][1]].username
    out["requests_per_round"] = (scale.requests // CONCURRENCY) * CONCURRENCY
    out["rounds"], out["concurrency"] = scale.rounds, CONCURRENCY
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            head = int(await s.scalar(select(func.max(AuditEvent.seq))) or 0)
    finally:
        await engine.dispose()
    if "patient_via_consult" in routes:
        out["relationship_plans"] = await relationship_plans(url, world, fx["related"])
    audited = sum(1 for name in routes if name.startswith("patient"))
    out["audit_entries_during_run"] = head - fx["audit_head"]
    per_route = 1 + 2 * CONCURRENCY + scale.rounds * out["requests_per_round"]  # probe, warm-up
    out["audited_requests"] = audited * per_route
    return out


async def relationship_plans(
    url: str, world: World, related: tuple[int, int]
) -> list[dict[str, Any]]:
    """The statements `policy.related_to_patient` runs for the consultation-granted read
    (the relationships are registered by `create_app`, which ran before)."""
    patient_id, specialist_id = related
    engine = create_engine(url)
    try:
        principal = await principal_for(
            session_factory(engine), world.people[specialist_id].username
        )

        async def call(s: AsyncSession, p: Principal) -> bool:
            return await policy.related_to_patient(s, p, patient_id, Action.READ_PATIENT)

        return await explain(engine, call, principal)
    finally:
        await engine.dispose()


# --- the run ---------------------------------------------------------------------------------


async def run_database(url: str, data_dir: Path, scale: Scale) -> dict[str, Any]:
    print(f"seeding {url.split(':')[0]} ...", flush=True)
    await asyncio.to_thread(migrate.upgrade, url)
    load, world = await build(url, data_dir, scale)
    print(f"  {json.dumps({k: v for k, v in load.items() if k != 'states'})}", flush=True)
    worklists, plans = await time_worklists(url, scale.repeat)
    api = await time_api(url, data_dir, world, scale)
    if "relationship_plans" in api:
        plans["patient_via_consult"] = api.pop("relationship_plans")
    print(f"  api {json.dumps(api)}", flush=True)
    return {"load": load, "worklists": worklists, "api": api, "plans": plans}


async def run_postgresql(scale: Scale) -> dict[str, Any]:
    name = f"yiyun_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        with tempfile.TemporaryDirectory(prefix="yiyun-bench-wf-") as tmp:
            return await run_database(f"{url}/{name}", Path(tmp), scale)
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1/50 of the rows, few iterations")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    scale = QUICK if args.quick else FULL
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_avg_start": os.getloadavg()},
        "quick": args.quick,
        "scale": vars(scale) | {"days": DAYS, "clinic_days_ahead": AHEAD},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="yiyun-bench-wf-") as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        result["sqlite"] = await run_database(url, Path(tmp), scale)
    if not args.no_pg:
        result["postgresql"] = await run_postgresql(scale)
    result["machine"]["load_avg_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
