"""Staff, terminals and residents of the demo consortium, generated per site.

Pure functions: nothing here touches the database; `yiyun.demo.seed` writes what they
describe. Each site and purpose has its own `random.Random`, so every run describes the
same people and the seed can top up whatever is missing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import date, timedelta

from yiyun.demo.data import (
    ANCHOR,
    AREA_CODE,
    COMMUNITIES,
    GIVEN_FEMALE,
    GIVEN_MALE,
    GP_TITLES,
    LAB_RESULTS,
    SEED,
    SPECIALIST_TITLES,
    SUMMARIES,
    SURNAMES,
    YEARS_BY_TITLE,
    DeptSpec,
    NamedLogin,
    SiteSpec,
)
from yiyun.org.enums import (
    CLINICAL_ROLES,
    InstitutionKind,
    Role,
    StaffTitle,
    TerminalKind,
    TerminalStatus,
)
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose, DocumentKind, GuardianRelation, Sex
from yiyun.settings import SecuritySettings, secret


@dataclass(frozen=True)
class DemoLogin:
    """A fixed demo login as printed by `yiyun demo`."""

    username: str
    display_name: str
    role: Role
    institution: str
    password: str
    totp_secret: str
    totp_uri: str


def demo_totp_secret(cfg: SecuritySettings, username: str) -> str:
    """A demo login's TOTP secret: the same on every run for the same secret key."""
    key = secret(cfg.secret_key).encode("utf-8")
    mac = hmac.new(key, f"demo-totp:{username}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:20]).decode("ascii")


@dataclass(frozen=True)
class StaffPlan:
    username: str
    display_name: str
    role: Role
    dept_code: str | None
    title: StaffTitle | None
    licence_no: str | None = None
    licence_valid_until: date | None = None
    specialties: tuple[str, ...] = ()
    years: int | None = None


@dataclass(frozen=True)
class TerminalPlan:
    code: str
    name: str
    kind: TerminalKind
    status: TerminalStatus
    minutes_since_seen: int


@dataclass(frozen=True)
class PatientPlan:
    mpi: str
    record_no: str
    name: str
    sex: Sex
    birth_on: date
    id_number: str
    phone: str | None
    address: str
    guardian_mpi: str | None
    guardian_relation: GuardianRelation | None
    days_since_registration: int
    consents: tuple[ConsentPurpose, ...]
    documents: tuple[tuple[DocumentKind, str, str], ...]


def document_values(rng: random.Random) -> dict[str, object]:
    """Plausible numbers for the `data.SUMMARIES` and `data.LAB_RESULTS` templates."""
    return {
        "sbp": rng.randint(112, 168),
        "dbp": rng.randint(68, 102),
        "hr": rng.randint(58, 96),
        "fpg": round(rng.uniform(5.2, 11.5), 1),
        "hba1c": round(rng.uniform(5.6, 9.8), 1),
        "days": rng.randint(2, 7),
        "temp": round(rng.uniform(36.4, 38.6), 1),
        "height": rng.randint(150, 182),
        "weight": rng.randint(48, 92),
        "wbc": round(rng.uniform(3.6, 11.2), 1),
        "hb": rng.randint(108, 162),
        "plt": rng.randint(120, 340),
        "alt": rng.randint(9, 68),
        "cr": rng.randint(45, 120),
        "ua": rng.randint(180, 520),
        "tc": round(rng.uniform(3.6, 6.9), 2),
        "tg": round(rng.uniform(0.7, 3.2), 2),
        "ldl": round(rng.uniform(1.8, 4.6), 2),
        "hdl": round(rng.uniform(0.9, 1.8), 2),
    }


def person_name(rng: random.Random, *, male: bool, surname: str | None = None) -> str:
    given = GIVEN_MALE if male else GIVEN_FEMALE
    length = rng.choice((1, 2, 2, 2))
    return (surname or rng.choice(SURNAMES)) + "".join(rng.choice(given) for _ in range(length))


def _rng(site: SiteSpec, purpose: str) -> random.Random:
    return random.Random(f"{SEED}:{site.key}:{purpose}")


def _weighted(rng: random.Random, options: tuple[tuple[StaffTitle, int], ...]) -> StaffTitle:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def named_staff(login: NamedLogin, number: int) -> StaffPlan:
    """A fixed demo login as a staff plan; clinical logins get a valid licence."""
    if login.role not in CLINICAL_ROLES or login.title is None:
        return StaffPlan(
            login.username, login.display_name, login.role, login.dept_code, login.title
        )
    low, high = YEARS_BY_TITLE[login.title]
    return StaffPlan(
        login.username,
        login.display_name,
        login.role,
        login.dept_code,
        login.title,
        licence_no=f"DEMO{900000 + number:06d}{number:06d}",
        licence_valid_until=ANCHOR.replace(year=ANCHOR.year + 4),
        specialties=login.specialties,
        years=(low + high) // 2,
    )


def staff_for(site: SiteSpec, site_no: int) -> list[StaffPlan]:
    """Generated staff: specialists per department at hospitals, 2-4 people per CHC."""
    rng = _rng(site, "staff")
    out: list[StaffPlan] = []

    def add(role: Role, dept: DeptSpec | None, title: StaffTitle) -> None:
        n = len(out) + 1
        name = person_name(rng, male=rng.random() < (0.2 if role is Role.NURSE else 0.55))
        if role not in CLINICAL_ROLES:
            out.append(
                StaffPlan(f"{site.key}.{n:02d}", name, role, dept.code if dept else None, title)
            )
            return
        expired = rng.random() < 0.05
        valid_until = ANCHOR + timedelta(
            days=-rng.randint(20, 300) if expired else rng.randint(400, 2200)
        )
        low, high = YEARS_BY_TITLE[title]
        picks = (
            ()
            if role is Role.NURSE or dept is None
            else tuple(rng.sample(dept.specialties, k=min(2, len(dept.specialties))))
        )
        out.append(
            StaffPlan(
                f"{site.key}.{n:02d}",
                name,
                role,
                dept.code if dept else None,
                title,
                licence_no=f"DEMO{site_no:03d}{n:03d}{rng.randrange(10**6):06d}",
                licence_valid_until=valid_until,
                specialties=picks,
                years=rng.randint(low, high),
            )
        )

    clinical = [d for d in site.departments if d.clinical]
    by_code = {d.code: d for d in site.departments}
    nurse_titles = (StaffTitle.NURSE_IN_CHARGE, StaffTitle.NURSE, StaffTitle.NURSE)
    if site.kind is InstitutionKind.HEALTH_AUTHORITY:
        add(Role.AUTHORITY, None, StaffTitle.ADMINISTRATOR)
        add(Role.AUTHORITY, None, StaffTitle.ADMINISTRATOR)
    elif site.is_hospital:
        lead = site.kind is InstitutionKind.LEAD_HOSPITAL
        for dept in clinical:
            for _ in range(2 if lead else rng.choice((1, 2))):
                add(Role.SPECIALIST, dept, _weighted(rng, SPECIALIST_TITLES))
        for _ in range(8 if lead else 3):
            add(Role.NURSE, rng.choice(clinical), rng.choice(nurse_titles))
        add(Role.INSTITUTION_ADMIN, by_code["MED"], StaffTitle.ADMINISTRATOR)
        add(Role.OPS_ENGINEER, by_code["IT"], StaffTitle.ENGINEER)
        if lead:
            add(Role.DISPATCHER, by_code["RMC"], StaffTitle.ADMINISTRATOR)
            add(Role.DISPATCHER, by_code["RMC"], StaffTitle.ADMINISTRATOR)
    else:
        for _ in range(rng.choice((1, 2))):
            add(Role.COMMUNITY_DOCTOR, by_code["GP"], _weighted(rng, GP_TITLES))
        add(Role.NURSE, by_code[rng.choice(("GP", "PREV", "CHILD"))], rng.choice(nurse_titles))
        if rng.random() < 0.5:
            add(Role.INSTITUTION_ADMIN, None, StaffTitle.ADMINISTRATOR)
    return out


def terminals_for(site: SiteSpec) -> list[TerminalPlan]:
    """A room system everywhere, PCs, and large screens where people watch the district."""
    rng = _rng(site, "terminals")
    kinds = [("会诊室视频终端", TerminalKind.ROOM_SYSTEM)]
    if site.kind is InstitutionKind.LEAD_HOSPITAL:
        kinds += [("远程医疗中心大屏", TerminalKind.LARGE_SCREEN), ("远程会诊PC", TerminalKind.PC)]
    elif site.kind is InstitutionKind.HEALTH_AUTHORITY:
        kinds += [("应急指挥中心大屏", TerminalKind.LARGE_SCREEN)]
    elif site.is_hospital:
        kinds += [("远程门诊PC", TerminalKind.PC)]
    else:
        kinds += [(f"全科诊室PC {n}", TerminalKind.PC) for n in range(1, rng.choice((1, 2, 3)))]
    out = []
    for n, (name, kind) in enumerate(kinds, start=1):
        roll = rng.random()
        status, minutes = (
            (TerminalStatus.ONLINE, rng.randint(0, 2))
            if roll < 0.86
            else (TerminalStatus.OFFLINE, rng.randint(60, 4000))
            if roll < 0.95
            else (TerminalStatus.FAULT, rng.randint(10, 600))
        )
        out.append(TerminalPlan(f"T-{site.code}-{n:02d}", name, kind, status, minutes))
    return out


def patient_count(site: SiteSpec, per_centre: int) -> int:
    """Residents per site: `per_centre` at a CHC, 20x at the lead hospital, 7x at the others."""
    if site.kind is InstitutionKind.LEAD_HOSPITAL:
        return per_centre * 20
    if site.kind is InstitutionKind.HOSPITAL:
        return per_centre * 7
    return 0 if site.kind is InstitutionKind.HEALTH_AUTHORITY else per_centre


def _birth(rng: random.Random, age: int) -> date:
    """A birth date giving exactly `age` years on ANCHOR."""
    return date(ANCHOR.year - age - 1, 1, 1) + timedelta(days=rng.randrange(365))


def _documents(rng: random.Random, adult: bool) -> tuple[tuple[DocumentKind, str, str], ...]:
    pool = [(DocumentKind.SUMMARY, t, b) for t, b in SUMMARIES] + [
        (DocumentKind.LAB_RESULT, t, b) for t, b in LAB_RESULTS
    ]
    if not adult:
        pool = [pool[2], pool[4]]  # an outpatient note and a blood count
    picks = rng.sample(pool, k=rng.choice((1, 1, 2)))
    return tuple((kind, title, body.format(**document_values(rng))) for kind, title, body in picks)


def patients_for(site: SiteSpec, count: int, used_ids: set[str]) -> list[PatientPlan]:
    """`count` residents of a site; minors come with an adult guardian from the same site.

    The first n residents are the same whatever `count` is. `used_ids` (shared across
    sites) keeps resident ID numbers unique by bumping the sequence number on a clash.
    """
    rng = _rng(site, "patients")
    mch = site.key == "h03"
    minor_share, female_share = (0.35, 0.8) if mch else (0.15, 0.52)
    doc_share = 0.2 if site.is_hospital else 0.12
    adults: list[PatientPlan] = []
    out: list[PatientPlan] = []
    for k in range(count):
        guardian = rng.choice(adults) if adults and rng.random() < minor_share else None
        relation = None
        if guardian is not None:
            relation = rng.choices(list(GuardianRelation), weights=(8, 1, 1))[0]
            male = rng.random() < 0.5
            surname = guardian.name[0] if relation is GuardianRelation.PARENT else None
            birth = _birth(rng, rng.randint(0, 14))
            phone, address = None, guardian.address
        else:
            male = rng.random() >= female_share
            surname = None
            age = rng.randint(20, 42) if mch else round(rng.triangular(18, 92, 64))
            birth = _birth(rng, age)
            phone = f"170{rng.randrange(10**8):08d}" if rng.random() < 0.9 else None
            community = rng.choice(COMMUNITIES)[0]
            address = (
                f"{site.street}街道{community}社区{rng.randint(1, 36)}栋"
                f"{rng.randint(1, 30)}{rng.randint(1, 8):02d}室（示例地址）"
            )
        sequence = rng.randrange(500) * 2 + (1 if male else 0)
        number = resident_id.make(AREA_CODE, birth, sequence)
        while number in used_ids:
            sequence = (sequence + 2) % 1000
            number = resident_id.make(AREA_CODE, birth, sequence)
        used_ids.add(number)
        consents = [ConsentPurpose.TELEMEDICINE] if rng.random() < 0.8 else []
        if rng.random() < 0.2:
            consents.append(ConsentPurpose.RECORDING)
        if site.kind is not InstitutionKind.LEAD_HOSPITAL and rng.random() < 0.08:
            consents.append(ConsentPurpose.SHARING)
        docs = _documents(rng, guardian is None) if rng.random() < doc_share else ()
        plan = PatientPlan(
            mpi=f"DEMO-{site.key.upper()}-{k + 1:04d}",
            record_no=f"{site.key.upper()}-{k + 1:06d}",
            name=person_name(rng, male=male, surname=surname),
            sex=Sex.MALE if male else Sex.FEMALE,
            birth_on=birth,
            id_number=number,
            phone=phone,
            address=address,
            guardian_mpi=guardian.mpi if guardian else None,
            guardian_relation=relation,
            days_since_registration=rng.randint(1, 900),
            consents=tuple(consents),
            documents=docs,
        )
        out.append(plan)
        if guardian is None:
            adults.append(plan)
    return out
