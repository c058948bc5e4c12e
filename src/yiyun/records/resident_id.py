"""Mainland resident identity numbers (GB 11643-1999): validation and masking.

An 18-character number: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit
sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d also matches other digits


class ResidentIdError(ValueError):
    """The number is malformed; the message says exactly how."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_on: date
    sex: str  # "male" | "female"

    @property
    def masked(self) -> str:
        return mask(self.number)


# The shape of a resident ID number as published in the API schema: region, a birth date
# from 1900, sequence, check character. Only `parse` checks the date and check character.
SHAPE_PATTERN = r"^[1-9]\d{5}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]$"


# The OpenAPI `format` of a resident ID number field: its check character and birth date
# are rules a pattern cannot state, so generated clients and fuzzers know it by name.
FORMAT = "gb11643"


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode a resident ID number; raise `ResidentIdError` with the reason."""
    number = raw.strip().upper()
    if len(number) != 18:
        raise ResidentIdError("resident ID number must have 18 characters")
    if not _SHAPE.match(number):
        raise ResidentIdError("resident ID number must be 17 digits and a digit or X")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise ResidentIdError("resident ID number has an invalid birth date") from exc
    if birth.year < 1900 or birth > (today or date.today()):
        raise ResidentIdError("resident ID number has an impossible birth date")
    if check_char(number[:17]) != number[17]:
        raise ResidentIdError("resident ID number check character does not match")
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, birth_on=birth, sex=sex)


def mask(number: str) -> str:
    """Show the region and the last four characters only: 110101********123X."""
    return number[:6] + "*" * 8 + number[-4:]


def make(area: str, birth_on: date, sequence: int) -> str:
    """Build a valid number (used by the demo seed for fictional residents)."""
    first17 = f"{area}{birth_on:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)
