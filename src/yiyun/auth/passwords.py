"""Argon2id password hashing and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from yiyun.core.errors import InvalidInput

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("yiyun-dummy-password-for-timing")


def configure(*, time_cost: int, memory_kib: int) -> None:
    """Set the argon2 cost (settings.security); existing hashes re-hash on next login."""
    global _hasher, _DUMMY_HASH
    lanes = 4 if memory_kib >= 32 else 1
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=lanes)
    _DUMMY_HASH = _hasher.hash("yiyun-dummy-password-for-timing")


_COMMON = frozenset(
    {
        "password",
        "password1",
        "12345678",
        "123456789",
        "1234567890",
        "qwertyuiop",
        "11111111",
        "88888888",
        "abc12345",
        "iloveyou",
        "admin123",
        "yiyun123",
    }
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_policy(password: str, *, min_length: int, username: str = "") -> None:
    """Raise `InvalidInput` naming every rule the password breaks."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"at least {min_length} characters")  # translated for the default (10)
    if len(password) > 256:
        problems.append("at most 256 characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append("three of: lower case, upper case, digits, symbols")
    if password.lower() in _COMMON or (username and username.lower() in password.lower()):
        problems.append("not a common password and not containing the username")
    if problems:
        raise InvalidInput(
            "password does not meet the policy",
            code="auth.weak_password",
            details={"requirements": problems},
        )
