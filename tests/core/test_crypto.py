"""Field encryption (AES-GCM) and keyed lookup hashes."""

from __future__ import annotations

import base64

import pytest

from yiyun.core.crypto import FieldCipher

KEY = "test-data-key-0123456789abcdef"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(KEY)


@pytest.mark.parametrize("plaintext", [ID_NUMBER, "13912345678", "", "张三 · 甲社区", "x" * 500])
def test_it_decrypts_what_it_encrypted(cipher: FieldCipher, plaintext: str) -> None:
    token = cipher.encrypt(plaintext, context="resident-id")
    assert token.startswith("v1.")
    assert cipher.decrypt(token, context="resident-id") == plaintext


def test_the_ciphertext_does_not_reveal_the_value(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_NUMBER, context="resident-id")
    assert ID_NUMBER not in token
    assert ID_NUMBER.encode() not in base64.urlsafe_b64decode(token[3:])


def test_each_encryption_uses_a_fresh_nonce(cipher: FieldCipher) -> None:
    first = cipher.encrypt(ID_NUMBER, context="resident-id")
    second = cipher.encrypt(ID_NUMBER, context="resident-id")
    assert first != second
    assert base64.urlsafe_b64decode(first[3:])[:12] != base64.urlsafe_b64decode(second[3:])[:12]


def test_a_value_encrypted_for_one_context_does_not_open_in_another(cipher: FieldCipher) -> None:
    token = cipher.encrypt("13912345678", context="patient-phone")
    with pytest.raises(ValueError, match="authenticate"):
        cipher.decrypt(token, context="staff-phone")


def test_another_key_cannot_decrypt(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_NUMBER, context="resident-id")
    with pytest.raises(ValueError, match="authenticate"):
        FieldCipher("another-data-key-0123456789abc").decrypt(token, context="resident-id")


def test_a_tampered_ciphertext_is_refused(cipher: FieldCipher) -> None:
    token = cipher.encrypt(ID_NUMBER, context="resident-id")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[15] ^= 0x01
    forged = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(ValueError, match="authenticate"):
        cipher.decrypt(forged, context="resident-id")


@pytest.mark.parametrize("token", ["v2.AAAA", "plaintext", "", "v1.!!!notbase64", "v1.AAAA"])
def test_malformed_tokens_raise_value_error(cipher: FieldCipher, token: str) -> None:
    with pytest.raises(ValueError):
        cipher.decrypt(token, context="resident-id")


def test_lookup_hash_is_deterministic_and_keyed(cipher: FieldCipher) -> None:
    digest = cipher.lookup_hash(ID_NUMBER, context="resident-id")
    assert digest == FieldCipher(KEY).lookup_hash(ID_NUMBER, context="resident-id")
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert ID_NUMBER not in digest
    assert digest != FieldCipher("another-data-key-0123456789abc").lookup_hash(
        ID_NUMBER, context="resident-id"
    )


def test_lookup_hash_separates_contexts_and_values(cipher: FieldCipher) -> None:
    base = cipher.lookup_hash(ID_NUMBER, context="resident-id")
    assert base != cipher.lookup_hash(ID_NUMBER, context="patient-phone")
    assert base != cipher.lookup_hash(ID_NUMBER.lower(), context="resident-id")
    assert base != cipher.lookup_hash(ID_NUMBER[:-1] + "0", context="resident-id")
