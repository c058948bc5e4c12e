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
from yiyun.org.enums import Role
from yiyun.org.models import User, UserRole
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose, DocumentKind
from yiyun.records.models import Consent, Document
from yiyun.settings import Settings
from yiyun.web.deps import SESSION_COOKIE

CA, IA, CD, SP = Role.CONSORTIUM_ADMIN, Role.INSTITUTION_ADMIN, Role.COMMUNITY_DOCTOR, Role.SPECIALIST
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


def fhir_read(rtype: str, key: str) -> Maker:
    async def make(scene: Scene, _who: str | None, side: str | None) -> Req:
        return Req(path={"resource_type": rtype, "resource_id": scene.ids(side)[key]})

    return make


def fhir_type(rtype: str, form: dict[str, str] | None = None) -> Maker:
    async def make(_scene: Scene, _who: str | None, _side: str | None) -> Req:
        return Req(path={"resource_type": rtype}, data=form)

    return make


def form_of(maker: Maker) -> Maker:
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

API = "/api/v1"
PAT = f"{API}/patients/{{patient_id}}"
FHIR = "/fhir/r4"
T = True

API_PROBES = [
    Probe("POST", f"{API}/auth/token", ALL, make=token_body, anon=200),
    Probe("GET", f"{API}/auth/me", ALL),
    Probe("POST", f"{API}/auth/logout", ALL, ok=204),
    Probe("GET", f"{API}/regions", ALL),
    Probe("GET", f"{API}/institutions", ALL),
    Probe("POST", f"{API}/institutions", roles(CA), ok=201, make=institution_body),
    Probe("GET", f"{API}/institutions/{{institution_id}}", ALL, ALL, T),
    Probe("GET", f"{API}/institutions/{{institution_id}}/departments", ALL, ALL, T),
    Probe(
        "POST",
        f"{API}/institutions/{{institution_id}}/departments",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        ok=201,
        make=department_body,
    ),
    Probe("GET", f"{API}/institutions/{{institution_id}}/terminals", ALL, WIDE, T),
    Probe(
        "POST",
        f"{API}/institutions/{{institution_id}}/terminals",
        TERMINAL_ADMIN_OWN,
        TERMINAL_ADMIN_OTHER,
        T,
        ok=201,
        make=terminal_body,
    ),
    Probe("GET", f"{API}/staff", ALL),
    Probe("GET", f"{API}/staff", ALL, WIDE, T, make=staff_query, variant="institution_id"),
    Probe("POST", f"{API}/staff", STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, ok=201, make=staff_body),
    Probe("GET", f"{API}/staff/{{user_id}}", ALL, WIDE, T),
    Probe(
        "PATCH", f"{API}/staff/{{user_id}}", STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, make=staff_patch
    ),
    Probe(
        "PUT",
        f"{API}/staff/{{user_id}}/roles",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        make=fresh_staff_roles,
    ),
    Probe(
        "POST",
        f"{API}/staff/{{user_id}}/disable",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        make=fresh_staff,
    ),
    Probe("POST", f"{API}/staff/{{user_id}}/enable", STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T),
    Probe("GET", f"{API}/patients", LIST_PATIENTS),
    Probe("POST", f"{API}/patients", WRITE_OWN, WRITE_OTHER, T, ok=201, make=patient_body),
    Probe("POST", f"{API}/patients/lookup", READ_OWN, READ_OTHER, T, deny=404, make=lookup_form),
    Probe("GET", PAT, READ_OWN, READ_OTHER, T, deny=404),
    Probe("PATCH", PAT, WRITE_OWN, WRITE_OTHER, T, deny=404, deny_reader=403, make=patient_patch),
    Probe("GET", f"{PAT}/documents", READ_OWN, READ_OTHER, T, deny=404),
    Probe(
        "POST",
        f"{PAT}/documents",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=201,
        deny=404,
        deny_reader=403,
        make=document_body,
    ),
    Probe(
        "POST",
        f"{PAT}/attachments",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=201,
        deny=404,
        deny_reader=403,
        make=upload_form,
    ),
    Probe(
        "GET",
        f"{PAT}/documents/{{document_id}}/file",
        READ_OWN,
        READ_OTHER,
        T,
        deny=404,
        make=stored_file,
    ),
    Probe("GET", f"{PAT}/consents", READ_OWN, READ_OTHER, T, deny=404),
    Probe(
        "POST",
        f"{PAT}/consents",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=201,
        deny=404,
        deny_reader=403,
        make=consent_body,
    ),
    Probe(
        "POST",
        f"{PAT}/consents/{{consent_id}}/withdraw",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        deny=404,
        deny_reader=403,
        make=fresh_consent,
    ),
    Probe("GET", f"{API}/audit/events", AUDIT_OWN),
    Probe("GET", f"{API}/audit/verify", AUDIT_WIDE),
    # FHIR R4: the same policy behind another interface
    Probe("GET", f"{FHIR}/metadata", ALL, anon=200),
    Probe("GET", f"{FHIR}/{{resource_type}}", LIST_PATIENTS, make=fhir_type("Patient"), variant="Patient"),
    Probe("GET", f"{FHIR}/{{resource_type}}", ALL, make=fhir_type("Organization"), variant="Organization"),
    Probe("GET", f"{FHIR}/{{resource_type}}", ALL, make=fhir_type("Practitioner"), variant="Practitioner"),
    Probe(
        "POST",
        f"{FHIR}/{{resource_type}}/_search",
        LIST_PATIENTS,
        make=fhir_type("Patient", {"name": "测试"}),
        variant="Patient",
    ),
    Probe(
        "GET",
        f"{FHIR}/{{resource_type}}/{{resource_id}}",
        READ_OWN,
        READ_OTHER,
        T,
        deny=404,
        make=fhir_read("Patient", "patient_id"),
        variant="Patient",
    ),
    Probe(
        "GET",
        f"{FHIR}/{{resource_type}}/{{resource_id}}",
        ALL,
        ALL,
        T,
        make=fhir_read("Organization", "institution_id"),
        variant="Organization",
    ),
    Probe(
        "GET",
        f"{FHIR}/{{resource_type}}/{{resource_id}}",
        ALL,
        WIDE,
        T,
        make=fhir_read("Practitioner", "user_id"),
        variant="Practitioner",
    ),
]

