"""Terminal device credentials and heartbeats.

An administrator enrols a terminal: a one-time code (shown once, stored as a SHA-256)
that the device exchanges, with its terminal code, for a device credential
`yd1.<id>.<secret>` (the secret shown once, stored as a SHA-256; it is 256 random bits,
so a fast hash is enough). Enrolling again or revoking ends the previous credential.

A heartbeat carries a strictly increasing sequence number (milliseconds since the epoch
suit a device that reboots); one not above the last seen is a replay. The sequence is
moved on with one conditional UPDATE, so two nodes receiving the same replayed beat
cannot both accept it. Refusals raise errors whose `code` the API counts
(`yiyun_device_refusals_total{reason}`).

Online, fault and offline are computed from heartbeats: a beat sets the terminal online
(or fault when a component reports one), and the evaluation job sets it offline when its
last beat is older than `offline_after_seconds` (`alarms.sweep_offline`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import Conflict, NotAuthenticated, NotFound, RateLimited
from yiyun.core.ratelimit import Limiter
from yiyun.ops.config import OpsSettings
from yiyun.ops.models import Component, DeviceCredential, TerminalHealth
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Terminal

PREFIX = "yd1"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
ENROL_LIMIT = 10  # exchange attempts per terminal code per window
ENROL_WINDOW_SECONDS = 900.0
# Terminal.status and last_seen_at are refreshed at least this often by beats (the
# health row holds the exact time of every beat).
TERMINAL_REFRESH_SECONDS = 60.0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _code_hash(terminal_id: int, code: str) -> str:
    return _sha(f"enrol:{terminal_id}:{normalise_code(code)}")


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


class Heartbeat(BaseModel):
    """What a terminal reports every few seconds (all figures bounded: 422 outside)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=2**62, description="strictly increasing, e.g. ms since the epoch")
    version: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._+-]+$")
    camera: Component
    microphone: Component
    screen: Component
    rtt_ms: float = Field(ge=0, le=10_000)
    loss_pct: float = Field(ge=0, le=100)
    bandwidth_kbps: float = Field(ge=0, le=10_000_000)


class EnrolExchange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terminal_code: str = Field(min_length=1, max_length=32)
    enrolment_code: str = Field(min_length=4, max_length=32)


@dataclass(frozen=True)
class Enrolment:
    terminal: Terminal
    code: str  # shown once
    expires_at: datetime


@dataclass(frozen=True)
class Issued:
    terminal: Terminal
    credential: str  # shown once


async def enrol(
    *,
    session: AsyncSession,
    terminal: Terminal,
    actor: Actor,
    config: OpsSettings,
) -> Enrolment:
    """A new one-time enrolment code for the terminal; any earlier credential ends."""
    stamp = now()
    await _revoke_all(session, terminal.id, stamp)
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    code = f"{raw[:5]}-{raw[5:]}"
    expires = stamp + timedelta(hours=config.enrol_code_hours)
    row = DeviceCredential(
        terminal_id=terminal.id,
        enrol_code_hash=_code_hash(terminal.id, code),
        enrol_expires_at=expires,
        issued_by=actor.user_id,
        last_seq=0,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="ops.terminal.enrol",
        entity_type="terminal",
        entity_id=terminal.id,
        details={"credential_id": row.id, "expires_at": expires.isoformat()},
        subject_institutions=frozenset({terminal.institution_id}),
    )
    return Enrolment(terminal=terminal, code=code, expires_at=expires)


