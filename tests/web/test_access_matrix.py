"""Every route x every persona x own/other institution, against an explicit table.

The expectations below are written out by hand from DESIGN.md §1 and the policy table in
`auth/policy.py`; they are deliberately not computed by asking the policy. One world is
seeded per group of routes; each persona calls each route once per target side:

    side "a": CHC A  (patient pa, staff alice)     side "b": CHC B  (patient pb, staff mallory)

For alice, nina and ines side "a" is their own institution; for mallory side "b" is; for
the lead-hospital and authority personas both sides are another institution. Meetings are
scoped by membership instead (see HOSTS, MEMBERS). A denied call must answer 403 or 404
(404 for patients the caller may not read) and no response, allowed or not, may carry data
of a patient the caller may not read. Without credentials the API answers 401 and a page
redirects to /login (a form post answers 401). The last tests fail when a route is added
without a row in the table.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from tests.factories import PASSWORD, PERSONAS, World
from tests.inquiry.helpers import add_file, make_inquiry, make_resident, resident_session
from tests.partners.helpers import make_partner, new_key
from tests.web import access_consult as ac
from tests.web import access_supervision as asv
from yiyun.auth import policy
from yiyun.auth import service as auth_service
from yiyun.auth.policy import Action
from yiyun.core.clock import DISTRICT_TZ
from yiyun.core.ratelimit import MemoryLimiter
from yiyun.inquiry.models import InquiryState
from yiyun.meetings import guest_access, guests, removals
from yiyun.meetings.models import MeetingGuest
from yiyun.org.enums import Role
from yiyun.partners.models import DeliveryState, PartnerDelivery, PartnerKey, PartnerWebhook
from yiyun.records import resident_id
from yiyun.settings import Settings
from yiyun.web.deps import RESIDENT_COOKIE, SESSION_COOKIE

CA, IA = Role.CONSORTIUM_ADMIN, Role.INSTITUTION_ADMIN
CD, SP = Role.COMMUNITY_DOCTOR, Role.SPECIALIST
NU, DI = Role.NURSE, Role.DISPATCHER
AU, OP = Role.AUTHORITY, Role.OPS_ENGINEER
ALL = frozenset(Role)
NOBODY: frozenset[Role] = frozenset()


def roles(*items: Role) -> frozenset[Role]:
    return frozenset(items)


# --- the table: who may do what (DESIGN.md §1, auth/policy.py) -------------------------
WIDE = roles(CA, AU, DI, OP)  # see staff and terminals of every institution
PATIENT_STAFF = roles(CD, SP, NU)  # their own institution's patients
SITE_STAFF = PATIENT_STAFF | {IA}  # a site's people: its clinicians and its administrator
# The health authority reads every patient; the administrators (IT) none, unless they break
# the glass (groups "break-glass"): the consortium administrator for any patient, an
# institution administrator for its own institution's.
READ_OWN, READ_OTHER = PATIENT_STAFF | {AU}, roles(AU)
WRITE_OWN, WRITE_OTHER = PATIENT_STAFF, NOBODY
LIST_PATIENTS = PATIENT_STAFF | {AU}
BREAK_GLASS_OWN, BREAK_GLASS_OTHER = roles(CA, IA), roles(CA)
STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER = roles(CA, IA), roles(CA)
TERMINAL_ADMIN_OWN, TERMINAL_ADMIN_OTHER = roles(CA, OP, IA), roles(CA, OP)
AUDIT_OWN, AUDIT_WIDE = roles(CA, AU, IA), roles(CA, AU)
COMMAND = roles(CA, AU)  # the emergency command room
RESPOND_OWN, RESPOND_OTHER = SITE_STAFF | COMMAND, COMMAND  # a site answers its tasks
SURVEILLANCE = SITE_STAFF | COMMAND  # district for CA/AU, own site for the others
# Statistics: the authority and the consortium administrator see every institution's
# figures; an institution's administrator its own only.
STATS_OWN, STATS_OTHER = roles(CA, AU, IA), roles(CA, AU)
# Operations pages: ops and the consortium administrator everywhere, an institution's
# administrator for its own terminals (the rows are scoped: tests/ops/test_fleet.py).
OPERATIONS = roles(CA, OP, IA)
# Supervision: the authority and the consortium administrator see every institution's
# checks and reviews, an institution's administrator its own; only the authority reviews.
SUPERVISION_OWN, SUPERVISION_OTHER = roles(CA, AU, IA), roles(CA, AU)
REVIEW = roles(AU)

CLINICIAN = {"a": "alice", "b": "mallory"}  # who prepares a side's patient records
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
    headers: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None  # sent besides the persona's own session (a guest's browser)
    content: bytes | None = None  # a raw body (DICOMweb STOW-RS)


Maker = Callable[["Scene", str | None, str | None], Awaitable[Req]]


@dataclass(frozen=True)
class Probe:
    """One call shape of a route and who may make it.

    `own` applies when the target is in the caller's institution (or there is no
    target), `other` when it is elsewhere. A denied caller gets `deny`, except patient
    writes by someone who may read the patient: 403 (`deny_reader`), and a caller the
    route serves at home, on another institution's target: `deny_elsewhere` if given.
    """

    method: str
    path: str
    own: frozenset[Role]
    other: frozenset[Role] = NOBODY
    targeted: bool = False
    ok: int = 200
    deny: int = 403
    deny_reader: int | None = None
    deny_elsewhere: int | None = None
    make: Maker = field(default_factory=lambda: body())
    variant: str = ""
    anon: int | None = None  # public route: the status without credentials
    people: dict[str, frozenset[str]] | None = None  # by name instead of role (meetings)
    readers: dict[str, frozenset[str]] | None = None  # by name: who is refused 403, not 404

    @property
    def page(self) -> bool:
        return not self.path.startswith(
            ("/api/", "/fhir/", "/dicomweb/", "/oauth/", "/.well-known/")
        )

    @property
    def id(self) -> str:
        variant = self.variant or getattr(self.make, "variant", "")
        return f"{self.method} {self.path}" + (f" [{variant}]" if variant else "")


# --- request makers ---------------------------------------------------------------------

INST_ID, REGION_ID = object(), object()  # stand for the target side's institution, the region


def body(**parts: Any) -> Maker:
    """A request with these parts; "{n}" in a string becomes a fresh serial number."""

    async def make(scene: Scene, _who: str | None, side: str | None) -> Req:
        n = scene.serial()

        def fill(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            if isinstance(value, str):
                return value.format(n=n)
            if value is INST_ID:
                return scene.ids(side)["institution_id"]
            return scene.world.region.id if value is REGION_ID else value

        return Req(**{k: fill(v) for k, v in parts.items()})

    return make


def form(maker: Maker) -> Maker:
    """The same request as a page form post (JSON body -> form fields)."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await maker(scene, who, side)
        if req.json is not None:
            req.data, req.json = {**(req.data or {}), **req.json}, None
        return req

    return make


async def token_body(scene: Scene, who: str | None, _side: str | None) -> Req:
    # anonymous: alice's next-step code, so it is no replay of her own call
    name = who or "alice"
    code = pyotp.TOTP(scene.world.totp[name]).at(time.time() + (0 if who else 30))
    return Req(json={"username": name, "password": PASSWORD, "code": code})


async def login_form(_scene: Scene, who: str | None, _side: str | None) -> Req:
    return Req(data={"username": who or "alice", "password": PASSWORD, "next": "/"})


async def mfa_form(scene: Scene, who: str | None, _side: str | None) -> Req:
    return Req(data={"code": scene.world.code(who or "alice"), "next": "/"})


async def lookup_form(_scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(data={"id_number": ID_NUMBERS[SIDES[side or "a"]["patient"]]})


# --- imaging: a small CT on a side's patient (linked), or one nobody matched -------------


def _dicom(patient_id: str) -> bytes:
    from yiyun.imaging import synthetic

    return synthetic.ct_series(
        patient_id=patient_id, patient_name="Matrix^Test", slices=1, size=16
    )[0]


def study(**parts: Any) -> Maker:
    """The side's standing study (uploaded once by its clinician): its id and UIDs."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await body(**parts)(scene, who, side)
        req.path.update(await scene.standing_study(side))
        return req

    return make


async def unmatched_study(scene: Scene, _who: str | None, side: str | None) -> Req:
    """A new study of the side's institution whose Patient ID names nobody, to link."""
    n, key = scene.serial(), side or "a"
    files = {"file": ("x.dcm", _dicom(f"NOBODY{n}"), "application/dicom")}
    made = await scene.setup("POST", "/imaging/studies", who=CLINICIAN[key], files=files)
    patient = scene.world.patients[SIDES[key]["patient"]]
    return Req(path={"study_id": made[0]["id"]}, json={"patient_id": patient.id})


async def unmatched_form(scene: Scene, who: str | None, side: str | None) -> Req:
    req = await unmatched_study(scene, who, side)
    patient = scene.world.patients[SIDES[side or "a"]["patient"]]
    return Req(path=req.path, data={"number": patient.mpi})


async def text_mark(scene: Scene, _who: str | None, side: str | None) -> Req:
    ids = await scene.standing_study(side)
    mark = {"kind": "text", "sop_uid": ids["sop_uid"], "points": [[2, 2]], "text": "x"}
    return Req(path=dict(ids), json=mark)


def own_mark() -> Maker:
    """A mark on the side's study, drawn by the caller where it may (only its author
    removes a mark), else by the side's clinician."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        key = side or "a"
        ids = await scene.standing_study(side)
        author = CLINICIAN[key]
        if who is not None:
            inst, role = PERSONAS[who]
            if inst == SIDES[key]["inst"] and role in PATIENT_STAFF:
                author = who
        mark = {"kind": "arrow", "sop_uid": ids["sop_uid"], "points": [[1, 1], [8, 8]]}
        made = await scene.setup(
            "POST", f"/imaging/studies/{ids['study_id']}/marks", who=author, json=mark
        )
        return Req(path={**ids, "mark_id": made["id"]})

    return make


def stow() -> Maker:
    async def make(scene: Scene, _who: str | None, _side: str | None) -> Req:
        from yiyun.imaging import dicomweb

        payload, content_type = dicomweb.multipart([_dicom(f"STOW{scene.serial()}")])
        return Req(
            json=None,
            headers={"Content-Type": content_type},
            data=None,
            files=None,
            content=payload,
        )

    return make


def fresh(what: str, **parts: Any) -> Maker:
    """A new staff member, consent, meeting or stored file on the target side, per call."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await body(**parts)(scene, who, side)
        req.path[f"{what}_id"] = await getattr(scene, f"fresh_{what}")(side)
        return req

    return make


def fhir(rtype: str, *, read: bool = False, **parts: Any) -> Maker:
    ids = {"Patient": "patient_id", "Organization": "institution_id", "Practitioner": "user_id"}

    async def make(scene: Scene, _who: str | None, side: str | None) -> Req:
        path = {"resource_type": rtype}
        if read:
            path["resource_id"] = scene.ids(side)[ids[rtype]]
        return Req(path=path, **parts)

    make.variant = rtype  # type: ignore[attr-defined]  # names the probe
    return make


FHIR_PATIENT = body(
    json={
        "resourceType": "Patient",
        "name": [{"text": "测试"}],
        "gender": "female",
        "birthDate": "1980-01-01",
    }
)


async def service_request(scene: Scene, who: str | None, side: str | None) -> Req:
    """An upward referral of the side's patient to the lead hospital, by the caller."""
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    requester = scene.world.users[who].id if who else 1
    return Req(
        json={
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{scene.ids(side)['patient_id']}"},
            "requester": {"reference": f"Practitioner/{requester}"},
            "performer": [{"reference": f"Organization/{scene.world.inst['lead'].id}"}],
            "reasonCode": [{"text": "胸痛待查"}],
            "note": [{"text": "反复胸闷 2 周。"}],
            "occurrenceDateTime": when,
        }
    )


def partner_of_side(**parts: Any) -> Maker:
    """A new partner system of the side's institution per call (with a key and a delivery)."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await body(**parts)(scene, who, side)
        req.path |= await scene.fresh_partner(side)
        return req

    return make


def partner_key() -> dict[str, str]:
    return {"jwk": json.dumps(new_key("ES384")[1])}


INSTITUTION = body(
    json={"code": "NEW-{n}", "name": "新医院{n}", "name_en": "New hospital {n}"}
    | {"kind": "hospital", "level": "secondary_a", "region_id": REGION_ID}
)
DEPARTMENT = body(json={"code": "D{n}", "name": "科室{n}", "name_en": "Department {n}"})
TERMINAL = body(json={"code": "T-NEW-{n}", "name": "终端{n}", "kind": "pc"})
STAFF = body(
    json={"username": "newstaff{n}", "display_name": "New Staff {n}", "institution_id": INST_ID}
    | {"roles": ["community_doctor"], "password": PASSWORD}
)
PATIENT = body(
    json={"name": "新患者{n}", "sex": "female", "birth_on": "1980-05-01", "institution_id": INST_ID}
)
DOCUMENT = body(json={"kind": "summary", "title": "随访小结", "body": "血压平稳。"})
UPLOAD = body(data={"title": "化验单"}, files={"file": ("lab.txt", b"Hb 135 g/L\n", "text/plain")})
MEETING = body(json={"title": "病例讨论", "invitees": ["bob"]})
BY_INST = body(query={"institution_id": INST_ID})
INCIDENT = body(json={"title": "疫情处置{n}", "site_ids": [INST_ID]})
TASK = body(json={"title": "转运{n}", "site_ids": [INST_ID]})
BEDS = {"beds_total": 10, "beds_free": 4, "fever_clinic_capacity": 3, "fever_clinic_waiting": 1}
ACKNOWLEDGE = fresh("task", path={"action": "acknowledge"})  # a page form
ACKNOWLEDGE_JSON = fresh("task", path={"action": "acknowledge"}, json={"result": ""})
CLOSE = fresh("incident", path={"action": "close"})
NOTE = {"text": "120 已到达现场"}
SITE = {"site_id": INST_ID}
ROLES_FORM = fresh("user", data={"roles": "nurse"})
GRANT_WIDE = fresh("user", data={"roles": "dispatcher"})
REASON = body(json={"reason": "support ticket {n}: check the record"})


async def break_glass_form(scene: Scene, _who: str | None, side: str | None) -> Req:
    patient = scene.world.patients[SIDES[side or "a"]["patient"]]
    reason = f"support ticket {scene.serial()}: check the record"
    return Req(data={"patient_number": patient.mpi, "reason": reason, "minutes": "15"})


async def own_grant(scene: Scene, who: str | None, side: str | None) -> Req:
    """A break-glass grant on the side's patient, opened by the caller where it may (the
    consortium administrator anywhere, an institution administrator at home), otherwise
    by the consortium administrator: someone else's grant."""
    key = side or "a"
    opener = "admin"
    if who is not None:
        inst, role = PERSONAS[who]
        if role in (BREAK_GLASS_OWN if SIDES[key]["inst"] == inst else BREAK_GLASS_OTHER):
            opener = who
    url = f"/patients/{scene.ids(side)['patient_id']}/break-glass"
    reason = {"reason": f"support ticket {scene.serial()}: check the record"}
    return Req(path={"grant_id": await scene.create(url, who=opener, json=reason)})


