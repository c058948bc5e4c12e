"""The public keys a partner signs with: uploaded JWKs, or its JWKS URL (fetched with a
short timeout and a size limit, cached for a few minutes, never following redirects)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from yiyun.partners.errors import bad_client, bad_field

ALGORITHMS = ("RS384", "ES384")
MAX_JWKS_BYTES = 64 * 1024
CACHE_SECONDS = 300.0
_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def public_jwk(data: dict[str, Any] | str) -> dict[str, Any]:
    """Check an uploaded key: an RSA (≥ 2048 bits) or P-384 EC public key with a `kid`.

    Returns the public members only, so a private key pasted by mistake is never stored.
    """
    try:
        raw = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        raise bad_field("jwk", "the key is not valid JSON", "partner.bad_key") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str) or not raw["kid"]:
        raise bad_field("jwk", "the key must be a JWK with a kid", "partner.bad_key")
    try:
        if raw.get("kty") == "RSA":
            key: RSAKey | ECKey = RSAKey.import_key(raw)
            if key.raw_value.key_size < 2048:
                raise bad_field("jwk", "an RSA key needs at least 2048 bits", "partner.bad_key")
            alg = "RS384"
        elif raw.get("kty") == "EC" and raw.get("crv") == "P-384":
            key, alg = ECKey.import_key(raw), "ES384"
        else:
            raise bad_field("jwk", "use an RSA or a P-384 EC key", "partner.bad_key")
    except (JoseError, ValueError, TypeError):
        raise bad_field("jwk", "the key could not be read", "partner.bad_key") from None
    public = key.as_dict(private=False)
    return {**public, "kid": raw["kid"][:128], "alg": alg}


async def fetch_jwks(url: str, *, client: httpx.AsyncClient | None = None) -> list[dict[str, Any]]:
    """The keys at a JWKS URL (cached); refuses slow, redirecting, large or bad answers."""
    hit = _cache.get(url)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    own = client is None
    http = client or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
    try:
        async with http.stream("GET", url, headers={"Accept": "application/json"}) as res:
            if res.status_code != 200:
                raise bad_client("the partner's key set could not be fetched", "partner.jwks")
            body = b""
            async for chunk in res.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise bad_client("the partner's key set is too large", "partner.jwks")
    except httpx.HTTPError:
        raise bad_client("the partner's key set could not be fetched", "partner.jwks") from None
    finally:
        if own:
            await http.aclose()
    try:
        keys = json.loads(body)["keys"]
        found = [public_jwk(k) for k in keys if isinstance(k, dict)]
    except (ValueError, KeyError, TypeError):
        raise bad_client("the partner's key set is not valid", "partner.jwks") from None
    _cache[url] = (time.monotonic(), found)
    return found


def key_set(jwks: list[dict[str, Any]]) -> KeySet:
    return KeySet(
        [RSAKey.import_key(k) if k["kty"] == "RSA" else ECKey.import_key(k) for k in jwks]
    )


def forget(url: str | None) -> None:
    """Drop a cached key set (key rotation: the next assertion fetches it again)."""
    if url:
        _cache.pop(url, None)
