"""A doctor checks camera, microphone, speaker and network before a call, in real
Chromium with its fake camera and microphone, in Chinese and then in English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTLED = """(checks) => checks.every(
  (c) => ['good', 'fair', 'failed'].includes(window.yiyunSelftest?.[c]?.state))"""


def _run_checks(page) -> dict:
    # camera and network run by themselves; the speaker waits for the person
    page.wait_for_function(SETTLED, arg=["camera", "network"], timeout=30_000)
    page.click("[data-action=tone]")
    expect(page.locator("[data-action=heard]")).to_be_visible()
    page.click("[data-action=heard]")
    page.wait_for_function("() => window.yiyunSelftest.done === true", timeout=30_000)
    return page.evaluate("() => JSON.parse(JSON.stringify(window.yiyunSelftest))")


def _assert_usable(page, results: dict) -> None:
    fine = ("good", "fair")
    assert results["camera"]["state"] in fine, results
    assert results["camera"]["width"] > 0 and results["camera"]["height"] > 0
    assert results["microphone"]["state"] in fine, results
    assert results["speaker"]["state"] == "good"
    network = results["network"]
    assert network["state"] in fine, results
    assert network["rtt_ms"] > 0 and network["down_mbps"] >= 0.5 and network["up_mbps"] >= 0.5
    assert results["verdict"] in fine
    for check in ("camera", "microphone", "speaker", "network"):
        state = page.locator(f'[data-check="{check}"]').get_attribute("data-state")
        assert state == results[check]["state"]
    assert page.locator(".verdict").get_attribute("data-verdict") == results["verdict"]


def test_a_doctor_checks_devices_and_network_before_a_call(
    live_server: LiveServer, browser
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(live_server.url + "/meetings")
    page.click("[data-testid=selftest-link]")
    page.wait_for_url("**/selftest")
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    results = _run_checks(page)
    _assert_usable(page, results)
    verdict = page.locator("[data-verdict-text]").inner_text()
    assert verdict in ("一切正常，可以加入通话。", "可以加入，但通话可能出现卡顿或画面模糊。")
    assert page.locator("[data-join]").get_attribute("href") == "/meetings"
    page.screenshot(path="/tmp/selftest.png", full_page=True)
    shot(page, "selftest-zh")

    page.goto(live_server.url + "/selftest?lang=en&next=/meetings/1")
    assert page.locator("html").get_attribute("lang") == "en"
    results = _run_checks(page)
    _assert_usable(page, results)
    verdict = page.locator("[data-verdict-text]").inner_text()
    assert verdict.startswith(("Everything works.", "You can join, but"))
    assert page.locator("[data-join]").get_attribute("href") == "/meetings/1"
    page.screenshot(path="/tmp/selftest-en.png", full_page=True)
    shot(page, "selftest-en")
    context.close()


def test_a_refused_camera_and_microphone_fail_clearly(live_server: LiveServer, browser) -> None:
    """Without permission for the camera and microphone those two fail; the rest works."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "bob")
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('denied', 'NotAllowedError'));"
    )
    page.goto(live_server.url + "/selftest")
    page.wait_for_function(SETTLED, arg=["camera", "microphone", "network"], timeout=30_000)
    page.click("[data-action=tone]")
    page.click("[data-action=not-heard]")
    page.wait_for_function("() => window.yiyunSelftest.done === true", timeout=10_000)
    results = page.evaluate("() => JSON.parse(JSON.stringify(window.yiyunSelftest))")
    assert results["camera"]["state"] == "failed"
    assert results["microphone"]["state"] == "failed"
    assert results["speaker"]["state"] == "failed"
    assert results["verdict"] == "failed"
    expect(page.locator('[data-check="camera"] [data-hint="failed"]')).to_be_visible()
    expect(page.locator('[data-check="speaker"] [data-hint="failed"]')).to_be_visible()
    assert page.locator(".verdict").get_attribute("data-verdict") == "failed"
    shot(page, "selftest-failed-zh")
    context.close()
