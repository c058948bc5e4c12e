"""Map domain errors, validation errors and database conflicts to one error shape.

JSON: `{"error": {"code": ..., "message": ..., "details": {...}}}`. HTML pages get the
same information rendered; an unauthenticated page request is redirected to log in.
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

logger = logging.getLogger(__name__)


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


def _render(
    request: Request, status: int, code: str, message: str, details: dict[str, Any]
) -> Response:
    from yiyun.web.pagekit import page  # local: pagekit imports the policy and templating
    from yiyun.web.templating import render

    if status == 401 and request.method == "GET" and not request.headers.get("hx-request"):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    template = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
    ctx = {"status": status, "code": code, "message": message, "details": details}
    principal = getattr(request.state, "principal", None)
    response = (
        page(request, principal, template, ctx, status_code=status)
        if principal
        else render(request, template, ctx, status_code=status)
    )
    if request.headers.get("hx-request"):
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def respond(
    request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    if wants_html(request):
        return _render(request, status, code, message, details or {})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_json(status, code, message, details, headers)


def _clean_validation(errors: list[Any]) -> list[dict[str, Any]]:
    """Field errors without echoing the submitted values (they may be identifiers)."""
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


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
        return respond(request, exc.status, exc.code, exc.message, exc.details)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):
            raise exc
        return respond(
            request,
            422,
            "invalid_input",
            "the request is not valid",
            {"errors": _clean_validation(list(exc.errors()))},
        )

    async def integrity_error(request: Request, exc: Exception) -> Response:
        logger.info("integrity error mapped to 409: %s", type(exc).__name__)
        return respond(request, 409, "conflict", "the change conflicts with stored data")

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
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "not_authenticated",
            403: "permission_denied",
            413: "too_large",
            415: "unsupported_media_type",
        }
        return respond(
            request, exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail)
        )

    app.add_exception_handler(YiyunError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DBAPIError, data_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = ["NotAuthenticated", "install", "respond"]
