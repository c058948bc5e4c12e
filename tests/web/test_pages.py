"""HTML pages through a real cookie session: sign-in, role home pages, language, CSRF,
redirects, sign-out, refused uploads; response headers and the operations endpoints."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI

from tests.factories import PASSWORD, World
from yiyun.web.deps import SESSION_COOKIE
from yiyun.web.templating import LANG_COOKIE

HTML = {"Accept": "text/html"}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@dataclass
class Browser:
    """One person's browser: its own cookie jar, and the page's CSRF token once signed in."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers=HTML, **kw)

    async def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        return await self.client.post(url, data=form, headers=HTML, **kw)


Browsers = Callable[[], AbstractAsyncContextManager[Browser]]


@pytest.fixture
def browser(app: FastAPI) -> Browsers:
    @asynccontextmanager
    async def open_browser() -> AsyncIterator[Browser]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Browser(c)

    return open_browser


async def sign_in(b: Browser, world: World, name: str, next_url: str = "/") -> httpx.Response:
    """Password page, then the second-factor page with a fresh TOTP code."""
    form = await b.get("/login", params={"next": next_url})
    assert form.status_code == 200
    first = await b.client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "next": next_url},
        headers=HTML,
    )
    assert first.status_code == 303, first.text
    assert first.headers["location"].startswith("/2fa")
    mfa = await b.get(first.headers["location"])
    assert mfa.status_code == 200
    match = CSRF_INPUT.search(mfa.text)
    assert match and match.group(1)
    b.csrf = match.group(1)
    code = pyotp.TOTP(world.totp[name]).now()
    done = await b.post("/2fa", {"code": code, "next": next_url})
    assert done.status_code == 303, done.text
    return done


# --- signing in -------------------------------------------------------------------------


