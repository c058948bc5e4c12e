"""Access-matrix rows for remote consultations (imported by test_access_matrix.py).

A consultation is scoped by who takes part, not by role alone: the requesting doctor and
the inviting institution's clinical staff, the experts asked, the telemedicine centre's
dispatchers (the request, never the record) and the health authority (read-only). Each
call gets a consultation on the target side in the state its action needs: side "a" is
alice's request for pa, side "b" mallory's for pb; bob is the expert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from yiyun.auth.models import AuthSession
from yiyun.consult.config import ConsultSettings
from yiyun.consult.models import Availability
from yiyun.core.clock import DISTRICT_TZ
from yiyun.org.enums import StaffTitle
from yiyun.org.models import User

API = "/api/v1"
REQUESTER = {"a": "alice", "b": "mallory"}
PATIENT = {"a": "pa", "b": "pb"}
# Who sees a consultation of the side before any expert is asked.
VIEW = {
    "a": frozenset({"alice", "nina", "carol", "hana"}),
    "b": frozenset({"mallory", "carol", "hana"}),
}
WITH_BOB = {k: v | {"bob"} for k, v in VIEW.items()}
REQ = {k: frozenset({v}) for k, v in REQUESTER.items()}
CAROL = {k: frozenset({"carol"}) for k in VIEW}
BOB = {k: frozenset({"bob"}) for k in VIEW}
CLINICAL = {
    "a": frozenset({"alice", "nina", "hana", "bob"}),
    "b": frozenset({"mallory", "hana", "bob"}),
}
ORDER = ["draft", "requested", "assigned", "accepted", "in_session", "reported"]
OPINION = {
    "findings": "血压控制不佳",
    "diagnoses": [{"code": "I10"}],
    "recommendations": "调整降压方案",
    "follow_up": "两周复诊",
}


async def _prepare(scene: Any) -> None:
    """Once per world: bob qualifies as a cardiology expert; sessions may open early."""
    if getattr(scene, "_consult_ready", False):
        return
    async with scene.app.state.sessions.begin() as s:
        bob = await s.get(User, scene.world.users["bob"].id)
        bob.years_of_practice, bob.title = 10, StaffTitle.CHIEF_PHYSICIAN
        bob.department_id = scene.world.departments["cardio"].id
        at = datetime.now(UTC)
        s.add(
            Availability(
                expert_id=bob.id,
                starts_at=at - timedelta(days=1),
                ends_at=at + timedelta(days=30),
                created_at=at,
            )
        )
    settings = scene.app.state.settings
    scene.app.state.settings = settings.model_copy(
        update={"consult": ConsultSettings(start_early_minutes=24 * 60, jobs_enabled=False)}
    )
    scene._consult_ready = True


def slot(scene: Any) -> datetime:
    """bob's next free 10 minutes (11-minute steps, within the day sessions may open)."""
    n = scene.__dict__.get("_slot", 0) + 1
    scene._slot = n
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=11 * n)
    return start


async def _strong(scene: Any, *names: str) -> None:
    ids = [scene.world.users[n].id for n in names]
    async with scene.app.state.sessions.begin() as s:
        await s.execute(
            update(AuthSession)
            .where(AuthSession.user_id.in_(ids))
            .values(strong_auth_at=datetime.now(UTC))
        )


async def consult_in(
    scene: Any, side: str | None, state: str, *, with_file: bool = False, department: bool = False
) -> int:
    """A consultation of the side brought (through the API) to `state`."""
    await _prepare(scene)
    key = side or "a"
    requester = REQUESTER[key]
    consented = scene.__dict__.setdefault("_consented", set())
    if key not in consented:
        await scene.fresh_consent(key)
        consented.add(key)
    docs = [await scene.fresh_document(key)] if with_file else []
    body = {
        "patient_id": scene.world.patients[PATIENT[key]].id,
        "reason": "胸闷待查",
        "specialty": "03.04",
        "urgency": "urgent",
        "summary": "高血压十年",
        "document_ids": docs,
        "submit": state != "draft",
    }
    if department:  # the lead hospital's cardiology invited (bob may accept directly)
        body["department_id"] = scene.world.departments["cardio"].id
    cid = await scene.create("/consults", who=requester, json=body)
    level = ORDER.index(state)
    if level >= ORDER.index("assigned"):
        await scene.setup(
            "POST",
            f"/consults/{cid}/assign",
            who="carol",
            json={"expert_ids": [scene.world.users["bob"].id], "duration_minutes": 10}
            | {"starts_at": slot(scene).isoformat()},
        )
    if level >= ORDER.index("accepted"):
        await scene.setup("POST", f"/consults/{cid}/answer", who="bob", json={"accept": True})
    if level >= ORDER.index("in_session"):
        await _strong(scene, requester, "bob")
        await scene.setup("POST", f"/consults/{cid}/start", who=requester)
        await scene.setup("PUT", f"/consults/{cid}/opinion", who="bob", json=OPINION)
    if level >= ORDER.index("reported"):
        await scene.setup("POST", f"/consults/{cid}/sign", who="bob")
    return int(cid)


