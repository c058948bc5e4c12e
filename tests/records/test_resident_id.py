"""Resident identity numbers (GB 11643-1999): validation, decoding and masking."""

from __future__ import annotations

from datetime import date

import pytest

from yiyun.records import resident_id
from yiyun.records.resident_id import ResidentIdError, check_char, make, mask, parse

TODAY = date(2026, 11, 26)


def _with_check(first17: str) -> str:
    return first17 + check_char(first17)


def _wrong_check(first17: str) -> str:
    right = check_char(first17)
    return first17 + ("1" if right != "1" else "2")


VALID = [
    # number, birth date, sex
    ("11010519491231002X", date(1949, 12, 31), "female"),  # the standard's example, X check
    ("11010119800101001" + check_char("11010119800101001"), date(1980, 1, 1), "male"),
    (make("440305", date(1970, 1, 11), 111), date(1970, 1, 11), "male"),
    (make("440305", date(1970, 1, 12), 112), date(1970, 1, 12), "female"),
    (make("440305", date(2000, 2, 29), 998), date(2000, 2, 29), "female"),  # leap day
    (make("650102", date(1900, 1, 1), 1), date(1900, 1, 1), "male"),
    (make("440305", TODAY, 5), TODAY, "male"),  # born today
]


@pytest.mark.parametrize(("number", "birth_on", "sex"), VALID)
def test_it_accepts_valid_numbers(number: str, birth_on: date, sex: str) -> None:
    parsed = parse(number, today=TODAY)
    assert parsed.number == number
    assert parsed.birth_on == birth_on
    assert parsed.sex == sex


def test_x_check_characters_really_occur_in_the_table() -> None:
    # a number whose weighted sum is 2 mod 11 has the check character X
    assert check_char("11010519491231002") == "X"
    assert check_char("11010119800101001") != "X"


@pytest.mark.parametrize(
    "raw", ["11010519491231002x", " 11010519491231002X ", "\t11010519491231002x\n"]
)
def test_it_normalises_case_and_whitespace(raw: str) -> None:
    assert parse(raw, today=TODAY).number == "11010519491231002X"


INVALID = [
    # raw, what the message must say
    ("11010519491231002" + "1", "check character"),
    (_wrong_check("44030519700111111"), "check character"),
    (_wrong_check("11010519800101001"), "check character"),
    (_with_check("44030519700230123"), "invalid birth date"),  # 30 February
    (_with_check("44030519701301123"), "invalid birth date"),  # month 13
    (_with_check("44030519700100123"), "invalid birth date"),  # day 0
    (_with_check("44030519010229123"), "invalid birth date"),  # 1901 is no leap year
    (_with_check("44030518991231123"), "impossible birth date"),  # before 1900
    (_with_check("44030520261127123"), "impossible birth date"),  # tomorrow
    (_with_check("44030521000101123"), "impossible birth date"),  # far future
    ("1101051949123100", "18 characters"),  # 16
    ("11010519491231002", "18 characters"),  # 17
    ("11010519491231002X1", "18 characters"),  # 19
    ("110105491231002", "18 characters"),  # 15-digit first-generation number
    ("", "18 characters"),
    ("1101051949123100XX", "17 digits"),
    ("X10105194912310021", "17 digits"),
    ("11010519491231002Y", "17 digits"),
    ("1101051949-231002X", "17 digits"),
    ("１１０１０５１９４９１２３１００２Ｘ", "17 digits"),  # full-width digits and X
    # other Unicode digits would decode to the same date but hash differently, so the
    # same person could be registered twice: only ASCII digits are accepted
    ("１１０１０５１９４９１２３１００２X", "17 digits"),
    ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "17 digits"),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_it_refuses_invalid_numbers_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(ResidentIdError, match=reason):
        parse(raw, today=TODAY)


def test_resident_id_error_is_a_value_error() -> None:
    assert issubclass(ResidentIdError, ValueError)


def test_the_future_is_judged_against_today_by_default() -> None:
    tomorrow = date.today().toordinal() + 1
    number = make("440305", date.fromordinal(tomorrow), 123)
    with pytest.raises(ResidentIdError, match="impossible birth date"):
        parse(number)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("440305197001111116", "440305********1116"),
    ],
)
def test_masking_keeps_only_the_region_and_the_last_four(number: str, masked: str) -> None:
    assert mask(number) == masked
    assert len(mask(number)) == 18
    assert number[6:14] not in mask(number)


def test_a_parsed_number_masks_itself() -> None:
    parsed = parse("11010519491231002X", today=TODAY)
    assert parsed.masked == "110105********002X"


@pytest.mark.parametrize("seq", [1, 11, 12, 111, 999])
def test_make_builds_numbers_that_parse(seq: int) -> None:
    number = resident_id.make("440305", date(1970, 1, 11), seq)
    assert len(number) == 18
    parsed = parse(number, today=TODAY)
    assert parsed.sex == ("male" if seq % 2 else "female")
    assert number[14:17] == f"{seq:03d}"
