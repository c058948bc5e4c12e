"""Errors on `/fhir/` paths as OperationOutcome; every other path keeps its own shape.

`install(app)` wraps the handlers that `yiyun.web.errors.install` registered, so it
must run after it. Domain errors keep their status, except that invalid input is
400 on the FHIR surface (422 is reserved for resources that fail a profile on write).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fhir.resources.R4B.operationoutcome import OperationOutcome
from starlette.exceptions import HTTPException as StarletteHTTPException

from yiyun.core.errors import YiyunError
from yiyun.web.fhir.resources import FHIR_JSON

PREFIX = "/fhir/"
SYS_ERROR = "urn:yiyun:error-code"
ISSUE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
}
ISSUE_BY_CODE = {"fhir.not_supported": "not-supported", "fhir.unsupported_type": "not-supported"}

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def outcome(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    expression: str | None = None,
) -> Response:
    """An OperationOutcome response with one error issue; `code` is our stable error code,
    `expression` the FHIRPath of the element at fault (a refused resource's)."""
    issue = ISSUE_BY_CODE.get(code) or ISSUE_BY_STATUS.get(status, "exception")
    entry: dict[str, object] = {
        "severity": "error",
        "code": issue,
        "details": {"coding": [{"system": SYS_ERROR, "code": code}], "text": message},
        "diagnostics": message,
    }
    if expression:
        entry["expression"] = [expression]
    body = OperationOutcome(issue=[entry])
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(
        body.model_dump_json(),
        status_code=400 if status == 422 else status,
        media_type=FHIR_JSON,
        headers=all_headers,
    )


def to_outcome(exc: Exception) -> Response:
    """The OperationOutcome for a domain, validation or HTTP error."""
    if isinstance(exc, YiyunError):
        path = exc.details.get("path")
        return outcome(
            exc.status, exc.code, exc.message, expression=path if isinstance(path, str) else None
        )
    if isinstance(exc, RequestValidationError):
        where = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return outcome(400, "invalid_input", f"the request is not valid: {', '.join(where)}")
    if isinstance(exc, StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}
        return outcome(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=dict(exc.headers or {}),
        )
    return outcome(500, "internal_error", "internal error")


def _dispatch(fallback: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX):
            return to_outcome(exc)
        result = fallback(request, exc)
        return await result if inspect.isawaitable(result) else result

    return handle


def install(app: FastAPI) -> None:
    """Answer YiyunError, validation and HTTP errors under /fhir/ with OperationOutcome.

    Call after `yiyun.web.errors.install(app)`; calling it twice changes nothing.
    """
    if getattr(app.state, "fhir_errors_installed", False):
        return
    for exc_type in (YiyunError, RequestValidationError, StarletteHTTPException):
        fallback: Handler | None = app.exception_handlers.get(exc_type)
        if fallback is None:
            raise RuntimeError("install yiyun.web.errors before the FHIR error handlers")
        app.add_exception_handler(exc_type, _dispatch(fallback))
    app.state.fhir_errors_installed = True
