"""The one place errors are rendered: domain, validation, HTTP and database errors.

Every error leaves as one of three shapes, chosen by the request:
- API (and anything not asking for HTML): JSON `{"error": {"code", "message", "details"}}`;
- an htmx request: the `_error_fragment.html` partial, swapped in place (a form's own
  error area, else `#flash`), with each field's error placed beside the field;
- a page request: `error.html` in the normal layout (the signed-in one when the
  session cookie is good), or a redirect to sign in for 401.
The `message` is a translated sentence in the request's language (`web/messages.py`);
`code`, `type` and `loc` stay machine-readable in `details`.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from yiyun.core.errors import InvalidInput, NotAuthenticated, YiyunError
from yiyun.web import messages

logger = logging.getLogger(__name__)

HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "not_authenticated",
    403: "permission_denied",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_json(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/fhir/", "/metrics", "/healthz", "/readyz")):
        return False
    if request.headers.get("hx-request"):
        return True
    return "text/html" in request.headers.get("accept", "")


async def _signed_in(request: Request) -> None:
    """Find the caller of a page that failed before its dependencies ran (an unknown URL)."""
    from yiyun.auth import service as auth_service  # local: deps import this module's users
    from yiyun.web.deps import SESSION_COOKIE

    token = request.cookies.get(SESSION_COOKIE)
    if getattr(request.state, "principal", None) is not None or not token:
        return
    async with request.app.state.sessions() as session:
        try:
            auth, user = await auth_service.authenticate(session=session, token=token)
        except YiyunError:
            await session.rollback()
            return
        request.state.principal = auth_service.principal_of(user, auth.id)
        request.state.csrf_token = auth.csrf_token
        await session.rollback()  # only looked: nothing to keep


def _field_errors(details: dict[str, Any]) -> list[dict[str, Any]]:
    errors = [e for e in details.get("errors") or [] if isinstance(e, dict)]
    return [
        {"field": str(e.get("field", "")), "message": str(e.get("message", ""))} for e in errors
    ]


async def _render(
    request: Request, status: int, code: str, message: str, details: dict[str, Any]
) -> Response:
    from yiyun.web.pagekit import page  # local: pagekit imports the policy and templating
    from yiyun.web.templating import render

    htmx = bool(request.headers.get("hx-request"))
    if status == 401 and request.method == "GET" and not htmx:
        if request.url.path.startswith("/resident"):  # the portal has its own sign-in
            return RedirectResponse("/resident/login", status_code=303)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if not htmx:
        await _signed_in(request)
    template = "_error_fragment.html" if htmx else "error.html"
    ctx = {
        "status": status,
        "code": code,
        "message": message,
        "details": details,
        "field_errors": _field_errors(details),
        "back": _back(request),
    }
    principal = getattr(request.state, "principal", None)
    response = (
        page(request, principal, template, ctx, status_code=status)
        if principal
        else render(request, template, ctx, status_code=status)
    )
    if htmx:
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        # a refused boosted form stays where it was: not at the address it posted to
        response.headers["HX-Push-Url"] = "false"
    return response


def _back(request: Request) -> str:
    """Where "Go back" leads: the page the user came from on this site (CSP forbids
    `javascript:history.back()`)."""
    referer = request.headers.get("referer", "")
    own = str(request.base_url)
    same_page = request.method == "GET" and referer == str(request.url)
    return referer if referer.startswith(own) and not same_page else ""


def _with_field(details: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    """A domain error about one field (`details.field`) lists it like a validation error."""
    field = details.get("field")
    if not isinstance(field, str) or details.get("errors"):
        return details
    return details | {"errors": [{"field": field, "code": code, "message": message}]}


async def respond(
    request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    """Answer an error in the shape the request wants, in the request's language."""
    from yiyun.web.templating import locale_of

    if wants_html(request) and not request.headers.get("hx-request"):
        await _signed_in(request)  # the user's own language on an unknown URL too
    locale = locale_of(request)
    raw = details or {}
    text = messages.domain_message(locale, code, message, raw)
    localised = messages.localise_details(locale, _with_field(raw, code, message))
    if wants_html(request):
        return await _render(request, status, code, text, localised)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_json(status, code, text, localised, headers)


# SQLSTATEs of values the database cannot store: data exception (asyncpg's client-side
# argument check), string too long, number out of range, datetime overflow, NUL byte and
# other characters the encoding cannot hold.
REFUSED_VALUE = frozenset({"22000", "22001", "22003", "22008", "22021", "22P05"})


def refused_value(exc: DBAPIError) -> bool:
    """Whether the driver refused a submitted value rather than failing on its own."""
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        if getattr(err, "sqlstate", None) in REFUSED_VALUE:
            return True
    return False


def install(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, YiyunError):
            raise exc
        return await respond(request, exc.status, exc.code, exc.message, exc.details)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):
            raise exc
        return await respond(
            request,
            422,
            "invalid_input",
            "Some values are not valid; see the fields marked.",
            {"errors": messages.clean_validation(list(exc.errors()))},
        )

    async def integrity_error(request: Request, exc: Exception) -> Response:
        logger.info("integrity error mapped to 409: %s", type(exc).__name__)
        return await respond(request, 409, "conflict", "the change conflicts with stored data")

    async def data_error(request: Request, exc: Exception) -> Response:
        """Bad input that only the database noticed is still bad input (422), never a 500."""
        if not isinstance(exc, DBAPIError) or not refused_value(exc):
            raise exc
        logger.info("database refused a value: %s", type(exc.orig).__name__)
        error = InvalidInput(
            "the request is not valid",
            details={"reason": "a value is too long, out of range or has a forbidden character"},
        )
        handler = request.app.exception_handlers[YiyunError]  # as wrapped (e.g. by FHIR)
        result = handler(request, error)
        response: Response = await result if inspect.isawaitable(result) else result
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return await respond(request, exc.status_code, code, str(exc.detail))

    app.add_exception_handler(YiyunError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DBAPIError, data_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = ["NotAuthenticated", "install", "respond"]
