"""Operations endpoints: liveness, readiness (database and bus), Prometheus metrics
(behind a bearer token when `security.metrics_token` is set; docs/security.md)."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "failed"
    checks["bus"] = "ok" if await request.app.state.bus.ping() else "failed"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics: with `security.metrics_token` set, only for that bearer token;
    without one, open in development and refused in production."""
    settings = request.app.state.settings
    expected = settings.security.metrics_token
    if expected is None:
        if settings.env == "production":
            return Response(status_code=404)
    else:
        sent = request.headers.get("authorization", "")
        token = sent[7:].strip() if sent.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
