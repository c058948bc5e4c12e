"""Shared field types: what the published pattern allows, the validator accepts."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from yiyun.core.types import EMAIL_PATTERN, EmailStr

EMAIL = TypeAdapter(EmailStr)


@pytest.mark.parametrize("good", ["a@b.cn", "zhang.san@hospital.example", "张三@医院.中国"])
def test_an_email_address_passes(good: str) -> None:
    assert EMAIL.validate_python(good) == good


@pytest.mark.parametrize("code", [*range(0x00, 0x20), *range(0x7F, 0xA0)])
def test_no_control_character_passes_and_the_pattern_says_so(code: int) -> None:
    """C0 and C1 controls are refused, U+0085 included, by a range the published pattern
    names: ECMAScript's `\\s` (what a client or a schema-based generator reads) lacks
    U+0085, which Python's and Rust's `\\s` include, so leaving it to `\\s` made the
    document allow what the server refused."""
    text = f"a{chr(code)}b@c.cn"
    with pytest.raises(ValidationError):
        EMAIL.validate_python(text)
    without_space = EMAIL_PATTERN.replace(r"\s", " ")  # the pattern without `\s`
    assert re.match(without_space, text) is None
