"""Alarms: raised once per fault (deduplicated), acknowledged, cleared; and the checks
the evaluation job runs (`evaluate`).

A fault is a (kind, source) pair, e.g. (`terminal_offline`, `terminal:12`). While its
alarm is not cleared the row's `open_key` holds "kind:source" under a unique index, so a
fault still present only refreshes `last_seen_at` and `occurrences`, and two nodes
raising it at once store one row. Raising notifies every operations engineer in the app
(pushed live on `/ws/events`); every step is on the machine of `workflow.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM, Actor
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import NotFound
from yiyun.core.jobs import JobClaim
from yiyun.i18n.text import Text
from yiyun.meetings import workflow as meetings_workflow
from yiyun.meetings.models import Meeting, QualitySample
from yiyun.notify import service as notify_service
from yiyun.ops import workflow
from yiyun.ops.config import OpsSettings
from yiyun.ops.models import (
    Alarm,
    AlarmKind,
    AlarmState,
    DeviceCredential,
    Node,
    NodeKind,
    TerminalHealth,
)
from yiyun.org.enums import Role, TerminalStatus
from yiyun.org.models import Terminal, User, UserRole

logger = logging.getLogger(__name__)
K = AlarmKind
OPEN = (AlarmState.RAISED, AlarmState.ACKNOWLEDGED)

SEVERITY: dict[AlarmKind, str] = {
    K.TERMINAL_OFFLINE: "minor",
    K.CALL_MOS_LOW: "major",
    K.MEDIA_NODE_DOWN: "critical",
    K.TURN_DOWN: "critical",
    K.APP_NOT_READY: "critical",
    K.DISK_FULL: "major",
    K.JOB_LATE: "major",
}

# What each kind means, in words (pages and notifications).
LABELS: dict[AlarmKind, str] = {
    K.TERMINAL_OFFLINE: "Terminal offline",
    K.CALL_MOS_LOW: "Poor call quality",
    K.MEDIA_NODE_DOWN: "Media server down",
    K.TURN_DOWN: "TURN server down",
    K.APP_NOT_READY: "App node not ready",
    K.DISK_FULL: "Disk nearly full",
    K.JOB_LATE: "Job runner late",
}


@dataclass(frozen=True)
class Fault:
    """A fault the checks found now."""

    kind: AlarmKind
    source: str
    subject: str  # what it is about, as people name it (a terminal's name, a node)
    institution_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.source}"


async def ops_recipients(session: AsyncSession) -> list[int]:
    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.OPS_ENGINEER, User.active.is_(True))
    )
    return list((await session.scalars(query)).all())


async def raise_alarm(
    *, session: AsyncSession, bus: EventBus, fault: Fault, at: datetime | None = None
) -> Alarm | None:
    """Raise the fault's alarm, or refresh the open one; the new alarm or None."""
    at = at or now()
    found = await session.scalar(select(Alarm).where(Alarm.open_key == fault.key))
    if found is not None:
        found.last_seen_at = at
        found.occurrences += 1
        found.details = {**fault.details, "subject": fault.subject}
        return None
    alarm = Alarm(
        kind=fault.kind,
        source=fault.source,
        open_key=fault.key,
        institution_id=fault.institution_id,
        severity=SEVERITY[fault.kind],
        state=AlarmState.RAISED,
        raised_at=at,
        last_seen_at=at,
        occurrences=1,
        details={**fault.details, "subject": fault.subject},
    )
    try:
        async with session.begin_nested():
            session.add(alarm)
            await session.flush()
    except IntegrityError:  # another node raised it a moment ago: that row is the one
        return None
    await audit.record(
        session=session,
        actor=SYSTEM,
        action="ops.alarm.raise",
        entity_type="alarm",
        entity_id=alarm.id,
        details={"kind": fault.kind.value, "source": fault.source},
        subject_institutions=(
            frozenset({fault.institution_id}) if fault.institution_id is not None else None
        ),
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=alarm.id,
        action="raise",
        before=None,
        after=AlarmState.RAISED,
        at=at,
        extra={"kind": fault.kind.value, "severity": alarm.severity},
    )
    await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=await ops_recipients(session),
        kind="ops.alarm",
        title=Text("Alarm: {what}", what=Text(LABELS[fault.kind])),
        body=fault.subject,
        link=f"/ops/alarms?alarm={alarm.id}",
        data={"alarm_id": alarm.id, "kind": fault.kind.value},
    )
    return alarm


