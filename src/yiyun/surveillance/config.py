"""Surveillance settings: detection methods and thresholds, schedule, escalation.

Depends on pydantic only, so the root `Settings` can nest it as `surveillance`
(`YIYUN_SURVEILLANCE__DAILY_AT=05:30`, `YIYUN_SURVEILLANCE__SITE_METHODS='["ewma"]'`).

The defaults were tuned on the demo district's synthetic history (94 sites, seasonal,
weekday effects, overdispersed counts): EWMA at 5 standard deviations with at least 5
cases flags every injected outbreak and raises about two false site alerts a week after
merging; EARS C2 on its 7-day baseline raised eight a day. Farrington (three years back,
alpha 0.01) watches the district totals.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field

Params = dict[str, dict[str, float | int | bool | str]]


def _default_params() -> Params:
    return {"ewma": {"limit": 5.0}, "farrington": {"alpha": 0.01}, "ears-c2": {"min_sigma": 1.0}}


class SurveillanceSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # detection
    site_methods: tuple[str, ...] = ("ewma",)
    district_methods: tuple[str, ...] = ("ewma", "farrington")
    params: Params = Field(
        default_factory=_default_params,
        description="method parameters by method name, e.g. {'ewma': {'limit': 5.0}}",
    )
    lookback_days: int = Field(default=3, ge=1, le=400, description="days judged per run")
    min_count: int = Field(default=5, ge=1, description="cases a site needs that day")
    district_min_count: int = Field(default=10, ge=1)
    merge_gap_days: int = Field(default=3, ge=0)
    # schedule and escalation
    jobs_enabled: bool = True
    daily_at: time = Field(default=time(6, 0), description="China Standard Time")
    escalate_every_minutes: float = Field(default=5.0, gt=0)
    escalate_after_hours: float = Field(default=6.0, gt=0)
    retry_minutes: float = Field(default=10.0, gt=0)
    catch_up_days: int = Field(default=7, ge=1, le=60)
    tick_seconds: float = Field(default=30.0, gt=0)


def config_from(settings: object) -> SurveillanceSettings:
    """`settings.surveillance` once the root settings carry it, else the defaults."""
    found = getattr(settings, "surveillance", None)
    return found if isinstance(found, SurveillanceSettings) else SurveillanceSettings()
