"""Every route x every persona x own/other institution, against an explicit table.

The expectations below are written out by hand from DESIGN.md §1 and the policy table in
`auth/policy.py`; they are deliberately not computed by asking the policy. One world is
seeded per route; each persona then calls it once per target side:

    side "a": CHC A  (patient pa, staff alice)     side "b": CHC B  (patient pb, staff mallory)

For alice, nina and ines side "a" is their own institution; for mallory side "b" is; for
the lead-hospital and authority personas both sides are another institution. A denied
call must answer 403 or 404 (404 for patients the caller may not read) and no response,
allowed or not, may carry data of a patient the caller may not read. Without credentials
the API answers 401 and a page redirects to /login (a form post answers 401).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import update

from tests.factories import PASSWORD, PERSONAS, World
from yiyun.auth import service as auth_service
from yiyun.core.clock import now
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.org.enums import Role
from yiyun.org.models import User, UserRole
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose, DocumentKind
from yiyun.records.models import Consent, Document
from yiyun.settings import Settings
from yiyun.web.deps import SESSION_COOKIE

CA, IA, CD, SP = (
    Role.CONSORTIUM_ADMIN,
    Role.INSTITUTION_ADMIN,
    Role.COMMUNITY_DOCTOR,
    Role.SPECIALIST,
)
NU, DI, AU, OP = Role.NURSE, Role.DISPATCHER, Role.AUTHORITY, Role.OPS_ENGINEER
ALL = frozenset(Role)
NOBODY: frozenset[Role] = frozenset()


def roles(*items: Role) -> frozenset[Role]:
    return frozenset(items)


# --- the table: who may do what (DESIGN.md §1, auth/policy.py) -------------------------
WIDE = roles(CA, AU, DI, OP)  # see staff and terminals of every institution
PATIENT_STAFF = roles(IA, CD, SP, NU)  # their own institution's patients
READ_OWN, READ_OTHER = PATIENT_STAFF | {CA, AU}, roles(CA, AU)
WRITE_OWN, WRITE_OTHER = PATIENT_STAFF | {CA}, roles(CA)
LIST_PATIENTS = PATIENT_STAFF | {CA, AU}
STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER = roles(CA, IA), roles(CA)
TERMINAL_ADMIN_OWN, TERMINAL_ADMIN_OTHER = roles(CA, OP, IA), roles(CA, OP)
AUDIT_OWN, AUDIT_WIDE = roles(CA, AU, IA), roles(CA, AU)

SIDES = {
    "a": {"inst": "chc_a", "patient": "pa", "staff": "alice"},
    "b": {"inst": "chc_b", "patient": "pb", "staff": "mallory"},
}


@dataclass
class Req:
    path: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    query: dict[str, Any] | None = None


Maker = Callable[["Scene", str | None, str | None], Awaitable[Req]]


async def no_body(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req()


@dataclass(frozen=True)
class Probe:
    """One call shape of a route and who may make it.

    `own` applies when the target is in the caller's institution (or there is no
    target), `other` when it is elsewhere. A denied caller gets `deny`, except patient
    writes by someone who may read the patient: 403 (`deny_reader`).
    """

    method: str
    path: str
    own: frozenset[Role]
    other: frozenset[Role] = NOBODY
    targeted: bool = False
    ok: int = 200
    deny: int = 403
    deny_reader: int | None = None
    make: Maker = no_body
    variant: str = ""
    anon: int | None = None  # public route: the status without credentials
    people: dict[str, frozenset[str]] | None = None  # by name instead of role (meetings)

    @property
    def page(self) -> bool:
        return not self.path.startswith(("/api/", "/fhir/"))

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.variant}]" if self.variant else "")


# --- request makers ---------------------------------------------------------------------


async def token_body(scene: Scene, who: str | None, _side: str | None) -> Req:
    # anonymous: alice's next-step code, so it is no replay of her own call
    name = who or "alice"
    code = pyotp.TOTP(scene.world.totp[name]).at(time.time() + (0 if who else 30))
    return Req(json={"username": name, "password": PASSWORD, "code": code})


async def institution_body(scene: Scene, _who: str | None, _side: str | None) -> Req:
    n = scene.serial()
    return Req(
        json={
            "code": f"NEW-{n}",
            "name": f"新医院{n}",
            "name_en": f"New hospital {n}",
            "kind": "hospital",
            "level": "secondary_a",
            "region_id": scene.world.region.id,
        }
    )


async def department_body(scene: Scene, _who: str | None, _side: str | None) -> Req:
    n = scene.serial()
    body = {"code": f"D{n}", "name": f"科室{n}", "name_en": f"Department {n}"}
    return Req(json=body)


async def terminal_body(scene: Scene, _who: str | None, _side: str | None) -> Req:
    n = scene.serial()
    return Req(json={"code": f"T-NEW-{n}", "name": f"终端{n}", "kind": "pc"})


async def staff_query(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(query={"institution_id": scene.ids(side)["institution_id"]})


async def staff_body(scene: Scene, _who: str | None, side: str | None) -> Req:
    n = scene.serial()
    return Req(
        json={
            "username": f"newstaff{n}",
            "display_name": f"New Staff {n}",
            "institution_id": scene.ids(side)["institution_id"],
            "roles": ["community_doctor"],
            "password": PASSWORD,
        }
    )


async def staff_patch(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(json={"display_name": "Renamed"})


async def fresh_staff_roles(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"user_id": await scene.fresh_staff(side)}, json={"roles": ["nurse"]})


async def fresh_staff(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"user_id": await scene.fresh_staff(side)})


async def patient_body(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(
        json={
            "name": f"新患者{scene.serial()}",
            "sex": "female",
            "birth_on": "1980-05-01",
            "institution_id": scene.ids(side)["institution_id"],
        }
    )


async def lookup_form(_scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(data={"id_number": ID_NUMBERS[SIDES[side or "a"]["patient"]]})


async def patient_patch(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(json={"address": "示例路1号"})


async def document_body(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(json={"kind": "summary", "title": "随访小结", "body": "血压平稳。"})


async def upload_form(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(data={"title": "化验单"}, files={"file": ("lab.txt", b"Hb 135 g/L\n", "text/plain")})


async def stored_file(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"document_id": await scene.document(side)})


async def consent_body(scene: Scene, _who: str | None, side: str | None) -> Req:
    await scene.withdraw_consents(side)
    return Req(json={"purpose": "telemedicine"})


async def fresh_consent(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"consent_id": await scene.consent(side)})


FHIR_IDS = {"Patient": "patient_id", "Organization": "institution_id", "Practitioner": "user_id"}


def fhir_read(rtype: str) -> Maker:
    async def make(scene: Scene, _who: str | None, side: str | None) -> Req:
        return Req(path={"resource_type": rtype, "resource_id": scene.ids(side)[FHIR_IDS[rtype]]})

    return make


def fhir_type(rtype: str, form: dict[str, str] | None = None) -> Maker:
    async def make(_scene: Scene, _who: str | None, _side: str | None) -> Req:
        return Req(path={"resource_type": rtype}, data=form)

    return make


async def meeting_body(_scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(json={"title": "病例讨论", "invitees": ["bob"]})


async def invite_body(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"meeting_id": await scene.meeting(side)}, json={"usernames": ["nina"]})


async def fresh_meeting(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"meeting_id": await scene.meeting(side)})


def form(maker: Maker) -> Maker:
    """The same request as a page form post (JSON body -> form fields)."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await maker(scene, who, side)
        if req.json is not None:
            req.data, req.json = {**(req.data or {}), **req.json}, None
        return req

    return make


