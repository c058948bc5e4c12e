"""Operations work in the background, every `evaluate_seconds`.

Each node reports itself (`report`): whether it is ready (database and bus), how full
its data disk is, the calls on its media engine, and it refreshes its Prometheus gauges.
Then the alarm evaluation runs on exactly one node (`core.jobs` claim of `ops-alarms`):
it probes the Janus and TURN servers, and raises and clears alarms (`alarms.evaluate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun import __version__
from yiyun.core import jobs
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.ops import alarms
from yiyun.ops.config import OpsSettings
from yiyun.ops.metrics import OpsMetrics, Snapshot
from yiyun.ops.models import Alarm, Node, NodeKind
from yiyun.org.models import Terminal

logger = logging.getLogger(__name__)
EVALUATE = "ops-alarms"
PROBE_TIMEOUT = 2.0


@dataclass
class Probe:
    """What a node knows about itself (the app wires these in)."""

    ready: Callable[[], Awaitable[bool]]
    load: Callable[[], Awaitable[dict[str, Any]]]  # {"engine", "rooms": {node: n}, "people"}
    data_dir: Path
    janus_urls: list[str]
    turn_urls: list[str]


def disk_used_pct(path: Path) -> float | None:
    target = path
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        usage = shutil.disk_usage(target)
    except OSError:
        return None
    return 100.0 * usage.used / usage.total if usage.total else None


async def bus_lag(bus: EventBus, node: str) -> float | None:
    """Seconds for a message published on the bus to come back to this node."""
    channel = f"ops.probe.{node}"
    try:
        async with bus.subscribe(channel) as sub:
            started = time.perf_counter()
            await bus.publish(channel, {"t": started})
            got = await sub.get(timeout=2.0)
    except Exception:  # the bus is away: no figure this time
        return None
    return time.perf_counter() - started if got is not None else None


async def _upsert_node(session: AsyncSession, name: str, kind: NodeKind, **values: Any) -> None:
    row = await session.get(Node, name)
    if row is None:
        row = Node(name=name, kind=kind, figures={})
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)


async def report(
    *,
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus,
    probe: Probe,
    metrics: OpsMetrics,
    node: str,
    at: datetime | None = None,
) -> Snapshot:
    """This node's row in `ops_node` and its gauges."""
    at = at or clock_now()
    ready = await probe.ready()
    load = await probe.load()
    used = disk_used_pct(probe.data_dir)
    snap = Snapshot(
        node=node,
        engine=str(load.get("engine", "")),
        calls=dict(load.get("rooms", {})),
        participants=dict(load.get("people", {})),
        ready=ready,
        bus_lag=await bus_lag(bus, node),
    )
    with contextlib.suppress(Exception):  # the database may be what is not ready
        async with transaction(factory) as session:
            await _upsert_node(
                session,
                node,
                NodeKind.APP,
                seen_at=at,
                up=ready,
                disk_used_pct=used,
                version=__version__,
                figures={"engine": snap.engine, "calls": sum(snap.calls.values())},
            )
            query = (
                select(Terminal.status, func.count())
                .where(Terminal.active.is_(True))
                .group_by(Terminal.status)
            )
            snap.terminals = {str(s): int(n) for s, n in (await session.execute(query)).all()}
            open_q = (
                select(Alarm.kind, Alarm.severity, func.count())
                .where(Alarm.open_key.is_not(None))
                .group_by(Alarm.kind, Alarm.severity)
            )
            snap.alarms = {
                (str(k), str(s)): int(n) for k, s, n in (await session.execute(open_q)).all()
            }
            rows = (await session.execute(select(jobs.JobClaim.name, jobs.JobClaim.due_at))).all()
            snap.job_lag = {
                name: max(0.0, (at - as_utc(due)).total_seconds()) for name, due in rows
            }
    metrics.snapshot = snap
    return snap


async def leave(factory: async_sessionmaker[AsyncSession], node: str) -> None:
    """A node stopping cleanly takes its row away (no alarm for a planned stop)."""
    with contextlib.suppress(Exception):
        async with transaction(factory) as session:
            row = await session.get(Node, node)
            if row is not None:
                await session.delete(row)


async def reachable(url: str, default_port: int) -> bool:
    """Whether a TCP connection to the server of `url` opens within the timeout."""
    parts = urlsplit(url if "//" in url else "//" + url.split(":", 1)[-1])
    host = parts.hostname
    if not host:
        return False
    try:
        port = parts.port or default_port
    except ValueError:
        return False
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def probe_media(session: AsyncSession, probe: Probe, at: datetime) -> None:
    targets = [(u, NodeKind.JANUS, 8188) for u in probe.janus_urls]
    targets += [(u, NodeKind.TURN, 3478) for u in probe.turn_urls]
    for url, kind, port in targets:
        up = await reachable(url, port)
        await _upsert_node(session, url, kind, seen_at=at, up=up, figures={"url": url})


async def run_due(
    *,
    factory: async_sessionmaker[AsyncSession],
    bus: EventBus,
    config: OpsSettings,
    probe: Probe | None,
    node: str,
    at: datetime | None = None,
) -> alarms.Evaluated | None:
    """The evaluation, if it is due and this node wins the claim."""
    at = at or clock_now()
    await jobs.ensure(factory, EVALUATE, at)
    next_at = at + timedelta(seconds=config.evaluate_seconds)
    previous = await jobs.claim(factory, EVALUATE, at=at, node=node, next_at=next_at)
    if previous is None:
        return None
    try:
        async with transaction(factory) as session:
            if probe is not None:
                await probe_media(session, probe, at)
            done = await alarms.evaluate(session=session, bus=bus, config=config, at=at)
    except Exception:
        logger.exception("ops alarm evaluation failed; retrying next tick")
        await jobs.finish(factory, EVALUATE, {"error": True}, retry_at=at)
        return None
    await jobs.finish(
        factory, EVALUATE, {"raised": done.raised, "cleared": done.cleared, "open": done.open}
    )
    return done


class Runner(jobs.Periodic):
    """Every `evaluate_seconds`: this node's report, then the evaluation if it is due."""

    def __init__(
        self,
        *,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus,
        config: OpsSettings,
        probe: Probe,
        metrics: OpsMetrics,
        extra: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.factory, self.bus, self.config = factory, bus, config
        self.probe, self.metrics, self.extra = probe, metrics, extra
        self.node = jobs.node_name()
        self.companions: list[jobs.Periodic] = []  # loops started and stopped with it
        super().__init__(
            "ops-jobs",
            self._tick,
            every_seconds=config.evaluate_seconds,
            enabled=config.jobs_enabled,
        )

    async def _tick(self) -> None:
        if self.extra is not None:
            await self.extra()
        await report(
            factory=self.factory,
            bus=self.bus,
            probe=self.probe,
            metrics=self.metrics,
            node=self.node,
        )
        await run_due(
            factory=self.factory,
            bus=self.bus,
            config=self.config,
            probe=self.probe,
            node=self.node,
        )

    def start(self) -> None:
        super().start()
        for loop in self.companions:
            loop.start()

    async def stop(self) -> None:
        for loop in self.companions:
            await loop.stop()
        await super().stop()
        if self.enabled:
            await leave(self.factory, self.node)
