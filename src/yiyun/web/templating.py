"""Jinja2 templates with per-request translations and htmx helpers."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import HTTPConnection

from yiyun import i18n
from yiyun.core.clock import district

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "yiyun_lang"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Display in China Standard Time (the consortium's time zone)."""
    if value is None:
        return ""
    return district(value).strftime(fmt)


def _date(value: date | None) -> str:
    return "" if value is None else value.isoformat()


env.filters["localtime"] = _local_time
env.filters["isodate"] = _date


def locale_of(request: HTTPConnection) -> str:
    """?lang= beats the cookie, which beats the user's setting and the site default
    (for a page, an API call or a socket)."""
    chosen = i18n.normalise(request.query_params.get("lang"))
    if chosen:
        return chosen
    chosen = i18n.normalise(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    principal = getattr(request.state, "principal", None)
    chosen = i18n.normalise(getattr(principal, "locale", None))
    if chosen:
        return chosen
    default: str = request.app.state.settings.default_locale
    return default


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = locale_of(request)
    tr = i18n.translations(locale)
    ctx: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "html_lang": "zh-CN" if locale == "zh_CN" else "en",
        "_": tr.gettext,
        "gettext": tr.gettext,
        "ngettext": tr.ngettext,
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "static": request.app.state.static_url,
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") and i18n.normalise(request.query_params["lang"]):
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return response
