"""Supervision settings (`YIYUN_SUPERVISION__…`): the limits the rule checks hold cases to.

Request → signed opinion by urgency (`opinion_<urgency>_hours`), how long a referral may
wait for the receiving institution's decision, and how late after its appointment a
referred patient may arrive.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class SupervisionSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    opinion_emergency_hours: float = Field(default=2.0, gt=0, le=24 * 7)
    opinion_urgent_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    opinion_routine_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    referral_decide_hours: float = Field(default=48.0, gt=0, le=24 * 30)
    referral_arrive_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    max_sample: int = Field(default=50, ge=1, le=500)

    def opinion_limit(self, urgency: str) -> timedelta:
        """Request (submission) → signed opinion, for an urgency."""
        hours = {
            "emergency": self.opinion_emergency_hours,
            "urgent": self.opinion_urgent_hours,
            "routine": self.opinion_routine_hours,
        }[str(urgency)]
        return timedelta(hours=hours)
