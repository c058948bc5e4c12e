"""Token login over the API: password + TOTP, lockout, logout, disable."""

from __future__ import annotations

import httpx

from tests.factories import PASSWORD, World


async def _token(client: httpx.AsyncClient, world: World, name: str, **over: str) -> httpx.Response:
    body = {"username": name, "password": PASSWORD, "code": world.code(name)} | over
    return await client.post("/api/v1/auth/token", json=body)


async def test_it_issues_a_token_for_password_and_totp(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await _token(client, world, "alice")
    assert res.status_code == 200, res.text
    token = res.json()["access_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "alice"
    assert me.json()["roles"] == ["community_doctor"]


async def test_it_refuses_a_wrong_totp_code(client: httpx.AsyncClient, world: World) -> None:
    res = await _token(client, world, "alice", code="000000")
    assert res.status_code == 401
    assert res.json()["error"]["code"] == "auth.mfa_failed"


async def test_it_refuses_a_replayed_totp_code(client: httpx.AsyncClient, world: World) -> None:
    code = world.code("bob")
    assert (await _token(client, world, "bob", code=code)).status_code == 200
    again = await _token(client, world, "bob", code=code)
    assert again.status_code == 401


async def test_unknown_user_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, world: World
) -> None:
    wrong = await _token(client, world, "alice", password="Wrong-Password-1")
    unknown = await client.post(
        "/api/v1/auth/token",
        json={"username": "nobody", "password": "Wrong-Password-1", "code": "123456"},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_it_locks_out_after_repeated_failures_for_any_name(
    client: httpx.AsyncClient, world: World
) -> None:
    for name in ("alice", "ghost"):
        for _ in range(5):
            res = await client.post(
                "/api/v1/auth/token",
                json={"username": name, "password": "Wrong-Password-1", "code": "123456"},
            )
            assert res.status_code == 401
        locked = await client.post(
            "/api/v1/auth/token", json={"username": name, "password": PASSWORD, "code": "123456"}
        )
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "auth.locked"
    # the real account cannot get in with the right password while locked
    ok_but_locked = await _token(client, world, "alice")
    assert ok_but_locked.status_code == 429


async def test_logout_revokes_the_token(client: httpx.AsyncClient, world: World) -> None:
    headers = world.auth("carol")
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_disabling_an_account_ends_its_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    alice = world.users["alice"]
    res = await client.post(f"/api/v1/staff/{alice.id}/disable", headers=world.auth("ines"))
    assert res.status_code == 200, res.text
    assert res.json()["active"] is False
    assert (await client.get("/api/v1/auth/me", headers=world.auth("alice"))).status_code == 401
    assert (await _token(client, world, "alice")).status_code == 401
