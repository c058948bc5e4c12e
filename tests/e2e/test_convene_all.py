"""The command room's 「一键会商全区」 on the full demo consortium, in real Chromium: the
authority clicks once and lands in a meeting with every site's on-duty staff."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, shot, sign_in_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_convene_all_sites_from_the_command_room(demo_server: LiveServer, browser: Browser) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in_demo(page, demo_server, "authority")
    page.goto(f"{demo_server.url}/emergency")
    expect(page.locator("#command")).to_have_attribute("data-ready", "true", timeout=15_000)
    with page.expect_response("**/api/v1/emergency/convene-all") as answer:
        page.click("[data-action=convene-all]")
    assert answer.value.status == 200
    page.wait_for_url("**/meetings/*", timeout=15_000)
    meeting_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    meeting = page.request.get(f"{demo_server.url}/api/v1/meetings/{meeting_id}")
    assert meeting.status == 200
    assert len(meeting.json()["members"]) > 250  # 94 sites' on-duty staff and the host
    shot(page, "convene-all-meeting")
    ctx.close()
