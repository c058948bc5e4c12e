"""The one time seam: every `*_at` value comes from `now()` (aware UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

# The consortium's wall clock: China Standard Time (UTC+8, no daylight saving). Days are
# counted, and times shown and typed, on it.
DISTRICT_TZ = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes (as SQLite returns them) as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def district(value: datetime) -> datetime:
    """The same instant on the district's wall clock (naive values are taken as UTC)."""
    return as_utc(value).astimezone(DISTRICT_TZ)
