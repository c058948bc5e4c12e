"""The third-party service portal in real Chromium (zh-CN): the consortium administrator
registers a partner system with its public key and scopes, adds a webhook endpoint (the
secret shown once), suspends it; the owning institution's administrator sees its own
partner on a phone, without the registration form. Screenshots at 1440 and 390; axe."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.partners.helpers import new_key

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_consortium_registers_a_partner_and_its_institution_sees_it(
    live_server: LiveServer, browser: Browser
) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/partners")
    expect(page.locator("h1")).to_contain_text("第三方系统")
    page.fill("#pt-name", "社康 HIS")
    chc_a = live_server.world.inst["chc_a"]
    page.select_option("#pt-inst", str(chc_a.id))
    page.fill("#pt-contact", "王工")
    page.fill("#pt-email", "his@example.org")
    page.check("input[name=scopes][value='system/Patient.crus']")
    page.check("input[name=scopes][value='system/ServiceRequest.crs']")
    page.fill("#pt-jwk", json.dumps(new_key("ES384")[1]))
    page.click("form[action='/partners'] button[type=submit]")
    expect(page.locator("h1")).to_contain_text("社康 HIS")
    expect(page.locator("dl.facts")).to_contain_text("system/Patient.crus")
    page.fill("#wh-url", "https://his.example.org/yiyun/events")
    page.check("input[name=events][value='referral.requested']")
    page.check("input[name=events][value='consult.reported']")
    page.click("form[action$='/webhooks/add'] button[type=submit]")
    expect(page.locator("#webhook-secret")).to_contain_text("whsec_")
    shot(page, "partners-detail-1440")
    assert violations(page) == [], describe(violations(page))
    detail_url = page.url.split("/webhooks")[0]
    page.goto(detail_url)
    expect(page.locator("#webhook-secret")).to_have_count(0)  # shown once only
    page.goto(f"{live_server.url}/partners")
    shot(page, "partners-list-1440")
    assert violations(page) == [], describe(violations(page))
    ctx.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = phone.new_page()
    sign_in(page, live_server, "ines")
    page.goto(f"{live_server.url}/partners")
    expect(page.locator("form[action='/partners']")).to_have_count(0)
    page.click("text=社康 HIS")
    expect(page.locator("h1")).to_contain_text("社康 HIS")
    expect(page.locator("form[action$='/suspend']")).to_have_count(0)  # the consortium's
    expect(page.locator("form[action$='/keys/add']")).to_have_count(1)  # key rotation: its own
    shot(page, "partners-detail-390")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
    assert violations(page) == [], describe(violations(page))
    phone.close()

    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, "admin")
    page.goto(detail_url)
    page.click("form[action$='/suspend'] button")
    expect(page.locator("h1 .badge")).to_contain_text("已停用")
    ctx.close()
