"""A light consultation from a resident's phone: register with an SMS code (read from the
console SMS channel), ask with a photo; a community doctor claims and answers on a PC; the
resident rates the answer."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.inquiry.photos import photo_with_location
from yiyun.records import resident_id

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
NUMBER = "13712340001"


def test_a_resident_asks_from_a_phone_and_rates_the_answer(
    live_server: LiveServer, browser
) -> None:
    sms = live_server.app.state.outbound.sms
    centre = live_server.world.inst["chc_a"]
    phone_ctx = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", device_scale_factor=2
    )
    pc_ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        phone = phone_ctx.new_page()
        phone.goto(f"{live_server.url}/resident/register")
        phone.fill("#name", "赵晓梅")
        phone.fill("#id_number", resident_id.make("440305", date(1988, 6, 1), 402))
        phone.select_option("#institution_id", str(centre.id))
        phone.fill("#phone", NUMBER)
        sent_before = len(sms.sent)
        phone.get_by_test_id("send-code").click()
        expect(phone.get_by_test_id("code-sent")).to_be_visible()
        assert len(sms.sent) == sent_before + 1 and sms.sent[-1].to == NUMBER
        code = sms.sent[-1].body.split("验证码是 ")[1][:6]
        phone.fill("#code", code)
        shot(phone, "inquiry-phone-register")
        phone.locator("form[action='/resident/register'] button.wide").click()
        phone.wait_for_url("**/resident?done=registered")

        found = violations(phone)  # the portal's pages pass axe, on the phone
        phone.get_by_test_id("ask").click()
        found += violations(phone)
        phone.select_option("#pool", str(centre.id))
        phone.fill("#title", "手腕起红疹")
        phone.fill("#body", "右手腕起红疹三天，有点痒，没有发烧。")
        phone.set_input_files(
            "#photos",
            {"name": "wrist.jpg", "mimeType": "image/jpeg", "buffer": photo_with_location()},
        )
        shot(phone, "inquiry-phone-ask")
        phone.locator("form[action='/resident/ask'] button.wide").click()
        phone.wait_for_url("**/resident/inquiries/*?done=asked")
        expect(phone.get_by_test_id("state")).to_contain_text("等待医生")
        expect(phone.locator("img.thumb")).to_have_count(1)
        inquiry_url = phone.url.split("?")[0]

        doctor = pc_ctx.new_page()
        sign_in(doctor, live_server, "alice")
        doctor.goto(f"{live_server.url}/inquiries")
        expect(doctor.get_by_test_id("tab-pool")).to_contain_text("1")
        doctor.get_by_role("link", name="手腕起红疹").click()
        expect(doctor.get_by_test_id("claim")).to_be_visible()
        doctor.get_by_test_id("claim").click()
        doctor.wait_for_url("**/inquiries/*?done=saved")
        expect(doctor.locator("#flash .error")).to_have_count(0)
        expect(doctor.get_by_test_id("state")).to_have_text("待回复")
        doctor.fill("#reply", "像是接触性皮炎，先停用新换的洗手液，涂炉甘石洗剂，三天不好来社康。")
        doctor.get_by_test_id("send-reply").click()
        expect(doctor.get_by_test_id("state")).to_have_text("已回复")
        shot(doctor, "inquiry-pc-answered")

        phone.goto(inquiry_url)
        expect(phone.get_by_test_id("state")).to_contain_text("已回复")
        expect(phone.get_by_test_id("thread")).to_contain_text("炉甘石洗剂")
        phone.locator("label[for=star5]").click()
        phone.fill("#comment", "回复很快，谢谢")
        shot(phone, "inquiry-phone-answer")
        found += violations(phone)
        assert not found, describe(found)
        phone.get_by_test_id("rate").locator("button[type=submit]").click()
        expect(phone.get_by_test_id("rating")).to_contain_text("5")
        expect(phone.get_by_test_id("state")).to_contain_text("已结束")
        shot(phone, "inquiry-phone-rated")

        doctor.reload()
        expect(doctor.get_by_test_id("rating")).to_contain_text("★★★★★")
    finally:
        phone_ctx.close()
        pc_ctx.close()
