"""The routers' quick refusal by path prefix picks the same route as trying every route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, _IncludedRouter
from starlette.routing import Match

from yiyun.settings import Settings
from yiyun.web.app import create_app
from yiyun.web.routeindex import index_routers, literal_prefixes


def _winner(app: FastAPI, scope: dict[str, Any], *, indexed: bool) -> tuple[Any, Match] | None:
    """The first route that fully matches (else the first partial), as the router finds it."""
    partial = None
    for route in app.router.routes:
        if indexed:
            match, _ = route.matches(dict(scope))
        else:
            match, _ = type(route).matches(route, dict(scope))
        if match == Match.FULL:
            return route, match
        if match == Match.PARTIAL and partial is None:
            partial = (route, match)
    return partial


def _paths(app: FastAPI) -> list[tuple[str, str, str]]:
    """(scope type, method, path) for every route, parameters filled in, plus near misses."""
    out: list[tuple[str, str, str]] = []
    for top in app.router.routes:
        if not isinstance(top, _IncludedRouter):
            continue
        for candidate in top.effective_candidates():
            route = candidate.original_route
            path = re.sub(r"\{[^}]+\}", "7", candidate.path_format or "")
            if isinstance(route, APIWebSocketRoute):
                out.append(("websocket", "GET", path))
                continue
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods or {"GET"}):
                out.append(("http", method, path))
            out += [("http", "GET", path + "/"), ("http", "DELETE", path)]
            out.append(("http", "GET", path + "x"))
    out += [("http", "GET", p) for p in ("/", "/nope", "/api/v1/nope", "/api/v1", "/fhir/r4/x")]
    return out


def test_every_path_reaches_the_route_it_reached_before(tmp_path: Path) -> None:
    app = create_app(Settings(env="test", data_dir=tmp_path), configure_logs=False)
    indexed = [r for r in app.router.routes if "matches" in vars(r)]
    assert len(indexed) >= 20  # every included router has its refusal
    paths = _paths(app)
    assert len(paths) > 400
    for kind, method, path in paths:
        scope = {"type": kind, "path": path, "method": method, "root_path": "", "headers": []}
        assert _winner(app, scope, indexed=True) == _winner(app, scope, indexed=False), path


def test_a_route_added_later_is_found(tmp_path: Path) -> None:
    app = FastAPI()
    router = APIRouter()

    @router.get("/a/one")
    async def one() -> int:
        return 1

    app.include_router(router, prefix="/p")
    assert index_routers(app.router) == 1
    scope = {"type": "http", "path": "/p/b/two", "method": "GET", "root_path": "", "headers": []}
    assert app.router.routes[-1].matches(dict(scope))[0] == Match.NONE

    @router.get("/b/two")
    async def two() -> int:
        return 2

    assert app.router.routes[-1].matches(dict(scope))[0] == Match.FULL


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["/x/{id}", "/x/{id}/y", "/z"], ("/x/", "/z")),
        (["/{anything}"], ("/",)),
    ],
)
def test_literal_prefixes(paths: list[str], expected: tuple[str, ...]) -> None:
    app = FastAPI()
    router = APIRouter()
    for path in paths:
        router.add_api_route(path, lambda: None)
    app.include_router(router)
    included = app.router.routes[-1]
    assert isinstance(included, _IncludedRouter)
    assert literal_prefixes(included) == expected


def test_a_second_app_reuses_the_routes_the_first_built(tmp_path: Path) -> None:
    """Routes are built once per process: a second app's included routers are the
    first's, with the dependency graphs the first app's requests already built."""
    first = create_app(Settings(env="test", data_dir=tmp_path / "1"), configure_logs=False)
    second = create_app(Settings(env="test", data_dir=tmp_path / "2"), configure_logs=False)
    included = [r for r in first.router.routes if isinstance(r, _IncludedRouter)]
    again = [r for r in second.router.routes if isinstance(r, _IncludedRouter)]
    assert len(included) >= 20
    assert len(again) == len(included)
    assert all(a is b for a, b in zip(included, again, strict=True))