async def test_signing_in_sets_a_protected_session_cookie_and_lands_home(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        first = await b.client.post(
            "/login", data={"username": "alice", "password": PASSWORD}, headers=HTML
        )
        cookie = first.headers["set-cookie"].lower()
        assert f"{SESSION_COOKIE}=" in cookie
        assert "httponly" in cookie and "samesite=lax" in cookie
        # the first factor alone opens nothing
        assert (await b.get("/")).headers["location"].startswith("/login")
    async with browser() as b:
        done = await sign_in(b, world, "alice")
        assert done.headers["location"] == "/"
        home = await b.get("/")
        assert home.status_code == 200
        assert 'data-testid="home-title"' in home.text and "Alice" in home.text
        meta = CSRF_META.search(home.text)
        assert meta and meta.group(1) == b.csrf


async def test_a_wrong_second_factor_keeps_the_door_shut(browser: Browsers, world: World) -> None:
    async with browser() as b:
        await b.client.post("/login", data={"username": "bob", "password": PASSWORD}, headers=HTML)
        page = await b.get("/2fa")
        b.csrf = CSRF_INPUT.search(page.text).group(1)  # type: ignore[union-attr]
        wrong = await b.post("/2fa", {"code": "000000"})
        assert wrong.status_code == 401
        assert (await b.get("/")).status_code == 303


# --- role home pages --------------------------------------------------------------------

MARKERS = {
    "patients": 'data-testid="patient-count"',
    "register": 'href="/patients#register"',
    "find": 'href="/patients"',  # the nav and "Find a patient"
    "break_glass": 'href="/break-glass"',
    "add_staff": 'href="/staff#new"',
    "audit": 'href="/audit"',
    "consortium": 'data-testid="care-sites"',
    "district": "District overview",
    "attention": "T-CHCA-1",  # CHC A's room system is offline
}
# persona: what their home page offers (DESIGN.md §1); administrators (IT) see no patient
# but may break the glass
HOME: dict[str, set[str]] = {
    "alice": {"patients", "register", "find"},
    "mallory": {"patients", "register", "find"},
    "nina": {"patients", "register", "find"},
    "bob": {"patients", "register", "find"},
    "ines": {"add_staff", "audit", "break_glass"},
    "carol": {"consortium"},
    "otto": {"consortium", "attention"},
    "admin": {"add_staff", "audit", "consortium", "attention", "break_glass"},
    "hana": {"patients", "audit", "consortium", "district", "attention", "find"},
}


async def test_each_role_lands_on_what_it_needs(browser: Browsers, world: World) -> None:
    problems = []
    for name, wanted in HOME.items():
        async with browser() as b:
            await sign_in(b, world, name)
            home = await b.get("/", params={"lang": "en"})
            assert home.status_code == 200, name
            shown = {key for key, marker in MARKERS.items() if marker in home.text}
            if shown != wanted:
                problems.append(f"{name}: shows {sorted(shown)}, expected {sorted(wanted)}")
            if f"Welcome, {name.title()}" not in home.text:
                problems.append(f"{name}: no welcome")
    assert not problems, "\n".join(problems)


async def test_a_done_flash_says_its_sentence_and_an_unknown_one_says_nothing(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        known = await b.get("/", params={"done": "saved"})
        assert '<div class="flash ok">已保存。</div>' in known.text
        for value in ("nonsense", ""):  # gettext("") would be the catalogue's header
            page = await b.get("/", params={"done": value})
            assert page.status_code == 200
            assert "Project-Id-Version" not in page.text
            assert '<div class="flash ok">' not in page.text


async def test_a_filter_form_with_blank_fields_is_not_refused(
    browser: Browsers, client: httpx.AsyncClient, world: World
) -> None:
    """A GET form sends its empty fields too: on a page they mean "not chosen"."""
    async with browser() as b:
        await sign_in(b, world, "admin")
        page = await b.get("/audit?patient_id=&action=patient.&outcome=&page=1")
        assert page.status_code == 200, page.text[:300]
        assert "部分内容填写有误" not in page.text
    api = await client.get("/api/v1/audit/events?patient_id=", headers=world.auth("admin"))
    assert api.status_code == 422  # an API client means what it sends


# --- language ---------------------------------------------------------------------------


async def test_the_default_is_simplified_chinese_and_lang_en_switches_and_sticks(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        default = await b.get("/login")
        assert '<html lang="zh-CN">' in default.text
        assert "登录" in default.text
        english = await b.get("/login", params={"lang": "en"})
        assert '<html lang="en">' in english.text
        assert "Sign in" in english.text
        assert f"{LANG_COOKIE}=en" in english.headers["set-cookie"]
        # the cookie keeps the choice, also once signed in
        assert '<html lang="en">' in (await b.get("/login")).text
        await sign_in(b, world, "alice")
        home = await b.get("/")
        assert '<html lang="en">' in home.text and "Welcome, Alice" in home.text
        back = await b.get("/", params={"lang": "zh-CN"})
        assert '<html lang="zh-CN">' in back.text
        assert f"{LANG_COOKIE}=zh_CN" in back.headers["set-cookie"]


async def test_an_unknown_language_falls_back_to_chinese(browser: Browsers) -> None:
    async with browser() as b:
        page = await b.get("/login", params={"lang": "xx"})
        assert '<html lang="zh-CN">' in page.text
        assert "set-cookie" not in page.headers


# --- CSRF -------------------------------------------------------------------------------


async def test_a_form_post_without_the_csrf_token_is_refused(
    browser: Browsers, client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"].id
    form = {"kind": "summary", "title": "随访", "body": "血压平稳"}
    async with browser() as b:
        await sign_in(b, world, "alice")
        bare = await b.client.post(f"/patients/{pa}/documents", data=form, headers=HTML)
        assert bare.status_code == 403
        assert "表单已过期" in bare.text  # "missing or wrong CSRF token", translated
        forged = await b.client.post(
            f"/patients/{pa}/documents", data={**form, "csrf_token": "forged"}, headers=HTML
        )
        assert forged.status_code == 403
        # the cookie alone does not make JSON calls either
        api = await b.client.post(f"/api/v1/patients/{pa}/documents", json=form)
        assert api.status_code == 403
        assert api.json()["error"]["code"] == "auth.csrf"
        docs = await client.get(f"/api/v1/patients/{pa}/documents", headers=world.auth("alice"))
        assert docs.json() == []
        # with the token (form field or header) the same calls go through
        ok = await b.post(f"/patients/{pa}/documents", form)
        assert ok.status_code == 303
        headed = await b.client.post(
            f"/api/v1/patients/{pa}/documents", json=form, headers={"X-CSRF-Token": b.csrf}
        )
        assert headed.status_code == 201


# --- redirects --------------------------------------------------------------------------

OFF_SITE = ["//evil.example", "https://evil.example/", "/\\evil.example", "//evil.example/%2F.."]


def stays_on_site(location: str) -> bool:
    """As a browser reads a Location: backslashes count as slashes."""
    path = location.replace("\\", "/")
    return path.startswith("/") and not path.startswith("//")


@pytest.mark.parametrize("target", OFF_SITE)
async def test_the_login_next_parameter_cannot_leave_the_site(
    browser: Browsers, world: World, target: str
) -> None:
    async with browser() as b:
        done = await sign_in(b, world, "alice", next_url=target)
        assert stays_on_site(done.headers["location"]), done.headers["location"]


async def test_the_login_next_parameter_keeps_a_local_path(browser: Browsers, world: World) -> None:
    async with browser() as b:
        assert (await b.get("/patients")).headers["location"] == "/login?next=/patients"
        done = await sign_in(b, world, "alice", next_url="/patients")
        assert done.headers["location"] == "/patients"


# --- signing out ------------------------------------------------------------------------


async def test_signing_out_ends_the_session(browser: Browsers, world: World) -> None:
    async with browser() as b:
        await sign_in(b, world, "nina")
        token = b.client.cookies[SESSION_COOKIE]
        out = await b.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
        assert SESSION_COOKIE not in b.client.cookies
        # the old cookie is dead on the server too, not only forgotten by the browser
        replay = await b.client.get("/", headers={**HTML, "Cookie": f"{SESSION_COOKIE}={token}"})
        assert replay.status_code == 303 and replay.headers["location"].startswith("/login")
        api = await b.client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
        assert api.status_code == 401


# --- uploads ----------------------------------------------------------------------------

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "data", "zh", "en"),
    [
        ("tool.exe", EXE, "不接受此类型的文件", "this type of file is not accepted"),
        ("scan.pdf", PNG, "文件内容与其扩展名不符", "the file's content does not match its name"),
    ],
)
async def test_a_refused_upload_shows_the_reason(
    browser: Browsers,
    client: httpx.AsyncClient,
    world: World,
    name: str,
    data: bytes,
    zh: str,
    en: str,
) -> None:
    pa = world.patients["pa"].id
    async with browser() as b:
        await sign_in(b, world, "alice")
        url = f"/patients/{pa}/attachments"
        refused = await b.post(url, {"title": "报告"}, files={"file": (name, data)})
        assert refused.status_code == 422
        assert zh in refused.text
        english = await b.post(url, params={"lang": "en"}, files={"file": (name, data)})
        assert english.status_code == 422
        assert en.replace("'", "&#39;") in english.text
    docs = await client.get(f"/api/v1/patients/{pa}/documents", headers=world.auth("alice"))
    assert docs.json() == []


async def test_an_accepted_upload_is_listed_on_the_chart(browser: Browsers, world: World) -> None:
    pa = world.patients["pa"].id
    async with browser() as b:
        await sign_in(b, world, "alice")
        done = await b.post(
            f"/patients/{pa}/attachments",
            {"title": "血常规"},
            files={"file": ("lab.txt", b"Hb 135")},
        )
        assert done.status_code == 303
        chart = await b.get(done.headers["location"])
        assert "血常规" in chart.text


# --- headers and operations -------------------------------------------------------------


async def test_security_headers_and_a_request_id_are_on_every_response(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        responses = [
            await b.get("/login"),
            await b.get("/"),  # redirect to /login
            await b.client.get("/api/v1/auth/me"),  # 401
            await b.client.get("/healthz"),
            await b.get("/no-such-page"),  # 404
        ]
        await sign_in(b, world, "alice")
        responses += [await b.get("/"), await b.client.get("/api/v1/regions")]
    ids = set()
    for res in responses:
        h = res.headers
        where = f"{res.request.url} -> {res.status_code}"
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), where
        assert "default-src 'self'" in h["content-security-policy"], where
        assert h.get("x-frame-options") == "DENY", where
        assert h.get("x-content-type-options") == "nosniff", where
        assert re.fullmatch(r"[0-9a-f]{16}", h.get("x-request-id", "")), where
        ids.add(h["x-request-id"])
    assert len(ids) == len(responses)


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "bus": "ok"}}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE yiyun_http_requests_total counter" in metrics.text
    assert re.search(
        r'yiyun_http_requests_total\{method="GET",route="/readyz",status="200"\} 1\.0', metrics.text
    )