async def login_form(scene: Scene, who: str | None, _side: str | None) -> Req:
    return Req(data={"username": who or "alice", "password": PASSWORD, "next": "/"})


async def mfa_form(scene: Scene, who: str | None, _side: str | None) -> Req:
    return Req(data={"code": scene.world.code(who or "alice"), "next": "/"})


# --- the routes --------------------------------------------------------------------------

API, FHIR = "/api/v1", "/fhir/r4"
T = True
# Meetings are scoped by membership, not institution: meeting "a" is alice's (bob invited),
# meeting "b" is mallory's. Members see it; only the host manages it.
HOSTS = {"a": frozenset({"alice"}), "b": frozenset({"mallory"})}
MEMBERS = {"a": frozenset({"alice", "bob"}), "b": frozenset({"mallory"})}


def patient_read(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, READ_OWN, READ_OTHER, T, deny=404, **kw)


def patient_write(method: str, path: str, **kw: Any) -> Probe:
    """Someone who may read the patient but not write gets 403; anyone else 404."""
    return Probe(method, path, WRITE_OWN, WRITE_OTHER, T, deny=404, deny_reader=403, **kw)


def staff_admin(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, **kw)


def meeting(method: str, path: str, people: dict[str, frozenset[str]], **kw: Any) -> Probe:
    return Probe(method, path, NOBODY, NOBODY, T, deny=404, people=people, **kw)


