"""A person signs in with TOTP, lands on their home page, switches language, opens a
patient and is refused another institution's patient — in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _sign_in(page, server: LiveServer, name: str) -> None:
    try:
        sign_in(page, server, name)
    except Exception:
        shot(page, f"failed-sign-in-{name}")
        raise


def test_doctor_signs_in_switches_language_and_sees_only_own_patients(
    live_server: LiveServer, browser
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.wait_for_url("**/login**")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "登录" in page.content()
    shot(page, "01-login-zh")

    _sign_in(page, live_server, "alice")
    assert page.get_by_test_id("home-title").is_visible()
    assert "社区医生" in page.content()
    shot(page, "02-home-doctor-zh")

    page.click("text=English")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Community doctor" in page.content()
    shot(page, "03-home-doctor-en")

    page.goto(live_server.url + "/patients")
    table = page.get_by_test_id("patient-table")
    own = live_server.world.patients["pa"]
    other = live_server.world.patients["pb"]
    assert own.name in table.inner_text()
    assert other.name not in table.inner_text()
    page.click(f"text={own.name}")
    page.wait_for_url(f"**/patients/{own.id}")
    assert page.get_by_test_id("patient-name").inner_text().startswith(own.name)
    masked = page.get_by_test_id("masked-id").inner_text()
    assert "********" in masked
    shot(page, "04-patient-en")

    response = page.goto(f"{live_server.url}/patients/{other.id}")
    assert response is not None and response.status == 404
    assert other.name not in page.content()
    shot(page, "05-outsider-refused-en")
    context.close()


def test_authority_lands_on_district_overview_on_a_phone(live_server: LiveServer, browser) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    _sign_in(page, live_server, "hana")
    assert page.get_by_test_id("care-sites").inner_text() == "3"
    shot(page, "06-home-authority-phone-zh")
    page.click("[data-nav-toggle]")
    page.click("text=审计日志")
    page.wait_for_url("**/audit")
    shot(page, "07-audit-phone-zh")
    context.close()


def test_admin_creates_and_disables_staff_on_a_large_screen(
    live_server: LiveServer, browser
) -> None:
    context = browser.new_context(viewport={"width": 2560, "height": 1440})
    page = context.new_page()
    _sign_in(page, live_server, "ines")
    page.goto(live_server.url + "/staff?lang=en")
    page.fill("input[name=username]", "wang.fang")
    page.fill("input[name=display_name]", "王芳")
    page.fill("input[name=password]", "Str0ng-Passw0rd!")
    page.check("input[name=roles][value=nurse]")
    page.click("text=Create account")
    page.wait_for_url("**/staff/*")
    assert "wang.fang" in page.content()
    page.once("dialog", lambda d: d.accept())
    page.click("text=Disable account")
    expect(page.get_by_test_id("staff-status")).to_contain_text("Disabled")
    shot(page, "08-staff-disabled-large-en")
    context.close()