# --- regressions: bad input is a 4xx, never a 500 ---------------------------------------


async def test_a_non_ascii_digit_as_consent_target_is_refused_not_a_crash(
    browser: Browsers, world: World
) -> None:
    """`"²".isdigit()` is true but `int("²")` fails: the form must say no, not crash."""
    pa = world.patients["pa"].id
    async with browser() as b:
        await sign_in(b, world, "alice")
        res = await b.post(
            f"/patients/{pa}/consents", {"purpose": "sharing", "target_institution_id": "²"}
        )
        assert res.status_code == 422


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/patients?q=a%00b", None),
        ("POST", "/api/v1/patients", {"name": "长" * 150, "sex": "male", "birth_on": "1980-01-01"}),
        (
            "POST",
            "/api/v1/patients/{pa}/consents",
            {"purpose": "sharing", "target_institution_id": 2**40},
        ),
    ],
    ids=["nul-byte", "too-long-for-the-column", "id-out-of-int32-range"],
)
async def test_values_the_database_cannot_store_are_a_422(
    client: httpx.AsyncClient, world: World, db_backend: str, method: str, url: str, body: Any
) -> None:
    """Values no column can hold: 422 with a reason on every backend, never a 500.

    The schemas now refuse most of them before the database sees them (field errors);
    the NUL byte in a search reaches PostgreSQL, whose refusal is mapped to 422 too.
    """
    url = url.format(pa=world.patients["pa"].id)
    res = await client.request(method, url, json=body, headers=world.auth("alice"))
    assert res.status_code < 500, res.text
    if db_backend == "postgresql" or method == "POST":
        assert res.status_code == 422, res.text
        error = res.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"].get("reason") or error["details"].get("errors")