async def _revoke_all(session: AsyncSession, terminal_id: int, stamp: datetime) -> int:
    done = await session.execute(
        update(DeviceCredential)
        .where(DeviceCredential.terminal_id == terminal_id, DeviceCredential.revoked_at.is_(None))
        .values(revoked_at=stamp)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def revoke(*, session: AsyncSession, terminal: Terminal, actor: Actor) -> int:
    """End the terminal's credential (and any unused code); its kiosk is signed out."""
    ended = await _revoke_all(session, terminal.id, now())
    await audit.record(
        session=session,
        actor=actor,
        action="ops.terminal.revoke",
        entity_type="terminal",
        entity_id=terminal.id,
        details={"ended": ended},
        subject_institutions=frozenset({terminal.institution_id}),
    )
    return ended


async def exchange(
    *,
    session: AsyncSession,
    data: EnrolExchange,
    limiter: Limiter,
    ip: str | None,
) -> Issued:
    """The device's side: terminal code + one-time code → device credential."""
    key = f"ops-enrol:{_sha(data.terminal_code)[:32]}"
    if (await limiter.hit(key, window=ENROL_WINDOW_SECONDS)).over(ENROL_LIMIT):
        raise RateLimited("too many enrolment attempts", code="ops.enrol_limited")
    terminal = await session.scalar(select(Terminal).where(Terminal.code == data.terminal_code))
    refused = NotAuthenticated("unknown terminal or enrolment code", code="ops.unknown")
    if terminal is None or not terminal.active:
        raise refused
    row = await session.scalar(
        select(DeviceCredential).where(
            DeviceCredential.terminal_id == terminal.id,
            DeviceCredential.enrol_code_hash == _code_hash(terminal.id, data.enrolment_code),
        )
    )
    if row is None:
        raise refused
    if row.revoked_at is not None:
        raise NotAuthenticated("the credential was revoked", code="ops.revoked")
    if row.enrolled_at is not None:
        raise Conflict("the enrolment code was already used", code="ops.replayed")
    stamp = now()
    if as_utc(row.enrol_expires_at) <= stamp:
        raise NotAuthenticated("the enrolment code has expired", code="ops.expired")
    secret = secrets.token_urlsafe(32)
    row.secret_hash = _sha(secret)
    row.enrolled_at = stamp
    await audit.record(
        session=session,
        actor=Actor(user_id=None, username=f"terminal:{terminal.code}", ip=ip),
        action="ops.terminal.enrolled",
        entity_type="terminal",
        entity_id=terminal.id,
        institution_id=terminal.institution_id,
        details={"credential_id": row.id},
    )
    return Issued(terminal=terminal, credential=f"{PREFIX}.{row.id}.{secret}")


def parse(credential: str | None) -> tuple[int, str] | None:
    parts = (credential or "").strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdecimal() or len(parts[1]) > 10:
        return None
    if not 20 <= len(parts[2]) <= 100:
        return None
    return int(parts[1]), parts[2]


@dataclass(frozen=True)
class Device:
    credential_id: int
    terminal: Terminal
    last_seq: int


async def authenticate(*, session: AsyncSession, credential: str | None) -> Device:
    """The terminal behind a device credential; unknown or revoked ones are refused."""
    parsed = parse(credential)
    if parsed is None:
        raise NotAuthenticated("unknown device credential", code="ops.unknown")
    cred_id, secret = parsed
    found = (
        await session.execute(
            select(DeviceCredential, Terminal)
            .join(Terminal, Terminal.id == DeviceCredential.terminal_id)
            .where(DeviceCredential.id == cred_id)
        )
    ).first()
    if found is None:
        raise NotAuthenticated("unknown device credential", code="ops.unknown")
    row, terminal = found
    if row.secret_hash is None or not hmac.compare_digest(row.secret_hash, _sha(secret)):
        raise NotAuthenticated("unknown device credential", code="ops.unknown")
    if row.revoked_at is not None or not terminal.active:
        raise NotAuthenticated("the device credential was revoked", code="ops.revoked")
    return Device(credential_id=row.id, terminal=terminal, last_seq=row.last_seq)


def _upsert_health(
    session: AsyncSession, terminal_id: int, beat: Heartbeat, stamp: datetime, node: str
) -> Any:
    """One statement: insert the terminal's health row or update it in place."""
    values = {
        "seen_at": stamp,
        "version": beat.version,
        "camera": beat.camera,
        "microphone": beat.microphone,
        "screen": beat.screen,
        "rtt_ms": beat.rtt_ms,
        "loss_pct": beat.loss_pct,
        "bandwidth_kbps": beat.bandwidth_kbps,
        "node": node,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(TerminalHealth).values(terminal_id=terminal_id, heartbeats=1, **values)
    return statement.on_conflict_do_update(
        index_elements=[TerminalHealth.terminal_id],
        set_={**values, "heartbeats": TerminalHealth.heartbeats + 1},
    )


def status_of(beat: Heartbeat) -> TerminalStatus:
    parts = (beat.camera, beat.microphone, beat.screen)
    return TerminalStatus.FAULT if Component.FAULT in parts else TerminalStatus.ONLINE


async def heartbeat(
    *,
    session: AsyncSession,
    device: Device,
    beat: Heartbeat,
    limiter: Limiter,
    config: OpsSettings,
    node: str = "",
) -> TerminalStatus:
    """Store one heartbeat: refuse a flood (429) and a replay (409), update the health row
    and, when it changed (or now and then), the terminal's status."""
    await refuse_flood(device=device, limiter=limiter, config=config)
    return await store(session=session, device=device, beat=beat, node=node)


async def refuse_flood(*, device: Device, limiter: Limiter, config: OpsSettings) -> None:
    """429 when the device sent more than `heartbeat_limit` beats in the window."""
    count = await limiter.hit(
        f"ops-hb:{device.credential_id}", window=config.heartbeat_window_seconds
    )
    if count.over(config.heartbeat_limit):
        raise RateLimited(
            "too many heartbeats from this device",
            code="ops.flood",
            details={"retry_after": round(count.retry_after, 1)},
        )


async def store(
    *, session: AsyncSession, device: Device, beat: Heartbeat, node: str = ""
) -> TerminalStatus:
    """The heartbeat's writes (replay check, health row, status): one unit of work that
    may be run again whole when SQLite reports the database locked."""
    moved = await session.execute(
        update(DeviceCredential)
        .where(
            DeviceCredential.id == device.credential_id,
            DeviceCredential.last_seq < beat.seq,
            DeviceCredential.revoked_at.is_(None),
        )
        .values(last_seq=beat.seq)
    )
    if getattr(moved, "rowcount", 0) != 1:
        raise Conflict(
            "the heartbeat was already received (replay)",
            code="ops.replayed",
            details={"seq": beat.seq},
        )
    stamp = now()
    terminal = device.terminal
    await session.execute(_upsert_health(session, terminal.id, beat, stamp, node))
    status = status_of(beat)
    seen = terminal.last_seen_at
    stale = seen is None or (stamp - as_utc(seen)).total_seconds() > TERMINAL_REFRESH_SECONDS
    if terminal.status != status or stale:
        await session.execute(
            update(Terminal)
            .where(Terminal.id == terminal.id)
            .values(status=status, last_seen_at=stamp)
        )
    return status


async def get_terminal(*, session: AsyncSession, terminal_id: int) -> Terminal:
    terminal = await session.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFound("terminal not found", code="ops.terminal_not_found")
    return terminal