async def clear_gone(
    *,
    session: AsyncSession,
    bus: EventBus,
    kinds: Iterable[AlarmKind],
    present: set[str],
    at: datetime | None = None,
) -> int:
    """Clear the open alarms of these kinds whose fault is no longer present."""
    rows = (
        await session.scalars(
            select(Alarm).where(Alarm.kind.in_(list(kinds)), Alarm.state.in_(OPEN))
        )
    ).all()
    cleared = 0
    for alarm in rows:
        if alarm.open_key in present:
            continue
        await _clear(session, bus, alarm, actor=SYSTEM, principal=None, at=at)
        cleared += 1
    return cleared


async def _clear(
    session: AsyncSession,
    bus: EventBus,
    alarm: Alarm,
    *,
    actor: Actor,
    principal: Principal | None,
    at: datetime | None = None,
) -> None:
    stamp = at or now()
    await workflow.MACHINE.transition(
        session=session,
        bus=bus,
        entity=alarm,
        action="clear",
        actor=actor,
        principal=principal,
        event={"kind": alarm.kind.value},
        at=stamp,
    )
    alarm.cleared_at = stamp
    alarm.open_key = None


async def act(
    *,
    session: AsyncSession,
    bus: EventBus,
    alarm: Alarm,
    action: str,
    principal: Principal,
    actor: Actor,
) -> AlarmState:
    """An operations engineer acknowledges or clears an alarm by hand."""
    if action == "clear":
        workflow.MACHINE.check(alarm, "clear", principal)
        await _clear(session, bus, alarm, actor=actor, principal=principal)
        return alarm.state
    state = await workflow.MACHINE.transition(
        session=session,
        bus=bus,
        entity=alarm,
        action=action,
        actor=actor,
        principal=principal,
        event={"kind": alarm.kind.value},
    )
    if state is AlarmState.ACKNOWLEDGED:
        alarm.acknowledged_at = now()
        alarm.acknowledged_by = principal.user_id
    return state


async def get(
    *, session: AsyncSession, alarm_id: int, institutions: frozenset[int] | None
) -> Alarm:
    """An alarm the caller's scope covers (`institutions=None`: all); others are 404."""
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None or (institutions is not None and alarm.institution_id not in institutions):
        raise NotFound("alarm not found", code="ops.alarm_not_found")
    return alarm


# --- the checks ----------------------------------------------------------------------------


