"""One settings object for the whole application.

Values come from `YIYUN_`-prefixed environment variables with `__` as the nesting
delimiter (`YIYUN_DB__URL`, `YIYUN_BUS__URL`, `YIYUN_MEDIA__ENGINE`). Nothing reads the
environment at import time: `get_settings()` builds the object and `create_app(settings)`
receives it, so tests construct `Settings(...)` directly.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yiyun.consult.config import ConsultSettings
from yiyun.core.sealed import BlobKeys
from yiyun.inquiry.config import InquirySettings
from yiyun.meetings.config import MeetingSettings
from yiyun.ops.config import OpsSettings
from yiyun.resident.config import ResidentSettings
from yiyun.stats.config import StatsSettings
from yiyun.supervision.config import SupervisionSettings
from yiyun.surveillance.config import SurveillanceSettings
from yiyun.teaching.config import TeachingSettings

DEFAULT_DATA_DIR = Path("var")
DATA_BLOB_KEY = "data"  # id of the blob key derived from `security.data_key`


class DbSettings(BaseModel):
    """Database: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) in production."""

    url: str = "sqlite+aiosqlite:///var/yiyun.db"
    echo: bool = False
    migrate_on_start: bool = True

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("db.url must use sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class BusSettings(BaseModel):
    """Event bus: in-process by default, Redis pub/sub across app nodes."""

    url: str = "memory://"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("bus.url must be memory:// or redis://host:port/db")
        return value


class MediaSettings(BaseModel):
    """Media engine selection (see docs/media.md)."""

    engine: Literal["embedded", "janus", "fake"] = "embedded"
    janus_urls: list[str] = Field(default_factory=list)
    # Embedded engine: also offer 127.0.0.1 host candidates (single-machine setups and
    # tests; browsers then need --allow-loopback-in-peer-connection or a local page).
    loopback_candidates: bool = False
    # STUN/TURN servers handed to browsers (RTCIceServer dicts).
    ice_servers: list[dict[str, str | list[str]]] = Field(default_factory=list)
    # STUN URLs the embedded engine itself uses to learn its public address behind NAT.
    stun_urls: list[str] = Field(default_factory=list)
    # TURN relay (coturn with `use-auth-secret`, see docs/media.md "TURN"): URLs such as
    # "turn:turn.example.org:3478?transport=udp", the secret shared with coturn's
    # `static-auth-secret`, and how long each per-user credential stays valid.
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: SecretStr | None = None
    turn_ttl_seconds: int = Field(default=3600, gt=0)


class StorageSettings(BaseModel):
    """Blob storage for documents and recordings."""

    path: Path = DEFAULT_DATA_DIR / "blobs"
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)


class ImagingSettings(BaseModel):
    """The hospital PACS peer (DICOMweb base URL, e.g. Orthanc's `/dicom-web`, and for
    DIMSE its AE title, host and port) and the limits of an upload."""

    pacs_url: str | None = None
    pacs_username: str | None = None
    pacs_password: SecretStr | None = None
    pacs_ae_title: str = "ORTHANC"
    pacs_host: str = "127.0.0.1"
    pacs_dicom_port: int | None = None
    our_ae_title: str = "YIYUN"
    # Where our C-STORE receiver listens during a C-MOVE (the PACS must know it).
    our_dicom_port: int = 11113
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_files_per_zip: int = Field(default=2000, gt=0)


class SecuritySettings(BaseModel):
    """Secrets and the identity policy."""

    # Signs sessions and tokens. When unset, `with_secrets()` loads or creates
    # `<data_dir>/secrets.json` (mode 0600) so restarts keep sessions and data readable.
    secret_key: SecretStr | None = None
    # Encrypts resident ID numbers at rest and keys their lookup index (HMAC).
    data_key: SecretStr | None = None
    # Key-encryption keys for files at rest (recordings, documents), by key id; a key
    # derived from `data_key` is always there as id "data". `blob_key_id` wraps new
    # files (default: the only configured key, else "data"). See docs/storage.md.
    blob_keys: dict[str, SecretStr] = Field(default_factory=dict)
    blob_key_id: str | None = None
    session_hours: float = Field(default=12.0, gt=0)
    cookie_secure: bool = False
    password_min_length: int = Field(default=10, ge=8)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: float = Field(default=15.0, gt=0)
    # Failed sign-ins from one client address before it is refused for the window (one
    # password sprayed over many names), and failures over all names per minute before
    # sign-in pauses for the rest of that minute.
    login_ip_limit: int = Field(default=20, ge=1)
    login_ip_window_minutes: float = Field(default=15.0, gt=0)
    login_global_limit: int = Field(default=300, ge=1)
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed;
    # from anyone else the header is ignored and the peer address is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Browser origins allowed to open WebSockets with the user's cookies, besides
    # `public_url` (e.g. "https://yiyun.example.org"). With neither set, only the
    # page's own host is allowed.
    allowed_origins: list[str] = Field(default_factory=list)
    # Bearer token Prometheus sends to `/metrics`. Unset: metrics are open in dev and
    # refused in production.
    metrics_token: SecretStr | None = None
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    totp_issuer: str = "Yiyun"
    # argon2id cost; the defaults follow RFC 9106's second recommended profile.
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65536, ge=8, le=4_194_304)


class Settings(BaseSettings):
    """Root settings; nested per area."""

    model_config = SettingsConfigDict(
        env_prefix="YIYUN_",
        env_nested_delimiter="__",
        env_file=None,
        extra="ignore",
    )

    env: Literal["dev", "demo", "test", "production"] = "dev"
    data_dir: Path = DEFAULT_DATA_DIR
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    # The address people use to reach Yiyun (links in SMS, e-mail and calendar files),
    # e.g. "https://yiyun.example.org". Unset: pages use the address of the request and
    # background jobs leave links relative.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    log_json: bool = True
    log_level: str = "INFO"
    db: DbSettings = Field(default_factory=DbSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    surveillance: SurveillanceSettings = Field(default_factory=SurveillanceSettings)
    meetings: MeetingSettings = Field(default_factory=MeetingSettings)
    teaching: TeachingSettings = Field(default_factory=TeachingSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    imaging: ImagingSettings = Field(default_factory=ImagingSettings)
    residents: ResidentSettings = Field(default_factory=ResidentSettings)
    inquiry: InquirySettings = Field(default_factory=InquirySettings)
    consult: ConsultSettings = Field(default_factory=ConsultSettings)


def check_production(settings: Settings) -> None:
    """Refuse to run production with settings that leave sessions exposed."""
    if settings.env != "production":
        return
    problems = []
    if not settings.security.cookie_secure:
        problems.append("security.cookie_secure must be true (YIYUN_SECURITY__COOKIE_SECURE)")
    if settings.public_url is not None and not settings.public_url.startswith("https://"):
        problems.append("public_url must be https:// in production")
    if problems:
        raise ValueError("refusing to start in production: " + "; ".join(problems))


def get_settings() -> Settings:
    """Build settings from the environment (the one place that reads it)."""
    return with_secrets(Settings())


def with_secrets(settings: Settings) -> Settings:
    """Fill unset secrets from `<data_dir>/secrets.json`, creating it on first use."""
    sec = settings.security
    if sec.secret_key is not None and sec.data_key is not None:
        return settings
    path = settings.data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for name in ("secret_key", "data_key"):
        if name not in stored:
            stored[name] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(stored, fh)
    security = sec.model_copy(
        update={
            "secret_key": sec.secret_key or SecretStr(stored["secret_key"]),
            "data_key": sec.data_key or SecretStr(stored["data_key"]),
        }
    )
    return settings.model_copy(update={"security": security})


def blob_keys(security: SecuritySettings) -> BlobKeys:
    """The key ring that seals and opens stored files (after `with_secrets()`)."""
    ring = {DATA_BLOB_KEY: secret(security.data_key)}
    ring.update({kid: value.get_secret_value() for kid, value in security.blob_keys.items()})
    current = security.blob_key_id
    if current is None:
        configured = list(security.blob_keys)
        current = configured[0] if len(configured) == 1 else DATA_BLOB_KEY
    return BlobKeys.from_secrets(ring, current)


def secret(value: SecretStr | None) -> str:
    """Return a configured secret or fail clearly when `with_secrets()` was not applied."""
    if value is None:
        raise RuntimeError("secrets are not configured; build settings with with_secrets()")
    return value.get_secret_value()