def consult_for(
    state: str,
    label: str = "",
    *,
    allowed: dict[str, frozenset[str]] | None = None,
    with_file: bool = False,
    department: bool = False,
    **parts: Any,
) -> Any:
    """A consultation of the side in `state`: one shared by every caller the route refuses
    (a refusal changes nothing), and one of their own for each caller in `allowed`."""

    async def make(scene: Any, who: str | None, side: str | None) -> Any:
        from tests.web.test_access_matrix import body

        key = side or "a"
        mine = who if allowed is not None and who in allowed[key] else "-"
        cache = scene.__dict__.setdefault("_consults", {})
        slot_key = (label or state, key, mine)
        if slot_key not in cache:
            cid = await consult_in(scene, key, state, with_file=with_file, department=department)
            detail = await scene.setup("GET", f"/consults/{cid}", who=REQUESTER[key])
            ops = [o["id"] for o in detail["opinions"]]
            docs = detail["document_ids"]
            cache[slot_key] = (cid, ops[-1] if ops else 0, docs[0] if docs else 0)
        req = await body(**parts)(scene, who, side)
        cid, oid, did = cache[slot_key]
        req.path.update(consult_id=cid, opinion_id=oid, document_id=did)
        if who is not None:
            await _strong(scene, who)
        return req

    make.variant = label or state  # type: ignore[attr-defined]
    return make


async def step_up_make(scene: Any, who: str | None, _side: str | None) -> Any:
    """The caller's next-step code (never a replay of a code used to sign in)."""
    import time

    import pyotp

    from tests.web.test_access_matrix import Req

    name = who or "alice"
    return Req(json={"totp_code": pyotp.TOTP(scene.world.totp[name]).at(time.time() + 30)})


def assign_request(*, page: bool) -> Any:
    async def make(scene: Any, who: str | None, side: str | None) -> Any:
        req = await consult_for("requested", "assign-page" if page else "assign", allowed=CAROL)(
            scene, who, side
        )
        starts = slot(scene)
        bob = scene.world.users["bob"].id
        if page:
            local = starts.astimezone(DISTRICT_TZ)
            req.data = {"expert_ids": [bob], "starts_local": local.strftime("%Y-%m-%dT%H:%M")}
            req.data["duration_minutes"] = 10
        else:
            req.json = {"expert_ids": [bob], "starts_at": starts.isoformat()}
            req.json["duration_minutes"] = 10
        return req

    make.variant = "requested"  # type: ignore[attr-defined]
    return make


def take_request(*, page: bool = False) -> Any:
    """A request inviting the lead hospital's cardiology; bob accepts it directly."""

    async def make(scene: Any, who: str | None, side: str | None) -> Any:
        variant = "take-page" if page else "take"
        req = await consult_for("requested", variant, allowed=BOB, department=True)(
            scene, who, side
        )
        starts = slot(scene)
        if page:
            local = starts.astimezone(DISTRICT_TZ).strftime("%Y-%m-%dT%H:%M")
            req.data = {"starts_local": local, "duration_minutes": 10}
        else:
            req.json = {"starts_at": starts.isoformat(), "duration_minutes": 10}
        return req

    make.variant = "requested"  # type: ignore[attr-defined]
    return make


async def window_create(scene: Any, _who: str | None, _side: str | None) -> Any:
    """A fresh hour of a calendar, past bob's standing window (so never an overlap)."""
    from tests.web.test_access_matrix import Req

    await _prepare(scene)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start += timedelta(days=40, hours=scene.serial())
    return Req(
        json={"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    )


async def window_form(scene: Any, who: str | None, side: str | None) -> Any:
    """The calendar page's form for the same kind of fresh hour (Beijing date and times)."""
    from tests.web.test_access_matrix import Req

    made = await window_create(scene, who, side)
    start = datetime.fromisoformat(made.json["starts_at"]).astimezone(DISTRICT_TZ)
    end = datetime.fromisoformat(made.json["ends_at"]).astimezone(DISTRICT_TZ)
    if end.date() != start.date():  # the form takes one day: keep the hour inside it
        start, end = start - timedelta(hours=1), end - timedelta(hours=1)
    return Req(
        data={"day": start.date().isoformat(), "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    )


async def window_of_bob(scene: Any, _who: str | None, _side: str | None) -> Any:
    """One of bob's windows (only he may withdraw it)."""
    from tests.web.test_access_matrix import Req

    made = await window_create(scene, "bob", None)
    wid = await scene.create("/consults/availability", who="bob", json=made.json)
    req = Req()
    req.path.update(window_id=wid)
    return req


def fhir_id(state: str, prefix: str, key: str = "consult_id") -> Any:
    """A consultation in `state`, addressed as a FHIR id (`consult-<id>`, `opinion-<id>`)."""
    inner = consult_for(state, "report" if state == "reported" else state)

    async def make(scene: Any, who: str | None, side: str | None) -> Any:
        req = await inner(scene, who, side)
        req.path["resource_id"] = f"{prefix}{req.path[key]}"
        return req

    make.variant = state  # type: ignore[attr-defined]
    return make
