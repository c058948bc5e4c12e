"""axe-core's WCAG 2 A/AA rules over the pages each role uses, on the full demo
consortium in real Chromium (zh-CN): PC 1440 px, phone 390 px, the wall display at
2560×1440, the call page and the signed-out pages. Any violation fails with axe's own
description of the elements. The same pass fails a page that is wider than its screen or
that shows a raw message or action code (`meeting.not_started`, `patient.read`), or English
words outside user data on a Chinese page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, settle, sign_in, sign_in_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PC = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
WALL = {"width": 2560, "height": 1440}

# persona -> pages (a path, or "first:<selector>" to follow the first link there)
PAGES: dict[str, list[str]] = {
    "doctor": ["/", "/patients", "first:/patients a[href^='/patients/']", "/meetings",
               "/consortium", "first:/consortium a[href^='/institutions/']", "/staff",
               "first:/staff a[href^='/staff/']", "/notifications", "/emergency/tasks",
               "/selftest", "/clinics", "first:/clinics a[href^='/clinics/sessions/']",
               "first:/clinics a[href^='/clinics/visits/']", "/clinics/waiting",
               "/clinics/waiting?kiosk=1", "/referrals", "first:/referrals a[href^='/referrals/']",
               "/referrals/new?direction=up", "/imaging", "/imaging/unmatched", "/inquiries",
               "/inquiries?view=mine", "/consults", "/consults/new", "/learning",
               "/learning/transcript", "/teaching"],
    "specialist": ["/clinics", "first:/clinics a[href^='/clinics/sessions/']",
                   "/referrals?box=in", "/referrals/new?direction=down"],
    "nurse": ["/", "/emergency/tasks"],
    "dispatcher": ["/", "/consults"],
    "authority": ["/", "/emergency", "/audit", "/terminals/attention", "/stats", "/stats/glossary",
                  "/supervision", "/supervision/samples"],
    "ops": ["/", "/calls/quality", "/terminals/attention", "/ops/terminals", "/ops/alarms",
            "/ops/topology"],
    "instadmin": ["/", "/audit", "/staff", "/ops/terminals"],
    "admin": ["/", "/audit", "/partners"],  # the consortium administrator (a test persona)
}  # fmt: skip
PHONE_PAGES = {
    "doctor": ["/", "/patients", "/meetings", "/clinics", "/referrals", "/imaging", "/inquiries",
               "/consults", "/learning", "/teaching"],
    "authority": ["/emergency", "/stats", "/supervision"],
    "ops": ["/ops/alarms", "/ops/terminals"],
}  # fmt: skip


@pytest.fixture(scope="module")
def states(demo_server: LiveServer, browser: Browser) -> dict[str, Any]:
    found = {}
    for who in PAGES:
        ctx = browser.new_context(locale="zh-CN")
        if who in demo_server.demo_totp and who not in demo_server.world.totp:
            sign_in_demo(ctx.new_page(), demo_server, who)
        else:
            sign_in(ctx.new_page(), demo_server, who)
        found[who] = ctx.storage_state()
        ctx.close()
    return found


@pytest.fixture
def pages(browser: Browser) -> Iterator[dict[tuple[str, int], Page]]:
    """One page per persona and screen width for a test (each visit navigates anew)."""
    opened: dict[tuple[str, int], Page] = {}
    yield opened
    for page in opened.values():
        page.context.close()


def _open(
    browser: Browser,
    opened: dict[tuple[str, int], Page],
    who: str,
    state: Any,
    viewport: dict[str, int],
) -> Page:
    key = (who, viewport["width"])
    if key not in opened:
        ctx = browser.new_context(storage_state=state, viewport=viewport, locale="zh-CN")
        opened[key] = ctx.new_page()
    return opened[key]


def _visit(page: Page, server: LiveServer, target: str) -> str:
    if target.startswith("first:"):
        path, selector = target[len("first:") :].split(" ", 1)
        page.goto(server.url + path)
        href = page.locator(selector).first.get_attribute("href")
        assert href, f"no link {selector} on {path}"
        target = href
    page.goto(server.url + target)
    settle(page)
    return target


# Visible text that looks like a dotted code (`consult.not_found`), not a sentence.
_CODES = r"""() => {
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!el || el.closest("script, style, code, pre") || !el.checkVisibility()) continue;
    for (const m of walk.currentNode.textContent.matchAll(/\b[a-z]+(?:_[a-z]+)*\.[a-z_]+\b/g)) {
      found.push(m[0]);
    }
  }
  return found;
}"""


# Latin words a Chinese page may show: acronyms and codes in capitals (API, DICOM, T-DEMO-01)
# pass by their shape; these are units and names that are not translated. User data, the
# language switch and identifiers are marked `translate="no"` (or set in `.mono`/`code`).
_LATIN_OK = {"ms", "kbps", "Mbit/s", "Mbps", "MB", "GB", "KB", "WebM", "E-model", "Yiyun", "p"}
_LATIN = r"""() => {
  const found = [];
  const skip = "script, style, code, pre, .mono, [translate=no]";
  const words = (text, where) => {
    for (const m of text.matchAll(/[A-Za-z][A-Za-z_'-]*(?:[ ./][A-Za-z][A-Za-z_'-]*)*/g)) {
      found.push([m[0], where + ": " + text.trim().slice(0, 60)]);
    }
  };
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!el || el.closest(skip) || !el.checkVisibility()) continue;
    words(walk.currentNode.textContent, el.tagName.toLowerCase());
  }
  for (const el of document.body.querySelectorAll("[placeholder], [title], [aria-label]")) {
    if (el.closest(skip)) continue;
    for (const name of ["placeholder", "title", "aria-label"]) {
      const value = el.getAttribute(name);
      if (value) words(value, "@" + name);
    }
  }
  return found;
}"""


def _english(page: Page, people: frozenset[str]) -> list[str]:
    """Words of English on a Chinese page outside user data (`people`: the test personas'
    display names, "Alice"): untranslated text or codes."""
    if not page.evaluate("() => document.documentElement.lang.startsWith('zh')"):
        return []
    return sorted(
        {
            f"{word!r} ({where})"
            for word, where in page.evaluate(_LATIN)
            if not all(re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", w) or w in _LATIN_OK or w in people
                       for w in re.split(r"[ .]", word) if w)
        }
    )  # fmt: skip


def _people(server: LiveServer) -> frozenset[str]:
    return frozenset(user.display_name for user in server.world.users.values())


def _scan(
    page: Page, where: str, problems: list[str], people: frozenset[str] = frozenset()
) -> None:
    found = violations(page)
    if found:
        problems.append(f"{where}:\n{describe(found)}")
    _layout(page, where, problems)
    english = _english(page, people)
    if english:
        problems.append(f"{where}: English on a Chinese page: {english}")


@pytest.mark.parametrize("who", list(PAGES))
def test_every_page_passes_axe(
    who: str,
    demo_server: LiveServer,
    browser: Browser,
    states: dict[str, Any],
    pages: dict[tuple[str, int], Page],
) -> None:
    problems: list[str] = []
    for target in PAGES[who]:
        page = _open(browser, pages, who, states[who], PC)
        path = _visit(page, demo_server, target)
        _scan(page, f"{who} {path} (PC)", problems, _people(demo_server))
    for target in PHONE_PAGES.get(who, []):
        page = _open(browser, pages, who, states[who], PHONE)
        path = _visit(page, demo_server, target)
        _scan(page, f"{who} {path} (phone)", problems, _people(demo_server))
    assert not problems, "\n".join(problems)


def _layout(page: Page, where: str, problems: list[str]) -> None:
    """The checks that differ by language: the page fits its screen and shows no code."""
    wider = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if wider > 1:
        problems.append(f"{where}: {wider} px wider than the screen")
    codes = page.evaluate(_CODES)
    if codes:
        problems.append(f"{where}: raw codes shown: {sorted(set(codes))}")


@pytest.mark.parametrize("who", list(PAGES))
def test_every_page_fits_and_shows_no_code_in_english(
    who: str,
    demo_server: LiveServer,
    browser: Browser,
    states: dict[str, Any],
    pages: dict[tuple[str, int], Page],
) -> None:
    problems: list[str] = []
    host = demo_server.url.split("//", 1)[1].split(":", 1)[0]
    english = {"name": "yiyun_lang", "value": "en", "domain": host, "path": "/"}
    visits = [(t, PC, "PC") for t in PAGES[who]]
    visits += [(t, PHONE, "phone") for t in PHONE_PAGES.get(who, [])]
    for target, viewport, label in visits:
        page = _open(browser, pages, who, states[who], viewport)
        page.context.add_cookies([english])  # type: ignore[list-item]
        path = _visit(page, demo_server, target)
        assert page.evaluate("() => document.documentElement.lang") == "en", path
        _layout(page, f"{who} {path} ({label}, en)", problems)
    assert not problems, "\n".join(problems)


def test_the_wall_display_and_the_call_page_pass_axe(
    demo_server: LiveServer,
    browser: Browser,
    states: dict[str, Any],
    pages: dict[tuple[str, int], Page],
) -> None:
    problems: list[str] = []
    wall = _open(browser, pages, "authority", states["authority"], WALL)
    wall.goto(f"{demo_server.url}/emergency?wall=true")
    expect(wall.locator("#command")).to_have_attribute("data-ready", "true", timeout=15_000)
    _scan(wall, "wall display", problems, _people(demo_server))

    call = _open(browser, pages, "doctor", states["doctor"], PC)
    call.goto(f"{demo_server.url}/meetings")
    call.click("form[action='/meetings'] button[type=submit]")
    call.wait_for_url("**/meetings/*", timeout=15_000)
    call.wait_for_function("() => window.yiyunCall && window.yiyunCall.phase === 'joined'")
    _scan(call, "call page", problems, _people(demo_server))
    call.click("[data-action=people]")
    _scan(call, "call page, participants open", problems, _people(demo_server))
    assert not problems, "\n".join(problems)


def test_the_signed_out_pages_pass_axe(demo_server: LiveServer, browser: Browser) -> None:
    problems: list[str] = []
    for viewport in (PC, PHONE):
        ctx = browser.new_context(viewport=viewport, locale="zh-CN")
        page = ctx.new_page()
        # the kiosk's and the residents' sign-in forms are signed-out pages too
        for path in ("/login", "/kiosk", "/resident/login", "/resident/register"):
            page.goto(f"{demo_server.url}{path}")
            _scan(page, f"{path} {viewport['width']}", problems)
        ctx.close()
    assert not problems, "\n".join(problems)
