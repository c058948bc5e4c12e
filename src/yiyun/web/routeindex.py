"""Skip, by path prefix, the routers a request cannot reach.

FastAPI finds a request's route by trying every route of every included router in
turn: each try is a regex match plus scope bookkeeping, so a request for a route in the
last router paid for ~150 tries (1.3 ms for a page, 0.17 ms for `/api/v1/patients/{id}`,
twice per request). A route's path can only match a request path that begins with the
path's literal part (everything before its first `{`), so `index_routers()` gives each
included router a quick refusal: a request whose path starts with none of its routes'
literal parts is not tried against them. The order in which routers are tried, and so
which route wins, is unchanged; a router holding anything whose path is not known (a
host, a mount, a low-priority route) is always tried.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute, _IncludedRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


def literal_prefixes(router: _IncludedRouter) -> tuple[str, ...] | None:
    """The literal beginnings of every path the router serves; None when one is unknown."""
    if router.effective_low_priority_routes():
        return None
    found: list[str] = []
    for candidate in router.effective_candidates():
        if isinstance(candidate, _IncludedRouter):
            nested = literal_prefixes(candidate)
            if nested is None:
                return None
            found.extend(nested)
            continue
        route = candidate.original_route
        path: str | None = (
            candidate.path_format
            if isinstance(route, APIRoute)
            else getattr(candidate.starlette_route or route, "path_format", None)
        )
        if not path or not path.startswith("/"):
            return None
        found.append(path.split("{", 1)[0])
    return tuple(sorted(set(found)))


class _QuickRefusal:
    """`matches` for one included router: refuse at once when no prefix fits."""

    def __init__(self, router: _IncludedRouter) -> None:
        self._router = router
        self._version: int | None = None
        self._prefixes: tuple[str, ...] | None = None

    def __call__(self, scope: Scope) -> tuple[Match, Scope]:
        router = self._router
        version = router.original_router._get_routes_version()
        if version != self._version:  # routes added since: read the prefixes again
            self._prefixes = literal_prefixes(router)
            self._version = version
        prefixes = self._prefixes
        if (
            prefixes is not None
            and scope["type"] in ("http", "websocket")
            and not get_route_path(scope).startswith(prefixes)
        ):
            return Match.NONE, {}
        return type(router).matches(router, scope)


def index_routers(router: APIRouter) -> int:
    """Give each router included in `router` its quick refusal; return how many."""
    count = 0
    for route in router.routes:
        if isinstance(route, _IncludedRouter) and "matches" not in vars(route):
            refusal: Any = _QuickRefusal(route)
            route.matches = refusal  # type: ignore[method-assign]
            count += 1
    return count
