"""FHIR R4 MeasureReports as count rows: one report per site and day, a group per syndrome.

The site is the report's `subject` (an Organization), else its `reporter`: a reference
`Organization/<id>` or an identifier `urn:yiyun:institution-code|<code>`. The period must
cover one day (`2026-11-25`, or 00:00 to 24:00 China Standard Time). Each group's code
(system `urn:yiyun:syndrome`) names the syndrome and its `initial-population` count (or
its only population) is the day's count. A Bundle may carry many reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fhir.resources.R4B.measurereport import MeasureReport
from pydantic import ValidationError

from yiyun.core.errors import InvalidInput
from yiyun.surveillance.models import DISTRICT_TZ, Rejection, local_date

SYS_INSTITUTION = "urn:yiyun:institution-code"  # as the FHIR Organization identifier
SYS_SYNDROME = "urn:yiyun:syndrome"
_ORG_REF = re.compile(r"(?:^|/)Organization/([0-9]+)$")


@dataclass
class Parsed:
    """Rows numbered from 1 in document order, and the reports that could not be read."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    where: dict[int, str] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)


def _site_of(report: MeasureReport) -> int | str:
    """The reporting site: `subject` if an Organization, else `reporter`."""
    for ref in (report.subject, report.reporter):
        if ref is None:
            continue
        if ref.reference:
            match = _ORG_REF.search(ref.reference)
            if match:
                return int(match.group(1))
            continue
        ident = ref.identifier
        if ident is not None and ident.value and ident.system in (None, SYS_INSTITUTION):
            return str(ident.value)
    raise ValueError("subject or reporter must reference the site's Organization")


def _aware(value: date | datetime) -> date | datetime:
    """A time without a zone is read as district time (FHIR requires one; be lenient)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=DISTRICT_TZ)
    return value


def _as_day(value: date | datetime) -> date:
    return local_date(value) if isinstance(value, datetime) else value


def _day_of(report: MeasureReport) -> date:
    """The one day the report covers: `2026-11-25`, or 00:00 to 24:00 (or 23:59:59) CST."""
    if report.period.start is None:
        raise ValueError("period.start is missing")
    start = _aware(report.period.start)
    end = None if report.period.end is None else _aware(report.period.end)
    first = _as_day(start)
    if end is None:
        return first
    if isinstance(start, datetime) and isinstance(end, datetime) and end > start:
        end = end - timedelta(microseconds=1)  # an end at midnight belongs to the day before
    if _as_day(end) != first:
        raise ValueError("period must cover exactly one day")
    return first


def _group_rows(report: MeasureReport) -> list[dict[str, Any]]:
    """One row per group: the syndrome code and the initial-population count."""
    if report.status != "complete":
        raise ValueError(f"status is {report.status}; only complete reports are counted")
    site, on = _site_of(report), _day_of(report)
    rows: list[dict[str, Any]] = []
    for group in report.group or []:
        codings = group.code.coding if group.code and group.code.coding else []
        code = next(
            (c.code for c in codings if c.system == SYS_SYNDROME),
            next((c.code for c in codings if c.code), None),
        )
        populations = group.population or []
        chosen = [
            p
            for p in populations
            if p.code and any(c.code == "initial-population" for c in p.code.coding or [])
        ] or (populations if len(populations) == 1 else [])
        count = chosen[0].count if chosen else None
        rows.append({"date": on, "site": site, "syndrome": code, "count": count})
    return rows


def parse(document: Mapping[str, Any]) -> Parsed:
    """Rows `{date, site, syndrome, count}` (site: id or code) of a report or a Bundle.

    A single report that is not valid FHIR is refused whole (`InvalidInput`); in a
    Bundle, a bad entry is rejected as one row and the others are kept.
    """
    kind = document.get("resourceType")
    if kind == "MeasureReport":
        resources: list[Any] = [document]
    elif kind == "Bundle":
        entries = document.get("entry")
        entries = entries if isinstance(entries, list) else []
        resources = [e.get("resource") for e in entries if isinstance(e, dict)]
    else:
        raise InvalidInput(
            "expected a MeasureReport or a Bundle of MeasureReports",
            code="surveillance.fhir_type",
            details={"resourceType": kind},
        )
    parsed = Parsed()
    number = 0
    for entry_no, resource in enumerate(resources, start=1):
        where = "MeasureReport" if kind == "MeasureReport" else f"entry {entry_no}"
        try:
            if not isinstance(resource, dict) or resource.get("resourceType") != "MeasureReport":
                raise ValueError("not a MeasureReport")
            groups = _group_rows(MeasureReport.model_validate(resource))
        except ValidationError as exc:
            if kind == "MeasureReport":
                raise InvalidInput(
                    "not a valid FHIR R4 MeasureReport",
                    code="surveillance.fhir_invalid",
                    details={"errors": [str(e["msg"]) for e in exc.errors()][:20]},
                ) from None
            number += 1
            parsed.rejected.append(
                Rejection(row=number, reason=f"{where}: not a valid MeasureReport")
            )
            continue
        except ValueError as exc:
            number += 1
            parsed.rejected.append(Rejection(row=number, reason=f"{where}: {exc}"))
            continue
        for group_no, raw in enumerate(groups, start=1):
            number += 1
            parsed.rows.append((number, raw))
            parsed.where[number] = f"{where} group {group_no}"
    if not parsed.rows and not parsed.rejected:
        raise InvalidInput("the report has no groups to count", code="surveillance.fhir_empty")
    return parsed
