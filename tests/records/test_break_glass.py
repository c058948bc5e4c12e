"""Administrators (IT) read no patient record by default; breaking the glass is explicit,
reasoned, time-limited, read-only, can be ended early and is audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pyotp
from sqlalchemy import update

from tests.factories import PASSWORD, World
from yiyun.core.clock import now
from yiyun.records.models import BreakGlass

API = "/api/v1"
REASON = "support ticket 4711: record shows a duplicate registration"


async def test_the_it_administrator_reads_no_patient_until_it_breaks_the_glass(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pa = world.patients["pa"]
    admin = world.auth("admin")
    chart = f"{API}/patients/{pa.id}"
    assert (await client.get(chart, headers=admin)).status_code == 404
    assert (await client.patch(chart, headers=admin, json={"address": "x"})).status_code == 404
    assert (await client.get(f"{API}/patients", headers=admin)).status_code == 403

    short = await client.post(f"{chart}/break-glass", headers=admin, json={"reason": "need"})
    assert short.status_code == 422
    too_long = await client.post(
        f"{chart}/break-glass", headers=admin, json={"reason": REASON, "minutes": 600}
    )
    assert too_long.status_code == 422
    clinician = await client.post(
        f"{chart}/break-glass", headers=world.auth("mallory"), json={"reason": REASON}
    )
    assert clinician.status_code == 403

    opened = await client.post(
        f"{chart}/break-glass", headers=admin, json={"reason": REASON, "minutes": 15}
    )
    assert opened.status_code == 201, opened.text
    grant = opened.json()
    assert grant["reason"] == REASON
    assert (await client.get(chart, headers=admin)).status_code == 200
    # Reading only.
    edit = await client.patch(chart, headers=admin, json={"address": "别处"})
    assert edit.status_code == 403
    mine = await client.get(f"{API}/break-glass", headers=admin)
    assert [g["id"] for g in mine.json()] == [grant["id"]]

    # The patient's institution sees the grant with its reason, and the read under it.
    events = await client.get(
        f"{API}/audit/events", headers=world.auth("ines"), params={"patient_id": pa.id}
    )
    by_admin = [
        (e["action"], e["outcome"]) for e in events.json()["items"] if e["actor"] == "admin"
    ]
    assert ("patient.break_glass", "success") in by_admin
    assert ("patient.read", "success") in by_admin
    opened_entry = next(e for e in events.json()["items"] if e["action"] == "patient.break_glass")
    assert opened_entry["details"]["reason"] == REASON

    # Time is up: the grant lapses by itself.
    async with app.state.sessions.begin() as s:
        await s.execute(
            update(BreakGlass)
            .where(BreakGlass.id == grant["id"])
            .values(expires_at=now() - timedelta(seconds=1))
        )
    assert (await client.get(chart, headers=admin)).status_code == 404
    assert (await client.get(f"{API}/break-glass", headers=admin)).json() == []


# --- the institution administrator (IT of one institution) ------------------------------


async def test_the_institution_administrator_reads_no_patient_of_its_own_institution(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]  # CHC A's patient; ines administers CHC A
    ines = world.auth("ines")
    chart = f"{API}/patients/{pa.id}"
    assert (await client.get(chart, headers=ines)).status_code == 404
    assert (await client.patch(chart, headers=ines, json={"address": "x"})).status_code == 404
    assert (await client.get(f"{chart}/documents", headers=ines)).status_code == 404
    assert (await client.get(f"{API}/patients", headers=ines)).status_code == 403
    new = {"name": "新患者", "sex": "female", "birth_on": "1980-05-01"}
    registered = await client.post(
        f"{API}/patients", headers=ines, json=new | {"institution_id": pa.home_institution_id}
    )
    assert registered.status_code == 403


async def test_the_institution_administrator_breaks_the_glass_for_its_own_patients_only(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pa, pb = world.patients["pa"], world.patients["pb"]
    ines = world.auth("ines")
    elsewhere = await client.post(
        f"{API}/patients/{pb.id}/break-glass", headers=ines, json={"reason": REASON}
    )
    assert elsewhere.status_code == 404  # CHC B's patient: as if there were none
    chart = f"{API}/patients/{pa.id}"
    opened = await client.post(f"{chart}/break-glass", headers=ines, json={"reason": REASON})
    assert opened.status_code == 201, opened.text
    assert (await client.get(chart, headers=ines)).status_code == 200
    edit = await client.patch(chart, headers=ines, json={"address": "别处"})
    assert edit.status_code == 403  # reading only
    assert (await client.get(f"{API}/patients/{pb.id}", headers=ines)).status_code == 404

    # The attempt on CHC B's patient is in CHC B's audit log, denied.
    events = await client.get(
        f"{API}/audit/events", headers=world.auth("admin"), params={"patient_id": pb.id}
    )
    tried = [(e["action"], e["outcome"]) for e in events.json()["items"] if e["actor"] == "ines"]
    assert ("patient.break_glass", "denied") in tried
    assert ("patient.break_glass", "success") not in tried

    # Time is up: the grant lapses by itself.
    async with app.state.sessions.begin() as s:
        await s.execute(
            update(BreakGlass)
            .where(BreakGlass.id == opened.json()["id"])
            .values(expires_at=now() - timedelta(seconds=1))
        )
    assert (await client.get(chart, headers=ines)).status_code == 404


async def test_who_opened_a_grant_ends_it_early_and_that_is_audited(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    ines, admin = world.auth("ines"), world.auth("admin")
    chart = f"{API}/patients/{pa.id}"
    opened = await client.post(f"{chart}/break-glass", headers=ines, json={"reason": REASON})
    grant_id = opened.json()["id"]
    end = f"{API}/break-glass/{grant_id}/end"

    assert (await client.post(end, headers=admin)).status_code == 404  # not the admin's grant
    assert (await client.post(end, headers=world.auth("alice"))).status_code == 403
    ended = await client.post(end, headers=ines)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_at"] is not None
    assert (await client.get(chart, headers=ines)).status_code == 404
    assert (await client.get(f"{API}/break-glass", headers=ines)).json() == []
    again = await client.post(end, headers=ines)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "break_glass.ended"

    events = await client.get(f"{API}/audit/events", headers=admin, params={"patient_id": pa.id})
    by_ines = [e["action"] for e in events.json()["items"] if e["actor"] == "ines"]
    assert "patient.break_glass_end" in by_ines
    assert "patient.break_glass" in by_ines


async def test_the_owning_institution_sees_break_glass_on_its_audit_page(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    """The consortium administrator opens and ends a grant on CHC A's patient through the
    pages; CHC A's administrator reads both, in words, on its audit page."""
    pa = world.patients["pa"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as b:
        csrf = await _sign_in(b, world, "admin")
        opened = await b.post(
            "/break-glass",
            data={"csrf_token": csrf, "patient_number": pa.mpi, "reason": REASON},
            headers=HTML,
        )
        assert opened.status_code == 303, opened.text
        assert opened.headers["location"] == f"/patients/{pa.id}"
        listing = await b.get("/break-glass", headers=HTML)
        assert "立即结束" in listing.text  # the button
        grant_id = int(re.findall(r'action="/break-glass/(\d+)/end"', listing.text)[0])
        ended = await b.post(
            f"/break-glass/{grant_id}/end", data={"csrf_token": csrf}, headers=HTML
        )
        assert ended.status_code == 303
        after = await b.get(ended.headers["location"], headers=HTML)
        assert "紧急访问已结束。" in after.text
        assert 'action="/break-glass/' not in after.text
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as b:
        await _sign_in(b, world, "ines")
        audit = await b.get("/audit", params={"patient_id": pa.id}, headers=HTML)
        assert audit.status_code == 200
        assert "开启紧急访问" in audit.text
        assert "提前结束紧急访问" in audit.text


HTML = {"Accept": "text/html"}


async def _sign_in(b: httpx.AsyncClient, world: World, name: str) -> str:
    """Password, then second factor; the page's CSRF token."""
    first = await b.post(
        "/login", data={"username": name, "password": PASSWORD, "next": "/"}, headers=HTML
    )
    assert first.status_code == 303, first.text
    mfa = await b.get(first.headers["location"], headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', mfa.text).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(world.totp[name]).now()
    done = await b.post("/2fa", data={"csrf_token": csrf, "code": code, "next": "/"}, headers=HTML)
    assert done.status_code == 303, done.text
    return csrf
