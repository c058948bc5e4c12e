"""A patient joins from a one-time link: the host invites on the info page, the guest's
phone opens the link, types the code, passes the device check and reaches the call."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}


def test_a_guest_joins_with_the_link_and_the_code(live_server: LiveServer, browser) -> None:
    res = httpx.post(
        f"{live_server.url}/api/v1/meetings",
        headers=live_server.world.auth("alice"),
        json={"title": "家庭医生随访", "invitees": ["bob"], "waiting_room": False},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    meeting_id = res.json()["id"]

    host_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    guest_ctx = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", device_scale_factor=2
    )
    try:
        host = host_ctx.new_page()
        sign_in(host, live_server, "alice")
        host.goto(f"{live_server.url}/meetings/{meeting_id}/info")
        expect(host.get_by_test_id("meeting-title")).to_have_text("家庭医生随访")
        form = host.get_by_test_id("guest-form")
        form.locator("#g-name").fill("王阿姨")
        form.locator("#g-phone").fill("13912345678")
        form.locator("button[type=submit]").click()
        expect(host.get_by_test_id("guest-issued")).to_be_visible()
        code = host.get_by_test_id("guest-code").inner_text().strip()
        link = host.get_by_test_id("guest-link").inner_text().strip()
        assert len(code) == 6 and code.isdigit() and "/join/" in link
        expect(host.get_by_test_id("guests")).to_contain_text("王阿姨")
        shot(host, "guest-info-desktop")
        host.set_viewport_size(PHONE)
        shot(host, "guest-info-phone")
        host.goto(f"{live_server.url}/meetings")
        host.click("#schedule details.more summary")
        shot(host, "guest-list-phone")

        guest = guest_ctx.new_page()
        guest.goto(link)
        expect(guest.locator("h1")).to_have_text("视频会议")  # nothing named before the code
        assert "家庭医生随访" not in guest.content() and "王阿姨" not in guest.content()
        shot(guest, "guest-code-phone")
        guest.fill("#code", "000000" if code != "000000" else "111111")
        guest.click("button[type=submit]")
        expect(guest.get_by_test_id("guest-error")).to_contain_text("剩余次数：4")
        shot(guest, "guest-wrong-code-phone")
        guest.fill("#code", code)
        guest.click("button[type=submit]")
        guest.wait_for_url("**/check")
        expect(guest.locator("#selftest")).to_be_visible()
        shot(guest, "guest-check-phone")
        guest.click("[data-join]")
        guest.wait_for_url("**/call")
        expect(guest.locator("#call")).to_be_visible()
        assert guest.locator("#call").get_attribute("data-guest") == "true"
        shot(guest, "guest-call-phone")

        # the link now belongs to that phone: another browser is turned away
        other = browser.new_context(viewport=PHONE, locale="zh-CN")
        try:
            stranger = other.new_page()
            stranger.goto(link)
            expect(stranger.get_by_test_id("guest-message")).to_contain_text("已被使用")
            shot(stranger, "guest-used-phone")
        finally:
            other.close()
        host.goto(f"{live_server.url}/meetings/{meeting_id}/info")
        expect(host.get_by_test_id("guests")).to_contain_text("已验证")
    finally:
        guest_ctx.close()
        host_ctx.close()
