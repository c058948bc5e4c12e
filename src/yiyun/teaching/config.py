"""Teaching settings, e.g. `YIYUN_TEACHING__MAX_UPLOAD_MB=4096`,
`YIYUN_TEACHING__JOBS_ENABLED=false`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TeachingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_upload_mb: int = Field(default=2048, ge=1, le=65536, description="largest video upload")
    jobs_enabled: bool = True
    tick_seconds: float = Field(default=5.0, gt=0, description="how often the transcoder looks")
    max_attempts: int = Field(default=3, ge=1, le=10, description="transcodes before giving up")
    retry_minutes: float = Field(default=2.0, ge=0, description="wait before a retry")
    stale_minutes: float = Field(
        default=10.0, gt=0, description="a transcode silent this long is taken as dead"
    )
    segment_seconds: int = Field(default=4, ge=1, le=10, description="HLS segment length")
    complete_fraction: float = Field(
        default=0.9, gt=0, le=1, description="share of a video watched to count as completed"
    )
    # live lectures
    max_slides_mb: int = Field(default=100, ge=1, le=1024, description="largest slide upload")
    max_slide_pages: int = Field(default=300, ge=1, le=2000, description="pages rendered at most")
    slide_width: int = Field(default=1600, ge=320, le=3840, description="rendered page width (px)")
    webrtc_audience_limit: int = Field(
        default=200, ge=0, le=100_000, description="audience over WebRTC before HLS takes over"
    )
    live_hls_segment_seconds: float = Field(
        default=1.0, gt=0.2, le=6, description="live HLS segment length (low latency)"
    )