BIG = 2**63  # beyond SQLite's INTEGER and PostgreSQL's integer


@pytest.mark.parametrize(
    ("who", "method", "url", "body", "field"),
    [
        pytest.param(
            "alice", "POST", "/api/v1/notifications/read", {"ids": [BIG]}, "ids", id="read-ids"
        ),
        pytest.param(
            "admin",
            "POST",
            "/api/v1/institutions",
            {"code": "N1", "name": "新", "name_en": "New", "kind": "hospital", "level": "primary"}
            | {"region_id": BIG},
            "region_id",
            id="institution-region_id",
        ),
        pytest.param(
            "admin",
            "POST",
            "/api/v1/staff",
            {"username": "newbie", "display_name": "New", "roles": ["nurse"], "password": PASSWORD}
            | {"institution_id": BIG},
            "institution_id",
            id="staff-institution_id",
        ),
        pytest.param(
            "admin",
            "PATCH",
            "/api/v1/staff/{alice}",
            {"department_id": BIG},
            "department_id",
            id="staff-department_id",
        ),
        pytest.param(
            "admin",
            "POST",
            "/api/v1/patients",
            {"name": "新", "sex": "male", "birth_on": "1980-01-01", "institution_id": BIG},
            "institution_id",
            id="patient-institution_id",
        ),
        pytest.param(
            "alice",
            "PATCH",
            "/api/v1/patients/{pa}",
            {"guardian_id": BIG},
            "guardian_id",
            id="patient-guardian_id",
        ),
        pytest.param(
            "alice",
            "POST",
            "/api/v1/patients/{pa}/consents",
            {"purpose": "sharing", "target_institution_id": BIG},
            "target_institution_id",
            id="consent-target_institution_id",
        ),
        pytest.param(
            "admin",
            "POST",
            "/api/v1/emergency/incidents",
            {"title": "演练", "site_ids": [BIG]},
            "site_ids",
            id="incident-site_ids",
        ),
        pytest.param(
            "admin",
            "POST",
            "/api/v1/emergency/resources",
            {"site_id": BIG, "beds_total": 1, "beds_free": 0}
            | {"fever_clinic_capacity": 0, "fever_clinic_waiting": 0},
            "site_id",
            id="resources-site_id",
        ),
    ],
)
async def test_an_id_beyond_the_id_range_is_refused_by_validation(
    client: httpx.AsyncClient,
    world: World,
    who: str,
    method: str,
    url: str,
    body: dict[str, Any],
    field: str,
) -> None:
    url = url.format(alice=world.users["alice"].id, pa=world.patients["pa"].id)
    res = await client.request(method, url, json=body, headers=world.auth(who))
    assert res.status_code == 422, res.text
    errors = res.json()["error"]["details"].get("errors", [])
    assert any(field in e["loc"] for e in errors), res.text
