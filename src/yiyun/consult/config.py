"""Consultation settings: answer deadlines (SLA) by urgency, reminders, the job's tick.

`YIYUN_CONSULT__SLA_URGENT_MINUTES=180`, `YIYUN_CONSULT__JOBS_ENABLED=False`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class ConsultSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # How long the telemedicine centre and the experts have to answer a request.
    sla_emergency_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    sla_urgent_minutes: int = Field(default=4 * 60, ge=1, le=7 * 24 * 60)
    sla_routine_minutes: int = Field(default=48 * 60, ge=1, le=30 * 24 * 60)
    # Remind when this share of the deadline is left; escalate when it has passed.
    remind_at_fraction_left: float = Field(default=0.25, gt=0, lt=1)
    # A session may be opened this long before the booked time.
    start_early_minutes: int = Field(default=30, ge=0, le=24 * 60)
    jobs_enabled: bool = True
    tick_seconds: float = Field(default=30.0, gt=0)

    def sla(self, urgency: str) -> timedelta:
        """The answer deadline of an urgency ("emergency", "urgent", "routine")."""
        minutes = {
            "emergency": self.sla_emergency_minutes,
            "urgent": self.sla_urgent_minutes,
            "routine": self.sla_routine_minutes,
        }[str(urgency)]
        return timedelta(minutes=minutes)
