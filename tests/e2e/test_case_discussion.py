"""The case-discussion workspace in real Chromium: the requesting doctor (PC) and the
accepted expert (phone) co-edit the working notes and each sees the other's decision
with its author, live; the health authority sees the same, read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _post(server: LiveServer, who: str, path: str, body: dict[str, object]) -> dict[str, object]:
    res = httpx.post(
        f"{server.url}/api/v1{path}", headers=server.world.auth(who), json=body, timeout=10
    )
    assert res.status_code in (200, 201), res.text
    return dict(res.json())


def _qualify_bob(server: LiveServer) -> None:
    """The base world's bob has no practice record; an expert needs one (3 years+)."""
    path = server.settings.db.url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE org_user SET years_of_practice = 10, licence_no = 'LICBOB01',"
            " licence_valid_until = '2030-01-01', department_id = ? WHERE username = 'bob'",
            (server.world.departments["cardio"].id,),
        )


def _accepted_consult(server: LiveServer) -> int:
    _qualify_bob(server)
    patient = server.world.patients["pa"].id
    _post(server, "alice", f"/patients/{patient}/consents", {"purpose": "telemedicine"})
    made = _post(
        server,
        "alice",
        "/consults",
        {"patient_id": patient, "reason": "胸闷待查", "specialty": "03.04"},
    )
    cid = int(str(made["id"]))
    now = datetime.now(UTC)
    starts = (now + timedelta(minutes=30)).isoformat()
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat()}
    _post(server, "bob", "/consults/availability", window)  # the expert's calendar
    bob = server.world.users["bob"].id
    _post(server, "carol", f"/consults/{cid}/assign", {"expert_ids": [bob], "starts_at": starts})
    _post(server, "bob", f"/consults/{cid}/answer", {"accept": True})
    return cid


@pytest.fixture
def people(live_server: LiveServer, browser: Browser) -> Iterator[tuple[Page, Page]]:
    pc = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    alice, bob = pc.new_page(), phone.new_page()
    sign_in(alice, live_server, "alice")
    sign_in(bob, live_server, "bob")
    yield alice, bob
    pc.close()
    phone.close()


def test_two_doctors_discuss_a_case_live(
    live_server: LiveServer, people: tuple[Page, Page]
) -> None:
    alice, bob = people
    cid = _accepted_consult(live_server)
    alice.goto(f"{live_server.url}/consults/{cid}")
    alice.click("[data-testid=case-discussion]")
    bob.goto(f"{live_server.url}/consults/{cid}/discussion")
    for page in (alice, bob):
        expect(page.locator("[data-casework]")).to_have_attribute("data-synced", "true")

    alice.locator("[data-case-notes]").fill("患者胸闷两周，心电图 ST-T 改变。")
    expect(bob.locator("[data-case-notes]")).to_have_value("患者胸闷两周，心电图 ST-T 改变。")
    bob.locator("[data-case-notes]").press("End")
    bob.locator("[data-case-notes]").type("建议冠脉 CTA。")
    expect(alice.locator("[data-case-notes]")).to_have_value(
        "患者胸闷两周，心电图 ST-T 改变。建议冠脉 CTA。"
    )

    bob.fill("#case-entry", "同意加用氨氯地平，两周后复诊。")
    bob.click("[data-entry-form] button[value=decision]")
    decision = alice.locator("[data-entry=decision]")
    expect(decision).to_contain_text("同意加用氨氯地平")
    expect(decision).to_contain_text("Bob")
    alice.fill("#case-entry", "已告知患者家属。")
    alice.click("[data-entry-form] button[value=note]")
    expect(bob.locator("[data-entries]")).to_have_attribute("data-count", "2")
    shot(alice, "case-discussion-pc")
    shot(bob, "case-discussion-phone")
    found = violations(alice) + violations(bob)
    assert found == [], describe(found)
