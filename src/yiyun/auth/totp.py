"""TOTP second factor (RFC 6238) with replay protection, QR enrolment and recovery codes."""

from __future__ import annotations

import io
import secrets
import time

import pyotp
import qrcode
import qrcode.image.svg

PERIOD = 30
VALID_WINDOW = 1  # accept one step of clock drift either way


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))


def qr_svg(uri: str) -> str:
    """An inline SVG QR code for the enrolment page (no external service)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")


def current_code(secret: str, at: float | None = None) -> str:
    return str(pyotp.TOTP(secret).at(at if at is not None else time.time()))


def match_step(
    secret: str, code: str, *, last_step: int | None, at: float | None = None
) -> int | None:
    """Return the time step the code belongs to, or None.

    A step at or before `last_step` is refused, so a code cannot be replayed.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdecimal() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = at if at is not None else time.time()
    step = int(now // PERIOD)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        candidate = step + offset
        if secrets.compare_digest(str(totp.at(candidate * PERIOD)), code):
            if last_step is not None and candidate <= last_step:
                return None
            return candidate
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    """Human-typable one-time codes like `k3xq-7mfp`."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(2))
        for _ in range(count)
    ]
