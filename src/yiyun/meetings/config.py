"""Meeting settings: scheduling, reminders and guest invitations.

Depends on pydantic only, so the root `Settings` can nest it as `meetings`
(`YIYUN_MEETINGS__REMINDER_MINUTES=10`, `YIYUN_MEETINGS__JOBS_ENABLED=False`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MeetingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # scheduling
    join_early_minutes: int = Field(
        default=30, ge=0, le=1440, description="how long before the start people may join"
    )
    # reminders (in the app, by e-mail to staff, by SMS to guests with a phone)
    reminder_minutes: int = Field(default=15, ge=1, le=1440, description="before the start")
    jobs_enabled: bool = True
    tick_seconds: float = Field(default=30.0, gt=0)
    # an instant meeting nobody is in any more ends by itself (0: never)
    empty_end_minutes: float = Field(
        default=10.0, ge=0, le=24 * 60, description="grace before an empty instant meeting ends"
    )
    # guest invitations
    guest_max_attempts: int = Field(default=5, ge=1, le=20, description="wrong codes to block")
    instant_guest_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="how long a guest link to an instant meeting lasts",
    )
    guest_ip_limit: int = Field(
        default=30, ge=1, description="code submissions per address per window"
    )
    guest_ip_window_minutes: float = Field(default=10.0, gt=0)


def config_from(settings: object) -> MeetingSettings:
    """`settings.meetings` once the root settings carry it, else the defaults."""
    found = getattr(settings, "meetings", None)
    return found if isinstance(found, MeetingSettings) else MeetingSettings()
