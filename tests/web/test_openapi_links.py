"""The OpenAPI document links each created resource to the operations that take its id,
so a client or a fuzzer uses the id the API returned instead of guessing one; and a
generated client following a link really reaches the resource."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient

from tests.factories import World
from yiyun.settings import Settings
from yiyun.web.app import create_app

DOC: dict[str, Any] = create_app(Settings()).openapi()
PATHS: dict[str, dict[str, Any]] = DOC["paths"]
CREATORS = sorted(
    p for p, ops in PATHS.items() if "201" in ops.get("post", {}).get("responses", {})
)


def _resolve_ref(ref: str) -> tuple[str, str]:
    assert ref.startswith("#/paths/"), ref
    escaped, method = ref[len("#/paths/") :].rsplit("/", 1)
    path = escaped.replace("~1", "/").replace("~0", "~")
    assert method in PATHS.get(path, {}), f"{ref} names no operation"
    return path, method


def test_the_collector_sees_the_create_routes() -> None:
    assert {"/api/v1/patients", "/api/v1/meetings", "/api/v1/consults"} <= set(CREATORS)


@pytest.mark.parametrize("path", CREATORS)
def test_a_created_resource_links_to_every_operation_on_it(path: str) -> None:
    response = PATHS[path]["post"]["responses"]["201"]
    links = response.get("links", {})
    below = re.compile(re.escape(path) + r"/\{(\w+)\}(/[^{}]*)?")
    wanted = {(p, m) for p, ops in PATHS.items() if below.fullmatch(p) for m in ops}
    reached = {_resolve_ref(link["operationRef"]) for link in links.values()}
    assert wanted <= reached, sorted(wanted - reached)
    for name, link in links.items():
        target, _ = _resolve_ref(link["operationRef"])
        needed = set(re.findall(r"\{(\w+)\}", target))
        assert set(link["parameters"]) == needed, (name, link)
        assert any(v.startswith("$response.body#/") for v in link["parameters"].values()), link


async def test_following_a_link_with_the_returned_id_reaches_the_new_resource(
    client: AsyncClient, world: World
) -> None:
    link = PATHS["/api/v1/meetings"]["post"]["responses"]["201"]["links"]["GET"]
    res = await client.post(
        "/api/v1/meetings", json={"title": "晨间交班"}, headers=world.auth("alice")
    )
    assert res.status_code == 201, res.text
    target, method = _resolve_ref(link["operationRef"])
    pointer = link["parameters"]["meeting_id"].split("#", 1)[1]
    value = res.json()
    for part in pointer.strip("/").split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    got = await client.request(method, target.format(meeting_id=value), headers=world.auth("alice"))
    assert got.status_code == 200, got.text
    assert got.json()["title"] == "晨间交班"
