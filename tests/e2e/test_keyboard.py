"""Everything works from the keyboard, in real Chromium (zh-CN): a doctor signs in, skips
the navigation, opens the meetings page, starts a meeting and mutes herself without the
mouse; on the pages each role uses, Tab reaches every visible control in turn and each
one shows where the focus is."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, _fresh_code, settle, sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PC = {"width": 1440, "height": 900}

# Visible controls a keyboard user must be able to reach.
_FOCUSABLE = r"""() => {
  const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary, "
    + "[tabindex]:not([tabindex='-1'])";
  return [...document.querySelectorAll(sel)]
    .filter((el) => !el.disabled && !el.closest("[inert]")
      && el.checkVisibility({visibilityProperty: true}) && el.getBoundingClientRect().width > 0
      && !(el.closest("details:not([open])") && el.tagName !== "SUMMARY"))
    .map((el, i) => { el.dataset.kb = String(i); return i; });
}"""

# The focused control: its mark and whether a focus indicator is drawn around it.
_FOCUSED = r"""() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
    || (s.boxShadow && s.boxShadow !== "none");
  return {kb: el.dataset.kb ?? null, ring, what: el.outerHTML.slice(0, 120)};
}"""


def _tab_through(page: Page, limit: int = 400) -> tuple[set[str], list[str]]:
    """Press Tab until the focus comes round again: what was reached, and what had no ring."""
    reached: set[str] = set()
    no_ring: list[str] = []
    page.locator("body").focus()
    first = None
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = page.evaluate(_FOCUSED)
        if now is None:
            if reached:
                break
            continue
        key = now["kb"] or now["what"]
        if key == first:
            break
        first = first or key
        reached.add(key)
        if not now["ring"]:
            no_ring.append(now["what"])
    return reached, no_ring


def _check_page(page: Page, where: str, problems: list[str]) -> None:
    wanted = {str(i) for i in page.evaluate(_FOCUSABLE)}
    assert wanted, f"{where}: no controls found"
    reached, no_ring = _tab_through(page)
    missed = wanted - reached
    if missed:
        names = page.evaluate(
            "(keys) => keys.map((k) => document.querySelector(`[data-kb='${k}']`)"
            ".outerHTML.slice(0, 120))",
            sorted(missed),
        )
        problems.append(f"{where}: Tab never reaches {names}")
    if no_ring:
        problems.append(f"{where}: no visible focus on {no_ring[:5]}")


def test_a_doctor_signs_in_and_mutes_herself_without_the_mouse(
    live_server: LiveServer, browser: Browser
) -> None:
    ctx = browser.new_context(viewport=PC, locale="zh-CN")
    page = ctx.new_page()
    page.goto(live_server.url + "/login")
    expect(page.locator("#username")).to_be_focused()  # the sign-in page starts in its field
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/2fa**")
    expect(page.locator("#code")).to_be_focused()
    page.keyboard.type(_fresh_code(live_server, "alice", live_server.world.totp["alice"]))
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/")

    # the first Tab offers to skip the navigation; Enter lands in the page's content
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    expect(page.locator(".skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()

    # from the navigation to the meetings page, then start an instant meeting
    page.locator("nav a[href='/meetings']").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/meetings")
    page.locator("#now-title").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("键盘晨会")
    page.keyboard.press("Enter")
    page.wait_for_url("**/meetings/*", timeout=15_000)
    page.wait_for_function("() => window.yiyunCall && window.yiyunCall.phase === 'joined'")

    # Tab to the microphone button and press Space
    mute = page.locator("[data-action=mute]")
    for _ in range(60):
        page.keyboard.press("Tab")
        if mute.evaluate("(el) => el === document.activeElement"):
            break
    expect(mute).to_be_focused()
    page.keyboard.press("Space")
    expect(mute).to_have_attribute("aria-pressed", "true")
    ctx.close()


PAGES: dict[str, list[str]] = {
    "alice": ["/", "/patients", "/meetings", "/consults", "/referrals", "/clinics", "/imaging",
              "/teaching", "/learning", "/notifications"],
    "admin": ["/audit", "/staff", "/consortium", "/partners"],
    "hana": ["/emergency", "/stats", "/supervision"],
    "otto": ["/ops/terminals", "/ops/alarms", "/calls/quality"],
}  # fmt: skip


@pytest.mark.parametrize("who", list(PAGES))
def test_tab_reaches_every_control_and_shows_the_focus(
    who: str, live_server: LiveServer, browser: Browser
) -> None:
    ctx = browser.new_context(viewport=PC, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, who)
    problems: list[str] = []
    for path in PAGES[who]:
        page.goto(live_server.url + path)
        settle(page)
        _check_page(page, path, problems)
    ctx.close()
    assert not problems, "\n".join(problems)
