"""Surveillance tables and their API models.

Counts arrive per site, syndrome and day (`surveillance_daily_count`); the daily run turns
aberrations into signals (`surveillance_signal`), and signals of one site and syndrome
close together in time merge into one alert (`surveillance_alert`) that people work
through a state machine (`workflow.py`), each step logged in `surveillance_alert_event`.
A site of NULL means the district as a whole.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.clock import DISTRICT_TZ as DISTRICT_TZ  # days are counted on it
from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum
from yiyun.core.jobs import JobClaim as JobClaim  # the table moved to core.jobs

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # plausible days to ask about
DAY_PATTERN = r"^(20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"  # the same, published


def local_date(at: datetime) -> date:
    """The district's calendar day at an aware instant."""
    return at.astimezone(DISTRICT_TZ).date()


class CountSource(StrEnum):
    API = "api"
    CSV = "csv"
    FHIR = "fhir"
    DERIVED = "derived"  # classified from Yiyun's own encounters


class AlertState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    CLOSED = "closed"


OPEN_STATES = frozenset(
    {AlertState.NEW, AlertState.ACKNOWLEDGED, AlertState.INVESTIGATING, AlertState.CONFIRMED}
)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    def raised(self) -> Severity:
        order = list(Severity)
        return order[min(order.index(self) + 1, len(order) - 1)]


class Syndrome(IdMixin, TimestampMixin, Base):
    """A syndrome definition: ICD-10 prefixes or chief-complaint keywords (see syndromes.py)."""

    __tablename__ = "surveillance_syndrome"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    icd10_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Codes of syndromes that must also be present for a keyword match (ILI needs fever).
    requires: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class DailyCount(IdMixin, Base):
    __tablename__ = "surveillance_daily_count"
    __table_args__ = (
        UniqueConstraint("institution_id", "syndrome", "on"),
        Index("ix_surveillance_daily_count_syndrome_on", "syndrome", "on"),
    )

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"))
    syndrome: Mapped[str] = mapped_column(ForeignKey("surveillance_syndrome.code"))
    on: Mapped[date]
    count: Mapped[int]
    source: Mapped[CountSource] = mapped_column(stored_enum(CountSource, length=16))
    reported_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(default=False)

    @property
    def site_id(self) -> int:
        return self.institution_id


class Signal(IdMixin, Base):
    """One method's alarm for one series on one day."""

    __tablename__ = "surveillance_signal"
    __table_args__ = (UniqueConstraint("institution_id", "syndrome", "on", "method"),)

    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"))
    syndrome: Mapped[str] = mapped_column(ForeignKey("surveillance_syndrome.code"))
    on: Mapped[date]
    method: Mapped[str] = mapped_column(String(16))
    observed: Mapped[int]
    expected: Mapped[float]
    threshold: Mapped[float]
    score: Mapped[float]
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("surveillance_alert.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]


class Alert(IdMixin, Base):
    __tablename__ = "surveillance_alert"
    __table_args__ = (
        Index("ix_surveillance_alert_scope", "institution_id", "syndrome", "state"),
        Index("ix_surveillance_alert_state_created", "state", "created_at"),
    )

    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"))
    syndrome: Mapped[str] = mapped_column(ForeignKey("surveillance_syndrome.code"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    state: Mapped[AlertState] = mapped_column(
        stored_enum(AlertState, length=16), default=AlertState.NEW
    )
    outcome: Mapped[AlertState | None] = mapped_column(
        stored_enum(AlertState, length=16)
    )  # confirmed|dismissed
    severity: Mapped[Severity] = mapped_column(
        stored_enum(Severity, length=16), default=Severity.LOW
    )
    method: Mapped[str] = mapped_column(String(16))
    score: Mapped[float]
    observed: Mapped[int]
    expected: Mapped[float]
    signal_count: Mapped[int] = mapped_column(default=1)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(default=0)

    @property
    def site_id(self) -> int | None:
        return self.institution_id

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class AlertEvent(IdMixin, Base):
    """The alert's own log: who did what, from which state to which, and why."""

    __tablename__ = "surveillance_alert_event"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("surveillance_alert.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- API models ---------------------------------------------------------------------------


class CountsIn(BaseModel):
    """Rows of `{"date": "YYYY-MM-DD", "site": <institution code>, "syndrome", "count"}`.

    Each row is checked on its own, so one bad row does not refuse the others.
    """

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(max_length=50_000)


class Rejection(BaseModel):
    row: int
    reason: str


class IngestResult(BaseModel):
    accepted: int = 0
    replaced: int = 0
    late: int = 0
    rejected: list[Rejection] = Field(default_factory=list)


class CountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int
    syndrome: str
    on: date
    count: int
    source: CountSource
    reported_at: datetime
    late: bool


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int | None = Field(description="null: the district as a whole")
    syndrome: str
    period_start: date
    period_end: date
    state: AlertState
    outcome: AlertState | None
    severity: Severity
    method: str
    score: float
    observed: int
    expected: float
    signal_count: int
    assigned_to_id: int | None
    created_at: datetime
    acknowledged_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    escalations: int


class AlertEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str
    details: dict[str, Any]


class AlertDetail(AlertRead):
    events: list[AlertEventRead] = Field(default_factory=list)


class AlertActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)
    user_id: int | None = Field(default=None, gt=0, le=2**31 - 1, description="assign only")


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="last day judged, 2000-01-01 to 2100-12-31; default yesterday",
        json_schema_extra={"pattern": DAY_PATTERN},
    )
    lookback_days: int | None = Field(default=None, ge=1, le=60)


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    as_of: date
    days: int
    series: int
    signals: int
    alerts_created: int
    alerts_merged: int
    skipped: list[str]
    seconds: float


class SyndromeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    name_en: str
    icd10_prefixes: list[str]
    keywords_zh: list[str]
    keywords_en: list[str]
    requires: list[str]
    builtin: bool
    active: bool


class TrendSeries(BaseModel):
    syndrome: str
    name: str
    name_en: str
    counts: list[int]


class TrendsRead(BaseModel):
    dates: list[date]
    series: list[TrendSeries]
    partial: list[date] = Field(
        default_factory=list, description="days still being counted (today): provisional"
    )


class DashboardSite(BaseModel):
    site_id: int
    code: str
    name: str
    name_en: str
    map_x: float | None
    map_y: float | None
    total: int


class DashboardAlert(AlertRead):
    site_name: str | None
    map_x: float | None
    map_y: float | None


class DashboardRead(BaseModel):
    start: date
    end: date
    scope: str = Field(description="district or site")
    daily: TrendsRead
    sites: list[DashboardSite]
    open_alerts: list[DashboardAlert]


class KpiFigures(BaseModel):
    alerts: int
    responded: int
    response_rate: float | None
    timely_rate: float | None = Field(description="share responded to within `within_hours`")
    median_response_hours: float | None
    confirmed: int


class SiteKpi(KpiFigures):
    site_id: int | None = Field(description="null: district-wide alerts")
    code: str | None
    name: str


class KpiRead(BaseModel):
    start: date
    end: date
    within_hours: float
    overall: KpiFigures
    sites: list[SiteKpi]
