"""Signals become alerts: merging into the series' open alert, and escalation.

A signal merges into the open alert of its series (site or district, and syndrome) when
its day lies within `merge_gap_days` of the alert's period, which then grows and counts
it; otherwise it opens a new alert. An alert nobody has acknowledged `after_hours` after
it opened (or after its last escalation) rises one severity level and pages the
authority's staff again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit.service import SYSTEM, Actor
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.surveillance import workflow
from yiyun.surveillance.config import SurveillanceSettings
from yiyun.surveillance.models import OPEN_STATES, Alert, AlertState, Severity, Signal

Key = tuple[int | None, str]  # (site id or None for the district, syndrome)
ESCALATE_AFTER_HOURS = SurveillanceSettings().escalate_after_hours


@dataclass(frozen=True)
class Hit:
    """One method's alarm on one series and day."""

    key: Key
    on: date
    method: str
    observed: int
    expected: float
    threshold: float
    score: float


def initial_severity(hit: Hit) -> Severity:
    excess = (hit.observed - hit.expected) / max(hit.threshold - hit.expected, 1.0)
    severity = Severity.HIGH if excess >= 3 else Severity.MEDIUM if excess >= 1.5 else Severity.LOW
    if hit.key[0] is None and severity is Severity.LOW:
        return Severity.MEDIUM  # a district-wide rise is never minor
    return severity


@dataclass
class Merged:
    signals: int = 0
    created: int = 0
    merged: int = 0


async def merge_signals(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    hits: list[Hit],
    merge_gap_days: int,
    actor: Actor = SYSTEM,
    at: datetime | None = None,
) -> Merged:
    """Store the hits not seen before as signals, each merged into or opening an alert."""
    at = at or clock_now()
    if not hits:
        return Merged()
    known = {
        (site, code, on, method)
        for site, code, on, method in (
            await session.execute(
                select(Signal.institution_id, Signal.syndrome, Signal.on, Signal.method).where(
                    Signal.on.between(min(h.on for h in hits), max(h.on for h in hits))
                )
            )
        ).all()
    }
    fresh = [h for h in hits if (*h.key, h.on, h.method) not in known]
    open_alerts: dict[Key, Alert] = {}
    for alert in (
        await session.scalars(
            select(Alert).where(Alert.state.in_(OPEN_STATES)).order_by(Alert.period_end)
        )
    ).all():
        open_alerts[(alert.institution_id, alert.syndrome)] = alert  # the latest per series
    created: set[int] = set()
    by_id: dict[int, Alert] = {}
    merged: dict[int, int] = defaultdict(int)
    gap = timedelta(days=merge_gap_days)
    for hit in sorted(fresh, key=lambda h: (h.on, h.key[0] or 0, h.key[1], h.method)):
        current = open_alerts.get(hit.key)
        if current is None or not (
            current.period_start - gap <= hit.on <= current.period_end + gap
        ):
            alert = Alert(
                institution_id=hit.key[0],
                syndrome=hit.key[1],
                period_start=hit.on,
                period_end=hit.on,
                state=AlertState.NEW,
                severity=initial_severity(hit),
                method=hit.method,
                score=hit.score,
                observed=hit.observed,
                expected=hit.expected,
                signal_count=1,
                created_at=at,
                updated_at=at,
            )
            session.add(alert)
            await session.flush()
            open_alerts[hit.key] = alert
            created.add(alert.id)
            by_id[alert.id] = alert
        else:
            alert = current
            alert.period_start = min(alert.period_start, hit.on)
            alert.period_end = max(alert.period_end, hit.on)
            alert.signal_count += 1
            alert.updated_at = at
            if hit.observed > alert.observed:
                alert.observed, alert.expected = hit.observed, hit.expected
                alert.score, alert.method = hit.score, hit.method
            if alert.id not in created:
                merged[alert.id] += 1
                by_id[alert.id] = alert
            severity = initial_severity(hit)
            if list(Severity).index(severity) > list(Severity).index(alert.severity):
                alert.severity = severity
        session.add(
            Signal(
                institution_id=hit.key[0],
                syndrome=hit.key[1],
                on=hit.on,
                method=hit.method,
                observed=hit.observed,
                expected=hit.expected,
                threshold=hit.threshold,
                score=hit.score,
                alert_id=alert.id,
                created_at=at,
            )
        )
    await session.flush()
    for alert_id in sorted(created):
        alert = by_id[alert_id]
        await workflow.record(
            session=session,
            bus=bus,
            alert=alert,
            action="create",
            actor=actor,
            from_state=None,
            details={"signals": alert.signal_count, "method": alert.method},
            at=at,
            urgent=alert.severity in (Severity.HIGH, Severity.CRITICAL),
        )
    for alert_id, count in sorted(merged.items()):
        alert = by_id[alert_id]
        await workflow.record(
            session=session,
            bus=bus,
            alert=alert,
            action="merge",
            actor=actor,
            from_state=alert.state,
            details={"signals": count, "period_end": alert.period_end.isoformat()},
            at=at,
            notify=False,
        )
    return Merged(signals=len(fresh), created=len(created), merged=len(merged))


async def escalate(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    now: datetime | None = None,
    after_hours: float = ESCALATE_AFTER_HOURS,
) -> int:
    """Alerts still new `after_hours` after creation (or the last escalation) go up a level.

    Each alert is claimed with a conditional UPDATE, so several app nodes calling this
    at once escalate it once. The authority's staff are notified again, urgently.
    """
    at = now or clock_now()
    cutoff = at - timedelta(hours=after_hours)
    due = (
        Alert.state == AlertState.NEW,
        Alert.created_at <= cutoff,
        or_(Alert.escalated_at.is_(None), Alert.escalated_at <= cutoff),
    )
    ids = list((await session.scalars(select(Alert.id).where(*due).order_by(Alert.id))).all())
    done = 0
    for alert_id in ids:
        claimed = await session.execute(
            update(Alert)
            .where(Alert.id == alert_id, *due)
            .values(escalated_at=at, escalations=Alert.escalations + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue
        alert = (
            await session.scalars(
                select(Alert).where(Alert.id == alert_id).execution_options(populate_existing=True)
            )
        ).one()
        before = alert.severity
        alert.severity = before.raised()
        alert.updated_at = at
        await workflow.record(
            session=session,
            bus=bus,
            alert=alert,
            action="escalate",
            actor=SYSTEM,
            from_state=alert.state,
            details={
                "severity_from": before.value,
                "severity_to": alert.severity.value,
                "unacknowledged_hours": round((at - alert.created_at).total_seconds() / 3600, 1),
                "escalations": alert.escalations,
            },
            at=at,
            urgent=True,
            authority_only=True,
        )
        done += 1
    return done
