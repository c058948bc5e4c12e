"""SMART Backend Services: verify a partner's signed client assertion (`private_key_jwt`,
RS384 or ES384) and issue, then resolve, a short-lived access token.

The assertion is checked in this order, each refusal with its own code: the request's
shape, the client (`iss`), its status, the signature against its keys, the claims
(`iss` = `sub` = client id, `aud` = our token endpoint, `exp` in the future and at most
five minutes ahead, a `jti`), then the `jti` is stored so a replay is refused. The access
token is a JWT signed with a key derived from the server's secret; it names the partner,
its institution and the granted scopes, lives five minutes, and is refused as soon as
the partner is suspended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.errors import NotAuthenticated
from yiyun.partners import keys as partner_keys
from yiyun.partners import scopes as smart_scopes
from yiyun.partners.errors import TokenRefused, bad_client, bad_request
from yiyun.partners.models import Partner, PartnerAssertion, PartnerKey, PartnerStatus

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 8 * 1024
MAX_ASSERTION_LIFETIME = 300  # seconds: `exp` at most five minutes ahead
LEEWAY = 30  # seconds of clock skew allowed on `exp` and `iat`
ACCESS_LIFETIME = 300
ACCESS_ALG = "HS256"
ISSUER = "yiyun"


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scope: str
    partner: Partner


def signing_key(secret_key: str) -> OctKey:
    """The access tokens' key, derived from the server's secret for this one purpose."""
    derived = hmac.new(secret_key.encode(), b"yiyun partner access token v1", hashlib.sha256)
    return OctKey.import_key(derived.digest())


def partner_actor(partner: Partner, *, ip: str | None = None) -> Actor:
    return Actor(
        user_id=None,
        username=f"partner:{partner.client_id}",
        institution_id=partner.institution_id,
        ip=ip,
        extra={"partner_id": partner.id},
    )


def _unverified_claims(assertion: str) -> dict[str, Any]:
    try:
        claims = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        raise bad_client("the client assertion is not a signed JWT", "partner.malformed") from None
    if not isinstance(claims, dict):
        raise bad_client("the client assertion is not a signed JWT", "partner.malformed")
    return claims


async def _keys(session: AsyncSession, partner: Partner) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(PartnerKey.jwk).where(
            PartnerKey.partner_id == partner.id, PartnerKey.revoked_at.is_(None)
        )
    )
    found = list(rows)
    if partner.jwks_url:
        found += await partner_keys.fetch_jwks(partner.jwks_url)
    return found


def _check_claims(
    claims: dict[str, Any], partner: Partner, audiences: set[str], at: datetime
) -> None:
    if claims.get("iss") != partner.client_id or claims.get("sub") != partner.client_id:
        raise bad_client("iss and sub must both be the client id", "partner.bad_subject")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in audiences for a in auds):
        raise bad_client("the assertion's audience is not this token endpoint", "partner.audience")
    exp, stamp = claims.get("exp"), at.timestamp()
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise bad_client("the assertion has no expiry", "partner.no_expiry")
    if exp <= stamp - LEEWAY:
        raise bad_client("the assertion has expired", "partner.expired")
    if exp > stamp + MAX_ASSERTION_LIFETIME + LEEWAY:
        raise bad_client("the assertion may live five minutes at most", "partner.too_long")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 128:
        raise bad_client("the assertion needs a jti of up to 128 characters", "partner.no_jti")


async def _remember_jti(session: AsyncSession, partner: Partner, jti: str, exp: float) -> None:
    at = now()
    await session.execute(
        delete(PartnerAssertion).where(
            PartnerAssertion.partner_id == partner.id, PartnerAssertion.expires_at < at
        )
    )
    try:
        async with session.begin_nested():
            session.add(
                PartnerAssertion(
                    partner_id=partner.id,
                    jti=jti,
                    expires_at=datetime.fromtimestamp(exp, at.tzinfo) + timedelta(seconds=LEEWAY),
                )
            )
    except IntegrityError:
        raise bad_client("this assertion was used already", "partner.replay") from None


async def issue(
    *,
    session: AsyncSession,
    form: dict[str, str],
    audiences: set[str],
    secret_key: str,
    ip: str | None = None,
) -> Issued:
    """Answer a client-credentials token request, or raise `TokenRefused` (the refusal
    of a known partner is audited, with the partner as actor)."""
    if form.get("grant_type") != "client_credentials":
        raise TokenRefused(
            "only the client_credentials grant is supported",
            code="partner.grant_type",
            oauth="unsupported_grant_type",
        )
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise bad_client("a private_key_jwt client assertion is required", "partner.assertion_type")
    assertion = form.get("client_assertion") or ""
    if not assertion or len(assertion) > MAX_ASSERTION_BYTES:
        raise bad_request("the client assertion is missing or too large", "partner.malformed")
    claims = _unverified_claims(assertion)
    client_id = claims.get("iss")
    partner = (
        await session.scalar(select(Partner).where(Partner.client_id == client_id))
        if isinstance(client_id, str) and len(client_id) <= 64
        else None
    )
    if partner is None:
        raise bad_client("unknown client", "partner.unknown_client")
    try:
        return await _issue(session, partner, assertion, form, audiences, secret_key)
    except TokenRefused as refused:
        await audit.record(
            session=session,
            actor=partner_actor(partner, ip=ip),
            action="partner.token",
            outcome="denied",
            entity_type="partner",
            entity_id=partner.id,
            details={"reason": refused.code},
        )
        refused.keep_changes = True
        raise


async def _issue(
    session: AsyncSession,
    partner: Partner,
    assertion: str,
    form: dict[str, str],
    audiences: set[str],
    secret_key: str,
) -> Issued:
    at = now()
    if partner.status is not PartnerStatus.ACTIVE:
        raise bad_client("this client is suspended", "partner.suspended")
    key_set = partner_keys.key_set(await _keys(session, partner))
    try:
        token = jwt.decode(assertion, key_set, algorithms=list(partner_keys.ALGORITHMS))
    except (JoseError, ValueError):
        raise bad_client("the assertion's signature does not verify", "partner.signature") from None
    if token.header.get("alg") not in partner_keys.ALGORITHMS:
        raise bad_client("the assertion must be signed with RS384 or ES384", "partner.alg")
    _check_claims(token.claims, partner, audiences, at)
    try:
        granted = smart_scopes.narrow(form.get("scope", ""), list(partner.scopes))
    except smart_scopes.ScopeError:
        raise TokenRefused(
            "a requested scope is not granted to this client",
            code="partner.invalid_scope",
            oauth="invalid_scope",
        ) from None
    await _remember_jti(session, partner, token.claims["jti"], float(token.claims["exp"]))
    scope = " ".join(granted)
    iat = int(at.timestamp())
    claims = {
        "iss": ISSUER,
        "sub": partner.client_id,
        "pid": partner.id,
        "inst": partner.institution_id,
        "scope": scope,
        "iat": iat,
        "exp": iat + ACCESS_LIFETIME,
        "jti": secrets.token_urlsafe(16),
    }
    access = jwt.encode(
        {"alg": ACCESS_ALG}, claims, signing_key(secret_key), algorithms=[ACCESS_ALG]
    )
    await audit.record(
        session=session,
        actor=partner_actor(partner),
        action="partner.token",
        entity_type="partner",
        entity_id=partner.id,
        details={"scope": granted},
    )
    return Issued(access_token=access, expires_in=ACCESS_LIFETIME, scope=scope, partner=partner)


def looks_like_access_token(token: str) -> bool:
    """Our access tokens are JWTs; staff session tokens never contain a dot."""
    return token.startswith("eyJ") and token.count(".") == 2


def _expired() -> NotAuthenticated:
    return NotAuthenticated("the access token is invalid or has expired", code="partner.token")


async def authenticate(*, session: AsyncSession, token: str, secret_key: str) -> Principal:
    """The partner principal of a valid access token; suspension takes effect at once."""
    try:
        decoded = jwt.decode(token, signing_key(secret_key), algorithms=[ACCESS_ALG])
    except (JoseError, ValueError):
        raise _expired() from None
    claims, stamp = decoded.claims, now().timestamp()
    if claims.get("iss") != ISSUER or not isinstance(claims.get("exp"), int):
        raise _expired()
    if claims["exp"] <= stamp or not isinstance(claims.get("pid"), int):
        raise _expired()
    partner = await session.get(Partner, claims["pid"])
    if partner is None or partner.status is not PartnerStatus.ACTIVE:
        raise _expired()
    valid_after = partner.tokens_valid_after
    if valid_after is not None and claims.get("iat", 0) < int(valid_after.timestamp()):
        raise _expired()
    # The token's scopes, as far as the partner still holds them (a narrowed grant applies).
    held = [
        s for s in str(claims.get("scope", "")).split() if _still_granted(s, list(partner.scopes))
    ]
    return Principal(
        user_id=0,
        username=f"partner:{partner.client_id}",
        display_name=partner.name,
        institution_id=partner.institution_id,
        roles=frozenset(),
        partner_id=partner.id,
        scopes=frozenset(held),
    )


def _still_granted(scope: str, granted: list[str]) -> bool:
    try:
        smart_scopes.narrow(scope, granted)
    except smart_scopes.ScopeError:
        return False
    return True