def grant(role: str) -> Maker:
    """A fresh nurse on the target side given `role` (with nurse, as a change)."""
    make = fresh("user", json={"roles": ["nurse", role]})
    make.variant = f"grant {role}"  # type: ignore[attr-defined]
    return make


async def own_roles(scene: Scene, who: str | None, _side: str | None) -> Req:
    """The caller sets its own roles to what they are (anonymous: alice's)."""
    name = who or "alice"
    role = PERSONAS[name][1]
    return Req(path={"user_id": scene.world.users[name].id}, json={"roles": [role.value]})


own_roles.variant = "own roles"  # type: ignore[attr-defined]
NAME = {"name": "测试"}  # a FHIR search by name, in a form body
INVITE = fresh("meeting", json={"usernames": ["nina"]})
SELFTEST_DOWNLOAD = body(query={"bytes": 1000})


def tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


async def fresh_scheduled(scene: Scene, _who: str | None, side: str | None) -> Req:
    """A new scheduled meeting on the side (cancelling needs one that has not opened)."""
    key = side or "a"
    host = min(HOSTS[key])
    meeting = {"title": "预约会诊", "starts_at": tomorrow().isoformat()}
    meeting["invitees"] = sorted(MEMBERS[key] - {host})
    return Req(path={"meeting_id": await scene.create("/meetings", who=host, json=meeting)})


def with_member(**parts: Any) -> Maker:
    """A fresh meeting on the side and a staff member (nina) to give a role in it."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await fresh("meeting", **parts)(scene, who, side)
        req.path["user_id"] = scene.world.users["nina"].id
        return req

    return make


async def new_guest(scene: Scene, side: str | None) -> dict[str, Any]:
    """A guest invitation to the side's standing meeting, made by its host."""
    key = side or "a"
    url = f"/meetings/{scene.ids(side)['meeting_id']}/guests"
    made: dict[str, Any] = await scene.setup(
        "POST", url, who=min(HOSTS[key]), json={"display_name": "王阿姨"}
    )
    return made


def guest(**parts: Any) -> Maker:
    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        made = await new_guest(scene, side)
        req = await body(**parts)(scene, who, side)
        req.path["guest_id"] = made["guest"]["id"]
        return req

    return make


def meeting_item(kind: str, **parts: Any) -> Maker:
    """A fresh poll or question in the side's standing meeting, made by its host."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        key = side or "a"
        req = await body(**parts)(scene, who, side)
        meeting_id = scene.ids(side)["meeting_id"]
        item = POLL if kind == "poll" else {"text": "需要复查吗？"}
        url = f"/meetings/{meeting_id}/{kind}s"
        req.path[f"{kind}_id"] = await scene.create(url, who=min(HOSTS[key]), json=item)
        return req

    return make


def guest_link(*, code: bool = False, **parts: Any) -> Maker:
    """A fresh guest link (and its code in the form when `code`), for the public pages."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        made = await new_guest(scene, "a")
        req = await body(**parts)(scene, who, side)
        req.path["link"] = str(made["link"]).rsplit("/", 1)[1]
        if code:
            req.data = {**(req.data or {}), "code": made["code"]}
        return req

    return make


def kept_out(**parts: Any) -> Maker:
    """A fresh guest of the side's standing meeting whom the chair did not admit."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        made = await new_guest(scene, side)
        req = await body(**parts)(scene, who, side)
        req.path["identity"] = f"g{made['guest']['id']}"
        async with scene.app.state.sessions.begin() as s:
            await removals.record(
                s,
                meeting_id=scene.ids(side)["meeting_id"],
                identity=req.path["identity"],
                name="王阿姨",
                reason=removals.DENIED,
                by="u1",
            )
        return req

    return make


def guest_as(state: str, *, shared_file: bool = False, **parts: Any) -> Maker:
    """A guest in their own browser (the bound cookie and its CSRF token) on side a's
    meeting, in `state`: "waiting" (code passed, never admitted), "denied" (the chair did
    not admit them) or "admitted"; with a file the host shared, for the download."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        made = await new_guest(scene, "a")
        guest_id = int(made["guest"]["id"])
        secret = scene.app.state.settings.security.secret_key.get_secret_value()
        nonce = secrets.token_urlsafe(24)  # what passing the code binds (guest_access.verify)
        async with scene.app.state.sessions.begin() as s:
            row = await s.get(MeetingGuest, guest_id)
            row.browser_hash, row.verified_at = guests.sha256(nonce), datetime.now(UTC)
            if state == "denied":
                await removals.record(
                    s,
                    meeting_id=row.meeting_id,
                    identity=f"g{guest_id}",
                    name=row.display_name,
                    reason=removals.DENIED,
                    by="u1",
                )
            elif state == "admitted":
                await removals.note_admitted(s, guest_id)
        req = await body(**parts)(scene, who, side)
        req.path["link"] = str(made["link"]).rsplit("/", 1)[1]
        if shared_file:
            url = f"/meetings/{scene.ids('a')['meeting_id']}/files"
            req.path["file_id"] = await scene.create(url, who="alice", files=GUEST_FILE)
        req.cookie = f"{guest_access.COOKIE}={guest_access.cookie_value(secret, guest_id, nonce)}"
        req.headers["X-CSRF-Token"] = guest_access.csrf_token(secret, guest_id, nonce)
        req.headers["Accept"] = "application/json"
        return req

    make.variant = state  # type: ignore[attr-defined]  # names the probe
    return make


def guest_state_rows(
    state: str, *, token: int, upload: int, download: int, page: int
) -> list[Probe]:
    """What a guest gets in each state, whoever else is signed in (the guest's cookie
    decides, so the answer without a staff session is the same)."""
    shapes = [
        ("POST", "/join/{link}/token", token, guest_as(state, json={"purpose": "call"})),
        ("POST", "/join/{link}/files", upload, guest_as(state, files=GUEST_FILE)),
        ("GET", "/join/{link}/files/{file_id}", download, guest_as(state, shared_file=True)),
        ("GET", "/join/{link}/check", page, guest_as(state)),
        ("GET", "/join/{link}/call", page, guest_as(state)),
    ]
    return [Probe(m, path, PUBLIC, ok=ok, make=make, anon=ok) for m, path, ok, make in shapes]


SCHEDULE_FORM = body(
    data={"title": "预约会诊{n}", "starts_local": "{n}", "duration_minutes": "60"}
    | {"invitees": "bob"}
)


async def schedule_form(scene: Scene, who: str | None, side: str | None) -> Req:
    req = await SCHEDULE_FORM(scene, who, side)
    assert req.data is not None
    req.data["starts_local"] = (tomorrow() + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    return req


GUEST_FILE = {"file": ("note.txt", b"hello\n", "text/plain")}
PUBLIC = frozenset(Role)  # anyone, signed in or not, gets the same answer


async def consent_body(scene: Scene, _who: str | None, side: str | None) -> Req:
    await scene.withdraw_consents(side)  # one active consent per purpose
    return Req(json={"purpose": "telemedicine"})


CLINIC_DAY = 3  # days ahead: sessions made here never clash with "now"


def clinic_times(n: int) -> dict[str, str]:
    start = (datetime.now(UTC) + timedelta(days=CLINIC_DAY)).replace(
        hour=1, minute=0, second=0, microsecond=0
    ) + timedelta(hours=n % 200)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}


