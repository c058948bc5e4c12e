"""Simulated terminals for the demo and the benchmark.

`Fleet.enrol()` gives each active terminal a fresh device credential (kept in memory,
stored hashed like any other); `Fleet.beat()` sends one round of heartbeats through
`devices.authenticate` + `devices.heartbeat`, the path the API takes. Each terminal has a
profile from its code: most are healthy, some stay silent (they go offline and raise an
alarm after `offline_alarm_minutes`) and a few report a faulty camera.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now
from yiyun.core.db import transaction
from yiyun.core.ratelimit import Limiter, MemoryLimiter
from yiyun.ops import devices
from yiyun.ops.config import OpsSettings
from yiyun.ops.models import Component, DeviceCredential
from yiyun.org.models import Terminal

HEALTHY, SILENT, FAULTY = "healthy", "silent", "faulty"
VERSIONS = ("3.2.1", "3.2.1", "3.2.1", "3.1.4", "3.3.0-rc1")


def profile(code: str) -> str:
    roll = int(hashlib.sha256(code.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return SILENT if roll < 0.08 else FAULTY if roll < 0.12 else HEALTHY


@dataclass
class Sim:
    terminal_id: int
    code: str
    credential: str
    profile: str
    seq: int = 0


@dataclass
class Fleet:
    factory: async_sessionmaker[AsyncSession]
    config: OpsSettings = field(default_factory=OpsSettings)
    limiter: Limiter = field(default_factory=MemoryLimiter)
    node: str = "simulator"
    terminals: list[Sim] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))  # noqa: S311 (figures)

    async def enrol(self, *, limit: int | None = None, codes: list[str] | None = None) -> int:
        """A fresh credential for each active terminal (or those named); earlier ones end."""
        stamp = now()
        async with transaction(self.factory) as session:
            query = select(Terminal).where(Terminal.active.is_(True)).order_by(Terminal.id)
            if codes is not None:
                query = query.where(Terminal.code.in_(codes))
            if limit is not None:
                query = query.limit(limit)
            rows = list((await session.scalars(query)).all())
            ids = [t.id for t in rows]
            await session.execute(
                update(DeviceCredential)
                .where(DeviceCredential.terminal_id.in_(ids), DeviceCredential.revoked_at.is_(None))
                .values(revoked_at=stamp)
            )
            made = []
            for terminal in rows:
                secret = secrets.token_urlsafe(32)
                cred = DeviceCredential(
                    terminal_id=terminal.id,
                    enrol_expires_at=stamp,
                    secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
                    enrolled_at=stamp,
                    last_seq=0,
                )
                session.add(cred)
                made.append((terminal, cred, secret))
            await session.flush()
            self.terminals = [
                Sim(t.id, t.code, f"{devices.PREFIX}.{c.id}.{s}", profile(t.code))
                for t, c, s in made
            ]
        return len(self.terminals)

    def heartbeat_of(self, sim: Sim) -> devices.Heartbeat:
        sim.seq = max(sim.seq + 1, int(time.time() * 1000))
        rng = self.rng
        faulty = sim.profile == FAULTY
        return devices.Heartbeat(
            seq=sim.seq,
            version=VERSIONS[sim.terminal_id % len(VERSIONS)],
            camera=Component.FAULT if faulty else Component.OK,
            microphone=Component.OK,
            screen=Component.OK,
            rtt_ms=round(rng.uniform(8, 60) + (rng.random() < 0.05) * rng.uniform(80, 300), 1),
            loss_pct=round(max(0.0, rng.gauss(0.3, 0.4)), 2),
            bandwidth_kbps=round(rng.uniform(2_000, 50_000)),
        )

    async def beat_one(self, session: AsyncSession, sim: Sim) -> None:
        device = await devices.authenticate(session=session, credential=sim.credential)
        await devices.heartbeat(
            session=session,
            device=device,
            beat=self.heartbeat_of(sim),
            limiter=self.limiter,
            config=self.config,
            node=self.node,
        )

    async def beat(self, *, include_silent: bool = False) -> int:
        """One round: a heartbeat from every (non-silent) terminal, one transaction each."""
        sent = 0
        for sim in self.terminals:
            if sim.profile == SILENT and not include_silent:
                continue
            async with transaction(self.factory) as session:
                await self.beat_one(session, sim)
            sent += 1
        return sent


class DemoBeats:
    """The demo's heartbeat source inside the app: enrols on first use, then a round of
    heartbeats every `every_seconds` (called by its own loop, beside the ops runner)."""

    def __init__(self, fleet: Fleet, every_seconds: float = 0.0) -> None:
        self.fleet, self.every = fleet, every_seconds
        self._last = 0.0
        self._ready = False

    async def __call__(self) -> None:
        if not self._ready:
            await self.fleet.enrol()
            self._ready = True
        if time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            await self.fleet.beat()
