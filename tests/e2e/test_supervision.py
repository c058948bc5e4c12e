"""The health authority's supervision portal in real Chromium: rule checks with counts
per institution, a rule's cases, the drill-down into a case's audit trail; a sampling
review drawn, scored and commented; the institution reading its verdict on a phone.
Screenshots at PC 1440, phone 390 and wall 2560 (zh-CN); axe finds no WCAG A/AA issue."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e import axe
from tests.e2e.conftest import LiveServer, shot, sign_in
from yiyun.consult.models import Consult, ConsultState
from yiyun.core.clock import now
from yiyun.core.db import create_engine, session_factory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cases(server: LiveServer) -> None:
    """Eight consultations without consent on record: seven at chc_a (five of them
    closed, to sample from), one at chc_b."""
    world = server.world

    async def go() -> None:
        engine = create_engine(server.settings.db.url)
        try:
            async with session_factory(engine)() as s, s.begin():
                at = now() - timedelta(days=3)
                for inst, doctor, patient, state in [
                    ("chc_a", "alice", "pa", ConsultState.REQUESTED),
                    ("chc_a", "alice", "pa", ConsultState.REQUESTED),
                    ("chc_b", "mallory", "pb", ConsultState.REQUESTED),
                    *[("chc_a", "alice", "pa", ConsultState.CLOSED)] * 5,
                ]:
                    s.add(
                        Consult(
                            patient_id=world.patients[patient].id,
                            institution_id=world.inst[inst].id,
                            requester_id=world.users[doctor].id,
                            reason="胸痛待查",
                            specialty="CARD",
                            created_at=at,
                            submitted_at=at,
                            state=state,
                            closed_at=at + timedelta(days=1)
                            if state is ConsultState.CLOSED
                            else None,
                        )
                    )
        finally:
            await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def test_the_authority_supervises_and_the_institution_reads_its_verdict(
    live_server: LiveServer, browser: Browser
) -> None:
    _cases(live_server)
    url = live_server.url
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, "hana")
    page.goto(f"{url}/supervision")
    expect(page.locator("[data-testid=total-consult_without_consent]")).to_have_text("8")
    expect(page.locator("[data-testid=by-institution] tbody tr")).to_have_count(2)
    found = axe.violations(page)
    assert found == [], found
    shot(page, "supervision-overview-1440")
    page.click("#rule-consult_without_consent a")
    expect(page.locator("[data-testid=violations] tbody tr")).to_have_count(8)
    expect(page.locator("[data-testid=violations]")).to_contain_text("申请未关联知情同意书")
    shot(page, "supervision-rule-1440")
    page.locator("[data-testid=audit-link]").first.click()
    expect(page.locator("[data-testid=entity-filter]")).to_be_visible()
    assert page.url.split("?", 1)[1].startswith("entity_type=consult&entity_id=")
    # sampling review: draw two of chc_a's five closed consultations and score one
    page.goto(f"{url}/supervision/samples")
    page.select_option("#sp-inst", str(live_server.world.inst["chc_a"].id))
    page.fill("#sp-size", "2")
    page.click("[data-testid=draw] button[type=submit]")
    page.wait_for_url("**/supervision/samples/*")
    expect(page.locator("[data-testid=review]")).to_have_count(2)
    first = page.locator("[data-testid=review]").first
    first.locator("select").select_option("minor")
    first.locator("input[name=score]").fill("82")
    first.locator("input[name=comment]").fill("会诊意见未写随访计划")
    first.locator("button[type=submit]").click()
    expect(page.locator("[data-testid=verdict]")).to_have_text("轻微缺陷")
    expect(page.locator("[data-testid=mean-score]")).to_have_text("82.0")
    found = axe.violations(page)
    assert found == [], found
    shot(page, "supervision-sample-1440")
    sample_url = page.url.split("?", 1)[0]
    state = ctx.storage_state()
    ctx.close()

    wall = browser.new_context(
        viewport={"width": 2560, "height": 1440}, locale="zh-CN", storage_state=state
    )
    page = wall.new_page()
    page.goto(f"{url}/supervision")
    expect(page.locator("[data-testid=by-institution]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "supervision-overview-2560")
    wall.close()

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True
    )
    page = phone.new_page()
    sign_in(page, live_server, "ines")
    page.goto(f"{url}/supervision")
    expect(page.locator("[data-testid=total-consult_without_consent]")).to_have_text("7")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "supervision-overview-390")
    page.goto(sample_url)
    expect(page.locator("[data-testid=comment]")).to_have_text("会诊意见未写随访计划")
    expect(page.locator("form[action^='/supervision/reviews']")).to_have_count(0)
    shot(page, "supervision-sample-390")
    phone.close()
