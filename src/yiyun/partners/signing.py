"""Webhook signatures, Stripe-style: `Yiyun-Signature: t=<unix seconds>,v1=<hex>` where
the hex is HMAC-SHA256 of `<t>.<body>` under the endpoint's secret. A receiver checks
the HMAC in constant time and refuses a timestamp outside its tolerance (replays)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Yiyun-Signature"
TOLERANCE = 300  # seconds


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: int, tolerance: int = TOLERANCE) -> bool:
    """What a receiver does: the timestamp is recent and one v1 signature matches."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdecimal() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = sign(secret, body, int(stamps[0])).split("v1=", 1)[1]
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)
