"""Every form on the pages each role uses, refused, keeps what was typed and says why in
Chinese inside the form — in real Chromium (zh-CN). The test finds the forms itself: for
each POST form with a required field it leaves that field empty (past the browser's own
check, as a script or an old browser would), types a marker into the other text fields,
submits, and expects the same page, the marker still there and a translated error."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import LiveServer, settle, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PC = {"width": 1440, "height": 900}
MARK = "保留的输入"
CJK = re.compile(r"[\u4e00-\u9fff]")

PAGES: dict[str, list[str]] = {
    "alice": ["/patients", "first:/patients a[href^='/patients/']", "/meetings",
              "/consults/new", "/referrals/new?direction=up", "/imaging", "/teaching", "/clinics"],
    "bob": ["/clinics", "/referrals/new?direction=down"],
    "admin": ["/staff", "first:/staff a[href^='/staff/']", "/consortium",
              "first:/consortium a[href^='/institutions/']", "/partners", "/break-glass"],
    "ines": ["/staff"],
    "nina": ["/emergency/tasks", "/patients"],
}  # fmt: skip

# The forms to try: boosted POST forms (not a confirmation, not a sign-in step) that have a
# required field and a text field. Marks each with its index.
_FORMS = r"""() => {
  const text = "input:not([type]), input[type=text], input[type=email], input[type=tel], "
    + "input[type=url], input[type=search], textarea";
  const out = [];
  document.querySelectorAll("form").forEach((form, i) => {
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.closest("[hx-boost=false]") || form.hasAttribute("data-confirm")) return;
    if (!form.checkVisibility()) return;
    const fields = [...form.querySelectorAll(text)]
      .filter((f) => f.checkVisibility() && !f.readOnly);
    const required = [...form.querySelectorAll("[required]")].filter((f) => f.checkVisibility());
    if (!required.length || !fields.length) return;
    form.dataset.formIndex = String(i);
    out.push({index: i, action: form.getAttribute("action")});
  });
  return out;
}"""

# Empty the first required field, drop the browser's own checks, mark the free text fields.
_PREPARE = r"""([index, mark]) => {
  const form = document.querySelector(`form[data-form-index='${index}']`);
  form.noValidate = true;
  const required = [...form.querySelectorAll("[required]")].filter((f) => f.checkVisibility());
  const emptied = required[0];
  if (emptied.type === "file") emptied.value = ""; else emptied.value = "";
  const text = "input:not([type]), input[type=text], input[type=email], input[type=tel], "
    + "input[type=url], input[type=search], textarea";
  const marked = [];
  for (const f of form.querySelectorAll(text)) {
    if (f === emptied || !f.checkVisibility() || f.readOnly || f.required) continue;
    f.value = mark; marked.push(f.name || f.id);
  }
  return {emptied: emptied.name || emptied.id, marked};
}"""


def _try(page: Page, server: LiveServer, path: str, index: int, action: str) -> str | None:
    page.goto(server.url + path)
    settle(page)
    page.evaluate(_FORMS)
    form = page.locator(f"form[data-form-index='{index}']")
    done = page.evaluate(_PREPARE, [index, MARK])
    before = page.url
    form.locator("button[type=submit], button:not([type]), input[type=submit]").first.click()
    with contextlib.suppress(PlaywrightTimeout):  # the page changes, or the refusal arrives
        page.wait_for_function(
            "([index, url]) => location.href !== url || document.querySelector("
            "`form[data-form-index='${index}'] [data-form-errors] .flash, "
            "form[data-form-index='${index}'] .field-error`)",
            arg=[index, before],
            timeout=10_000,
        )
    where = f"{path} form → {action} (emptied {done['emptied']})"
    if page.url != before:
        return f"{where}: left the page for {page.url}"
    kept = page.evaluate(
        "([index, mark]) => [...document.querySelectorAll("
        "`form[data-form-index='${index}'] input, form[data-form-index='${index}'] textarea`)]"
        ".filter((f) => f.value === mark).length",
        [index, MARK],
    )
    if kept < len(done["marked"]):
        return f"{where}: lost what was typed ({kept} of {len(done['marked'])} fields kept)"
    error = form.locator("[data-form-errors] .flash.error, .field-error").first
    if error.count() == 0 or not error.is_visible():
        return f"{where}: no error shown in the form"
    text = error.inner_text()
    if not CJK.search(text):
        return f"{where}: the error is not in Chinese: {text!r}"
    return None


def _resolve(page: Page, server: LiveServer, target: str) -> str:
    """A path, or "first:<path> <selector>": the first link there."""
    if not target.startswith("first:"):
        return target
    path, selector = target[len("first:") :].split(" ", 1)
    page.goto(server.url + path)
    href = page.locator(selector).first.get_attribute("href")
    assert href, f"no link {selector} on {path}"
    return href


_FILTERS = r"""() => [...document.querySelectorAll("form")]
  .map((form, i) => { form.dataset.formIndex = String(i); return [form, i]; })
  .filter(([form]) => (form.getAttribute("method") || "get").toLowerCase() === "get"
    && form.checkVisibility() && form.querySelector("button[type=submit], button:not([type])"))
  .map(([form, i]) => i)"""


FILTER_PAGES: dict[str, list[str]] = {
    "alice": ["/patients", "/consults", "/teaching", "/learning/shelf", "/inquiries"],
    "admin": ["/audit", "/staff", "/consortium"],
    "carol": ["/consults", "/consults/calendar"],
    "hana": ["/supervision", "/learning/credits"],
    "otto": ["/ops/alarms"],
}  # fmt: skip


@pytest.mark.parametrize("who", list(FILTER_PAGES))
def test_every_filter_form_sent_as_it_stands_is_answered(
    who: str, live_server: LiveServer, browser: Browser
) -> None:
    """A GET form (a filter) sent with its blank fields answers the page, not an error."""
    ctx = browser.new_context(viewport=PC, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, who)
    problems: list[str] = []
    sent = 0
    for path in FILTER_PAGES[who]:
        page.goto(live_server.url + path)
        settle(page)
        for index in page.evaluate(_FILTERS):
            sent += 1
            page.goto(live_server.url + path)
            settle(page)
            page.evaluate(_FILTERS)
            form = page.locator(f"form[data-form-index='{index}']")
            form.locator("button[type=submit], button:not([type])").first.click()
            settle(page)
            page.wait_for_timeout(300)  # an htmx answer swaps in after the request settles
            if page.locator(".flash.error").count():
                problems.append(
                    f"{path} filter {index}: {page.locator('.flash.error').first.inner_text()}"
                )
    ctx.close()
    assert sent, f"no filter forms on {FILTER_PAGES[who]}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("who", list(PAGES))
def test_every_refused_form_keeps_the_input_and_says_why(
    who: str, live_server: LiveServer, browser: Browser
) -> None:
    ctx = browser.new_context(viewport=PC, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, who)
    problems: list[str] = []
    tried = 0
    for target in PAGES[who]:
        path = _resolve(page, live_server, target)
        page.goto(live_server.url + path)
        settle(page)
        for form in page.evaluate(_FORMS):
            tried += 1
            problem = _try(page, live_server, path, form["index"], form["action"])
            if problem:
                problems.append(problem)
    ctx.close()
    assert tried, f"no forms found on {PAGES[who]}"
    assert not problems, "\n".join(problems)
