"""SMART Backend Services: real assertions signed with generated RS384 and ES384 keys;
the refusals (wrong key, expired, too long, replayed, wrong audience, suspended, scope
not granted) and what the access token opens in FHIR (own institution only, within its
scopes, audited with the partner as actor)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from tests.partners.helpers import ALGS, bearer, make_partner, new_key, token
from yiyun.audit.models import AuditEvent

FHIR = "/fhir/r4"
READ = "system/Patient.rs"


async def test_the_smart_configuration_names_the_token_endpoint(client: httpx.AsyncClient) -> None:
    res = await client.get("/.well-known/smart-configuration")
    assert res.status_code == 200
    body = res.json()
    assert body["token_endpoint"] == "http://testserver/oauth/token"
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "system/Patient.crus" in body["scopes_supported"]


@pytest.mark.parametrize("alg", ALGS)
async def test_a_signed_assertion_gets_a_token_that_reads_own_patients_only(
    alg: str, app: object, client: httpx.AsyncClient, world: World, session: object
) -> None:
    partner = await make_partner(app, world, alg=alg)
    res = await token(client, partner, READ)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300 and body["scope"] == READ
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    pa, pb = world.patients["pa"].id, world.patients["pb"].id
    own = await client.get(f"{FHIR}/Patient/{pa}", headers=headers)
    assert own.status_code == 200, own.text
    assert own.json()["id"] == str(pa)
    other = await client.get(f"{FHIR}/Patient/{pb}", headers=headers)
    assert other.status_code == 404
    assert other.json()["resourceType"] == "OperationOutcome"
    found = await client.get(f"{FHIR}/Patient", headers=headers)
    assert found.status_code == 200
    ids = {e["resource"]["id"] for e in found.json().get("entry", [])}
    assert str(pa) in ids and str(pb) not in ids
    actors = set(
        await session.scalars(  # type: ignore[attr-defined]
            select(AuditEvent.actor).where(AuditEvent.action.in_(["patient.read", "patient.list"]))
        )
    )
    assert f"partner:{partner.client_id}" in actors


async def test_a_scope_the_token_lacks_is_refused_403(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world)
    headers = await bearer(client, partner, "system/Organization.rs")
    res = await client.get(f"{FHIR}/Patient/{world.patients['pa'].id}", headers=headers)
    assert res.status_code == 403
    assert "partner.scope" in res.text
    org = await client.get(f"{FHIR}/Organization/{world.inst['lead'].id}", headers=headers)
    assert org.status_code == 200, org.text


async def test_a_scope_not_granted_gets_no_token(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world, scopes=["system/Patient.rs"])
    res = await token(client, partner, "system/Patient.crus")
    assert res.status_code == 400
    assert res.json()["error"] == "invalid_scope"


async def test_a_replayed_assertion_is_refused(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world)
    form = partner.form(READ)
    assert (await client.post("/oauth/token", data=form)).status_code == 200
    again = await client.post("/oauth/token", data=form)
    assert again.status_code == 401
    assert again.json() | {"error_description": ""} == {
        "error": "invalid_client",
        "error_description": "",
        "code": "partner.replay",
    }


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": int(time.time()) - 120}, "partner.expired"),
        ({"exp": int(time.time()) + 3600}, "partner.too_long"),
        ({"exp": None}, "partner.no_expiry"),
        ({"aud": "https://elsewhere.example.org/token"}, "partner.audience"),
        ({"jti": None}, "partner.no_jti"),
        ({"sub": "someone-else"}, "partner.bad_subject"),
    ],
)
async def test_bad_claims_are_refused_and_audited(
    claims: dict[str, object],
    code: str,
    app: object,
    client: httpx.AsyncClient,
    world: World,
    session: object,
) -> None:
    partner = await make_partner(app, world, alg="RS384")
    res = await token(client, partner, READ, **claims)
    assert res.status_code == 401, res.text
    assert res.json()["error"] == "invalid_client" and res.json()["code"] == code
    refused = await session.scalar(  # type: ignore[attr-defined]
        select(AuditEvent).where(
            AuditEvent.action == "partner.token", AuditEvent.outcome == "denied"
        )
    )
    assert refused is not None and refused.details["reason"] == code


async def test_an_assertion_signed_with_another_key_is_refused(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world)
    partner.key, _ = new_key("ES384")  # same kid, a key the platform does not hold
    res = await token(client, partner, READ)
    assert res.status_code == 401 and res.json()["code"] == "partner.signature"


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_malformed_assertions_are_refused(
    garbage: str, app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world)
    res = await client.post("/oauth/token", data=partner.form(READ) | {"client_assertion": garbage})
    assert res.status_code in (400, 401)
    assert res.json()["error"] in ("invalid_request", "invalid_client")


async def test_a_suspended_partner_loses_its_token_at_once(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    partner = await make_partner(app, world)
    headers = await bearer(client, partner, READ)
    pa = world.patients["pa"].id
    assert (await client.get(f"{FHIR}/Patient/{pa}", headers=headers)).status_code == 200
    res = await client.post(f"/partners/{partner.partner_id}/suspend", headers=world.auth("admin"))
    assert res.status_code == 303, res.text
    assert (await client.get(f"{FHIR}/Patient/{pa}", headers=headers)).status_code == 401
    again = await token(client, partner, READ)
    assert again.status_code == 401 and again.json()["code"] == "partner.suspended"
