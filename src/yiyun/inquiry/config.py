"""Light consultation settings (`YIYUN_INQUIRY__REPLY_HOURS=24`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class InquirySettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    reply_hours: float = Field(default=24.0, gt=0, le=24 * 14, description="reply SLA")
    max_photo_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="per photo")
    max_photos: int = Field(default=4, ge=1, le=10, description="per message")
    jobs_enabled: bool = True
    tick_seconds: float = Field(default=60.0, gt=0)
