"""OpenAPI links: from a created resource to every operation that takes its id.

A client (or a fuzzer such as schemathesis) follows `links` to use the id the API just
returned instead of guessing one. They are derived, not written by hand: a `POST /x`
answering 201 with an `id` links to every operation under `/x/{param}` (with no further
ids), giving it the new `id` as `param` and the request's own path parameters as they were.
Targets are named by `operationRef` (path and method), not by generated operation ids.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

METHODS = ("get", "put", "post", "patch", "delete")


class Created(BaseModel):
    """`response_model=` for a create route that answers with a free-form object: it names
    the `id` (so the route gets its links) and passes the rest through."""

    model_config = ConfigDict(extra="allow")
    id: int


def _ref(method: str, path: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method}"


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return dict(schemas.get(ref.rsplit("/", 1)[-1], {}))
    return schema


def _id_pointer(response: dict[str, Any], schemas: dict[str, Any]) -> str | None:
    """Where the new resource's id is in the body: `/id`, `/0/id` (a list of created
    resources: the first) or `/<name>/id` (the resource beside other things)."""
    body = response.get("content", {}).get("application/json", {})
    schema = _resolve(body.get("schema", {}), schemas)
    if schema.get("type") == "array":
        item = _resolve(schema.get("items", {}), schemas)
        return "/0/id" if "id" in item.get("properties", {}) else None
    properties = schema.get("properties", {})
    if "id" in properties:
        return "/id"
    for name, prop in properties.items():
        if "id" in _resolve(prop, schemas).get("properties", {}):
            return f"/{name}/id"
    return None


def _name(method: str, rest: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", f"{method.upper()}{rest}").strip("_")


def add_links(doc: dict[str, Any]) -> dict[str, Any]:
    """Give every creating operation's 201 response its links (in place; returns `doc`)."""
    paths: dict[str, dict[str, Any]] = doc.get("paths", {})
    schemas = doc.get("components", {}).get("schemas", {})
    for path, ops in paths.items():
        response = ops.get("post", {}).get("responses", {}).get("201")
        pointer = None if response is None else _id_pointer(response, schemas)
        if response is None or pointer is None:
            continue
        own = set(re.findall(r"\{(\w+)\}", path))
        below = re.compile(re.escape(path) + r"/\{(\w+)\}(/[^{}]*)?")  # the rest: no ids
        links = response.setdefault("links", {})
        for target, target_ops in paths.items():
            match = below.fullmatch(target)
            if match is None:
                continue
            parameters = {match[1]: f"$response.body#{pointer}"}
            parameters.update({p: f"$request.path.{p}" for p in own})
            for method in (m for m in METHODS if m in target_ops):
                links.setdefault(
                    _name(method, target[len(path) :].split("}", 1)[-1]),
                    {"operationRef": _ref(method, target), "parameters": parameters},
                )
    return doc


def install(app: FastAPI) -> None:
    """Serve the OpenAPI document with its links."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
