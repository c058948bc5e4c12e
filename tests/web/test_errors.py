"""One error rendering: JSON for the API, a partial for htmx, a page in the normal layout;
every message a translated sentence naming the field by its label, never a raw code."""

from __future__ import annotations

import re

import httpx

from tests.factories import World
from tests.web.test_pages import HTML, Browsers, browser, sign_in

API = "/api/v1"
HTMX = {"HX-Request": "true", "HX-Boosted": "true", "Accept": "text/html"}
__all__ = ["browser"]  # the fixture, shared with test_pages


async def test_an_api_validation_error_names_the_field_by_its_label_in_the_users_language(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        f"{API}/patients", json={"name": "王小明", "phone": "12345"}, headers=world.auth("alice")
    )
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "invalid_input"
    (phone,) = error["details"]["errors"]
    assert phone["loc"] == ["body", "phone"] and phone["field"] == "phone"
    assert phone["type"] == "string_pattern_mismatch"
    assert phone["message"] == "手机号须为以 1 开头的 11 位手机号码。"
    assert phone["ctx"]["pattern"] == r"^1[3-9]\d{9}$"  # for machines, not in the sentence
    assert "String should match" not in res.text
    english = await client.post(
        f"{API}/patients",
        params={"lang": "en"},
        json={"name": "王小明", "phone": "12345"},
        headers=world.auth("alice"),
    )
    (phone_en,) = english.json()["error"]["details"]["errors"]
    assert phone_en["message"] == "Mobile phone must be an 11-digit mobile number starting with 1."


async def test_a_missing_field_and_a_too_long_one_are_sentences(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        f"{API}/patients", json={"address": "x" * 301}, headers=world.auth("alice")
    )
    messages = {e["field"]: e["message"] for e in res.json()["error"]["details"]["errors"]}
    assert messages == {"name": "请填写名称。", "address": "地址最多 300 个字符。"}


async def test_unknown_url_and_wrong_method_are_chinese_sentences_with_codes(
    client: httpx.AsyncClient, world: World
) -> None:
    missing = await client.get(f"{API}/no-such-thing", headers=world.auth("alice"))
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "找不到该页面或记录。",
        "details": {},
    }
    wrong = await client.delete(f"{API}/patients", headers=world.auth("alice"))
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.json()["error"]["message"] == "此地址不接受这种请求。"


async def test_an_unknown_url_while_signed_in_keeps_the_normal_layout_and_language(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        page = await b.get("/no-such-page")
        assert page.status_code == 404
        assert 'class="sidebar"' in page.text and "退出登录" in page.text
        assert "找不到该页面或记录。" in page.text
        assert "Not Found" not in page.text
        assert "javascript:" not in page.text
        english = await b.get("/no-such-page", params={"lang": "en"})
        assert "The page or record was not found." in english.text
        assert 'class="sidebar"' in english.text
    async with browser() as anonymous:
        page = await anonymous.get("/no-such-page")
        assert page.status_code == 404 and 'class="sidebar"' not in page.text
        assert "找不到该页面或记录。" in page.text


async def test_a_refused_htmx_form_gets_a_partial_with_each_field_error(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        res = await b.client.post(
            "/patients",
            data={"csrf_token": b.csrf, "name": "王小明", "phone": "123", "birth_on": "2020-13-01"},
            headers=HTMX,
        )
        assert res.status_code == 422
        assert res.headers["HX-Retarget"] == "#flash"
        assert "<html" not in res.text  # a partial, not a page
        fields = dict(re.findall(r'<li data-field="(\w+)">([^<]+)</li>', res.text))
        assert fields == {
            "phone": "手机号须为以 1 开头的 11 位手机号码。",
            "birth_on": "出生日期须为日期（年-月-日）。",
        }
        assert "部分内容填写有误" in res.text


async def test_a_domain_error_about_one_field_is_placed_beside_it(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        res = await b.client.post(
            "/patients",
            data={"csrf_token": b.csrf, "name": "王小明", "id_number": "110101199003070000"},
            headers=HTMX,
        )
        assert res.status_code == 422
        assert '<li data-field="id_number">' in res.text
        assert "居民身份证号" in res.text and "check character" not in res.text


async def test_a_successful_htmx_form_loads_the_next_page_in_full(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        res = await b.client.post(
            "/patients",
            data={"csrf_token": b.csrf, "name": "王小明", "sex": "male", "birth_on": "1980-01-02"},
            headers=HTMX,
        )
        assert res.status_code == 200
        assert res.headers["HX-Redirect"].startswith("/patients/")
        assert "location" not in res.headers
        plain = await b.client.post(
            "/patients",
            data={
                "csrf_token": b.csrf,
                "name": "王小红",
                "sex": "female",
                "birth_on": "1981-01-02",
            },
            headers=HTML,
        )
        assert plain.status_code == 303  # without htmx: post/redirect/get as before


async def test_a_page_error_offers_a_way_back_that_the_csp_allows(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        res = await b.client.post(
            "/patients",
            data={"csrf_token": b.csrf, "name": "王小明", "phone": "123"},
            headers=HTML | {"Referer": "http://testserver/patients"},
        )
        assert res.status_code == 422
        assert 'href="http://testserver/patients"' in res.text
        assert "javascript:" not in res.text
        assert "手机号须为以 1 开头的 11 位手机号码。" in res.text


async def test_joining_too_early_says_when_the_meeting_opens_not_a_code(
    client: httpx.AsyncClient, world: World
) -> None:
    from datetime import UTC, datetime, timedelta

    starts = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    made = await client.post(
        f"{API}/meetings",
        headers=world.auth("bob"),
        json={"title": "明日会诊", "starts_at": starts.isoformat(), "invitees": ["alice"]},
    )
    assert made.status_code == 201, made.text
    early = await client.post(
        f"{API}/meetings/{made.json()['id']}/token", headers=world.auth("bob")
    )
    assert early.status_code == 409
    error = early.json()["error"]
    assert error["code"] == "meeting.not_started"  # the code stays for programs
    assert error["message"].startswith("会议尚未开放，") and error["message"].endswith(
        "起可以加入。"
    )
    assert "meeting.not_started" not in error["message"] and "T" not in error["message"]
