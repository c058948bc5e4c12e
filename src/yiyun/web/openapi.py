"""OpenAPI helpers: links from a created resource to the operations that take its id.

A client (or a fuzzer such as schemathesis) follows `links` to use the id the API just
returned instead of guessing one. Targets are named by `operationRef` (path and method),
so they do not depend on generated operation ids.
"""

from __future__ import annotations

from typing import Any


def _ref(method: str, path: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method.lower()}"


def created(status: int, param: str, **targets: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a create route: each target `Name="METHOD /path/{param}"` gets the
    new resource's `id` as `param`."""
    links = {}
    for name, target in targets.items():
        method, path = target.split(" ", 1)
        links[name] = {
            "operationRef": _ref(method, path),
            "parameters": {param: "$response.body#/id"},
        }
    return {status: {"links": links}}
