"""FHIR search on the wire: parameters in, a searchset Bundle out (pure, no I/O).

Parameters follow the R4 search rules: repeating a parameter ANDs its occurrences, a
comma inside one value ORs its parts, and `\\,` `\\|` `\\\\` escape. Unknown parameters are
ignored (and left out of the `self` link) unless the client asks for strict handling.
Paging is `_count` (default 20, at most 100) plus `_offset`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from yiyun.core.errors import InvalidInput
from yiyun.web.fhir.resources import SearchParam

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 1_000_000
MAX_VALUES = 50
MAX_VALUE_CHARS = 200
ALWAYS_ACCEPTED = frozenset({"_format", "_pretty"})
STRING_MODIFIERS = frozenset({"exact", "contains"})
DATE_PREFIXES = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb"})
_ID = re.compile(r"^[1-9][0-9]{0,9}$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_INT = re.compile(r"^[0-9]{1,9}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def not_supported(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="fhir.not_supported", details=details)


def invalid(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="fhir.invalid_search", details=details)


@dataclass(frozen=True)
class Criterion:
    """One occurrence of a search parameter; its values (still escaped) are ORed."""

    name: str
    modifier: str | None
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.name}:{self.modifier}" if self.modifier else self.name


@dataclass(frozen=True)
class Paging:
    count: int = DEFAULT_COUNT
    offset: int = 0


@dataclass(frozen=True)
class SearchRequest:
    criteria: tuple[Criterion, ...]
    paging: Paging


@dataclass(frozen=True)
class Token:
    """`system|code`: system None = any system, "" = no system; code None = any code."""

    system: str | None
    code: str | None

    def in_system(self, system: str) -> bool:
        return self.system is None or self.system == system


@dataclass(frozen=True)
class DateQuery:
    prefix: str
    start: date
    end: date


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on `sep` unless backslash-escaped; escapes stay in the parts."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _int_param(name: str, raw: str, maximum: int) -> int:
    if not _INT.match(raw) or int(raw) > maximum:
        raise invalid(f"{name} must be a whole number from 0 to {maximum}", parameter=name)
    return int(raw)


def parse_search(
    items: Iterable[tuple[str, str]], params: Mapping[str, SearchParam], *, strict: bool
) -> SearchRequest:
    """Check the query against the type's parameters; raise InvalidInput (400) if bad."""
    criteria: list[Criterion] = []
    count, offset = DEFAULT_COUNT, 0
    for key, raw in items:
        if not raw:  # R4: a parameter with an empty value is ignored
            continue
        if key == "_count":
            count = min(_int_param("_count", raw, 10**6), MAX_COUNT)
            continue
        if key == "_offset":
            offset = _int_param("_offset", raw, MAX_OFFSET)
            continue
        if key in ALWAYS_ACCEPTED:
            continue
        name, _, modifier = key.partition(":")
        param = params.get(name)
        if param is None:
            if strict:
                raise not_supported(f"unknown search parameter {name[:40]!r}", parameter=name)
            continue
        if modifier and not _modifier_ok(param, modifier):
            raise not_supported(
                f"modifier :{modifier[:20]} is not supported on {name}", parameter=name
            )
        values = tuple(v for v in split_escaped(raw, ",") if v)
        if not values:
            continue
        if len(values) > MAX_VALUES:
            raise invalid(f"at most {MAX_VALUES} values per parameter", parameter=name)
        if any(len(v) > MAX_VALUE_CHARS or _CONTROL.search(v) for v in values):
            raise invalid(
                f"a value of {name} is too long or has control characters", parameter=name
            )
        criteria.append(Criterion(name, modifier or None, values))
    return SearchRequest(tuple(criteria), Paging(count=count, offset=offset))


def _modifier_ok(param: SearchParam, modifier: str) -> bool:
    if param.type == "string":
        return modifier in STRING_MODIFIERS
    return param.type == "reference" and modifier == param.target


def parse_token(raw: str) -> Token:
    parts = split_escaped(raw, "|")
    if len(parts) == 1:
        return Token(None, unescape(parts[0]))
    if len(parts) == 2:
        return Token(unescape(parts[0]), unescape(parts[1]) or None)
    raise invalid("a token is code, system|code, |code or system|")


def parse_bool(raw: str) -> bool:
    token = parse_token(raw)
    if token.code not in ("true", "false"):
        raise invalid("expected true or false")
    return token.code == "true"


def parse_id(text: str) -> int | None:
    """Our numeric ids (1 .. 2**31-1); anything else matches nothing."""
    if not _ID.match(text) or int(text) > 2**31 - 1:
        return None
    return int(text)


def parse_reference(raw: str, target: str) -> int | None:
    """`12`, `Organization/12` or `<base>/Organization/12` → 12; other types → None."""
    value = unescape(raw).strip().rstrip("/")
    if "/" in value:
        parts = value.split("/")
        if parts[-2] != target:
            return None
        value = parts[-1]
    return parse_id(value)


def parse_date(raw: str) -> DateQuery:
    prefix, value = "eq", raw
    if raw[:2].isalpha():
        prefix, value = raw[:2], raw[2:]
        if prefix not in DATE_PREFIXES:
            raise not_supported(f"date prefix {prefix!r} is not supported")
    match = _DATE.match(value)
    if match is None:
        raise invalid("a date is YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = match.groups()
    try:
        if day:
            start = end = date(int(year), int(month), int(day))
        elif month:
            start = date(int(year), int(month), 1)
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        else:
            start, end = date(int(year), 1, 1), date(int(year), 12, 31)
    except ValueError as exc:
        raise invalid("the date does not exist") from exc
    return DateQuery(prefix, start, end)


def _url(base: str, criteria: Sequence[Criterion], count: int, offset: int) -> str:
    pairs = [(c.key, ",".join(c.values)) for c in criteria]
    pairs += [("_count", str(count)), ("_offset", str(offset))]
    return f"{base}?{urlencode(pairs)}"


def links(base: str, request: SearchRequest, total: int) -> list[dict[str, str]]:
    """self, first, previous and next, built from the criteria actually applied."""
    count, offset = request.paging.count, request.paging.offset
    out = [{"relation": "self", "url": _url(base, request.criteria, count, offset)}]
    if count == 0:
        return out
    out.append({"relation": "first", "url": _url(base, request.criteria, count, 0)})
    if offset > 0:
        previous = max(0, offset - count)
        out.append({"relation": "previous", "url": _url(base, request.criteria, count, previous)})
    if offset + count < total:
        out.append({"relation": "next", "url": _url(base, request.criteria, count, offset + count)})
    return out


def searchset(
    *, base: str, resources: Sequence[Resource], total: int, link: list[dict[str, str]]
) -> Bundle:
    """A searchset Bundle: every entry a match with its absolute fullUrl."""
    entries = [
        {
            "fullUrl": f"{base}/{r.get_resource_type()}/{r.id}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return Bundle(type="searchset", total=total, link=link, entry=entries or None)
