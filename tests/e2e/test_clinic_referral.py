"""Remote outpatient and two-way referral in real Chromium, across two institutions.

The queue: a community doctor books her patient into a specialist's clinic and checks
him in; the specialist calls the next patient (the video visit opens), writes the note,
drafts and signs prescription advice, completes. The referral: up from the community
centre with a summary and an appointment, accepted and received at the hospital, then
down again with a care plan, which the centre accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in
from yiyun.core.clock import DISTRICT_TZ

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def pages(live_server: LiveServer, browser) -> Iterator[dict[str, object]]:
    """The community doctor and the specialist, each signed in once in their own browser
    (a second sign-in within the same 30-second step would replay the TOTP code)."""
    contexts = {}
    for name in ("alice", "bob"):
        contexts[name] = browser.new_context(viewport={"width": 1440, "height": 900})
        page = contexts[name].new_page()
        sign_in(page, live_server, name)
    yield {name: ctx.pages[0] for name, ctx in contexts.items()}
    for ctx in contexts.values():
        ctx.close()


def _publish(server: LiveServer) -> int:
    world = server.world
    start = datetime.now(DISTRICT_TZ).replace(second=0, microsecond=0) + timedelta(minutes=1)
    res = httpx.post(
        f"{server.url}/api/v1/clinics/sessions",
        headers=world.auth("bob"),
        json={
            "title": "心内科远程门诊",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "slot_minutes": 15,
            "walk_in_capacity": 2,
        },
        timeout=30,
    )
    assert res.status_code == 201, res.text
    consent = httpx.post(
        f"{server.url}/api/v1/patients/{world.patients['pa'].id}/consents",
        headers=world.auth("alice"),
        json={"purpose": "telemedicine"},
        timeout=30,
    )
    assert consent.status_code == 201, consent.text
    return int(res.json()["id"])


def test_the_outpatient_queue_from_booking_to_the_visit_note(
    live_server: LiveServer, pages: dict[str, Any]
) -> None:
    session_id = _publish(live_server)
    patient = live_server.world.patients["pa"]
    alice, bob = pages["alice"], pages["bob"]
    alice.goto(f"{live_server.url}/clinics/sessions/{session_id}")
    alice.fill("#bk-patient", patient.mpi)
    alice.select_option("#bk-slot", index=1)
    alice.click("form[action$='/book'] button[type=submit]")
    row = alice.locator("#queue tbody tr").first
    expect(row).to_contain_text(patient.name)
    expect(row).to_contain_text("已预约")
    row.get_by_role("button", name="签到").click()
    expect(alice.locator("#queue tbody tr").first).to_contain_text("已签到")
    shot(alice, "clinic-queue-centre")

    bob.goto(f"{live_server.url}/clinics/sessions/{session_id}")
    expect(bob.locator("#queue")).to_contain_text(patient.name)
    bob.click("[data-testid=call-next]")
    expect(bob.locator("[data-testid=visit-state]")).to_have_text("就诊中")
    expect(bob.get_by_role("link", name="进入视频就诊")).to_be_visible()
    bob.fill("#v-note", "血压 160/100，加用氨氯地平。")
    bob.get_by_role("button", name="保存病历记录").click()
    expect(bob.locator("#flash")).to_contain_text("已保存")
    bob.select_option("#rx-drug", "AMLO5")
    bob.fill("#rx-dose", "5mg")
    bob.fill("#rx-freq", "每日一次")
    bob.get_by_role("button", name="拟写处方建议").click()
    expect(bob.get_by_text("草稿")).to_be_visible()
    # Signed in with a TOTP code minutes ago: the step-up holds, no new code (the sign-in
    # code would be refused as a replay).
    bob.get_by_role("button", name="签名", exact=True).click()
    expect(bob.locator("#flash")).to_contain_text("处方建议已签名")
    bob.get_by_role("button", name="结束就诊").click()
    expect(bob.locator("[data-testid=visit-state]")).to_have_text("已完成")
    shot(bob, "clinic-visit-specialist")

    alice.goto(f"{live_server.url}/clinics?day=all")
    alice.locator("#visits a", has_text=patient.name).first.click()
    expect(alice.locator("[data-testid=visit-note]")).to_contain_text("氨氯地平")
    alice.goto(f"{live_server.url}/clinics/waiting?kiosk=1")
    expect(alice.locator("#board")).to_be_visible()


def test_a_referral_up_to_the_hospital_and_back_down(
    live_server: LiveServer, pages: dict[str, Any]
) -> None:
    patient = live_server.world.patients["pa"]
    alice, bob = pages["alice"], pages["bob"]
    alice.set_viewport_size({"width": 390, "height": 844})  # the community doctor's phone
    alice.goto(f"{live_server.url}/referrals/new?direction=up")
    alice.fill("#rf-patient", patient.mpi)
    when = (datetime.now(DISTRICT_TZ) + timedelta(days=2)).strftime("%Y-%m-%dT09:30")
    alice.fill("#rf-when", when)
    alice.fill("#rf-reason", "胸痛待查")
    alice.fill("#rf-summary", "反复胸闷两周，心电图 ST 段压低。")
    alice.get_by_role("button", name="提交转诊").click()
    expect(alice.locator("[data-testid=referral-state]")).to_have_text("待接收")
    up_url = alice.url.split("?")[0]
    shot(alice, "referral-up-phone")

    bob.goto(f"{live_server.url}/referrals?box=in")
    bob.locator("table a", has_text=patient.name).first.click()
    bob.locator("[data-action=accept]").click()
    expect(bob.locator("[data-testid=referral-state]")).to_have_text("已接收")
    bob.locator("[data-action=arrive]").click()
    expect(bob.locator("[data-testid=referral-state]")).to_have_text("已到院")
    bob.get_by_role("link", name="下转至社区").click()
    bob.fill("#rf-reason", "病情稳定，转回社区")
    bob.fill("#rf-summary", "冠心病药物治疗后症状缓解。")
    bob.fill("#rf-plan", "阿司匹林 100mg 每日一次；每周随访血压。")
    bob.get_by_role("button", name="提交转诊").click()
    expect(bob.locator("[data-testid=referral-state]")).to_have_text("待接收")
    down_url = bob.url.split("?")[0]
    bob.goto(up_url)
    bob.locator("[data-action=complete]").click()
    expect(bob.locator("[data-testid=referral-state]")).to_have_text("已完成")

    alice.goto(down_url)
    expect(alice.locator("[data-testid=care-plan]")).to_contain_text("阿司匹林")
    alice.locator("[data-action=accept]").click()
    expect(alice.locator("[data-testid=referral-state]")).to_have_text("已接收")
    alice.goto(f"{live_server.url}/referrals")
    expect(alice.locator("table")).to_contain_text("已完成")
    shot(alice, "referral-worklist-phone")
