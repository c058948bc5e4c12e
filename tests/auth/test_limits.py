"""Sign-in limits beyond the per-name lockout: per client address (one password sprayed
over many names), over all names, shared by app nodes; and an administrator's unlock."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from tests.factories import PASSWORD, World
from yiyun.audit.models import AuditEvent
from yiyun.core.ratelimit import RedisLimiter
from yiyun.settings import Settings

SPRAY = "Spring-2026-Password"


def _behind_proxy(app: Any, settings: Settings, **security: Any) -> None:
    """The app behind a reverse proxy on loopback (the test client's address)."""
    update = {"trusted_proxies": ["127.0.0.1/32"]} | security
    app.state.settings = settings.model_copy(
        update={"security": settings.security.model_copy(update=update)}
    )


async def _sign_in(
    client: httpx.AsyncClient, world: World, name: str, password: str, address: str
) -> httpx.Response:
    code = world.code(name) if name in world.totp else "123456"
    return await client.post(
        "/api/v1/auth/token",
        json={"username": name, "password": password, "code": code},
        headers={"X-Forwarded-For": address},
    )


async def test_one_address_spraying_a_password_over_many_names_is_stopped(
    app: Any, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    _behind_proxy(app, settings, login_ip_limit=3)
    for name in ("alice", "bob", "carol"):  # one failure per name: no name is locked
        assert (await _sign_in(client, world, name, SPRAY, "198.51.100.7")).status_code == 401
    stopped = await _sign_in(client, world, "nina", PASSWORD, "198.51.100.7")
    assert stopped.status_code == 429
    assert stopped.json()["error"]["code"] == "auth.address_limited"
    # everyone else, and the sprayed accounts themselves, still sign in
    assert (await _sign_in(client, world, "alice", PASSWORD, "203.0.113.20")).status_code == 200


async def test_a_forged_forwarded_for_does_not_escape_the_address_limit(
    app: Any, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(
        update={"security": settings.security.model_copy(update={"login_ip_limit": 2})}
    )  # no trusted proxy: the header is the client's own claim
    for n, name in enumerate(("alice", "bob")):
        res = await _sign_in(client, world, name, SPRAY, f"192.0.2.{n}")
        assert res.status_code == 401
    res = await _sign_in(client, world, "carol", PASSWORD, "192.0.2.99")
    assert res.status_code == 429 and res.json()["error"]["code"] == "auth.address_limited"


async def test_a_storm_of_failures_over_all_names_pauses_sign_in(
    app: Any, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    _behind_proxy(app, settings, login_global_limit=4)
    for n in range(4):  # each from its own address, each a different name
        assert (await _sign_in(client, world, f"user{n}", SPRAY, f"10.1.0.{n}")).status_code == 401
    paused = await _sign_in(client, world, "alice", PASSWORD, "203.0.113.30")
    assert paused.status_code == 429 and paused.json()["error"]["code"] == "auth.busy"


async def test_an_administrator_lifts_a_lockout_and_it_is_audited(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    for _ in range(5):
        await client.post(
            "/api/v1/auth/token", json={"username": "alice", "password": SPRAY, "code": "123456"}
        )
    locked = await _sign_in(client, world, "alice", PASSWORD, "-")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "auth.locked"
    alice = world.users["alice"]
    url = f"/api/v1/staff/{alice.id}/unlock"
    assert (await client.post(url, headers=world.auth("mallory"))).status_code == 403
    res = await client.post(url, headers=world.auth("ines"))  # alice's institution admin
    assert res.status_code == 200 and res.json() == {"user_id": alice.id, "was_locked": True}
    assert (await _sign_in(client, world, "alice", PASSWORD, "-")).status_code == 200
    async with app.state.sessions() as s:
        row = await s.scalar(select(AuditEvent).where(AuditEvent.action == "auth.unlock"))
    assert (
        row is not None and row.entity_id == str(alice.id) and row.details == {"was_locked": True}
    )


async def test_a_lockout_on_one_app_node_holds_on_another(
    app: Any, client: httpx.AsyncClient, world: World, redis_url: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    node_a, node_b = RedisLimiter(redis_url, prefix=prefix), RedisLimiter(redis_url, prefix=prefix)
    try:
        app.state.limiter = node_a
        for _ in range(5):
            await client.post(
                "/api/v1/auth/token", json={"username": "bob", "password": SPRAY, "code": "123456"}
            )
        app.state.limiter = node_b  # the next request lands on another node
        res = await _sign_in(client, world, "bob", PASSWORD, "-")
        assert res.status_code == 429 and res.json()["error"]["code"] == "auth.locked"
    finally:
        await node_a.close()
        await node_b.close()