async def clinic_session(scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(
        json={"title": "心内科远程门诊", "walk_in_capacity": 2} | clinic_times(scene.serial())
    )


async def clinic_form(scene: Scene, _who: str | None, _side: str | None) -> Req:
    times = clinic_times(scene.serial())
    start = datetime.fromisoformat(times["starts_at"]).astimezone(DISTRICT_TZ)
    return Req(
        data={
            "title": "心内科远程门诊",
            "day": start.date().isoformat(),
            "start": start.strftime("%H:%M"),
            "end": (start + timedelta(minutes=60)).strftime("%H:%M"),
        }
    )


async def booking(scene: Scene, _who: str | None, side: str | None) -> Req:
    """A walk-in booking of the side's patient into a fresh session (consent on record)."""
    await scene.fresh_consent(side)
    return Req(
        path={"session_id": await scene.fresh_session(side)},
        json={"patient_id": scene.ids(side)["patient_id"]},
    )


async def closing(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(path={"session_id": await scene.fresh_session(side), "action": "close"})


# --- light consultation: each side's centre has a resident (the side's patient) asking -----


def inquiry(
    state: InquiryState = InquiryState.OPEN, *, claimed: bool = False, file: bool = False,
    **parts: Any,
) -> Maker:  # fmt: skip
    """A fresh question in the side's centre pool, asked by the side's resident; claimed
    by the side's community doctor (alice, mallory) when `claimed`; with a photo."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        key = side or "a"
        resident = await scene.resident(key)
        inquiry_id = await make_inquiry(
            scene.app, scene.world, resident, state, pool=SIDES[key]["inst"],
            claimer=CLAIMERS[key] if claimed else None,
        )  # fmt: skip
        req = await body(**parts)(scene, who, side)
        req.path["inquiry_id"] = inquiry_id
        if file:
            req.path["file_id"] = await add_file(scene.app, inquiry_id)
        return req

    return make


def communication() -> Maker:
    """FHIR read of a fresh question of the side (a Communication)."""
    made = inquiry()

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await made(scene, who, side)
        req.path = {"resource_type": "Communication", "resource_id": req.path["inquiry_id"]}
        return req

    make.variant = "Communication"  # type: ignore[attr-defined]  # names the probe
    return make


CLAIMERS = {"a": "alice", "b": "mallory"}
CLAIMER_PEOPLE = {side: frozenset({name}) for side, name in CLAIMERS.items()}
DOCTORS = roles(CD, SP)
CLAIMED = InquiryState.CLAIMED
RESIDENT_ONLY = "the resident portal: a staff session is as good as none there"

# --- the routes --------------------------------------------------------------------------

# Partner systems: the consortium administrator manages every one; the owning
# institution's administrator (ines for side "a") sees its own, rotates its keys and
# replays its deliveries, and is refused (403) what only the consortium may change.
PARTNER = "/partners/{partner_id}"
PARTNER_ADMIN = {"a": frozenset({"admin"}), "b": frozenset({"admin"})}
PARTNER_VIEW = {"a": frozenset({"admin", "ines"}), "b": frozenset({"admin"})}


async def partner_form(scene: Scene, _who: str | None, _side: str | None) -> Req:
    return Req(
        data={
            "name": "药房系统",
            "institution_id": str(scene.world.inst["chc_a"].id),
            "contact_name": "王工",
            "contact_email": "it@example.org",
            "scopes": "system/Patient.rs",
            "jwks_url": "https://his.example.org/jwks.json",
        }
    )


REFERRERS = {"a": frozenset({"alice", "nina"}), "b": frozenset({"mallory"})}
OTHER_SITES = {"a": frozenset({"mallory"}), "b": frozenset({"alice", "nina"})}
WEBHOOK_FORM = {"url": "https://his.example.org/hook", "events": "referral.requested"}


def partner_page(
    method: str,
    path: str,
    people: dict[str, frozenset[str]],
    *,
    ok: int = 200,
    action: str | None = None,
    data: Any = None,
) -> Probe:
    """A partner's page: by name; those who see the partner but may not act get 403."""

    async def make(scene: Scene, who: str | None, side: str | None) -> Req:
        req = await partner_of_side()(scene, who, side)
        if action:
            req.path["action"] = action
        if data is not None:
            req.data = data() if callable(data) else dict(data)
        return req

    maker = form(make) if method == "POST" else make
    return Probe(
        method,
        path,
        NOBODY,
        NOBODY,
        T,
        ok=ok,
        deny=404,
        deny_reader=403,
        people=people,
        readers=PARTNER_VIEW,
        make=maker,
    )


API, FHIR = "/api/v1", "/fhir/r4"
T = True
# Meetings are scoped by membership, not institution: meeting "a" is alice's (bob invited),
# meeting "b" is mallory's. Members see it; only the host manages it.
HOSTS = {"a": frozenset({"alice"}), "b": frozenset({"mallory"})}
MEMBERS = {"a": frozenset({"alice", "bob"}), "b": frozenset({"mallory"})}
# A clinic visit is seen by the session's specialist and the booking centre's staff.
VISIT_PEOPLE = {"a": frozenset({"bob", "alice", "nina"}), "b": frozenset({"bob", "mallory"})}


def standing_as(name: str) -> Maker:
    async def make(scene: Scene, _who: str | None, side: str | None) -> Req:
        return Req(path={"resource_id": scene.ids(side)[name]})

    return make


async def slots_query(scene: Scene, _who: str | None, side: str | None) -> Req:
    return Req(query={"schedule": f"Schedule/{scene.ids(side)['session_id']}"})


async def standing_slot(scene: Scene, _who: str | None, side: str | None) -> Req:
    made = await scene.setup("GET", f"/clinics/sessions/{scene.ids(side)['session_id']}")
    return Req(path={"resource_id": made["slots"][0]["id"]})


def patient_read(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, READ_OWN, READ_OTHER, T, deny=404, **kw)


def patient_write(method: str, path: str, **kw: Any) -> Probe:
    """Someone who may read the patient but not write gets 403; anyone else 404."""
    return Probe(method, path, WRITE_OWN, WRITE_OTHER, T, deny=404, deny_reader=403, **kw)


def staff_admin(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, STAFF_ADMIN_OWN, STAFF_ADMIN_OTHER, T, **kw)


def terminal_admin(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, TERMINAL_ADMIN_OWN, TERMINAL_ADMIN_OTHER, T, **kw)


def responder(method: str, path: str, **kw: Any) -> Probe:
    return Probe(method, path, RESPOND_OWN, RESPOND_OTHER, T, **kw)


def meeting(method: str, path: str, people: dict[str, frozenset[str]], **kw: Any) -> Probe:
    return Probe(method, path, NOBODY, NOBODY, T, deny=404, people=people, **kw)


def consult(
    method: str,
    path: str,
    people: dict[str, frozenset[str]],
    readers: dict[str, frozenset[str]] | None = None,
    **kw: Any,
) -> Probe:
    """A consultation route: by name (who takes part); viewers refused 403, others 404."""
    return Probe(
        method,
        path,
        NOBODY,
        NOBODY,
        T,
        deny=404,
        deny_reader=403,
        people=people,
        readers=readers or people,
        **kw,
    )


def both(*maps: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    return {k: frozenset().union(*(m[k] for m in maps)) for k in maps[0]}


async def consult_create(scene: Scene, _who: str | None, side: str | None) -> Req:
    key = side or "a"
    await scene.fresh_consent(key)
    return Req(
        json={
            "patient_id": scene.ids(side)["patient_id"],
            "reason": f"胸闷待查{scene.serial()}",
            "specialty": "03.04",
        }
    )


CON = f"{API}/consults/{{consult_id}}"
AMEND = {"amend_reason": "补充随访"}
PAGE_OPINION = {"findings": "血压控制不佳", "diagnoses": "I10", "recommendations": "调整降压方案"}
PAGE_AMEND = PAGE_OPINION | AMEND
PAT, PAGE_PAT = f"{API}/patients/{{patient_id}}", "/patients/{patient_id}"
CONSENT, PAGE_CONSENT = f"{PAT}/consents/{{consent_id}}", f"{PAGE_PAT}/consents/{{consent_id}}"
INST, PAGE_INST = f"{API}/institutions/{{institution_id}}", "/institutions/{institution_id}"
STAFF_ID = f"{API}/staff/{{user_id}}"
MEET = f"{API}/meetings/{{meeting_id}}"
POLL = {"question": "是否转诊？", "options": ["是", "否"]}
RES = f"{FHIR}/{{resource_type}}"
RES_ID, SEARCH = f"{RES}/{{resource_id}}", f"{RES}/_search"
EMG = f"{API}/emergency"
INCIDENT_ID = f"{EMG}/incidents/{{incident_id}}"
TASK_STEP = f"{EMG}/tasks/{{task_id}}/{{action}}"

SURV = f"{API}/surveillance"
ENROL_CODE = body(json={"terminal_code": "T-NONE", "enrolment_code": "AAAAA-AAAAA"})
COUNTS = body(
    json={"rows": [{"date": "2026-01-05", "site": "CHC-A", "syndrome": "ili", "count": 3}]}
)
COUNTS_CSV = body(
    files={
        "file": ("counts.csv", b"date,site,syndrome,count\n2026-01-05,CHC-A,ili,3\n", "text/csv")
    }
)

# Routes whose per-object scoping is tested where the objects are made: the alert
# endpoints and FHIR MeasureReport ingest (tests/surveillance/test_api.py checks the
# authority, own-site staff, another site's staff (404), ops and dispatch (403)).
COVERED_ELSEWHERE = {
    ("POST", f"{SURV}/counts/fhir"),
    ("GET", f"{SURV}/alerts/{{alert_id}}"),
    ("POST", f"{SURV}/alerts/{{alert_id}}/{{action}}"),
    # What a meeting leaves behind is scoped by the role in that meeting; tests/meetings/
    # test_live_api.py checks host, participant, observer, ops and an outsider (404).
    ("POST", f"{MEET}/files"),
    ("GET", f"{MEET}/files/{{file_id}}"),
    ("GET", f"{MEET}/quality"),
    ("GET", f"{MEET}/recordings"),
    ("GET", f"{MEET}/recordings/{{recording_id}}/parts/{{n}}"),
    # Upvoting is refused to the question's author (tests/meetings/test_polls.py).
    ("POST", f"{MEET}/questions/{{question_id}}/upvote"),
    # A library video is its uploader's and its institution's; tests/teaching/
    # test_library.py::test_each_persona_gets_what_the_library_allows checks every persona.
    ("POST", f"{API}/teaching/videos"),
    ("GET", f"{API}/teaching/videos/{{video_id}}"),
    ("PUT", f"{API}/teaching/videos/{{video_id}}/progress"),
    ("POST", f"{API}/teaching/videos/{{video_id}}/{{action}}"),
    # Learning: a lecture's attendance and quiz are its organiser's (the host, an admin of
    # its site), a video's quiz its owner's, a course's items its author's, a review its
    # site reviewer's (never the submitter), a certificate the learner's and their
    # administrator's: tests/learning/ checks every persona the rule names and outsiders.
    ("GET", f"{API}/learning/meetings/{{meeting_id}}/attendance"),
    ("PUT", f"{API}/learning/quizzes/{{kind}}/{{subject_id}}"),
    ("GET", f"{API}/learning/quizzes/{{kind}}/{{subject_id}}"),
    ("POST", f"{API}/learning/quizzes/{{kind}}/{{subject_id}}/attempts"),
    ("POST", f"{API}/learning/courses"),
    ("GET", f"{API}/learning/courses/{{course_id}}"),
    ("POST", f"{API}/learning/courses/{{course_id}}/enrol"),
    ("POST", f"{API}/learning/documents"),
    ("POST", f"{API}/learning/recordings/{{recording_id}}/review"),
    ("POST", f"{API}/learning/recordings/{{recording_id}}/publish"),
    ("POST", f"{API}/learning/reviews/{{review_id}}/{{action}}"),
    # A live lecture is its members' (and all staff's when open); tests/teaching/
    # test_lecture_room.py checks host, panelist, audience, an outsider (404) and ops (403).
    ("GET", f"{API}/teaching/lectures/{{lecture_id}}"),
    ("POST", f"{API}/teaching/lectures/{{lecture_id}}/join"),
    ("POST", f"{API}/teaching/lectures/{{lecture_id}}/slides"),
    ("GET", f"{API}/teaching/lectures/{{lecture_id}}/slides"),
    ("GET", f"{API}/teaching/lectures/{{lecture_id}}/slide-track"),
    ("POST", f"{API}/teaching/lectures/{{lecture_id}}/live"),
    ("DELETE", f"{API}/teaching/lectures/{{lecture_id}}/live"),
    # An alarm is scoped by its site (none for platform alarms); tests/ops/test_alarms.py
    # checks ops, the consortium admin, an institution admin (own site only, 403 to act,
    # 404 elsewhere) and staff without operations (403).
    ("POST", f"{API}/ops/alarms/{{alarm_id}}/{{action}}"),
    # A visit's and a prescription's steps are scoped by the visit (its specialist, the
    # booking centre); tests/clinics/test_workflow.py checks each rule against the wrong
    # people and tests/clinics/test_service.py the outsiders (404).
    ("POST", f"{API}/clinics/visits/{{visit_id}}/call"),
    ("POST", f"{API}/clinics/visits/{{visit_id}}/note"),
    ("POST", f"{API}/clinics/visits/{{visit_id}}/complete"),
    ("POST", f"{API}/clinics/visits/{{visit_id}}/prescriptions"),
    ("POST", f"{API}/clinics/visits/{{visit_id}}/{{action}}"),
    ("POST", f"{API}/clinics/prescriptions/{{prescription_id}}/sign"),
    ("POST", f"{API}/clinics/prescriptions/{{prescription_id}}/withdraw"),
    # A referral is scoped by its two institutions; tests/referrals/ check the sender, the
    # receiver, another centre and the dispatcher (404), and FHIR reads in test_fhir_clinical.
    ("POST", f"{API}/referrals/up"),
    ("POST", f"{API}/referrals/down"),
    ("GET", f"{API}/referrals/{{referral_id}}"),
    ("POST", f"{API}/referrals/{{referral_id}}/{{action}}"),
    ("GET", f"{FHIR}/ServiceRequest/{{resource_id}}"),
}
# Pages scoped the same way (tests/meetings/test_live_api.py).
PAGES_COVERED_ELSEWHERE = {
    ("GET", "/meetings/{meeting_id}/recordings/{recording_id}"),
    ("GET", "/calls/quality"),
    # The library's video pages and files (tests/teaching/test_library.py).
    ("POST", "/teaching/upload"),
    ("GET", "/teaching/videos/{video_id}"),
    ("POST", "/teaching/videos/{video_id}/{action}"),
    ("GET", "/teaching/videos/{video_id}/hls/{name:path}"),
    ("GET", "/teaching/videos/{video_id}/thumbnail.jpg"),
    # Learning pages over the same services (tests/learning/, tests/e2e/test_learning.py).
    ("GET", "/learning/courses/{course_id}"),
    ("POST", "/learning/courses/{course_id}/enrol"),
    ("GET", "/learning/quizzes/{kind}/{subject_id}"),
    ("POST", "/learning/quizzes/{kind}/{subject_id}"),
    ("GET", "/learning/certificates/{enrolment_id}.pdf"),
    ("GET", "/learning/meetings/{meeting_id}/attendance"),
    ("GET", "/learning/meetings/{meeting_id}/attendance.xlsx"),
    ("GET", "/learning/documents/{document_id}/file"),
    # Live lectures (tests/teaching/test_lecture_room.py, tests/e2e/test_lecture.py).
    ("GET", "/teaching/lectures/{lecture_id}"),
    ("POST", "/teaching/lectures/{lecture_id}/slides"),
    ("GET", "/teaching/lectures/{lecture_id}/slides/{deck_id}/{page_no}.png"),
    ("GET", "/teaching/lectures/{lecture_id}/live/{name}"),
    ("POST", "/ops/alarms/{alarm_id}/{action}"),  # the same service as the API (above)
    # Clinic visits and referrals (pages over the same services; tests/e2e/test_clinic_referral.py).
    ("POST", "/clinics/sessions/{session_id}/book"),
    ("POST", "/clinics/sessions/{session_id}/call-next"),
    ("GET", "/clinics/visits/{visit_id}"),
    ("POST", "/clinics/visits/{visit_id}/note"),
    ("POST", "/clinics/visits/{visit_id}/prescriptions"),
    ("POST", "/clinics/visits/{visit_id}/{action}"),
    ("POST", "/clinics/prescriptions/{prescription_id}/sign"),
    ("POST", "/referrals"),
    ("GET", "/referrals/{referral_id}"),
    ("POST", "/referrals/{referral_id}/{action}"),
}

# Each group runs on one world, in order; a call that ends sessions comes last.
IMG = f"{API}/imaging"
STUDY = f"{IMG}/studies/{{study_id}}"
DW = "/dicomweb/studies"
DW_STUDY = f"{DW}/{{study_uid}}"
DW_SERIES = f"{DW_STUDY}/series/{{series_uid}}"
DW_INSTANCE = f"{DW_SERIES}/instances/{{sop_uid}}"


def dicom_upload() -> Maker:
    async def make(scene: Scene, _who: str | None, _side: str | None) -> Req:
        files = {"file": ("ct.dcm", _dicom(f"UP{scene.serial()}"), "application/dicom")}
        return Req(files=files)

    return make


def study_read(method: str, path: str, **kw: Any) -> Probe:
    return patient_read(method, path, make=study(**kw.pop("parts", {})), **kw)


# Marking needs a clinical role and a read of the patient: here the own institution's
# clinicians (a meeting about the patient would add its invited clinicians elsewhere);
# the health authority reads but does not mark (403), others get "not found".
def study_mark(method: str, path: str, make: Maker, **kw: Any) -> Probe:
    return Probe(method, path, PATIENT_STAFF, NOBODY, T, deny=404, deny_reader=403, make=make, **kw)


GROUPS: dict[str, list[Probe]] = {
    "api-imaging": [
        Probe("GET", f"{IMG}/studies", ALL),
        Probe("POST", f"{IMG}/studies", PATIENT_STAFF, ok=201, make=dicom_upload()),
        study_read("GET", STUDY),
        Probe("GET", f"{IMG}/unmatched", PATIENT_STAFF),
        # Only the clinicians of the institution that brought a study in link it.
        Probe("POST", f"{STUDY}/link", WRITE_OWN, NOBODY, T, deny=404, make=unmatched_study),
        study_read("GET", f"{STUDY}/instances/{{sop_uid}}/render"),
        study_read("GET", f"{STUDY}/marks"),
        study_mark(
            "POST",
            f"{STUDY}/marks",
            ok=201,
            make=text_mark,
        ),
        study_mark("DELETE", f"{STUDY}/marks/{{mark_id}}", ok=204, make=own_mark()),
        # No PACS is configured here: allowed callers learn that (422), others nothing.
        study_mark("POST", f"{STUDY}/save-to-pacs", ok=422, make=own_mark()),
        Probe(
            "GET",
            f"{IMG}/pacs/studies",
            PATIENT_STAFF,
            ok=422,
            make=body(query={"patient_id": "R1"}),
        ),
        Probe(
            "POST",
            f"{IMG}/pacs/pull",
            PATIENT_STAFF,
            ok=422,
            make=body(json={"study_uid": "1.2.3"}),
        ),
    ],
    "api-dicomweb": [
        Probe("GET", DW, ALL),
        Probe("POST", DW, PATIENT_STAFF, make=stow()),
        study_read("GET", DW_STUDY),
        study_read("GET", f"{DW_STUDY}/metadata"),
        study_read("GET", f"{DW_STUDY}/series"),
        study_read("GET", f"{DW_STUDY}/instances"),
        study_read("GET", DW_SERIES),
        study_read("GET", f"{DW_SERIES}/metadata"),
        study_read("GET", f"{DW_SERIES}/instances"),
        study_read("GET", DW_INSTANCE),
        study_read("GET", f"{DW_INSTANCE}/rendered"),
        study_read("GET", f"{DW_INSTANCE}/frames/{{frames}}", parts={"path": {"frames": "1"}}),
        study_read(
            "GET", f"{DW_INSTANCE}/frames/{{frame}}/rendered", parts={"path": {"frame": "1"}}
        ),
    ],
    "pages-imaging": [
        Probe("GET", "/imaging", ALL),
        Probe("POST", "/imaging/upload", PATIENT_STAFF, ok=303, make=dicom_upload()),
        study_read("GET", "/imaging/studies/{study_id}"),
        Probe("GET", "/imaging/unmatched", PATIENT_STAFF),
        Probe(
            "POST",
            "/imaging/studies/{study_id}/link",
            WRITE_OWN,
            NOBODY,
            T,
            deny=404,
            ok=303,
            make=unmatched_form,
        ),
    ],
    "api-surveillance": [
        Probe("GET", f"{SURV}/counts", SURVEILLANCE),
        Probe("POST", f"{SURV}/counts", SURVEILLANCE, make=COUNTS),
        Probe("POST", f"{SURV}/counts/csv", SURVEILLANCE, make=COUNTS_CSV),
        Probe("GET", f"{SURV}/syndromes", SURVEILLANCE),
        Probe("GET", f"{SURV}/trends", SURVEILLANCE),
        Probe("GET", f"{SURV}/dashboard", SURVEILLANCE),
        Probe("GET", f"{SURV}/kpi", SURVEILLANCE),
        Probe("GET", f"{SURV}/alerts", SURVEILLANCE),
        Probe("POST", f"{SURV}/run", roles(AU), make=body(json={"lookback_days": 1})),
    ],
    "api-consult": [
        Probe("POST", f"{API}/auth/step-up", ALL, ok=204, make=ac.step_up_make),
        Probe("GET", f"{API}/consults", roles(CD, SP, NU, DI, AU), deny=404),
        Probe(
            "POST",
            f"{API}/consults",
            roles(CD, SP),
            NOBODY,
            T,
            ok=201,
            deny_elsewhere=404,
            make=consult_create,
        ),
        consult("GET", CON, ac.VIEW, make=ac.consult_for("requested")),
        consult(
            "POST", f"{CON}/submit", ac.REQ, ac.VIEW, make=ac.consult_for("draft", allowed=ac.REQ)
        ),
        consult("GET", f"{CON}/candidates", ac.CAROL, ac.VIEW, make=ac.consult_for("requested")),
        consult("POST", f"{CON}/assign", ac.CAROL, ac.VIEW, make=ac.assign_request(page=False)),
        consult("POST", f"{CON}/take", ac.BOB, ac.WITH_BOB, make=ac.take_request()),
        Probe("GET", f"{API}/consults/availability", ALL),
        Probe("POST", f"{API}/consults/availability", roles(SP), ok=201, make=ac.window_create),
        Probe(
            "DELETE",
            f"{API}/consults/availability/{{window_id}}",
            roles(SP),  # bob: only the window's own specialist (another's is "not found")
            ok=204,
            deny=404,
            make=ac.window_of_bob,
        ),
        consult(
            "POST",
            f"{CON}/answer",
            ac.BOB,
            ac.WITH_BOB,
            make=ac.consult_for("assigned", allowed=ac.BOB, json={"accept": True}),
        ),
        consult(
            "POST",
            f"{CON}/cancel",
            both(ac.REQ, ac.CAROL),
            ac.VIEW,
            make=ac.consult_for(
                "requested", "cancel", allowed=both(ac.REQ, ac.CAROL), json={"reason": "患者已转院"}
            ),
        ),
        consult(
            "POST",
            f"{CON}/start",
            both(ac.REQ, ac.BOB),
            ac.WITH_BOB,
            make=ac.consult_for("accepted", "start", allowed=both(ac.REQ, ac.BOB)),
        ),
        consult("GET", f"{CON}/record", ac.CLINICAL, ac.CLINICAL, make=ac.consult_for("accepted")),
        consult(
            "PUT",
            f"{CON}/opinion",
            ac.BOB,
            ac.WITH_BOB,
            make=ac.consult_for("in_session", "opinion-draft", json=ac.OPINION),
        ),
        consult(
            "POST",
            f"{CON}/sign",
            ac.BOB,
            ac.WITH_BOB,
            make=ac.consult_for("in_session", "sign"),
        ),
        consult(
            "POST",
            f"{CON}/amend",
            ac.BOB,
            ac.WITH_BOB,
            make=ac.consult_for("reported", "report", json=ac.OPINION | AMEND),
        ),
        consult(
            "GET",
            f"{CON}/opinions/{{opinion_id}}/pdf",
            ac.CLINICAL,
            ac.CLINICAL,
            make=ac.consult_for("reported", "report"),
        ),
        consult(
            "POST",
            f"{CON}/decide",
            ac.REQ,
            ac.WITH_BOB,
            make=ac.consult_for("reported", "decide", json={"decision": "转诊"}),
        ),
        Probe("GET", f"{API}/icd10", ALL, make=body(query={"q": "I10"})),
        Probe("GET", f"{FHIR}/Task", ALL),
        consult(
            "GET", f"{FHIR}/Task/{{resource_id}}", ac.VIEW, make=ac.fhir_id("requested", "consult-")
        ),
        Probe("GET", f"{FHIR}/DiagnosticReport", ALL),
        consult(
            "GET",
            f"{FHIR}/DiagnosticReport/{{resource_id}}",
            ac.CLINICAL,
            make=ac.fhir_id("reported", "opinion-", "opinion_id"),
        ),
    ],
    "pages-consult": [
        Probe("GET", "/consults", roles(CD, SP, NU, DI, AU), deny=404),
        Probe("GET", "/consults/new", roles(CD, SP)),
        Probe(
            "POST",
            "/consults",
            roles(CD, SP),
            NOBODY,
            T,
            ok=303,
            deny_elsewhere=404,
            make=form(consult_create),
        ),
        consult("GET", "/consults/{consult_id}", ac.VIEW, make=ac.consult_for("requested")),
        # the consultation calendar: one's own (empty unless a specialist), the form and the
        # withdrawal a specialist's; accepting for one's department is bob's (cardiology)
        Probe("GET", "/consults/calendar", ALL),
        Probe("POST", "/consults/calendar", roles(SP), ok=303, make=ac.window_form),
        Probe(
            "POST",
            "/consults/calendar/{window_id}/remove",
            roles(SP),  # bob: only the window's own specialist (another's is "not found")
            ok=303,
            deny=404,
            make=ac.window_of_bob,
        ),
        consult(
            "POST",
            "/consults/{consult_id}/take",
            ac.BOB,
            ac.WITH_BOB,
            ok=303,
            make=ac.take_request(page=True),
        ),
        # the case-discussion workspace: the clinical side and the accepted expert (the
        # authority reads); the dispatcher and outsiders get nothing
        consult(
            "GET",
            "/consults/{consult_id}/discussion",
            ac.CLINICAL,
            make=ac.consult_for("accepted"),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/submit",
            ac.REQ,
            ac.VIEW,
            ok=303,
            make=ac.consult_for("draft", "page-submit", allowed=ac.REQ),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/assign",
            ac.CAROL,
            ac.VIEW,
            ok=303,
            make=ac.assign_request(page=True),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/answer",
            ac.BOB,
            ac.WITH_BOB,
            ok=303,
            make=ac.consult_for("assigned", "page-answer", allowed=ac.BOB, data={"accept": "yes"}),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/cancel",
            both(ac.REQ, ac.CAROL),
            ac.VIEW,
            ok=303,
            make=ac.consult_for(
                "requested",
                "page-cancel",
                allowed=both(ac.REQ, ac.CAROL),
                data={"reason": "患者已转院"},
            ),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/start",
            both(ac.REQ, ac.BOB),
            ac.WITH_BOB,
            ok=303,
            make=ac.consult_for("accepted", "page-start", allowed=both(ac.REQ, ac.BOB)),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/opinion",
            ac.BOB,
            ac.WITH_BOB,
            ok=303,
            make=ac.consult_for("in_session", "page-draft", data=PAGE_OPINION),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/amend",
            ac.BOB,
            ac.WITH_BOB,
            ok=303,
            make=ac.consult_for("reported", "page-report", data=PAGE_AMEND),
        ),
        consult(
            "GET",
            "/consults/{consult_id}/opinions/{opinion_id}.pdf",
            ac.CLINICAL,
            ac.CLINICAL,
            make=ac.consult_for("reported", "page-report"),
        ),
        consult(
            "POST",
            "/consults/{consult_id}/decide",
            ac.REQ,
            ac.WITH_BOB,
            ok=303,
            make=ac.consult_for("reported", "page-decide", data={"decision": "转诊"}),
        ),
        consult(
            "GET",
            "/consults/{consult_id}/documents/{document_id}",
            ac.CLINICAL,
            ac.CLINICAL,
            make=ac.consult_for("accepted", "file", with_file=True),
        ),
        Probe("GET", "/consults-icd10", ALL),
    ],
    "api-auth": [
        Probe("POST", f"{API}/auth/token", ALL, make=token_body, anon=200),
        Probe("GET", f"{API}/auth/me", ALL),
        Probe("POST", f"{API}/auth/logout", ALL, ok=204),
    ],
    "api-consortium": [
        Probe("GET", f"{API}/regions", ALL),
        Probe("GET", f"{API}/institutions", ALL),
        Probe("POST", f"{API}/institutions", roles(CA), ok=201, make=INSTITUTION),
        Probe("GET", INST, ALL, ALL, T),
        Probe("GET", f"{INST}/departments", ALL, ALL, T),
        staff_admin("POST", f"{INST}/departments", ok=201, make=DEPARTMENT),
        Probe("GET", f"{INST}/terminals", ALL, WIDE, T),
        terminal_admin("POST", f"{INST}/terminals", ok=201, make=TERMINAL),
    ],
    "api-staff": [
        Probe("GET", f"{API}/staff", ALL),
        Probe("GET", f"{API}/staff", ALL, WIDE, T, make=BY_INST, variant="institution_id"),
        staff_admin("POST", f"{API}/staff", ok=201, make=STAFF),
        Probe("GET", f"{API}/staff/{{user_id}}", ALL, WIDE, T),
        staff_admin("PATCH", f"{API}/staff/{{user_id}}", make=body(json={"display_name": "Re"})),
        staff_admin("PUT", f"{STAFF_ID}/roles", make=fresh("user", json={"roles": ["nurse"]})),
        # A role reaching beyond one institution is the consortium administrator's to grant.
        *(
            Probe("PUT", f"{STAFF_ID}/roles", roles(CA), roles(CA), T, make=grant(role))
            for role in ("dispatcher", "ops_engineer", "consortium_admin")
        ),
        staff_admin("PUT", f"{STAFF_ID}/roles", make=grant("institution_admin")),
        # Nobody but the consortium administrator changes their own roles.
        Probe("PUT", f"{STAFF_ID}/roles", roles(CA), make=own_roles),
        staff_admin("POST", f"{STAFF_ID}/unlock"),
        staff_admin("POST", f"{STAFF_ID}/disable", make=fresh("user")),
        staff_admin("POST", f"{STAFF_ID}/enable"),
    ],
    "api-patients": [
        Probe("GET", f"{API}/patients", LIST_PATIENTS),
        Probe("POST", f"{API}/patients", WRITE_OWN, WRITE_OTHER, T, ok=201, make=PATIENT),
        patient_read("POST", f"{API}/patients/lookup", make=lookup_form),
        patient_read("GET", PAT),
        patient_write("PATCH", PAT, make=body(json={"address": "示例路1号"})),
        patient_read("GET", f"{PAT}/documents"),
        patient_write("POST", f"{PAT}/documents", ok=201, make=DOCUMENT),
        patient_write("POST", f"{PAT}/attachments", ok=201, make=UPLOAD),
        patient_read("GET", f"{PAT}/documents/{{document_id}}/file", make=fresh("document")),
        patient_read("GET", f"{PAT}/consents"),
        patient_write("POST", f"{PAT}/consents", ok=201, make=consent_body),
        patient_write("POST", f"{CONSENT}/withdraw", make=fresh("consent")),
    ],
    # An administrator opens emergency read access to one patient, the consortium's to any,
    # an institution's to its own (another institution's patient is "not found"; by number
    # in the form, "no patient with this number"); only who opened a grant ends it early.
    # Worlds of their own: a grant would change what the administrators read elsewhere.
    "api-break-glass": [
        Probe("GET", f"{API}/break-glass", BREAK_GLASS_OWN),
        Probe(
            "POST",
            f"{PAT}/break-glass",
            BREAK_GLASS_OWN,
            BREAK_GLASS_OTHER,
            T,
            ok=201,
            deny_elsewhere=404,
            make=REASON,
        ),
        Probe(
            "POST",
            f"{API}/break-glass/{{grant_id}}/end",
            BREAK_GLASS_OWN,
            BREAK_GLASS_OTHER,
            T,
            deny_elsewhere=404,
            make=own_grant,
        ),
    ],
    "pages-break-glass": [
        Probe("GET", "/break-glass", BREAK_GLASS_OWN),
        Probe(
            "POST",
            "/break-glass",
            BREAK_GLASS_OWN,
            BREAK_GLASS_OTHER,
            T,
            ok=303,
            deny_elsewhere=422,
            make=break_glass_form,
        ),
        Probe(
            "POST",
            "/break-glass/{grant_id}/end",
            BREAK_GLASS_OWN,
            BREAK_GLASS_OTHER,
            T,
            ok=303,
            deny_elsewhere=404,
            make=own_grant,
        ),
    ],
    "api-audit": [
        Probe("GET", f"{API}/audit/events", AUDIT_OWN),
        Probe("GET", f"{API}/audit/verify", AUDIT_WIDE),
    ],
    "api-meetings": [
        Probe("GET", f"{API}/meetings", ALL),
        Probe("POST", f"{API}/meetings", ALL, ok=201, make=MEETING),
        meeting("GET", MEET, MEMBERS),
        meeting("POST", f"{MEET}/invite", HOSTS, deny_reader=403, make=INVITE),
        meeting("POST", f"{MEET}/token", MEMBERS),
        meeting("POST", f"{MEET}/ring", MEMBERS),
        meeting("GET", f"{MEET}/participants", MEMBERS),
        meeting("POST", f"{MEET}/end", HOSTS, deny_reader=403, make=fresh("meeting")),
        meeting("PATCH", MEET, HOSTS, deny_reader=403, make=body(json={"title": "改名{n}"})),
        meeting("POST", f"{MEET}/cancel", HOSTS, deny_reader=403, make=fresh_scheduled),
        meeting(
            "PUT",
            f"{MEET}/members/{{user_id}}",
            HOSTS,
            deny_reader=403,
            make=with_member(json={"role": "cohost"}),
        ),
        meeting(
            "POST",
            f"{MEET}/guests",
            HOSTS,
            ok=201,
            deny_reader=403,
            make=body(json={"display_name": "王阿姨"}),
        ),
        meeting("GET", f"{MEET}/guests", MEMBERS),
        meeting(
            "DELETE", f"{MEET}/guests/{{guest_id}}", HOSTS, ok=204, deny_reader=403, make=guest()
        ),
        # who is kept out (removed, not admitted) and letting them back: the chair sees,
        # the host allows back
        meeting("GET", f"{MEET}/removals", HOSTS, deny_reader=403),
        meeting(
            "DELETE",
            f"{MEET}/removals/{{identity}}",
            HOSTS,
            ok=204,
            deny_reader=403,
            make=kept_out(),
        ),
        # polls and Q&A: members read, the chair launches, closes, moderates and exports,
        # members vote and ask (observers are refused: tests/meetings/test_polls.py)
        meeting("GET", f"{MEET}/polls", MEMBERS),
        meeting("POST", f"{MEET}/polls", HOSTS, ok=201, deny_reader=403, make=body(json=POLL)),
        meeting(
            "POST",
            f"{MEET}/polls/{{poll_id}}/vote",
            MEMBERS,
            ok=204,
            make=meeting_item("poll", json={"choices": [0]}),
        ),
        meeting(
            "POST",
            f"{MEET}/polls/{{poll_id}}/close",
            HOSTS,
            ok=204,
            deny_reader=403,
            make=meeting_item("poll"),
        ),
        meeting("GET", f"{MEET}/polls.csv", HOSTS, deny_reader=403),
        meeting("GET", f"{MEET}/questions", MEMBERS),
        meeting("POST", f"{MEET}/questions", MEMBERS, ok=201, make=body(json={"text": "问题{n}"})),
        meeting(
            "POST",
            f"{MEET}/questions/{{question_id}}/answer",
            HOSTS,
            ok=204,
            deny_reader=403,
            make=meeting_item("question"),
        ),
        meeting(
            "POST",
            f"{MEET}/questions/{{question_id}}/hide",
            HOSTS,
            ok=204,
            deny_reader=403,
            make=meeting_item("question"),
        ),
        meeting("GET", f"{MEET}/questions.csv", HOSTS, deny_reader=403),
        # everyone's own inbox
        Probe("GET", f"{API}/notifications", ALL),
        Probe("POST", f"{API}/notifications/read", ALL, make=body(json={"ids": None})),
        # the self-test's network probes: public (a patient guest uses them too)
        Probe("GET", f"{API}/selftest/payload", ALL, make=SELFTEST_DOWNLOAD, anon=200),
        Probe("POST", f"{API}/selftest/payload", ALL, anon=200),
    ],
    "api-emergency": [
        Probe("GET", f"{EMG}/board", COMMAND),
        Probe("POST", f"{EMG}/incidents", COMMAND, ok=201, make=INCIDENT),
        responder("GET", INCIDENT_ID),
        Probe("POST", f"{INCIDENT_ID}/log", COMMAND, COMMAND, T, ok=201, make=body(json=NOTE)),
        Probe("POST", f"{INCIDENT_ID}/tasks", COMMAND, COMMAND, T, ok=201, make=TASK),
        Probe("POST", f"{INCIDENT_ID}/convene", COMMAND, COMMAND, T),
        Probe("POST", f"{INCIDENT_ID}/{{action}}", COMMAND, COMMAND, T, make=CLOSE),
        Probe("POST", f"{EMG}/convene-all", COMMAND, make=body(json={"title": "演练{n}"})),
        Probe("GET", f"{EMG}/tasks", RESPOND_OWN),
        responder("POST", TASK_STEP, make=ACKNOWLEDGE_JSON),
        responder("POST", f"{EMG}/resources", ok=201, make=body(json=BEDS | SITE)),
    ],
    "api-supervision": [
        Probe("GET", f"{API}/supervision/rules", SUPERVISION_OWN),
        Probe("GET", f"{API}/supervision/summary", SUPERVISION_OWN),
        Probe(
            "GET",
            f"{API}/supervision/summary",
            SUPERVISION_OWN,
            SUPERVISION_OTHER,
            T,
            make=BY_INST,
            variant="one institution",
        ),
        Probe(
            "GET",
            f"{API}/supervision/violations",
            SUPERVISION_OWN,
            make=body(query={"rule": "opinion_late"}),
        ),
        Probe("GET", f"{API}/supervision/samples", SUPERVISION_OWN),
        Probe("POST", f"{API}/supervision/samples", REVIEW, REVIEW, T, ok=201, make=asv.draw()),
        Probe(
            "GET",
            f"{API}/supervision/samples/{{sample_id}}",
            SUPERVISION_OWN,
            SUPERVISION_OTHER,
            T,
            deny_elsewhere=404,
            make=asv.sampled(),
        ),
        Probe(
            "PUT",
            f"{API}/supervision/reviews/{{review_id}}",
            REVIEW,
            REVIEW,
            T,
            make=asv.sampled(json=asv.VERDICT),
        ),
    ],
    "api-stats": [
        Probe("GET", f"{API}/stats/measures", STATS_OWN),
        Probe("GET", f"{API}/stats/trend", STATS_OWN, make=body(query={"measure": "meetings"})),
        Probe(
            "GET",
            f"{API}/stats/trend",
            STATS_OWN,
            STATS_OTHER,
            T,
            make=body(query={"measure": "meetings", "institution_id": INST_ID}),
            variant="one institution",
        ),
        Probe("GET", f"{API}/stats/ranking", STATS_OWN, make=body(query={"measure": "meetings"})),
        Probe("GET", f"{API}/stats/compare", STATS_OWN),
        Probe(
            "GET",
            f"{API}/stats/compare",
            STATS_OWN,
            STATS_OTHER,
            T,
            make=BY_INST,
            variant="one institution",
        ),
        Probe("GET", f"{API}/stats/map", STATS_OWN),
        Probe("GET", f"{API}/stats/geo", STATS_OWN),
        Probe("GET", f"{API}/stats/clusters", STATS_OWN),
    ],
    "fhir": [
        Probe("GET", f"{FHIR}/metadata", ALL, anon=200),
        Probe("GET", RES, LIST_PATIENTS, make=fhir("Patient")),
        Probe("GET", RES, ALL, make=fhir("Organization")),
        Probe("GET", RES, ALL, make=fhir("Practitioner")),
        Probe("GET", RES, ALL, make=fhir("Communication")),  # what each may open (or none)
        Probe("GET", RES_ID, roles(CD), NOBODY, T, deny=404, make=communication()),
        Probe("POST", SEARCH, LIST_PATIENTS, make=fhir("Patient", data=NAME)),
        patient_read("GET", RES_ID, make=fhir("Patient", read=T)),
        Probe("GET", RES_ID, ALL, ALL, T, make=fhir("Organization", read=T)),
        Probe("GET", RES_ID, ALL, WIDE, T, make=fhir("Practitioner", read=T)),
    ],
    "partners": [
        Probe("GET", "/.well-known/smart-configuration", PUBLIC, anon=200),
        Probe("POST", "/oauth/token", PUBLIC, ok=400, anon=400),  # no assertion: refused alike
        Probe("POST", f"{FHIR}/Patient", PATIENT_STAFF, ok=201, make=FHIR_PATIENT),
        # A referral by the side's clinicians; those without referrals (or who read the
        # patient through an earlier referral to their hospital) 403, other sites' 404.
        Probe(
            "POST",
            f"{FHIR}/ServiceRequest",
            NOBODY,
            NOBODY,
            T,
            ok=201,
            deny=404,
            deny_reader=403,
            people=REFERRERS,
            readers={k: frozenset(PERSONAS) - v for k, v in OTHER_SITES.items()},
            make=service_request,
        ),
    ],
    "pages-partners": [
        Probe("GET", "/partners", roles(CA, IA)),
        Probe("POST", "/partners", roles(CA), ok=303, make=partner_form),
        partner_page("GET", "/partners/{partner_id}", PARTNER_VIEW),
        partner_page(
            "POST", "/partners/{partner_id}/{action}", PARTNER_ADMIN, ok=303, action="suspend"
        ),
        partner_page("POST", f"{PARTNER}/keys/add", PARTNER_VIEW, ok=303, data=partner_key),
        partner_page("POST", f"{PARTNER}/keys/{{key_id}}/revoke", PARTNER_VIEW, ok=303),
        partner_page("POST", f"{PARTNER}/webhooks/add", PARTNER_ADMIN, data=WEBHOOK_FORM),
        partner_page("POST", f"{PARTNER}/deliveries/{{delivery_id}}/replay", PARTNER_VIEW, ok=303),
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
        Probe("GET", "/terminals/attention", WIDE),
        Probe("GET", PAGE_INST, ALL, ALL, T),
        staff_admin("POST", f"{PAGE_INST}/departments", ok=303, make=form(DEPARTMENT)),
        terminal_admin("POST", f"{PAGE_INST}/terminals", ok=303, make=form(TERMINAL)),
        Probe("GET", "/staff", ALL),
        staff_admin("POST", "/staff", ok=303, make=form(STAFF)),
        Probe("GET", "/staff/{user_id}", ALL, WIDE, T),
        staff_admin("POST", "/staff/{user_id}/roles", ok=303, make=ROLES_FORM),
        Probe("POST", "/staff/{user_id}/roles", roles(CA), roles(CA), T, ok=303, make=GRANT_WIDE),
        staff_admin("POST", "/staff/{user_id}/unlock", ok=303),
        staff_admin("POST", "/staff/{user_id}/disable", ok=303, make=fresh("user")),
        staff_admin("POST", "/staff/{user_id}/enable", ok=303),
    ],
    "pages-patients": [
        Probe("GET", "/patients", LIST_PATIENTS),
        # the form registers at the caller's own institution (it has no institution field)
        Probe("POST", "/patients", WRITE_OWN, ok=303, make=form(PATIENT)),
        Probe("GET", "/patients/guardians", WRITE_OWN),
        Probe("GET", "/patients/guardians/picker", WRITE_OWN),
        patient_read("GET", "/patients/{patient_id}"),
        patient_write("POST", f"{PAGE_PAT}/documents", ok=303, make=form(DOCUMENT)),
        patient_write("POST", f"{PAGE_PAT}/attachments", ok=303, make=UPLOAD),
        patient_write("POST", f"{PAGE_PAT}/consents", ok=303, make=form(consent_body)),
        patient_write("POST", f"{PAGE_CONSENT}/withdraw", ok=303, make=fresh("consent")),
        Probe("GET", "/audit", AUDIT_OWN),
    ],
    "pages-meetings": [
        Probe("GET", "/meetings", ALL),
        Probe("POST", "/meetings", ALL, ok=303, make=form(MEETING)),
        meeting("GET", "/meetings/{meeting_id}", MEMBERS),
        Probe("GET", "/selftest", ALL),
        Probe("POST", "/meetings/schedule", ALL, ok=303, make=schedule_form),
        meeting("GET", "/meetings/{meeting_id}/info", MEMBERS),
        meeting("GET", "/meetings/{meeting_id}/board", MEMBERS),
        meeting("GET", "/meetings/{meeting_id}/invite.ics", MEMBERS),
        meeting(
            "POST",
            "/meetings/{meeting_id}/edit",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=body(data={"title": "改名{n}", "duration_minutes": "60"}),
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/cancel",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=fresh_scheduled,
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/invite",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=fresh("meeting", data={"usernames": "nina", "role": "observer"}),
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/members/{user_id}/role",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=with_member(data={"role": "cohost"}),
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/guests",
            HOSTS,
            deny_reader=403,
            make=body(data={"display_name": "王阿姨"}),
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/guests/{guest_id}/revoke",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=guest(),
        ),
        meeting(
            "POST",
            "/meetings/{meeting_id}/removals/{identity}/allow",
            HOSTS,
            ok=303,
            deny_reader=403,
            make=kept_out(),
        ),
        Probe("GET", "/notifications", ALL),
    ],
    # A guest's one-time link works without an account: every caller gets the same answer.
    # Without the guest's own cookie the device check and the call send back to the code
    # form, and the token and files refuse (tests/meetings/test_guests.py: the bound browser).
    "pages-guests": [
        Probe("GET", "/join/{link}", PUBLIC, make=guest_link(), anon=200),
        Probe("POST", "/join/{link}", PUBLIC, ok=303, make=guest_link(code=True), anon=303),
        Probe("GET", "/join/{link}/check", PUBLIC, ok=303, make=guest_link(), anon=303),
        Probe("GET", "/join/{link}/call", PUBLIC, ok=303, make=guest_link(), anon=303),
        Probe("POST", "/join/{link}/token", PUBLIC, ok=403, make=guest_link(), anon=403),
        Probe(
            "POST",
            "/join/{link}/files",
            PUBLIC,
            ok=403,
            make=guest_link(files=GUEST_FILE),
            anon=403,
        ),
        Probe(
            "GET",
            "/join/{link}/files/{file_id}",
            PUBLIC,
            ok=403,
            make=guest_link(path={"file_id": 1}),
            anon=403,
        ),
        Probe("GET", "/join/{link}/left", PUBLIC, make=guest_link(), anon=200),
    ],
    # The same link in the guest's own browser, by the guest's state: a waiting guest gets a
    # room token (to wait in the lobby) and nothing of the meeting's content; a denied one
    # gets nothing at all until the host allows them back; an admitted one shares files.
    "pages-guest-states": [
        *guest_state_rows("waiting", token=200, upload=403, download=403, page=200),
        *guest_state_rows("denied", token=410, upload=410, download=410, page=410),
        *guest_state_rows("admitted", token=200, upload=201, download=200, page=200),
    ],
    "api-teaching": [
        Probe("GET", f"{API}/teaching/videos", ALL),
        Probe("GET", f"{API}/teaching/lectures", ALL),
        Probe(
            "POST",
            f"{API}/teaching/lectures",
            PATIENT_STAFF | roles(CA, IA),
            ok=201,
            make=body(json={"title": "基层高血压管理 {n}"}),
        ),
    ],
    "pages-teaching": [Probe("GET", "/teaching", ALL)],
    # Learning: every staff member learns; an administrator sees their staff's credit.
    "api-learning": [
        Probe("GET", f"{API}/learning/attendance/mine", ALL),
        Probe("GET", f"{API}/learning/courses", ALL),
        Probe("GET", f"{API}/learning/credits/mine", ALL),
        Probe("GET", f"{API}/learning/credits", roles(CA, IA)),
        Probe("GET", f"{API}/learning/documents", ALL),
    ],
    "pages-learning": [
        Probe("GET", "/learning", ALL),
        Probe("GET", "/learning/transcript", ALL),
        Probe("GET", "/learning/shelf", ALL),
        Probe("GET", "/learning/credits", roles(CA, IA)),
    ],
    "api-ops": [
        Probe("GET", f"{API}/ops/terminals", OPERATIONS),
        Probe("GET", f"{API}/ops/alarms", OPERATIONS),
        Probe("GET", f"{API}/ops/topology", OPERATIONS),
        terminal_admin("POST", f"{API}/ops/terminals/{{terminal_id}}/enrolment", ok=201),
        terminal_admin("POST", f"{API}/ops/terminals/{{terminal_id}}/revoke"),
        # A device's own calls: no user; without a valid device credential or code, 401.
        Probe("POST", f"{API}/devices/heartbeat", PUBLIC, ok=401, anon=401),
        Probe("POST", f"{API}/devices/enrol", PUBLIC, ok=401, make=ENROL_CODE, anon=401),
    ],
    "pages-ops": [
        Probe("GET", "/ops/terminals", OPERATIONS),
        Probe("GET", "/ops/alarms", OPERATIONS),
        Probe("GET", "/ops/topology", OPERATIONS),
        terminal_admin("POST", "/ops/terminals/{terminal_id}/enrol"),
        terminal_admin("POST", "/ops/terminals/{terminal_id}/revoke", ok=303),
        # The kiosk answers a browser without a device credential the same, signed in or not.
        Probe("GET", "/kiosk", PUBLIC, anon=200),
        Probe("GET", "/kiosk/upcoming", PUBLIC, ok=303, anon=303),
        Probe("POST", "/kiosk/sign-in", PUBLIC, ok=401, anon=401),
        Probe("POST", "/kiosk/sign-out", PUBLIC, ok=303, anon=303),
        Probe("GET", "/kiosk/meetings/{meeting_id}", PUBLIC, PUBLIC, T, ok=303, anon=303),
        Probe("POST", "/kiosk/meetings/{meeting_id}/token", PUBLIC, PUBLIC, T, ok=401, anon=401),
    ],
    "api-clinics": [
        Probe("GET", f"{API}/clinics/sessions", ALL),
        Probe("POST", f"{API}/clinics/sessions", roles(SP), ok=201, make=clinic_session),
        Probe("GET", f"{API}/clinics/sessions/{{session_id}}", ALL),
        # A community centre books its own patients; elsewhere the patient is not found.
        Probe(
            "POST",
            f"{API}/clinics/sessions/{{session_id}}/bookings",
            roles(CD, NU),
            targeted=T,
            ok=201,
            deny_elsewhere=404,
            make=booking,
        ),
        # Only the session's specialist gets past the door (an empty queue: 409).
        Probe("POST", f"{API}/clinics/sessions/{{session_id}}/call-next", roles(SP), ok=409),
        Probe("POST", f"{API}/clinics/sessions/{{session_id}}/{{action}}", roles(SP), make=closing),
        Probe("GET", f"{API}/clinics/visits", ALL),
        meeting("GET", f"{API}/clinics/visits/{{visit_id}}", VISIT_PEOPLE),
        Probe("GET", f"{API}/clinics/drugs", ALL),
        Probe("GET", f"{API}/referrals", ALL),
        Probe("GET", f"{FHIR}/Schedule", ALL),
        Probe("GET", f"{FHIR}/Schedule/{{resource_id}}", ALL, make=standing_as("session_id")),
        Probe("GET", f"{FHIR}/Slot", ALL, make=slots_query),
        Probe("GET", f"{FHIR}/Slot/{{resource_id}}", ALL, make=standing_slot),
        Probe("GET", f"{FHIR}/Appointment", ALL),
        meeting(
            "GET", f"{FHIR}/Appointment/{{resource_id}}", VISIT_PEOPLE, make=standing_as("visit_id")
        ),
        Probe("GET", f"{FHIR}/ServiceRequest", ALL),
    ],
    "pages-clinics": [
        Probe("GET", "/clinics", roles(CD, NU, SP)),
        Probe("POST", "/clinics/sessions", roles(SP), ok=303, make=clinic_form),
        Probe("GET", "/clinics/sessions/{session_id}", ALL),
        Probe("GET", "/clinics/waiting", roles(CD, NU)),
        Probe("GET", "/referrals", roles(CD, NU, SP)),
        Probe("GET", "/referrals/new", roles(CD, NU, SP)),
    ],
    "pages-inquiry": [
        Probe("GET", "/inquiries", DOCTORS),
        Probe("GET", "/inquiries/{inquiry_id}", roles(CD), NOBODY, T, deny=404, make=inquiry()),
        Probe(
            "GET",
            "/inquiries/{inquiry_id}/files/{file_id}",
            roles(CD),
            NOBODY,
            T,
            deny=404,
            make=inquiry(file=True),
        ),
        Probe(
            "POST",
            "/inquiries/{inquiry_id}/claim",
            roles(CD),
            NOBODY,
            T,
            ok=303,
            deny=404,
            make=inquiry(),
        ),
        Probe(
            "POST",
            "/inquiries/{inquiry_id}/reply",
            NOBODY,
            NOBODY,
            T,
            ok=303,
            deny=404,
            people=CLAIMER_PEOPLE,
            make=inquiry(CLAIMED, claimed=True, data={"body": "多休息"}),
        ),
        Probe(
            "POST",
            "/inquiries/{inquiry_id}/release",
            NOBODY,
            NOBODY,
            T,
            ok=303,
            deny=404,
            people=CLAIMER_PEOPLE,
            make=inquiry(CLAIMED, claimed=True),
        ),
        Probe(
            "POST",
            "/inquiries/{inquiry_id}/video",
            NOBODY,
            NOBODY,
            T,
            ok=303,
            deny=404,
            people=CLAIMER_PEOPLE,
            make=inquiry(CLAIMED, claimed=True),
        ),
    ],
    # The portal's public forms answer everyone alike (bad input: 422); its other pages
    # open only with a resident's own session, so a staff session gets what no session
    # gets: a GET goes to the portal's sign-in, a post is 401 (tested with residents in
    # test_residents_reach_only_their_own_questions).
    "pages-resident": [
        Probe("GET", "/resident/login", PUBLIC, anon=200),
        Probe("GET", "/resident/register", PUBLIC, anon=200),
        Probe("POST", "/resident/code", PUBLIC, ok=422, anon=422, make=body(data={"phone": "123"})),
        Probe(
            "POST",
            "/resident/login",
            PUBLIC,
            ok=422,
            anon=422,
            make=body(data={"phone": "13800000000", "code": "000000"}),
        ),
        Probe(
            "POST",
            "/resident/register",
            PUBLIC,
            ok=422,
            anon=422,
            make=body(
                data={
                    "phone": "138",
                    "code": "1",
                    "name": "x",
                    "id_number": "1",
                    "institution_id": "x",
                }
            ),
        ),
        Probe("GET", "/resident", PUBLIC, ok=303, anon=303),
        Probe("GET", "/resident/ask", PUBLIC, ok=303, anon=303),
        Probe(
            "POST",
            "/resident/ask",
            PUBLIC,
            ok=401,
            anon=401,
            make=body(data={"pool": "1", "title": "t", "body": "b"}),
        ),
        Probe("GET", "/resident/inquiries/{inquiry_id}", PUBLIC, ok=303, anon=303, make=inquiry()),
        Probe(
            "GET",
            "/resident/inquiries/{inquiry_id}/files/{file_id}",
            PUBLIC,
            ok=303,
            anon=303,
            make=inquiry(file=True),
        ),
        Probe(
            "POST",
            "/resident/inquiries/{inquiry_id}/messages",
            PUBLIC,
            ok=401,
            anon=401,
            make=inquiry(data={"body": "补充"}),
        ),
        Probe(
            "POST",
            "/resident/inquiries/{inquiry_id}/withdraw",
            PUBLIC,
            ok=401,
            anon=401,
            make=inquiry(),
        ),
        Probe(
            "POST",
            "/resident/inquiries/{inquiry_id}/close",
            PUBLIC,
            ok=401,
            anon=401,
            make=inquiry(InquiryState.ANSWERED, claimed=True, data={"rating": "5"}),
        ),
        Probe("POST", "/resident/logout", PUBLIC, ok=401, anon=401),
    ],
    "pages-emergency": [
        Probe("GET", "/emergency", COMMAND),
        Probe("GET", "/emergency/tasks", RESPOND_OWN),
        responder("POST", "/emergency/tasks/{task_id}/{action}", ok=303, make=ACKNOWLEDGE),
        # the form reports for the caller's own site
        Probe("POST", "/emergency/resources", RESPOND_OWN, ok=303, make=body(data=BEDS)),
    ],
    "pages-supervision": [
        Probe("GET", "/supervision", SUPERVISION_OWN),
        Probe(
            "GET",
            "/supervision",
            SUPERVISION_OWN,
            SUPERVISION_OTHER,
            T,
            make=BY_INST,
            variant="one institution",
        ),
        Probe(
            "GET",
            "/supervision/rules/{code}",
            SUPERVISION_OWN,
            make=body(path={"code": "opinion_late"}),
        ),
        Probe("GET", "/supervision/samples", SUPERVISION_OWN),
        Probe("POST", "/supervision/samples", REVIEW, REVIEW, T, ok=303, make=asv.draw(form=True)),
        Probe(
            "GET",
            "/supervision/samples/{sample_id}",
            SUPERVISION_OWN,
            SUPERVISION_OTHER,
            T,
            deny_elsewhere=404,
            make=asv.sampled(),
        ),
        Probe(
            "POST",
            "/supervision/reviews/{review_id}",
            REVIEW,
            REVIEW,
            T,
            ok=303,
            make=asv.sampled(data=asv.VERDICT),
        ),
        Probe("GET", "/supervision/export.xlsx", SUPERVISION_OWN),
    ],
    "pages-stats": [
        Probe("GET", "/stats", STATS_OWN),
        Probe("GET", "/stats", STATS_OWN, STATS_OTHER, T, make=BY_INST, variant="one institution"),
        Probe("GET", "/stats/glossary", STATS_OWN),
        Probe("GET", "/stats/export.xlsx", STATS_OWN, make=body(query={"table": "ranking"})),
        Probe(
            "GET",
            "/stats/export.xlsx",
            STATS_OWN,
            STATS_OTHER,
            T,
            variant="one institution",
            make=body(query={"table": "trend", "institution_id": INST_ID}),
        ),
        Probe("GET", "/stats/report.pdf", STATS_OWN, make=body(query={"month": "2026-01"})),
    ],
}
PROBES = [p for probes in GROUPS.values() for p in probes]

ID_NUMBERS = {
    key: resident_id.make("440305", date(1970, 1, seq), 100 + seq)
    for key, seq in (("pa", 11), ("pb", 12))
}
PATIENT_INST = {"pa": "chc_a", "pb": "chc_b"}


# --- one group's world -------------------------------------------------------------------


@dataclass
class Scene:
    """The seeded world, plus targets made on demand through the API (by admin or a host)."""

    app: FastAPI
    world: World
    client: httpx.AsyncClient
    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)  # session, CSRF token
    standing: dict[str, dict[str, int]] = field(default_factory=dict)  # id name -> side -> id
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> ids, UIDs
    residents: dict[str, Any] = field(default_factory=dict)  # side -> the side's resident
    resident_cookie: str | None = None  # sent as the caller "resident" (a resident's session)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def serial(self) -> int:
        return next(self._counter)

    def ids(self, side: str | None) -> dict[str, Any]:
        s = SIDES[side or "a"]
        return {
            "institution_id": self.world.inst[s["inst"]].id,
            "patient_id": self.world.patients[s["patient"]].id,
            "user_id": self.world.users[s["staff"]].id,
        } | {name: by_side[side or "a"] for name, by_side in self.standing.items()}

    async def setup(self, method: str, url: str, who: str = "admin", **kw: Any) -> Any:
        res = await self.client.request(method, f"{API}{url}", headers=self.world.auth(who), **kw)
        assert res.status_code < 300, f"setup {method} {url}: {res.status_code} {res.text}"
        return res.json()

    async def create(self, url: str, who: str = "admin", **kw: Any) -> int:
        made = await self.setup("POST", url, who=who, **kw)
        return int((made[0] if isinstance(made, list) else made)["id"])

    async def resident(self, side: str) -> Any:
        """The side's resident: the same person as the side's patient (pa, pb)."""
        if side not in self.residents:
            self.residents[side] = await make_resident(
                self.app, self.world, centre=SIDES[side]["inst"], patient=SIDES[side]["patient"]
            )
        return self.residents[side]

    async def fresh_user(self, side: str | None) -> int:
        n, inst = self.serial(), self.ids(side)["institution_id"]
        staff = {"username": f"target{n}", "display_name": f"Target {n}", "institution_id": inst}
        return await self.create("/staff", json=staff | {"roles": ["nurse"], "password": PASSWORD})

    async def fresh_document(self, side: str | None) -> int:
        url = f"/patients/{self.ids(side)['patient_id']}/attachments"
        report = {"file": ("report.txt", b"report\n", "text/plain")}
        return await self.create(url, who=CLINICIAN[side or "a"], files=report)

    async def fresh_consent(self, side: str | None) -> int:
        await self.withdraw_consents(side)
        url = f"/patients/{self.ids(side)['patient_id']}/consents"
        return await self.create(url, who=CLINICIAN[side or "a"], json={"purpose": "telemedicine"})

    async def withdraw_consents(self, side: str | None) -> None:
        url, who = f"/patients/{self.ids(side)['patient_id']}/consents", CLINICIAN[side or "a"]
        for row in await self.setup("GET", url, who=who):
            if row["active"]:
                await self.setup("POST", f"{url}/{row['id']}/withdraw", who=who)

    async def fresh_meeting(self, side: str | None) -> int:
        """Side "a": alice's meeting with bob; side "b": mallory's, alone."""
        key = side or "a"
        host = min(HOSTS[key])
        body = {"title": "病例讨论", "invitees": sorted(MEMBERS[key] - {host})}
        return await self.create("/meetings", who=host, json=body)

    async def fresh_partner(self, side: str | None) -> dict[str, int]:
        """A partner of the side's institution, its uploaded key and one delivery."""
        made = await make_partner(self.app, self.world, institution=SIDES[side or "a"]["inst"])
        async with self.app.state.sessions() as session:
            key_id = await session.scalar(
                select(PartnerKey.id).where(PartnerKey.partner_id == made.partner_id)
            )
            hook = PartnerWebhook(
                partner_id=made.partner_id,
                url="https://his.example.org/hook",
                events=["referral.requested"],
                secret_enc=self.app.state.cipher.encrypt("whsec_t", context="partner-webhook"),
                active=True,
                created_at=datetime.now(UTC),
            )
            session.add(hook)
            await session.flush()
            delivery = PartnerDelivery(
                webhook_id=hook.id,
                event_id="evt_t",
                event_type="referral.requested",
                subject="referral/1",
                payload={},
                status=DeliveryState.DELIVERED,
                attempts=1,
                created_at=datetime.now(UTC),
            )
            session.add(delivery)
            await session.commit()
            return {"partner_id": made.partner_id, "key_id": key_id, "delivery_id": delivery.id}

    async def fresh_terminal(self, side: str | None) -> int:
        url = f"/institutions/{self.ids(side)['institution_id']}/terminals"
        body = {"code": f"T-OPS-{self.serial()}", "name": "终端", "kind": "room_system"}
        return await self.create(url, json=body)

    async def standing_study(self, side: str | None) -> dict[str, Any]:
        key = side or "a"
        if key not in self.studies:
            patient = self.world.patients[SIDES[key]["patient"]]
            data = _dicom(patient.record_numbers[0].record_no)
            files = {"file": ("ct.dcm", data, "application/dicom")}
            [made] = await self.setup(
                "POST",
                "/imaging/studies",
                who=CLINICIAN[key],
                files=files,
                data={"patient_id": str(patient.id)},
            )
            detail = await self.setup("GET", f"/imaging/studies/{made['id']}", who=CLINICIAN[key])
            series = detail["series"][0]
            self.studies[key] = {
                "study_id": made["id"],
                "study_uid": detail["study_uid"],
                "series_uid": series["series_uid"],
                "sop_uid": series["instances"][0]["sop_uid"],
            }
        return self.studies[key]

    async def fresh_incident(self, side: str | None) -> int:
        body = {"title": "疫情处置", "site_ids": [self.ids(side)["institution_id"]]}
        return await self.create("/emergency/incidents", json=body)

    async def fresh_task(self, side: str | None) -> int:
        url = f"/emergency/incidents/{await self.fresh_incident(side)}/tasks"
        task = {"title": "转运", "site_ids": [self.ids(side)["institution_id"]]}
        return await self.create(url, json=task)

    async def fresh_session(self, _side: str | None) -> int:
        return await self.create(
            "/clinics/sessions",
            who="bob",
            json={"title": "远程门诊", "walk_in_capacity": 5} | clinic_times(self.serial()),
        )

    async def fresh_visit(self, side: str | None) -> int:
        await self.fresh_consent(side)
        url = f"/clinics/sessions/{await self.fresh_session(side)}/bookings"
        body = {"patient_id": self.ids(side)["patient_id"]}
        return await self.create(url, who=CLINICIAN[side or "a"], json=body)

    async def sign_in_all(self, settings: Settings) -> None:
        """A signed-in browser session per persona (first factor real, second marked passed)."""
        async with self.app.state.sessions.begin() as s:
            for name in PERSONAS:
                issued = await auth_service.login_password(
                    session=s,
                    cfg=settings.security,
                    username=name,
                    password=PASSWORD,
                    attempt=auth_service.Attempt(MemoryLimiter(), None),
                )
                issued.session.mfa_passed = True
                self.cookies[name] = (issued.token, issued.session.csrf_token)

    async def call(self, probe: Probe, who: str | None, side: str | None) -> httpx.Response:
        req = await probe.make(self, None if who == "resident" else who, side)
        url = probe.path.format(**{**self.ids(side), **req.path})
        headers: dict[str, str] = {}
        data = req.data
        if who == "resident":  # a resident's own session, and nothing else
            if probe.page:
                headers["Accept"] = "text/html"
            headers["Cookie"] = f"{RESIDENT_COOKIE}={self.resident_cookie}"
        elif probe.page:
            headers["Accept"] = "text/html"
            if who is not None:
                token, csrf = self.cookies[who]
                headers["Cookie"] = f"{SESSION_COOKIE}={token}"
                if probe.method != "GET" and req.json is None:  # a form post
                    data = {**(data or {}), "csrf_token": csrf}
        elif who is not None:
            headers.update(self.world.auth(who))
        headers.update(req.headers)
        if req.cookie is not None:
            headers["Cookie"] = "; ".join(filter(None, [headers.get("Cookie"), req.cookie]))
        self.client.cookies.clear()  # only the session named above, none set by a response
        parts = {"params": req.query, "json": req.json, "data": data, "files": req.files}
        if req.content is not None:
            parts = {"params": req.query, "content": req.content}
        return await self.client.request(probe.method, url, headers=headers, **parts)


# --- expectations --------------------------------------------------------------------------


def expected(probe: Probe, who: str | None, side: str | None) -> int:
    if who is None:  # public, else 401 (a page redirects to sign in; a form post is not)
        return probe.anon or (303 if probe.page and probe.method == "GET" else 401)
    inst, role = PERSONAS[who]
    own = side is None or SIDES[side]["inst"] == inst
    if probe.people is not None and side is not None:
        allowed = who in probe.people[side]
        reader = who in (probe.readers or MEMBERS)[side]
    else:
        allowed = role in (probe.own if own else probe.other)
        reader = role in (READ_OWN if own else READ_OTHER)
    if allowed:
        return probe.ok
    if probe.deny_elsewhere and not own and role in probe.own:
        return probe.deny_elsewhere
    return probe.deny_reader if probe.deny_reader and reader else probe.deny


def may_read(who: str | None, patient: str) -> bool:
    if who is None:
        return False
    inst, role = PERSONAS[who]
    return role in (READ_OWN if PATIENT_INST[patient] == inst else READ_OTHER)


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


async def check(probe: Probe, scene: Scene, who: str | None, side: str | None) -> str:
    res = await scene.call(probe, who, side)
    if who == "resident":  # a resident's session opens nothing of the staff's
        who = None
    status, problems = expected(probe, who, side), []
    signed_out = who is None and probe.anon is None
    if res.status_code != status:
        problems.append(f"status {res.status_code}, expected {status} ({res.text[:160]!r})")
    elif signed_out and status == 303 and not res.headers["location"].startswith("/login?next=/"):
        problems.append(f"redirected to {res.headers['location']}, not to sign in")
    elif (
        signed_out and probe.path.startswith(API) and res.json()["error"]["code"] != "auth.required"
    ):
        problems.append(f"error {res.json()}")
    if found := leaks(scene.world, who, res.text):
        problems.append(f"leaks {found}")
    label = f"{probe.id}: {who or 'anonymous or resident'} -> {side or '-'}: "
    return label + "; ".join(problems) if problems else ""


async def run(probe: Probe, scene: Scene) -> list[str]:
    sides: list[str | None] = ["a", "b"] if probe.targeted else [None]
    calls = [(who, side) for who in PERSONAS for side in sides] + [(None, sides[0])]
    # public routes answer everyone alike; the portal's own are tested with residents below
    if scene.resident_cookie and probe.anon is None and not probe.path.startswith("/resident"):
        calls.append(("resident", sides[0]))
    return [f for who, side in calls if (f := await check(probe, scene, who, side))]


def test_denials_in_the_table_are_403_or_404() -> None:
    assert {p.deny for p in PROBES} | {p.deny_reader or 403 for p in PROBES} <= {403, 404}


@pytest.mark.parametrize("group", GROUPS)
async def test_each_persona_gets_what_the_table_says(
    group: str, app: FastAPI, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    scene = Scene(app=app, world=world, client=client)
    standing = (
        ("meeting", "incident", "terminal", "session", "visit")
        if "clinics" in group
        else ("meeting", "incident", "terminal")
    )
    for name in standing:  # one standing target of each per side
        make = getattr(scene, f"fresh_{name}")
        scene.standing[f"{name}_id"] = {side: await make(side) for side in SIDES}
    if group.startswith("pages"):
        await scene.sign_in_all(settings)
    # a resident (side a's patient) signed in to the portal calls every staff route too
    scene.resident_cookie, _ = await resident_session(app, await scene.resident("a"))
    failures = [f for probe in GROUPS[group] for f in await run(probe, scene)]
    assert not failures, "\n  ".join(["", *failures])


# --- the read-only health authority -------------------------------------------------------

# Every call the authority may make that is not a GET, and why: an action the policy names
# in `AUTHORITY_WRITES` (the command room and surveillance), or something that is neither a
# write nor on a patient's behalf. A new route open to the authority fails until named here.
ACCOUNT, QUERY, PUBLIC_LINK = "its own account", "a query sent as POST", "a guest link"
DEVICE = "a room terminal's own call (device credential, no user)"
OWN_MEETING = "a meeting of its own (one about a patient needs WRITE_PATIENT)"
AUTHORITY_NON_GET: dict[tuple[str, str], Action | str] = {
    ("POST", f"{SURV}/counts"): Action.REPORT_COUNTS,
    ("POST", f"{SURV}/counts/csv"): Action.REPORT_COUNTS,
    ("POST", f"{SURV}/run"): Action.MANAGE_ALERTS,
    ("POST", f"{EMG}/incidents"): Action.COMMAND_EMERGENCY,
    ("POST", f"{INCIDENT_ID}/log"): Action.COMMAND_EMERGENCY,
    ("POST", f"{INCIDENT_ID}/tasks"): Action.COMMAND_EMERGENCY,
    ("POST", f"{INCIDENT_ID}/convene"): Action.COMMAND_EMERGENCY,
    ("POST", f"{INCIDENT_ID}/{{action}}"): Action.COMMAND_EMERGENCY,
    ("POST", f"{EMG}/convene-all"): Action.COMMAND_EMERGENCY,
    ("POST", TASK_STEP): Action.RESPOND_EMERGENCY,
    ("POST", f"{EMG}/resources"): Action.RESPOND_EMERGENCY,
    ("POST", "/emergency/tasks/{task_id}/{action}"): Action.RESPOND_EMERGENCY,
    ("POST", "/emergency/resources"): Action.RESPOND_EMERGENCY,
    ("POST", f"{API}/supervision/samples"): Action.REVIEW_SUPERVISION,
    ("PUT", f"{API}/supervision/reviews/{{review_id}}"): Action.REVIEW_SUPERVISION,
    ("POST", "/supervision/samples"): Action.REVIEW_SUPERVISION,
    ("POST", "/supervision/reviews/{review_id}"): Action.REVIEW_SUPERVISION,
    ("POST", f"{API}/auth/token"): ACCOUNT,
    ("POST", "/oauth/token"): "a partner system's token request (its own credentials)",
    ("POST", f"{API}/auth/step-up"): ACCOUNT,
    ("POST", f"{API}/auth/logout"): ACCOUNT,
    ("POST", f"{API}/notifications/read"): ACCOUNT,
    ("POST", f"{API}/selftest/payload"): ACCOUNT,
    ("POST", "/login"): ACCOUNT,
    ("POST", "/2fa"): ACCOUNT,
    ("POST", "/2fa/enrol"): ACCOUNT,
    ("POST", "/logout"): ACCOUNT,
    ("POST", f"{API}/patients/lookup"): QUERY,
    ("POST", SEARCH): QUERY,
    ("POST", f"{API}/meetings"): OWN_MEETING,
    ("POST", "/meetings"): OWN_MEETING,
    ("POST", "/meetings/schedule"): OWN_MEETING,
    ("POST", "/join/{link}"): PUBLIC_LINK,
    ("POST", "/join/{link}/token"): PUBLIC_LINK,
    ("POST", "/join/{link}/files"): PUBLIC_LINK,
    ("POST", f"{API}/devices/enrol"): DEVICE,
    ("POST", f"{API}/devices/heartbeat"): DEVICE,
    ("POST", "/kiosk/sign-in"): DEVICE,
    ("POST", "/kiosk/sign-out"): DEVICE,
    ("POST", "/kiosk/meetings/{meeting_id}/token"): DEVICE,
    ("POST", "/resident/code"): RESIDENT_ONLY,
    ("POST", "/resident/login"): RESIDENT_ONLY,
    ("POST", "/resident/register"): RESIDENT_ONLY,
    ("POST", "/resident/ask"): RESIDENT_ONLY,
    ("POST", "/resident/inquiries/{inquiry_id}/messages"): RESIDENT_ONLY,
    ("POST", "/resident/inquiries/{inquiry_id}/withdraw"): RESIDENT_ONLY,
    ("POST", "/resident/inquiries/{inquiry_id}/close"): RESIDENT_ONLY,
    ("POST", "/resident/logout"): RESIDENT_ONLY,
}


def test_the_authority_writes_only_where_the_policy_names_it() -> None:
    """Read-only means read-only: each non-GET call the table lets the authority make is a
    command-room or surveillance action of `policy.AUTHORITY_WRITES`, or no write at all."""
    opened = {
        (p.method, p.path)
        for p in PROBES
        if p.method != "GET" and p.people is None and AU in (p.own | p.other)
    }
    assert opened == set(AUTHORITY_NON_GET)
    actions = {a for a in AUTHORITY_NON_GET.values() if isinstance(a, Action)}
    assert actions <= policy.AUTHORITY_WRITES
    assert not actions & {Action.WRITE_PATIENT, Action.REGISTER_PATIENT, Action.ADD_OPINION}


# --- the table covers every route ----------------------------------------------------------

OPS = {"/healthz", "/readyz", "/metrics"}


def page_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every HTML route the app serves (not in the OpenAPI document, not ops or docs)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods, path = route.methods, route.path or ""
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
    table = {(p.method, p.path) for p in PROBES if not p.page}
    assert api_routes(app) == table | COVERED_ELSEWHERE


def test_the_table_names_every_page_route(app: FastAPI) -> None:
    assert (
        page_routes(app) == {(p.method, p.path) for p in PROBES if p.page} | PAGES_COVERED_ELSEWHERE
    )


def test_page_routes_are_found_in_the_app(app: FastAPI) -> None:
    """The enumeration itself works: it finds the routes of every pages module."""
    paths = {path for _m, path in page_routes(app)}
    assert {"/", "/login", "/consortium", "/staff", "/patients", "/audit"} <= paths


# --- residents: their own questions only, nothing of the staff's ---------------------------

# (method, path, state of the owner's question or None, form, owner's status, another
# resident's status). Another resident of the same centre is the outsider here.
ANS = InquiryState.ANSWERED
RESIDENT_ROUTES: list[tuple[str, str, InquiryState | None, dict[str, str], int, int]] = [
    ("GET", "/resident", None, {}, 200, 200),
    ("GET", "/resident/ask", None, {}, 200, 200),
    ("POST", "/resident/ask", None, {"title": "头痛", "body": "两天了"}, 303, 303),
    ("GET", "/resident/inquiries/{inquiry_id}", InquiryState.OPEN, {}, 200, 404),
    ("GET", "/resident/inquiries/{inquiry_id}/files/{file_id}", InquiryState.OPEN, {}, 200, 404),
    ("POST", "/resident/inquiries/{inquiry_id}/messages", CLAIMED, {"body": "补充"}, 303, 404),
    ("POST", "/resident/inquiries/{inquiry_id}/withdraw", InquiryState.OPEN, {}, 303, 404),
    ("POST", "/resident/inquiries/{inquiry_id}/close", ANS, {"rating": "5"}, 303, 404),
    # staff pages and the API: as without any session
    ("GET", "/inquiries/{inquiry_id}", InquiryState.OPEN, {}, 303, 303),
    ("GET", "/patients/{patient_id}", None, {}, 303, 303),
    ("GET", "/api/v1/patients/{patient_id}", None, {}, 401, 401),
]


async def test_residents_reach_only_their_own_questions(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    owner = await make_resident(app, world, patient="pa")  # the same person as patient pa
    other = await make_resident(app, world)
    sessions = {
        "owner": await resident_session(app, owner),
        "other": await resident_session(app, other),
    }
    failures = []
    for method, path, state, data, owner_status, other_status in RESIDENT_ROUTES:
        for who, status in (("owner", owner_status), ("other", other_status)):
            ids: dict[str, Any] = {"patient_id": world.patients["pa"].id}
            if state is not None:
                claimer = "alice" if state in (CLAIMED, ANS) else None
                ids["inquiry_id"] = await make_inquiry(app, world, owner, state, claimer=claimer)
                ids["file_id"] = await add_file(app, ids["inquiry_id"])
            token, csrf = sessions[who]
            form = data | {"pool": str(world.inst["chc_a"].id)} if path == "/resident/ask" else data
            client.cookies.clear()
            res = await client.request(
                method,
                path.format(**ids),
                headers={"Cookie": f"{RESIDENT_COOKIE}={token}", "Accept": "text/html"},
                data=(form | {"csrf_token": csrf}) if method == "POST" else None,
            )
            problems = []
            if res.status_code != status:
                problems.append(f"status {res.status_code}, expected {status}")
            if who == "other" and world.patients["pa"].name in res.text:
                problems.append("shows the owner's name")
            staff_page = status == 303 and path.startswith(("/inquiries", "/patients"))
            if staff_page and not res.headers["location"].startswith("/login"):
                problems.append(f"redirected to {res.headers['location']}")
            if problems:
                failures.append(f"{method} {path} as {who}: " + "; ".join(problems))
    assert not failures, "\n  ".join(["", *failures])


async def test_a_resident_form_without_its_csrf_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    resident = await make_resident(app, world)
    token, _csrf = await resident_session(app, resident)
    inquiry_id = await make_inquiry(app, world, resident)
    res = await client.post(
        f"/resident/inquiries/{inquiry_id}/withdraw",
        headers={"Cookie": f"{RESIDENT_COOKIE}={token}", "Accept": "text/html"},
        data={"csrf_token": "forged"},
    )
    assert res.status_code == 403