async def sweep_offline(*, session: AsyncSession, config: OpsSettings, at: datetime) -> int:
    """Terminals whose last heartbeat is older than `offline_after_seconds` go offline."""
    cutoff = at - timedelta(seconds=config.offline_after_seconds)
    stale = select(TerminalHealth.terminal_id).where(TerminalHealth.seen_at < cutoff)
    done = await session.execute(
        update(Terminal)
        .where(Terminal.status != TerminalStatus.OFFLINE, Terminal.id.in_(stale))
        .values(status=TerminalStatus.OFFLINE)
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def terminal_faults(
    *, session: AsyncSession, config: OpsSettings, at: datetime
) -> list[Fault]:
    """Enrolled terminals silent for longer than `offline_alarm_minutes`."""
    cutoff = at - timedelta(minutes=config.offline_alarm_minutes)
    query = (
        select(Terminal, TerminalHealth.seen_at, DeviceCredential.enrolled_at)
        .join(DeviceCredential, DeviceCredential.terminal_id == Terminal.id)
        .outerjoin(TerminalHealth, TerminalHealth.terminal_id == Terminal.id)
        .where(
            Terminal.active.is_(True),
            DeviceCredential.revoked_at.is_(None),
            DeviceCredential.enrolled_at.is_not(None),
        )
    )
    faults = []
    for terminal, seen_at, enrolled_at in (await session.execute(query)).all():
        last = as_utc(seen_at or enrolled_at or at)
        if last < cutoff:
            faults.append(
                Fault(
                    K.TERMINAL_OFFLINE,
                    f"terminal:{terminal.id}",
                    f"{terminal.name} ({terminal.code})",
                    terminal.institution_id,
                    {"last_seen_at": last.isoformat(), "terminal_id": terminal.id},
                )
            )
    return faults


async def call_faults(*, session: AsyncSession, config: OpsSettings, at: datetime) -> list[Fault]:
    """Open calls sampled for at least `mos_minutes` whose every sample in the last
    `mos_minutes` rated a MOS below `mos_threshold`."""
    since = at - timedelta(minutes=config.mos_minutes)
    first = (
        select(QualitySample.meeting_id, func.min(QualitySample.at).label("first"))
        .group_by(QualitySample.meeting_id)
        .subquery()
    )
    query = (
        select(
            Meeting.id,
            Meeting.code,
            func.max(QualitySample.mos),
            func.avg(QualitySample.mos),
            func.count(),
        )
        .join(QualitySample, QualitySample.meeting_id == Meeting.id)
        .join(first, first.c.meeting_id == Meeting.id)
        .where(
            Meeting.state == meetings_workflow.OPEN,
            QualitySample.at >= since,
            first.c.first <= since,
        )
        .group_by(Meeting.id, Meeting.code)
    )
    return [
        Fault(
            K.CALL_MOS_LOW,
            f"meeting:{meeting_id}",
            code,
            None,
            {"meeting_id": meeting_id, "mos": round(float(mean), 2), "samples": int(n)},
        )
        for meeting_id, code, best, mean, n in (await session.execute(query)).all()
        if n >= 2 and float(best) < config.mos_threshold
    ]


async def node_faults(*, session: AsyncSession, config: OpsSettings, at: datetime) -> list[Fault]:
    """App nodes not ready or silent, disks nearly full, media and TURN servers down."""
    stale = at - timedelta(seconds=config.node_stale_seconds)
    faults = []
    for node in (await session.scalars(select(Node))).all():
        silent = as_utc(node.seen_at) < stale
        if node.kind is NodeKind.APP:
            if silent or not node.up:
                why = "silent" if silent else "not_ready"
                faults.append(Fault(K.APP_NOT_READY, node.name, node.name, None, {"why": why}))
            if node.disk_used_pct is not None and node.disk_used_pct >= config.disk_alarm_pct:
                used = {"disk_used_pct": round(node.disk_used_pct, 1)}
                faults.append(Fault(K.DISK_FULL, node.name, node.name, None, used))
        elif not node.up:
            kind = K.MEDIA_NODE_DOWN if node.kind is NodeKind.JANUS else K.TURN_DOWN
            faults.append(Fault(kind, node.name, node.name, None, dict(node.figures)))
    return faults


async def job_faults(*, session: AsyncSession, config: OpsSettings, at: datetime) -> list[Fault]:
    """Periodic jobs overdue by more than `job_late_minutes` (no node is running them)."""
    late = at - timedelta(minutes=config.job_late_minutes)
    rows = (await session.execute(select(JobClaim.name, JobClaim.due_at))).all()
    return [
        Fault(K.JOB_LATE, name, name, None, {"due_at": as_utc(due).isoformat()})
        for name, due in rows
        if as_utc(due) < late
    ]


CHECKS = (
    ((K.TERMINAL_OFFLINE,), terminal_faults),
    ((K.CALL_MOS_LOW,), call_faults),
    ((K.APP_NOT_READY, K.DISK_FULL, K.MEDIA_NODE_DOWN, K.TURN_DOWN), node_faults),
    ((K.JOB_LATE,), job_faults),
)


@dataclass
class Evaluated:
    raised: int = 0
    cleared: int = 0
    open: int = 0
    offline: int = 0


async def evaluate(
    *, session: AsyncSession, bus: EventBus, config: OpsSettings, at: datetime | None = None
) -> Evaluated:
    """One evaluation: terminal states from heartbeats, then every check raises what it
    finds and clears what it no longer finds."""
    at = at or now()
    result = Evaluated(offline=await sweep_offline(session=session, config=config, at=at))
    for kinds, check in CHECKS:
        faults = await check(session=session, config=config, at=at)
        for fault in faults:
            if await raise_alarm(session=session, bus=bus, fault=fault, at=at) is not None:
                result.raised += 1
        present = {f.key for f in faults}
        result.cleared += await clear_gone(
            session=session, bus=bus, kinds=kinds, present=present, at=at
        )
        result.open += len(faults)
    return result


async def history(
    *,
    session: AsyncSession,
    institutions: frozenset[int] | None,
    state: AlarmState | None = None,
    kind: AlarmKind | None = None,
    days: int = 30,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Alarm], int]:
    """Alarms raised in the last `days`, open ones first, newest first."""
    query = select(Alarm).where(Alarm.raised_at >= now() - timedelta(days=days))
    if institutions is not None:
        query = query.where(Alarm.institution_id.in_(sorted(institutions)))
    if state is not None:
        query = query.where(Alarm.state == state)
    if kind is not None:
        query = query.where(Alarm.kind == kind)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Alarm.cleared_at.is_not(None), Alarm.raised_at.desc(), Alarm.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), int(total or 0)
