"""Resident portal settings: SMS codes, sessions and the SMS channel.

Depends on pydantic only, so the root `Settings` nests it as `residents`
(`YIYUN_RESIDENTS__SMS_BACKEND=http`, `YIYUN_RESIDENTS__SMS_GATEWAY_URL=...`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ResidentSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # one-time SMS codes
    code_minutes: float = Field(default=5.0, gt=0, le=60, description="how long a code works")
    code_max_attempts: int = Field(default=5, ge=1, le=20, description="wrong codes to void")
    codes_per_phone: int = Field(default=3, ge=1, description="codes sent per number a window")
    codes_per_ip: int = Field(default=10, ge=1, description="codes sent per address a window")
    code_window_minutes: float = Field(default=15.0, gt=0)
    resend_seconds: float = Field(default=60.0, ge=0, description="wait between two codes")
    session_days: float = Field(default=30.0, gt=0, le=365)
    # the SMS channel: "console" writes to the log (the code shown only outside
    # production, the number masked); "http" posts to a gateway
    sms_backend: Literal["console", "http"] = "console"
    sms_gateway_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    sms_gateway_token: SecretStr | None = None
    sms_gateway_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
