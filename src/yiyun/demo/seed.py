"""Write the demo consortium to the database: idempotent, in bulk, one audit entry per run.

Every row has a stable key (region and institution codes, department codes, terminal
codes, usernames, patient numbers), so a second run finds what exists and only tops up
what is missing. Each site is its own transaction: an interrupted seed resumes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM
from yiyun.auth import passwords, totp
from yiyun.auth import service as auth_service
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import Base, transaction
from yiyun.demo import data, people
from yiyun.demo.data import SiteSpec
from yiyun.demo.people import DemoLogin, PatientPlan, StaffPlan, TerminalPlan, demo_totp_secret
from yiyun.org import specialties
from yiyun.org.enums import CLINICAL_ROLES, TerminalStatus
from yiyun.org.models import Department, Institution, Region, Terminal, User, UserRole
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent, Document, Patient, PatientRecordNo
from yiyun.records.service import ID_CONTEXT, PHONE_CONTEXT
from yiyun.settings import SecuritySettings, Settings

logger = logging.getLogger(__name__)

# Called as progress(done, total, label) after each step.
ProgressFn = Callable[[int, int, str], None]
KINDS = ("region", "institutions", "departments", "terminals", "users", "patients",
         "consents", "documents")  # fmt: skip


@dataclass
class DemoSummary:
    created: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)
    logins: list[DemoLogin] = field(default_factory=list)
    seconds: float = 0.0
    residents: list[Any] = field(default_factory=list)  # inquiry.demo.DemoResident


@dataclass
class _Known:
    """What the database already holds, keyed the way the plan is keyed."""

    inst: dict[str, int]  # site key -> id
    depts: dict[tuple[int, str], int]
    users: dict[str, int]
    terminals: set[str]
    patients: dict[str, int]  # mpi -> id
    id_hashes: set[str]
    consents: set[tuple[int, str, int | None]]
    documents: set[tuple[int, str]]


@dataclass
class _Run:
    cfg: SecuritySettings
    box: FieldCipher
    known: _Known
    summary: DemoSummary
    stamp: datetime
    _password_hash: str | None = None

    def password_hash(self) -> str:
        # argon2 is deliberately slow: hash the one demo password once per run, lazily.
        if self._password_hash is None:
            self._password_hash = passwords.hash_password(data.DEMO_PASSWORD)
        return self._password_hash

    def tally(self, kind: str, created: int, existing: int) -> None:
        self.summary.created[kind] += created
        self.summary.existing[kind] += existing


async def _structure(
    session: AsyncSession, sites: list[SiteSpec], summary: DemoSummary
) -> tuple[int, dict[str, int]]:
    """The region and every institution, hospitals before the CHCs that hang under them."""
    region = await session.scalar(select(Region).where(Region.code == data.REGION_CODE))
    if region is None:
        region = Region(code=data.REGION_CODE, name=data.REGION_NAME, name_en=data.REGION_NAME_EN)
        session.add(region)
        await session.flush()
        summary.created["region"] += 1
    else:
        summary.existing["region"] += 1
    codes = [s.code for s in sites]
    rows = await session.execute(
        select(Institution.code, Institution.id).where(Institution.code.in_(codes))
    )
    ids: dict[str, int] = {code: id_ for code, id_ in rows}
    summary.existing["institutions"] += len(ids)
    for top_level in (True, False):
        new = [
            Institution(
                code=s.code,
                name=s.name,
                name_en=s.name_en,
                kind=s.kind,
                level=s.level,
                region_id=region.id,
                parent_id=ids[data.code_of(s.parent_key)] if s.parent_key else None,
                address=s.address,
                map_x=s.map_x,
                map_y=s.map_y,
            )
            for s in sites
            if (s.parent_key is None) is top_level and s.code not in ids
        ]
        session.add_all(new)
        await session.flush()
        ids.update({i.code: i.id for i in new})
        summary.created["institutions"] += len(new)
    return region.id, {s.key: ids[s.code] for s in sites}


async def _load_known(
    session: AsyncSession, inst_ids: dict[str, int], usernames: list[str]
) -> _Known:
    ids = list(inst_ids.values())
    depts = await session.execute(
        select(Department.institution_id, Department.code, Department.id).where(
            Department.institution_id.in_(ids)
        )
    )
    users = await session.execute(
        select(User.username, User.id).where(User.username.in_(usernames))
    )
    terms = await session.scalars(select(Terminal.code).where(Terminal.institution_id.in_(ids)))
    demo_patient = Patient.home_institution_id.in_(ids)
    patient_rows = select(Patient.mpi, Patient.id, Patient.id_number_hash).where(demo_patient)
    patients = (await session.execute(patient_rows)).all()
    consents = await session.execute(
        select(Consent.patient_id, Consent.purpose, Consent.target_institution_id)
        .join(Patient, Consent.patient_id == Patient.id)
        .where(demo_patient)
    )
    documents = await session.execute(
        select(Document.patient_id, Document.title)
        .join(Patient, Document.patient_id == Patient.id)
        .where(demo_patient)
    )
    return _Known(
        inst=inst_ids,
        depts={(i, c): d for i, c, d in depts},
        users={name: id_ for name, id_ in users},
        terminals=set(terms.all()),
        patients={mpi: pid for mpi, pid, _ in patients},
        id_hashes={h for _, _, h in patients if h},
        consents={(p, str(c), t) for p, c, t in consents},
        documents={(p, t) for p, t in documents},
    )


async def _bulk(session: AsyncSession, model: type[Base], rows: list[dict[str, object]]) -> None:
    """One executemany INSERT through the ORM (the unit of work would insert row by row on
    SQLite, which has no sentinel to match generated ids back to the rows)."""
    if rows:
        await session.execute(insert(model), rows)


async def _departments(session: AsyncSession, run: _Run, site: SiteSpec, inst_id: int) -> None:
    new = [d for d in site.departments if (inst_id, d.code) not in run.known.depts]
    run.tally("departments", len(new), len(site.departments) - len(new))
    if not new:
        return
    await _bulk(session, Department, [
        {"institution_id": inst_id, "code": d.code, "name": d.name, "name_en": d.name_en}
        for d in new
    ])  # fmt: skip
    rows = await session.execute(select(Department.code, Department.id).where(
        Department.institution_id == inst_id))  # fmt: skip
    run.known.depts.update({(inst_id, code): id_ for code, id_ in rows})


async def _terminals(
    session: AsyncSession, run: _Run, inst_id: int, plans: list[TerminalPlan]
) -> None:
    new = [t for t in plans if t.code not in run.known.terminals]
    run.tally("terminals", len(new), len(plans) - len(new))
    run.known.terminals.update(t.code for t in new)
    # Online and offline come from heartbeats (the demo's simulated terminals, ops/simulate),
    # never from the seed: every terminal starts offline, never seen.
    await _bulk(session, Terminal, [
        {"institution_id": inst_id, "code": t.code, "name": t.name, "kind": t.kind,
         "status": TerminalStatus.OFFLINE, "last_seen_at": None}
        for t in new
    ])  # fmt: skip


async def _staff(session: AsyncSession, run: _Run, inst_id: int, plans: list[StaffPlan]) -> None:
    new = [
        User(
            username=s.username,
            display_name=s.display_name,
            institution_id=inst_id,
            department_id=run.known.depts.get((inst_id, s.dept_code)) if s.dept_code else None,
            title=s.title,
            licence_no=s.licence_no,
            licence_valid_until=s.licence_valid_until,
            # as vocabulary codes: the demo's words of expertise (高血压) name none, so a
            # staff member holds their department's (an API edit keeps to the list)
            specialties=sorted(specialties.held(s.specialties, s.dept_code))
            if s.specialties
            else [],
            years_of_practice=s.years,
            password_hash=run.password_hash(),
            password_changed_at=run.stamp,
            roles=[UserRole(role=s.role)],
        )
        for s in plans
        if s.username not in run.known.users
    ]
    run.tally("users", len(new), len(plans) - len(new))
    if not new:
        return
    session.add_all(new)
    await session.flush()
    for user in new:
        await auth_service.enrol_with_secret(
            session=session,
            cfg=run.cfg,
            user=user,
            secret_b32=demo_totp_secret(run.cfg, user.username),
        )
        run.known.users[user.username] = user.id


def _patient_row(run: _Run, plan: PatientPlan, inst_id: int, author_id: int) -> dict[str, object]:
    """The row `records.service.register` would write: number encrypted, hashed and masked."""
    guardian_id = run.known.patients.get(plan.guardian_mpi) if plan.guardian_mpi else None
    return {
        "mpi": plan.mpi, "name": plan.name, "sex": plan.sex, "birth_on": plan.birth_on,
        "id_number_hash": run.box.lookup_hash(plan.id_number, context=ID_CONTEXT),
        "id_number_enc": run.box.encrypt(plan.id_number, context=ID_CONTEXT),
        "id_number_masked": resident_id.mask(plan.id_number),
        "phone_enc": run.box.encrypt(plan.phone, context=PHONE_CONTEXT) if plan.phone else None,
        "address": plan.address, "home_institution_id": inst_id, "guardian_id": guardian_id,
        "guardian_relation": plan.guardian_relation if guardian_id else None,
        "created_by_id": author_id,
        "created_at": run.stamp - timedelta(days=plan.days_since_registration),
    }  # fmt: skip


async def _patients(
    session: AsyncSession, run: _Run, inst_id: int, plans: list[PatientPlan], author_id: int
) -> None:
    """Adults first (they are the guardians), then minors, then consents and documents."""
    lead_id = run.known.inst["h01"]
    for minors in (False, True):
        group = [p for p in plans if (p.guardian_mpi is not None) is minors]
        new = [p for p in group if p.mpi not in run.known.patients]
        rows = [_patient_row(run, p, inst_id, author_id) for p in new]
        # Skip a number another record already holds, and a minor whose guardian is missing.
        keep = [(p, r) for p, r in zip(new, rows, strict=True)
                if r["id_number_hash"] not in run.known.id_hashes
                and (p.guardian_mpi is None or r["guardian_id"] is not None)]  # fmt: skip
        run.tally("patients", len(keep), len(group) - len(new))
        if not keep:
            continue
        await _bulk(session, Patient, [r for _, r in keep])
        ids = await session.execute(select(Patient.mpi, Patient.id).where(
            Patient.mpi.in_([p.mpi for p, _ in keep])))  # fmt: skip
        run.known.patients.update({mpi: id_ for mpi, id_ in ids})
        run.known.id_hashes.update(str(r["id_number_hash"]) for _, r in keep)
        numbers = [{"patient_id": run.known.patients[p.mpi], "institution_id": inst_id,
                    "record_no": p.record_no} for p, _ in keep]  # fmt: skip
        # Shared with the lead hospital: the patient has a record number there too.
        numbers += [{"patient_id": run.known.patients[p.mpi], "institution_id": lead_id,
                     "record_no": f"H01-{p.mpi[5:]}"}
                    for p, _ in keep if ConsentPurpose.SHARING in p.consents]  # fmt: skip
        await _bulk(session, PatientRecordNo, numbers)
    await _consents_and_documents(session, run, inst_id, plans, author_id)


async def _consents_and_documents(
    session: AsyncSession, run: _Run, inst_id: int, plans: list[PatientPlan], author_id: int
) -> None:
    """What each planned patient should have on file; tops up a patient who lacks some."""
    lead_id = run.known.inst["h01"]
    consents: list[dict[str, object]] = []
    documents: list[dict[str, object]] = []
    for plan in plans:
        pid = run.known.patients.get(plan.mpi)
        if pid is None:
            continue
        granted = run.stamp - timedelta(days=plan.days_since_registration)
        for purpose in plan.consents:
            target = lead_id if purpose is ConsentPurpose.SHARING else None
            if (pid, str(purpose), target) in run.known.consents:
                continue
            run.known.consents.add((pid, str(purpose), target))
            consents.append({"patient_id": pid, "purpose": purpose, "granted_at": granted,
                             "target_institution_id": target, "granted_by_id": author_id,
                             "note": "示例知情同意（演示数据）"})  # fmt: skip
        for kind, title, body in plan.documents:
            if (pid, title) in run.known.documents:
                continue
            run.known.documents.add((pid, title))
            documents.append(
                {"patient_id": pid, "institution_id": inst_id, "kind": kind, "title": title,
                 "body": body, "created_by_id": author_id}
            )  # fmt: skip
    planned_consents = sum(len(p.consents) for p in plans)
    planned_documents = sum(len(p.documents) for p in plans)
    run.tally("consents", len(consents), planned_consents - len(consents))
    run.tally("documents", len(documents), planned_documents - len(documents))
    await _bulk(session, Consent, consents)
    await _bulk(session, Document, documents)


async def _named_logins(session: AsyncSession, run: _Run, sites: list[SiteSpec]) -> list[DemoLogin]:
    """The printed logins; one whose TOTP drifted from the derived secret is re-enrolled."""
    names = {s.key: s.name for s in sites}
    demo_insts = set(run.known.inst.values())
    users = {
        u.username: u
        for u in await session.scalars(
            select(User).where(User.username.in_([n.username for n in data.NAMED_LOGINS]))
        )
    }
    out = []
    for login in data.NAMED_LOGINS:
        user = users.get(login.username)
        if user is None or user.institution_id not in demo_insts:
            continue  # the name is taken outside the demo district: not ours to print
        wanted = demo_totp_secret(run.cfg, login.username)
        if _stored_totp(run, user) != wanted:
            await auth_service.enrol_with_secret(
                session=session, cfg=run.cfg, user=user, secret_b32=wanted
            )
            run.summary.created["totp_reenrolled"] += 1
        uri = totp.provisioning_uri(wanted, username=login.username, issuer=run.cfg.totp_issuer)
        out.append(DemoLogin(login.username, user.display_name, login.role,
                             names[login.site_key], data.DEMO_PASSWORD, wanted, uri))  # fmt: skip
    return out


def _stored_totp(run: _Run, user: User) -> str | None:
    if user.totp_secret_enc is None or user.totp_enrolled_at is None:
        return None
    try:
        return run.box.decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
    except ValueError:  # encrypted under another data key
        return None


async def seed(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    progress: ProgressFn | None = None,
    patients_per_centre: int = 20,
) -> DemoSummary:
    """Create (or top up) the demo consortium and return what was created and found."""
    started = time.perf_counter()
    cfg = settings.security
    summary = DemoSummary()
    sites = data.sites()
    site_no = {s.key: n for n, s in enumerate(sites)}
    staff = {s.key: people.staff_for(s, site_no[s.key]) for s in sites}
    for n, login in enumerate(data.NAMED_LOGINS, start=1):
        staff[login.site_key].append(people.named_staff(login, n))
    used_ids: set[str] = set()
    patients = {
        s.key: people.patients_for(s, people.patient_count(s, patients_per_centre), used_ids)
        for s in sites
    }
    total = len(sites) + 2
    report = progress or (lambda done, total, label: None)
    async with transaction(factory) as session:
        region_id, inst_ids = await _structure(session, sites, summary)
        usernames = [p.username for plans in staff.values() for p in plans]
        known = await _load_known(session, inst_ids, usernames)
    run = _Run(cfg=cfg, box=auth_service.cipher(cfg), known=known, summary=summary, stamp=now())
    report(1, total, data.REGION_NAME)
    for done, site in enumerate(sites, start=2):
        inst_id = inst_ids[site.key]
        async with transaction(factory) as session:
            await _departments(session, run, site, inst_id)
            await _terminals(session, run, inst_id, people.terminals_for(site))
            await _staff(session, run, inst_id, staff[site.key])
            if patients[site.key]:
                author = next(p.username for p in staff[site.key] if p.role in CLINICAL_ROLES)
                await _patients(session, run, inst_id, patients[site.key], run.known.users[author])
        report(done, total, site.name)
    async with transaction(factory) as session:
        summary.logins = await _named_logins(session, run, sites)
        summary.seconds = round(time.perf_counter() - started, 2)
        await audit.record(
            session=session,
            actor=SYSTEM,
            action="demo.seed",
            entity_type="region",
            entity_id=region_id,
            details={
                "created": dict(summary.created),
                "existing": dict(summary.existing),
                "patients_per_centre": patients_per_centre,
                "seconds": summary.seconds,
            },
        )
    report(total, total, "done")
    logger.info(
        "demo seed: %d rows created in %.1f s", sum(summary.created.values()), summary.seconds
    )
    return summary
