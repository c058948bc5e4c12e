"""Take in daily counts: JSON rows, CSV uploads, FHIR R4 MeasureReports, derived counts.

Every path ends in `_store`: rows are checked one by one (a bad row is rejected with its
row number and reason, the good ones are kept), then upserted on (site, syndrome, day).
Re-sending a day replaces it and the audit log keeps the old and the new count. A report
received more than `LATE_AFTER_DAYS` after the day it counts is accepted and flagged late.

Row numbers: JSON rows count from 1; CSV rows are spreadsheet rows (the header is row 1,
the first data row is row 2); FHIR rows number the (report, group) pairs from 1 in
document order.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.auth.principal import Principal
from yiyun.core.clock import now as clock_now
from yiyun.core.errors import InvalidInput
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.surveillance import measure_report, syndromes
from yiyun.surveillance.models import (
    EARLIEST,
    CountSource,
    DailyCount,
    IngestResult,
    Rejection,
    local_date,
)

logger = logging.getLogger(__name__)

LATE_AFTER_DAYS = 2
MAX_COUNT = 100_000
CSV_COLUMNS = ("date", "site", "syndrome", "count")
_CHUNK = 5000
_AUDIT_CHANGES = 500


@dataclass(frozen=True)
class _Good:
    row: int
    site_id: int
    syndrome: str
    on: date
    count: int


@dataclass
class _Context:
    principal: Principal | None  # None: the system itself (derived counts)
    sites_by_code: dict[str, Institution]
    sites_by_id: dict[int, Institution]
    syndromes: set[str]
    today: date


def _reject(result: IngestResult, row: int, reason: str) -> None:
    result.rejected.append(Rejection(row=row, reason=reason))


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("date must be a day (YYYY-MM-DD), not a time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError("date must be YYYY-MM-DD")
    return date.fromisoformat(value.strip())


def _parse_count(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("count must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"[0-9]+", value):
            raise ValueError("count must be a whole number of 0 or more")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("count must be a whole number")
    if value < 0:
        raise ValueError("count must not be negative")
    if value > MAX_COUNT:
        raise ValueError(f"count above {MAX_COUNT} is not plausible for one site and day")
    return value


def _site(ctx: _Context, value: Any) -> Institution:
    if isinstance(value, int) and not isinstance(value, bool):
        inst = ctx.sites_by_id.get(value)
    elif isinstance(value, str) and value.strip():
        inst = ctx.sites_by_code.get(value.strip().upper())
    else:
        raise ValueError("site (the institution code) is missing")
    if inst is None or not inst.active:
        raise ValueError(f"unknown site {value!s}")
    if inst.kind == InstitutionKind.HEALTH_AUTHORITY:
        raise ValueError(f"{inst.code} is not a reporting site")
    if ctx.principal is not None and not policy.allows(
        ctx.principal, Action.REPORT_COUNTS, Target.of(inst.id)
    ):
        raise ValueError(f"you may not report counts for site {inst.code}")
    return inst


def _check(ctx: _Context, number: int, raw: Mapping[str, Any]) -> _Good:
    """Validate one row or raise ValueError with the reason."""
    for name in CSV_COLUMNS:
        if raw.get(name) is None or raw.get(name) == "":
            raise ValueError(f"{name} is missing")
    on = _parse_date(raw["date"])
    if on > ctx.today:
        raise ValueError(f"date {on} is in the future")
    if on < EARLIEST:
        raise ValueError(f"date {on} is before {EARLIEST}")
    inst = _site(ctx, raw["site"])
    syndrome = str(raw["syndrome"]).strip().lower()
    if syndrome not in ctx.syndromes:
        raise ValueError(
            f"unknown syndrome {syndrome!r}; known: {', '.join(sorted(ctx.syndromes))}"
        )
    return _Good(number, inst.id, syndrome, on, _parse_count(raw["count"]))


async def _context(session: AsyncSession, principal: Principal | None, at: datetime) -> _Context:
    if principal is not None:
        # Someone who may not report for any site (their own included) is refused outright.
        policy.require(principal, Action.REPORT_COUNTS, Target.of(principal.institution_id))
    definitions = await syndromes.load_definitions(session)
    institutions = list((await session.scalars(select(Institution))).all())
    return _Context(
        principal=principal,
        sites_by_code={i.code.upper(): i for i in institutions},
        sites_by_id={i.id: i for i in institutions},
        syndromes={d.code for d in definitions},
        today=local_date(at),
    )


async def _store(
    session: AsyncSession,
    *,
    ctx: _Context,
    actor: Actor,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    source: CountSource,
    at: datetime,
    result: IngestResult | None = None,
) -> IngestResult:
    result = result or IngestResult()
    good: dict[tuple[int, str, date], _Good] = {}
    for number, raw in rows:
        try:
            row = _check(ctx, number, raw)
        except ValueError as exc:
            _reject(result, number, str(exc))
            continue
        key = (row.site_id, row.syndrome, row.on)
        if key in good:
            _reject(
                result, number, f"duplicate of row {good[key].row} (same site, syndrome and date)"
            )
            continue
        good[key] = row
    result.rejected.sort(key=lambda r: r.row)
    if good:
        await _upsert(session, ctx=ctx, actor=actor, good=good, source=source, at=at, result=result)
    await audit.record(
        session=session,
        actor=actor,
        action="surveillance.counts.ingest",
        entity_type="surveillance_daily_count",
        institution_id=_single_site(good.values()),
        details={
            "source": source.value,
            "accepted": result.accepted,
            "replaced": result.replaced,
            "late": result.late,
            "rejected": len(result.rejected),
        },
    )
    logger.info(
        "counts in (%s): %d accepted, %d replaced, %d late, %d rejected",
        source.value,
        result.accepted,
        result.replaced,
        result.late,
        len(result.rejected),
    )
    return result


def _single_site(rows: Iterable[_Good]) -> int | None:
    sites = {r.site_id for r in rows}
    return sites.pop() if len(sites) == 1 else None


async def _upsert(
    session: AsyncSession,
    *,
    ctx: _Context,
    actor: Actor,
    good: dict[tuple[int, str, date], _Good],
    source: CountSource,
    at: datetime,
    result: IngestResult,
) -> None:
    days = [k[2] for k in good]
    query = select(
        DailyCount.id,
        DailyCount.institution_id,
        DailyCount.syndrome,
        DailyCount.on,
        DailyCount.count,
    ).where(
        DailyCount.institution_id.in_({k[0] for k in good}),
        DailyCount.syndrome.in_({k[1] for k in good}),
        DailyCount.on.between(min(days), max(days)),
    )
    existing = {
        (site, syndrome, on): (row_id, count)
        for row_id, site, syndrome, on, count in (await session.execute(query)).all()
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[tuple[int, dict[str, Any]]] = []
    for key, row in good.items():
        late = (ctx.today - row.on).days > LATE_AFTER_DAYS
        result.late += late
        values = {"count": row.count, "source": source, "reported_at": at, "late": late}
        if key in existing:
            row_id, old = existing[key]
            updates.append({"id": row_id, **values})
            if old != row.count:
                code = ctx.sites_by_id[row.site_id].code
                change = {"site": code, "syndrome": row.syndrome, "on": row.on.isoformat(),
                          "old": old, "new": row.count}  # fmt: skip
                changes.append((row.site_id, change))
        else:
            inserts.append(
                {"institution_id": row.site_id, "syndrome": row.syndrome, "on": row.on, **values}
            )
    for start in range(0, len(inserts), _CHUNK):
        await session.execute(insert(DailyCount), inserts[start : start + _CHUNK])
    for start in range(0, len(updates), _CHUNK):
        await session.execute(update(DailyCount), updates[start : start + _CHUNK])
    result.accepted += len(good)
    result.replaced += len(updates)
    for start in range(0, len(changes), _AUDIT_CHANGES):
        part = changes[start : start + _AUDIT_CHANGES]
        sites = {site_id for site_id, _ in part}
        await audit.record(
            session=session,
            actor=actor,
            action="surveillance.counts.replace",
            entity_type="surveillance_daily_count",
            institution_id=sites.pop() if len(sites) == 1 else None,
            details={"source": source.value, "changes": [c for _, c in part]},
        )


# --- the entry points -----------------------------------------------------------------------


async def ingest_rows(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    rows: Sequence[Mapping[str, Any]],
    source: CountSource = CountSource.API,
    now: datetime | None = None,
) -> IngestResult:
    """JSON rows `{date, site, syndrome, count}`; row numbers count from 1."""
    at = now or clock_now()
    ctx = await _context(session, principal, at)
    numbered: list[tuple[int, Mapping[str, Any]]] = []
    result = IngestResult()
    for n, raw in enumerate(rows, start=1):
        if isinstance(raw, Mapping):
            numbered.append((n, raw))
        else:
            _reject(result, n, "a row must be an object with date, site, syndrome and count")
    return await _store(
        session, ctx=ctx, actor=actor, rows=numbered, source=source, at=at, result=result
    )


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB 18030 (what Excel writes on Chinese Windows)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is not UTF-8 or GB 18030 text", code="surveillance.csv_encoding")


def _csv_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the file is empty", code="surveillance.csv_empty") from None
    except csv.Error as exc:
        raise InvalidInput(f"not a CSV file: {exc}", code="surveillance.csv_invalid") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise InvalidInput(
            f"the header lacks column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}",
            code="surveillance.csv_columns",
            details={"missing": missing, "found": names},
        )
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            rows.append((reader.line_num, dict(zip(names, fields, strict=False))))
    except csv.Error as exc:
        raise InvalidInput(
            f"CSV error on row {reader.line_num}: {exc}", code="surveillance.csv_invalid"
        ) from None
    return rows


async def ingest_csv(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    data: bytes,
    now: datetime | None = None,
) -> IngestResult:
    """A CSV with columns `date,site,syndrome,count` (site = institution code)."""
    rows = _csv_rows(data)
    at = now or clock_now()
    ctx = await _context(session, principal, at)
    return await _store(session, ctx=ctx, actor=actor, rows=rows, source=CountSource.CSV, at=at)


async def ingest_fhir(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    document: Mapping[str, Any],
    now: datetime | None = None,
) -> IngestResult:
    """A MeasureReport (one site, one day, a group per syndrome) or a Bundle of them."""
    parsed = measure_report.parse(document)
    at = now or clock_now()
    ctx = await _context(session, principal, at)
    result = IngestResult(rejected=parsed.rejected)
    stored = await _store(
        session, ctx=ctx, actor=actor, rows=parsed.rows, source=CountSource.FHIR, at=at,
        result=result,
    )  # fmt: skip
    for rejection in stored.rejected:
        if rejection.row in parsed.where:
            rejection.reason = f"{parsed.where[rejection.row]}: {rejection.reason}"
    return stored


async def store_derived(
    *,
    session: AsyncSession,
    actor: Actor,
    counts: Mapping[tuple[int, str, date], int],
    now: datetime | None = None,
) -> IngestResult:
    """Counts classified from Yiyun's own encounters (`syndromes.derive_counts`)."""
    at = now or clock_now()
    ctx = await _context(session, None, at)
    rows = [
        (n, {"date": on, "site": site, "syndrome": code, "count": count})
        for n, ((site, code, on), count) in enumerate(sorted(counts.items()), start=1)
    ]
    return await _store(session, ctx=ctx, actor=actor, rows=rows, source=CountSource.DERIVED, at=at)
