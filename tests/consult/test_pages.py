"""The consultation pages, signed in with cookies: request form → assignment → answer →
session → signed opinion → decision; worklists with counts in both languages."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pyotp

from tests.consult.conftest import CW
from tests.factories import PASSWORD

HTML = {"Accept": "text/html"}


async def _browser(app: Any, cw: CW, name: str) -> tuple[httpx.AsyncClient, str]:
    b = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    first = await b.post(
        "/login", data={"username": name, "password": PASSWORD, "next": "/"}, headers=HTML
    )
    assert first.status_code == 303, first.text
    mfa = await b.get(first.headers["location"], headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', mfa.text).group(1)  # type: ignore[union-attr]
    code = pyotp.TOTP(cw.world.totp[name]).now()
    done = await b.post("/2fa", data={"csrf_token": csrf, "code": code, "next": "/"}, headers=HTML)
    assert done.status_code == 303, done.text
    home = await b.get("/consults", headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', home.text).group(1)  # type: ignore[union-attr]
    return b, csrf


async def test_a_consultation_through_the_pages(app: Any, cw: CW) -> None:
    alice, a_csrf = await _browser(app, cw, "alice")
    carol, c_csrf = await _browser(app, cw, "carol")
    bob, b_csrf = await _browser(app, cw, "bob")
    pa = cw.world.patients["pa"]
    form = await alice.get(f"/consults/new?patient_id={pa.id}", headers=HTML)
    assert form.status_code == 200 and "高血压随访小结" in form.text
    res = await alice.post(
        "/consults",
        data={
            "csrf_token": a_csrf,
            "patient_id": pa.id,
            "reason": "胸闷待查",
            "specialty": "03.04",
            "urgency": "urgent",
            "summary": "高血压十年",
            "document_ids": cw.documents,
        },
        headers=HTML,
    )
    assert res.status_code == 303, res.text
    url = res.headers["location"].split("?")[0]
    page = await carol.get(url, headers=HTML)
    assert page.status_code == 200
    assert "Bob" in page.text and "Bea" in page.text  # candidates
    assert "高血压十年" not in page.text  # the dispatcher does not read the record
    when = re.search(r'name="starts_local" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    res = await carol.post(
        f"{url}/assign",
        data={"csrf_token": c_csrf, "expert_ids": [cw.uid("bob")], "starts_local": when},
        headers=HTML,
    )
    assert res.status_code == 303, res.text
    res = await bob.post(
        f"{url}/answer", data={"csrf_token": b_csrf, "accept": "yes"}, headers=HTML
    )
    assert res.status_code == 303
    page = await bob.get(url, headers=HTML)
    assert "高血压十年" in page.text and 'data-testid="record-panel"' in page.text
    res = await alice.post(f"{url}/start", data={"csrf_token": a_csrf}, headers=HTML)
    assert res.status_code == 303, res.text
    res = await bob.post(
        f"{url}/opinion",
        data={
            "csrf_token": b_csrf,
            "findings": "心电图ST-T改变",
            "diagnoses": "I10，I20.9",
            "recommendations": "完善冠脉CTA",
            "follow_up": "两周复诊",
            "sign": "yes",
        },
        headers=HTML,
    )
    assert res.status_code == 303, res.text
    page = await alice.get(url, headers=HTML)
    assert "特发性（原发性）高血压" in page.text and 'data-testid="opinion-pdf"' in page.text
    pdf_href = re.search(r'href="([^"]+\.pdf)"', page.text).group(1)  # type: ignore[union-attr]
    pdf = await alice.get(pdf_href)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    res = await alice.post(
        f"{url}/decide", data={"csrf_token": a_csrf, "decision": "转上级医院"}, headers=HTML
    )
    assert res.status_code == 303
    page = await bob.get(url, headers=HTML)
    assert 'data-state="closed"' in page.text and 'data-testid="record-panel"' not in page.text
    lists = await alice.get("/consults?lang=en", headers=HTML)
    assert lists.status_code == 200 and 'data-testid="count-closed"' in lists.text
    for b in (alice, carol, bob):
        await b.aclose()


async def test_worklists_answer_every_role(app: Any, cw: CW) -> None:
    for name in ("carol", "bob", "alice", "hana"):
        b, _ = await _browser(app, cw, name)
        res = await b.get("/consults", headers=HTML)
        assert res.status_code == 200, name
        await b.aclose()
