"""Refused forms keep what was typed and say why beside the field, in Chinese; unknown
addresses keep the signed-in layout; the API docs render under our own CSP — in Chromium."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SIZES = {"pc": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def _page(browser: Any, server: LiveServer, name: str, size: str = "pc") -> Any:
    """A signed-in page (one persona per test: a TOTP code is accepted only once)."""
    context = browser.new_context(viewport=SIZES[size], locale="zh-CN")
    page = context.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text),
    )
    sign_in(page, server, name)
    return page


@pytest.mark.parametrize("size", ["pc", "phone"])
def test_a_refused_patient_form_keeps_the_input_and_shows_the_error_beside_the_field(
    live_server: LiveServer, browser: Any, size: str
) -> None:
    page = _page(browser, live_server, {"pc": "alice", "phone": "nina"}[size], size)
    page.goto(live_server.url + "/patients")
    form = page.locator("#register form")
    form.locator("[name=name]").fill("张三丰")
    form.locator("[name=phone]").fill("12345")
    form.locator("[name=address]").fill("幸福路 8 号")
    form.locator("button[type=submit]").click()
    note = form.locator("[name=phone] + .field-error")
    expect(note).to_have_text("手机号须为以 1 开头的 11 位手机号码。")
    assert page.url == live_server.url + "/patients"  # still the same page
    assert form.locator("[name=name]").input_value() == "张三丰"
    assert form.locator("[name=phone]").input_value() == "12345"
    assert form.locator("[name=address]").input_value() == "幸福路 8 号"
    assert form.locator("[name=phone]").get_attribute("aria-invalid") == "true"
    expect(form.locator("[data-form-errors] .flash.error")).to_contain_text("部分内容填写有误")
    shot(page, f"forms-patient-refused-zh-{size}")

    # correcting it submits and opens the new chart
    form.locator("[name=phone]").fill("13912345678")
    form.locator("[name=sex]").select_option("male")
    form.locator("[name=birth_on]").fill("1980-02-03")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/patients/*?done=registered")
    assert page.csp_errors == []

    # a minor's guardian is picked by searching, never by typing an internal id
    page.goto(live_server.url + "/patients")
    form = page.locator("#register form")
    form.locator("#guardian-q").fill("张三")
    pick = page.get_by_test_id("guardian-results").locator("button", has_text="张三丰")
    pick.first.click()
    chosen = page.get_by_test_id("guardian-picker")
    expect(chosen).to_contain_text("张三丰")
    assert chosen.locator("input[name=guardian_id]").get_attribute("value", timeout=5000)
    shot(page, f"forms-guardian-picked-zh-{size}")
    page.context.close()


def test_a_refused_meeting_form_keeps_the_input_and_names_the_problem(
    live_server: LiveServer, browser: Any
) -> None:
    page = _page(browser, live_server, "bob")
    page.goto(live_server.url + "/meetings")
    form = page.get_by_test_id("schedule-form")
    form.locator("[name=title]").fill("多学科会诊")
    form.locator("[name=invitees]").fill("ghost")
    form.locator("button[type=submit]").click()
    note = form.locator("[name=invitees] + .field-error")
    expect(note).to_have_text("部分被邀请人不是有效的工作人员")
    assert form.locator("[name=title]").input_value() == "多学科会诊"
    assert form.locator("[name=invitees]").input_value() == "ghost"
    assert "javascript:" not in page.content()
    shot(page, "forms-meeting-refused-zh-pc")
    page.context.close()


@pytest.mark.parametrize("size", ["pc", "phone"])
def test_an_unknown_address_keeps_the_signed_in_layout_in_chinese(
    live_server: LiveServer, browser: Any, size: str
) -> None:
    page = _page(browser, live_server, {"pc": "mallory", "phone": "carol"}[size], size)
    response = page.goto(live_server.url + "/no-such-page")
    assert response.status == 404
    body = page.locator("body").inner_text()
    assert "找不到该页面或记录。" in body
    assert "Not Found" not in body
    expect(page.locator(".sidebar")).to_be_attached()
    shot(page, f"errors-404-zh-{size}")
    page.context.close()


def test_the_audit_page_names_actions_in_chinese(live_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport=SIZES["pc"], locale="zh-CN")
    page = context.new_page()
    sign_in(page, live_server, "ines")
    page.goto(live_server.url + "/audit")
    cells = page.locator("td[data-label='操作']").all_inner_texts()
    assert cells and "登录（密码）" in " ".join(cells)
    assert not any("auth.login" in c or "patient.read" in c for c in cells)
    shot(page, "audit-zh-pc")
    context.close()


def test_the_api_docs_render_from_our_own_assets_under_the_csp(
    live_server: LiveServer, browser: Any
) -> None:
    page = _page(browser, live_server, "admin")
    outside: list[str] = []
    page.on(
        "request",
        lambda r: not r.url.startswith(live_server.url) and outside.append(r.url),
    )
    page.goto(live_server.url + "/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Yiyun API", timeout=30_000)
    expect(page.locator(".opblock-tag").first).to_be_visible(timeout=30_000)
    # Swagger UI renders a long document as a virtual list (only what is on screen is
    # in the DOM): scroll to the end and collect every tag group that was laid out.
    spec = httpx.get(live_server.url + "/api/v1/openapi.json").json()
    wanted = {
        tag
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
        for tag in op.get("tags", [])
    }
    seen: set[str] = set()
    for _ in range(400):
        seen.update(page.locator(".opblock-tag").all_inner_texts())
        if wanted <= seen:
            break
        page.mouse.wheel(0, 900)
        page.wait_for_timeout(50)
    assert sorted(wanted - seen) == []
    assert outside == []
    assert page.csp_errors == []
    shot(page, "api-docs-pc")
    page.context.close()


def test_a_refused_chat_file_says_why_and_what_is_accepted(
    live_server: LiveServer, browser: Any
) -> None:

    res = httpx.post(
        f"{live_server.url}/api/v1/meetings",
        headers=live_server.world.auth("bob"),
        json={"title": "会诊", "invitees": ["otto"]},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    page = _page(browser, live_server, "otto")
    page.goto(f"{live_server.url}/meetings/{res.json()['id']}")
    page.locator("[data-chat-file]").set_input_files(
        {"name": "病历.exe", "mimeType": "application/octet-stream", "buffer": b"MZ" + b"\0" * 64}
    )
    toast = page.locator(".call-toast.error")
    expect(toast).to_contain_text("无法上传 病历.exe")
    expect(toast).to_contain_text("不接受此类型的文件")
    expect(toast).to_contain_text("可上传的类型：.csv .dcm .dicom .jpeg .jpg .pdf .png .txt .webp")
    shot(page, "chat-file-refused-zh-pc")
    page.context.close()
