"""Field encryption (AES-GCM) and keyed lookup hashes (HMAC-SHA256) for identifiers.

Both keys are derived with HKDF from the configured data key, so one secret to keep.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        secret.encode("utf-8")
    )


class FieldCipher:
    """Encrypts short strings; the output is urlsafe text `v1.<nonce+ciphertext>`."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(_derive(secret, b"yiyun field encryption v1"))
        self._mac_key = _derive(secret, b"yiyun lookup hmac v1")

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> str:
        if not token.startswith("v1."):
            raise ValueError("unknown ciphertext version")
        raw = base64.urlsafe_b64decode(token[3:])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode("utf-8")
        except InvalidTag as exc:
            raise ValueError("ciphertext does not authenticate") from exc

    def lookup_hash(self, value: str, *, context: str) -> str:
        """Deterministic keyed hash for equality lookups without storing the value."""
        msg = context.encode() + b"\x00" + value.encode("utf-8")
        return hmac.new(self._mac_key, msg, hashlib.sha256).hexdigest()
