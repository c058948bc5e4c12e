"""Operations settings: when a terminal counts as offline, alarm thresholds, the job.

Depends on pydantic only, so the root `Settings` nests it as `ops`
(`YIYUN_OPS__OFFLINE_ALARM_MINUTES=10`, `YIYUN_OPS__JOBS_ENABLED=False`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OpsSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # a terminal is online while its last heartbeat is younger than this (3 beats of 10 s)
    offline_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    # alarms
    offline_alarm_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    mos_threshold: float = Field(default=3.1, ge=1.0, le=4.5)
    mos_minutes: float = Field(default=2.0, gt=0, le=120)
    disk_alarm_pct: float = Field(default=90.0, gt=0, le=100)
    job_late_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    node_stale_seconds: float = Field(default=60.0, gt=0, le=3600)
    # the evaluation job (claimed once across nodes) and each node's own report
    jobs_enabled: bool = True
    evaluate_seconds: float = Field(default=15.0, gt=0, le=3600)
    # enrolment codes and the heartbeat flood limit per device
    enrol_code_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    heartbeat_limit: int = Field(default=12, ge=1, description="heartbeats per device per window")
    heartbeat_window_seconds: float = Field(default=60.0, gt=0)
    # how far a heartbeat's own clock may be from ours
    clock_skew_seconds: float = Field(default=300.0, gt=0)
    # the demo: simulated terminals send heartbeats from inside the app
    simulate: bool = False


def config_from(settings: object) -> OpsSettings:
    found = getattr(settings, "ops", None)
    return found if isinstance(found, OpsSettings) else OpsSettings()
