"""Plain ASGI middleware: request ids, access logs, Prometheus metrics, security headers."""

from __future__ import annotations

import logging
import secrets
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yiyun.core.logging import request_id_var, user_id_var

logger = logging.getLogger("yiyun.access")


class Metrics:
    """The app's own registry (one per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "yiyun_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "yiyun_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The matched route's full path template (with router prefixes), for labels."""
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = headers  # web.security.security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        user_token = user_id_var.set(None)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route_path = route_template(scope)
            self.metrics.requests.labels(scope["method"], route_path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route_path).observe(elapsed)
            logger.info(
                "%s %s %s",
                scope["method"],
                route_path,
                status,
                extra={
                    "method": scope["method"],
                    "path": route_path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)
            user_id_var.reset(user_token)
