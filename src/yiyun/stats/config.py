"""Statistics settings (`YIYUN_STATS__…`): the rollup job, the scan, the district map."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StatsSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs_enabled: bool = True
    tick_seconds: float = Field(default=30.0, gt=0)
    rollup_every_minutes: float = Field(default=10.0, gt=0)
    lookback_days: int = Field(default=3, ge=0, le=60, description="days refreshed behind")
    # the space-time scan (daily, after the surveillance run)
    scan_at: time = Field(default=time(6, 30), description="China Standard Time")
    scan_study_days: int = Field(default=56, ge=14, le=365)
    scan_max_days: int = Field(default=7, ge=1, le=30)
    scan_max_radius_km: float = Field(default=4.0, gt=0)
    scan_max_sites: int = Field(default=12, ge=1)
    scan_replicates: int = Field(default=999, ge=9, le=99_999)
    scan_alpha: float = Field(default=0.01, gt=0, lt=1)
    scan_min_cases: int = Field(default=10, ge=1, description="cases a cluster needs")
    # the monthly report, made on the given day of each month for the month before
    report_day: int = Field(default=2, ge=1, le=28)
    # the district's GeoJSON (boundary and streets); unset: the demo's fictional district
    geojson: Path | None = None


def stats_config(settings: object) -> StatsSettings:
    found = getattr(settings, "stats", None)
    return found if isinstance(found, StatsSettings) else StatsSettings()