PAT = f"{API}/patients/{{patient_id}}"
INST = f"{API}/institutions/{{institution_id}}"
MEET = f"{API}/meetings/{{meeting_id}}"
RES = f"{FHIR}/{{resource_type}}"

# Each group runs on one world, in order; a call that ends sessions comes last.
GROUPS: dict[str, list[Probe]] = {
    "api-auth": [
        Probe("POST", f"{API}/auth/token", ALL, make=token_body, anon=200),
        Probe("GET", f"{API}/auth/me", ALL),
        Probe("POST", f"{API}/auth/logout", ALL, ok=204),
    ],
    "api-consortium": [
        Probe("GET", f"{API}/regions", ALL),
        Probe("GET", f"{API}/institutions", ALL),
        Probe("POST", f"{API}/institutions", roles(CA), ok=201, make=institution_body),
        Probe("GET", INST, ALL, ALL, T),
        Probe("GET", f"{INST}/departments", ALL, ALL, T),
        staff_admin("POST", f"{INST}/departments", ok=201, make=department_body),
        Probe("GET", f"{INST}/terminals", ALL, WIDE, T),
        Probe(
            "POST",
            f"{INST}/terminals",
            TERMINAL_ADMIN_OWN,
            TERMINAL_ADMIN_OTHER,
            T,
            ok=201,
            make=terminal_body,
        ),
    ],
    "api-staff": [
        Probe("GET", f"{API}/staff", ALL),
        Probe("GET", f"{API}/staff", ALL, WIDE, T, make=staff_query, variant="institution_id"),
        staff_admin("POST", f"{API}/staff", ok=201, make=staff_body),
        Probe("GET", f"{API}/staff/{{user_id}}", ALL, WIDE, T),
        staff_admin("PATCH", f"{API}/staff/{{user_id}}", make=staff_patch),
        staff_admin("PUT", f"{API}/staff/{{user_id}}/roles", make=fresh_staff_roles),
        staff_admin("POST", f"{API}/staff/{{user_id}}/disable", make=fresh_staff),
        staff_admin("POST", f"{API}/staff/{{user_id}}/enable"),
    ],
    "api-patients": [
        Probe("GET", f"{API}/patients", LIST_PATIENTS),
        Probe("POST", f"{API}/patients", WRITE_OWN, WRITE_OTHER, T, ok=201, make=patient_body),
        patient_read("POST", f"{API}/patients/lookup", make=lookup_form),
        patient_read("GET", PAT),
        patient_write("PATCH", PAT, make=patient_patch),
        patient_read("GET", f"{PAT}/documents"),
        patient_write("POST", f"{PAT}/documents", ok=201, make=document_body),
        patient_write("POST", f"{PAT}/attachments", ok=201, make=upload_form),
        patient_read("GET", f"{PAT}/documents/{{document_id}}/file", make=stored_file),
        patient_read("GET", f"{PAT}/consents"),
        patient_write("POST", f"{PAT}/consents", ok=201, make=consent_body),
        patient_write("POST", f"{PAT}/consents/{{consent_id}}/withdraw", make=fresh_consent),
    ],
    "api-audit": [
        Probe("GET", f"{API}/audit/events", AUDIT_OWN),
        Probe("GET", f"{API}/audit/verify", AUDIT_WIDE),
    ],
    "api-meetings": [
        Probe("GET", f"{API}/meetings", ALL),
        Probe("POST", f"{API}/meetings", ALL, ok=201, make=meeting_body),
        meeting("GET", MEET, MEMBERS),
        meeting("POST", f"{MEET}/invite", HOSTS, deny_reader=403, make=invite_body),
        meeting("POST", f"{MEET}/token", MEMBERS),
        meeting("POST", f"{MEET}/end", HOSTS, deny_reader=403, make=fresh_meeting),
    ],
    "fhir": [
        Probe("GET", f"{FHIR}/metadata", ALL, anon=200),
        Probe("GET", RES, LIST_PATIENTS, make=fhir_type("Patient"), variant="Patient"),
        Probe("GET", RES, ALL, make=fhir_type("Organization"), variant="Organization"),
        Probe("GET", RES, ALL, make=fhir_type("Practitioner"), variant="Practitioner"),
        Probe(
            "POST",
            f"{RES}/_search",
            LIST_PATIENTS,
            make=fhir_type("Patient", {"name": "测试"}),
            variant="Patient",
        ),
        patient_read("GET", f"{RES}/{{resource_id}}", make=fhir_read("Patient"), variant="Patient"),
        Probe(
            "GET",
            f"{RES}/{{resource_id}}",
            ALL,
            ALL,
            T,
            make=fhir_read("Organization"),
            variant="Organization",
        ),
        Probe(
            "GET",
            f"{RES}/{{resource_id}}",
            ALL,
            WIDE,
            T,
            make=fhir_read("Practitioner"),
            variant="Practitioner",
        ),
    ],
    "pages-auth": [
        Probe("GET", "/login", ALL, anon=200),
        Probe("POST", "/login", ALL, ok=303, make=login_form, anon=303),
        Probe("GET", "/2fa", ALL, anon=303),
        Probe("POST", "/2fa", ALL, ok=303, make=mfa_form, anon=303),
        Probe("GET", "/2fa/enrol", ALL, ok=303, anon=303),  # enrolled already: on to /2fa
        Probe("POST", "/2fa/enrol", ALL, ok=422, make=mfa_form, anon=303),  # nothing pending
        Probe("POST", "/logout", ALL, ok=303),
    ],
    "pages-consortium": [
        Probe("GET", "/", ALL),
        Probe("GET", "/consortium", ALL),
        Probe("GET", "/institutions/{institution_id}", ALL, ALL, T),
        staff_admin(
            "POST", "/institutions/{institution_id}/departments", ok=303, make=form(department_body)
        ),
        Probe(
            "POST",
            "/institutions/{institution_id}/terminals",
            TERMINAL_ADMIN_OWN,
            TERMINAL_ADMIN_OTHER,
            T,
            ok=303,
            make=form(terminal_body),
        ),
        Probe("GET", "/staff", ALL),
        staff_admin("POST", "/staff", ok=303, make=form(staff_body)),
        Probe("GET", "/staff/{user_id}", ALL, WIDE, T),
        staff_admin("POST", "/staff/{user_id}/roles", ok=303, make=form(fresh_staff_roles)),
        staff_admin("POST", "/staff/{user_id}/disable", ok=303, make=fresh_staff),
        staff_admin("POST", "/staff/{user_id}/enable", ok=303),
    ],
    "pages-patients": [
        Probe("GET", "/patients", LIST_PATIENTS),
        # the form registers at the caller's own institution (it has no institution field)
        Probe("POST", "/patients", WRITE_OWN, ok=303, make=form(patient_body)),
        patient_read("GET", "/patients/{patient_id}"),
        patient_write("POST", "/patients/{patient_id}/documents", ok=303, make=form(document_body)),
        patient_write("POST", "/patients/{patient_id}/attachments", ok=303, make=upload_form),
        patient_write("POST", "/patients/{patient_id}/consents", ok=303, make=form(consent_body)),
        patient_write(
            "POST",
            "/patients/{patient_id}/consents/{consent_id}/withdraw",
            ok=303,
            make=fresh_consent,
        ),
        Probe("GET", "/audit", AUDIT_OWN),
    ],
    "pages-meetings": [
        Probe("GET", "/meetings", ALL),
        Probe("POST", "/meetings", ALL, ok=303, make=form(meeting_body)),
        meeting("GET", "/meetings/{meeting_id}", MEMBERS),
    ],
}
PROBES = [p for probes in GROUPS.values() for p in probes]

