"""A partner system as it would be written: its own key pair, assertions signed with the
JOSE library, the token request, then FHIR calls with the bearer token."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.factories import World
from yiyun.partners import service
from yiyun.partners.schemas import PartnerCreate
from yiyun.partners.tokens import ASSERTION_TYPE

TOKEN_URL = "http://testserver/oauth/token"
ALGS = ["RS384", "ES384"]


@dataclass
class Client:
    client_id: str
    partner_id: int
    key: RSAKey | ECKey
    alg: str
    kid: str

    def assertion(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": now + 240,
            "jti": secrets.token_hex(16),
        } | claims
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(
            header, {k: v for k, v in body.items() if v is not None}, self.key, algorithms=ALGS
        )

    def form(self, scope: str, assertion: str | None = None) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(),
        }


def new_key(alg: str) -> tuple[RSAKey | ECKey, dict[str, Any]]:
    key: RSAKey | ECKey = (
        RSAKey.generate_key(2048) if alg == "RS384" else ECKey.generate_key("P-384")
    )
    kid = f"k-{secrets.token_hex(4)}"
    return key, {**key.as_dict(private=False), "kid": kid}


async def make_partner(
    app: Any,
    world: World,
    *,
    alg: str = "ES384",
    scopes: list[str] | None = None,
    institution: str = "chc_a",
    jwks_url: str | None = None,
) -> Client:
    import json

    from yiyun.auth.principal import Principal

    key, public = new_key(alg)
    admin = world.users["admin"]
    principal = Principal(
        user_id=admin.id,
        username="admin",
        display_name="Admin",
        institution_id=admin.institution_id,
        roles=frozenset({r.role for r in admin.roles}),
    )
    data = PartnerCreate(
        name="社康 HIS",
        institution_id=world.inst[institution].id,
        contact_name="王工",
        contact_email="his@example.org",
        scopes=scopes
        or ["system/Patient.crus", "system/ServiceRequest.crs", "system/Organization.rs"],
        jwks_url=jwks_url,
    )
    async with app.state.sessions() as session:
        partner = await service.register(
            session=session,
            principal=principal,
            actor=principal.actor(),
            data=data,
            jwk="" if jwks_url else json.dumps(public),
        )
        await session.commit()
        return Client(partner.client_id, partner.id, key, alg, public["kid"])


async def token(
    client: httpx.AsyncClient, partner: Client, scope: str, **claims: Any
) -> httpx.Response:
    return await client.post("/oauth/token", data=partner.form(scope, partner.assertion(**claims)))


async def bearer(client: httpx.AsyncClient, partner: Client, scope: str) -> dict[str, str]:
    res = await token(client, partner, scope)
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}