P = "/patients/{patient_id}"
PAGE_PROBES = [
    Probe("GET", "/login", ALL, anon=200),
    Probe("POST", "/login", ALL, ok=303, make=login_form, anon=303),
    Probe("GET", "/2fa", ALL, anon=303),
    Probe("POST", "/2fa", ALL, ok=303, make=mfa_form, anon=303),
    Probe("GET", "/2fa/enrol", ALL, ok=303, anon=303),  # enrolled already: on to /2fa
    Probe("POST", "/2fa/enrol", ALL, ok=422, make=mfa_form, anon=303),  # nothing pending
    Probe("POST", "/logout", ALL, ok=303),
    Probe("GET", "/", ALL),
    Probe("GET", "/consortium", ALL),
    Probe("GET", "/institutions/{institution_id}", ALL, ALL, T),
    Probe(
        "POST",
        "/institutions/{institution_id}/departments",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        ok=303,
        make=form_of(department_body),
    ),
    Probe(
        "POST",
        "/institutions/{institution_id}/terminals",
        TERMINAL_ADMIN_OWN,
        TERMINAL_ADMIN_OTHER,
        T,
        ok=303,
        make=form_of(terminal_body),
    ),
    Probe("GET", "/staff", ALL),
    Probe(
        "POST", "/staff", STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, ok=303, make=form_of(staff_body)
    ),
    Probe("GET", "/staff/{user_id}", ALL, WIDE, T),
    Probe(
        "POST",
        "/staff/{user_id}/roles",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        ok=303,
        make=form_of(fresh_staff_roles),
    ),
    Probe(
        "POST",
        "/staff/{user_id}/disable",
        STAFF_ADMIN_OWN,
        STAFF_ADMIN_OTHER,
        T,
        ok=303,
        make=fresh_staff,
    ),
    Probe("POST", "/staff/{user_id}/enable", STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, ok=303),
    Probe("GET", "/patients", LIST_PATIENTS),
    # the form registers at the caller's own institution (no institution field)
    Probe("POST", "/patients", WRITE_OWN, ok=303, make=form_of(patient_body)),
    Probe("GET", P, READ_OWN, READ_OTHER, T, deny=404),
    Probe(
        "POST",
        f"{P}/documents",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=303,
        deny=404,
        deny_reader=403,
        make=form_of(document_body),
    ),
    Probe(
        "POST",
        f"{P}/attachments",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=303,
        deny=404,
        deny_reader=403,
        make=upload_form,
    ),
    Probe(
        "POST",
        f"{P}/consents",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=303,
        deny=404,
        deny_reader=403,
        make=form_of(consent_body),
    ),
    Probe(
        "POST",
        f"{P}/consents/{{consent_id}}/withdraw",
        WRITE_OWN,
        WRITE_OTHER,
        T,
        ok=303,
        deny=404,
        deny_reader=403,
        make=fresh_consent,
    ),
    Probe("GET", "/audit", AUDIT_OWN),
]

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

    def serial(self) -> int:
        return next(self._counter)

    def ids(self, side: str | None) -> dict[str, Any]:
        s = SIDES[side or "a"]
        return {
            "institution_id": self.world.inst[s["inst"]].id,
            "patient_id": self.world.patients[s["patient"]].id,
            "user_id": self.world.users[s["staff"]].id,
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
    allowed = role_of(who) in (probe.own if own else probe.other)
    if allowed:
        return True, probe.ok
    reader = role_of(who) in (READ_OWN if own else READ_OTHER)
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
    return f"{who} -> {side or '-'}: " + "; ".join(problems) if problems else ""


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
    return "anonymous: " + "; ".join(problems) if problems else ""


async def run(probe: Probe, scene: Scene) -> list[str]:
    sides: list[str | None] = ["a", "b"] if probe.targeted else [None]
    failures = []
    for who in PERSONAS:
        for side in sides:
            failures.append(check(probe, scene, who, side, await scene.call(probe, who, side)))
    anonymous = await scene.call(probe, None, sides[0])
    failures.append(check_anonymous(probe, scene, anonymous))
    return [f for f in failures if f]


@pytest.mark.parametrize("probe", API_PROBES + PAGE_PROBES, ids=lambda p: p.id)
async def test_each_persona_gets_what_the_table_says(
    probe: Probe, app: FastAPI, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    scene = Scene(app=app, world=world, client=client)
    if probe.page:
        await scene.sign_in_all(settings)
    failures = await run(probe, scene)
    assert not failures, f"{probe.id}:\n  " + "\n  ".join(failures)


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
    assert api_routes(app) == {(p.method, p.path) for p in API_PROBES}


def test_the_table_names_every_page_route(app: FastAPI) -> None:
    assert page_routes(app) == {(p.method, p.path) for p in PAGE_PROBES}


def test_page_routes_are_found_in_the_app(app: FastAPI) -> None:
    """The enumeration itself works: it finds the routes of every pages module."""
    paths = {path for _m, path in page_routes(app)}
    assert {"/", "/login", "/consortium", "/staff", "/patients", "/audit"} <= paths