ID_NUMBERS = {
    key: resident_id.make("440305", date(1970, 1, seq), 100 + seq)
    for key, seq in (("pa", 11), ("pb", 12))
}
HOME = {"pa": "chc_a", "pb": "chc_b"}


# --- one route's world -------------------------------------------------------------------


@dataclass
class Session:
    token: str
    csrf: str


@dataclass
class Scene:
    app: FastAPI
    world: World
    client: httpx.AsyncClient
    cookies: dict[str, Session] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _documents: dict[str, int] = field(default_factory=dict)
    _meetings: dict[str, int] = field(default_factory=dict)

    def serial(self) -> int:
        return next(self._counter)

    def ids(self, side: str | None) -> dict[str, Any]:
        s = SIDES[side or "a"]
        return {
            "institution_id": self.world.inst[s["inst"]].id,
            "patient_id": self.world.patients[s["patient"]].id,
            "user_id": self.world.users[s["staff"]].id,
            "meeting_id": self._meetings.get(side or "a", 0),
        }

    def _db(self) -> Any:
        return self.app.state.sessions.begin()

    async def fresh_staff(self, side: str | None) -> int:
        n = self.serial()
        async with self._db() as s:
            user = User(
                username=f"target{n}",
                display_name=f"Target {n}",
                institution_id=self.ids(side)["institution_id"],
                roles=[UserRole(role=Role.COMMUNITY_DOCTOR)],
            )
            s.add(user)
            await s.flush()
            return user.id

    async def document(self, side: str | None) -> int:
        key = side or "a"
        if key not in self._documents:
            ids = self.ids(key)
            blob = f"documents/{ids['patient_id']}/matrix-{key}"
            await self.app.state.store.put(blob, b"report\n")
            async with self._db() as s:
                doc = Document(
                    patient_id=ids["patient_id"],
                    institution_id=ids["institution_id"],
                    kind=DocumentKind.ATTACHMENT,
                    title="report.txt",
                    body="",
                    blob_key=blob,
                    filename="report.txt",
                    content_type="text/plain",
                    size_bytes=7,
                    created_by_id=self.world.users["admin"].id,
                )
                s.add(doc)
                await s.flush()
                self._documents[key] = doc.id
        return self._documents[key]

    async def meeting(self, side: str | None) -> int:
        """A new open meeting: side "a" hosted by alice with bob, "b" by mallory."""
        key = side or "a"
        members = sorted(MEMBERS[key], key=lambda n: n not in HOSTS[key])
        host = self.world.users[members[0]]
        async with self._db() as s:
            row = Meeting(
                code=f"m{self.serial():04d}{key}",
                title="病例讨论",
                host_id=host.id,
                institution_id=host.institution_id,
            )
            s.add(row)
            await s.flush()
            for name in members:
                role = "host" if name in HOSTS[key] else "participant"
                user_id = self.world.users[name].id
                s.add(
                    MeetingMember(meeting_id=row.id, user_id=user_id, role=role, invited_at=now())
                )
            return row.id

    async def setup_meetings(self) -> None:
        for side in SIDES:
            self._meetings[side] = await self.meeting(side)

    async def consent(self, side: str | None) -> int:
        await self.withdraw_consents(side)
        async with self._db() as s:
            row = Consent(
                patient_id=self.ids(side)["patient_id"],
                purpose=ConsentPurpose.TELEMEDICINE,
                granted_at=now(),
                granted_by_id=self.world.users["admin"].id,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def withdraw_consents(self, side: str | None) -> None:
        async with self._db() as s:
            await s.execute(
                update(Consent)
                .where(Consent.patient_id == self.ids(side)["patient_id"])
                .where(Consent.withdrawn_at.is_(None))
                .values(withdrawn_at=now())
            )

    async def sign_in_all(self, settings: Settings) -> None:
        """A signed-in browser session per persona (first factor real, second marked passed)."""
        async with self._db() as s:
            for name in PERSONAS:
                issued = await auth_service.login_password(
                    session=s, cfg=settings.security, username=name, password=PASSWORD
                )
                issued.session.mfa_passed = True
                self.cookies[name] = Session(issued.token, issued.session.csrf_token)

    async def call(self, probe: Probe, who: str | None, side: str | None) -> httpx.Response:
        req = await probe.make(self, who, side)
        url = probe.path.format(**{**self.ids(side), **req.path})
        headers: dict[str, str] = {}
        data = req.data
        if probe.page:
            headers["Accept"] = "text/html"
            if who is not None:
                headers["Cookie"] = f"{SESSION_COOKIE}={self.cookies[who].token}"
                if probe.method != "GET":
                    data = {**(data or {}), "csrf_token": self.cookies[who].csrf}
        elif who is not None:
            headers.update(self.world.auth(who))
        self.client.cookies.clear()  # only the session named above, none set by a response
        return await self.client.request(
            probe.method,
            url,
            headers=headers,
            params=req.query,
            json=req.json,
            data=data,
            files=req.files,
        )


# --- expectations --------------------------------------------------------------------------


def inst_of(name: str) -> str:
    return PERSONAS[name][0]


def role_of(name: str) -> Role:
    return PERSONAS[name][1]


def expected(probe: Probe, who: str, side: str | None) -> tuple[bool, int]:
    own = side is None or SIDES[side]["inst"] == inst_of(who)
    if probe.people is not None and side is not None:
        allowed = who in probe.people[side]
        reader = who in MEMBERS[side]
    else:
        allowed = role_of(who) in (probe.own if own else probe.other)
        reader = role_of(who) in (READ_OWN if own else READ_OTHER)
    if allowed:
        return True, probe.ok
    if probe.deny_reader is not None and reader:
        return False, probe.deny_reader
    return False, probe.deny


def may_read(who: str | None, patient: str) -> bool:
    if who is None:
        return False
    return role_of(who) in (READ_OWN if HOME[patient] == inst_of(who) else READ_OTHER)


def patient_markers(world: World, patient: str) -> dict[str, re.Pattern[str]]:
    """Name, MPI, full and masked ID number and record numbers, as whole tokens."""
    row = world.patients[patient]
    texts = [row.name, row.mpi, ID_NUMBERS[patient], resident_id.mask(ID_NUMBERS[patient])]
    texts += [r.record_no for r in row.record_numbers]
    return {t: re.compile(rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])") for t in texts}


def leaks(world: World, who: str | None, body: str) -> list[str]:
    """Data of patients the caller may not read that appear in a response body."""
    return [
        text
        for patient in ("pa", "pb")
        if not may_read(who, patient)
        for text, marker in patient_markers(world, patient).items()
        if marker.search(body)
    ]


def check(probe: Probe, scene: Scene, who: str, side: str | None, res: httpx.Response) -> str:
    allowed, status = expected(probe, who, side)
    problems = []
    if res.status_code != status:
        problems.append(f"status {res.status_code}, expected {status} ({res.text[:160]!r})")
    if not allowed and res.status_code not in (403, 404):
        problems.append("a denial must be 403 or 404")
    if found := leaks(scene.world, who, res.text):
        problems.append(f"leaks {found}")
    return f"{probe.id}: {who} -> {side or '-'}: " + "; ".join(problems) if problems else ""


def check_anonymous(probe: Probe, scene: Scene, res: httpx.Response) -> str:
    problems = []
    if probe.anon is not None:
        if res.status_code != probe.anon:
            problems.append(f"status {res.status_code}, expected {probe.anon} (public)")
    elif not probe.page:
        if res.status_code != 401:
            problems.append(f"status {res.status_code}, expected 401")
        elif probe.path.startswith(API) and res.json()["error"]["code"] != "auth.required":
            problems.append(f"error {res.json()}")
    elif probe.method == "GET":
        where = res.headers.get("location", "")
        if res.status_code != 303 or not where.startswith("/login?next=/"):
            problems.append(f"status {res.status_code} to {where!r}, expected 303 to /login")
    elif res.status_code != 401:  # a form post is not redirected (it would lose the form)
        problems.append(f"status {res.status_code}, expected 401")
    if found := leaks(scene.world, None, res.text):
        problems.append(f"leaks {found}")
    return f"{probe.id}: anonymous: " + "; ".join(problems) if problems else ""


async def run(probe: Probe, scene: Scene) -> list[str]:
    sides: list[str | None] = ["a", "b"] if probe.targeted else [None]
    failures = []
    for who in PERSONAS:
        for side in sides:
            failures.append(check(probe, scene, who, side, await scene.call(probe, who, side)))
    anonymous = await scene.call(probe, None, sides[0])
    failures.append(check_anonymous(probe, scene, anonymous))
    return [f for f in failures if f]


@pytest.mark.parametrize("group", GROUPS)
async def test_each_persona_gets_what_the_table_says(
    group: str, app: FastAPI, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    scene = Scene(app=app, world=world, client=client)
    await scene.setup_meetings()
    if group.startswith("pages"):
        await scene.sign_in_all(settings)
    failures = [f for probe in GROUPS[group] for f in await run(probe, scene)]
    assert not failures, "\n  ".join(["", *failures])


# --- the table covers every route ----------------------------------------------------------

OPS = {"/healthz", "/readyz", "/metrics"}


def page_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every HTML route the app serves (not in the OpenAPI document, not ops or docs)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods, path = route.methods, route.path
        if not methods or getattr(route, "include_in_schema", True) or path in OPS:
            continue
        if path == app.openapi_url or path.startswith(("/api/", "/docs")):
            continue
        found |= {(m, path) for m in methods if m != "HEAD"}
    return found


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() for m in ops}


def test_the_table_names_every_api_operation(app: FastAPI) -> None:
    assert api_routes(app) == {(p.method, p.path) for p in PROBES if not p.page}


def test_the_table_names_every_page_route(app: FastAPI) -> None:
    assert page_routes(app) == {(p.method, p.path) for p in PROBES if p.page}


def test_page_routes_are_found_in_the_app(app: FastAPI) -> None:
    """The enumeration itself works: it finds the routes of every pages module."""
    paths = {path for _m, path in page_routes(app)}
    assert {"/", "/login", "/consortium", "/staff", "/patients", "/audit"} <= paths
