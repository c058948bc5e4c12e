"""Rollups equal a direct count on random data; the incremental job equals a rebuild.

The expected figures are counted here, independently of the registry: from the generated
rows themselves, with the IANA zone Asia/Shanghai for the district's days.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import World
from yiyun.auth.policy import Scope
from yiyun.core.jobs import JobClaim
from yiyun.emergency.models import Incident, Task
from yiyun.meetings.models import Meeting, QualitySample
from yiyun.stats import figures, registry, rollup
from yiyun.stats.models import Rollup
from yiyun.surveillance import syndromes
from yiyun.surveillance.models import Alert

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_MINUTES = 10 * 24 * 60
SITES = ("lead", "chc_a", "chc_b")
EVERYWHERE = Scope(None)


@dataclass(frozen=True)
class Ev:
    kind: str  # meeting | alert | incident | task | quality
    minute: int
    site: int  # index into SITES
    extra: int  # meeting length / response delay (minutes) / R factor


events = st.lists(
    st.builds(
        Ev,
        kind=st.sampled_from(["meeting", "alert", "incident", "task", "quality"]),
        minute=st.integers(0, SPAN_MINUTES),
        site=st.integers(0, len(SITES) - 1),
        extra=st.integers(0, 300),
    ),
    max_size=40,
)


def at(ev: Ev) -> datetime:
    return BASE + timedelta(minutes=ev.minute)


def day(value: datetime) -> date:
    return value.astimezone(SHANGHAI).date()


async def _insert(session: AsyncSession, world: World, evs: list[Ev], seq: list[int]) -> None:
    hana = world.users["hana"].id
    await syndromes.ensure_builtin(session)
    for ev in evs:
        seq[0] += 1
        inst = world.inst[SITES[ev.site]].id
        t = at(ev)
        if ev.kind in ("meeting", "quality"):
            meeting = Meeting(
                code=f"P{seq[0]:08d}",
                title="t",
                state="ended",
                host_id=world.users["bob"].id,
                institution_id=inst,
                created_at=t - timedelta(minutes=ev.extra),
                ended_at=t,
            )
            session.add(meeting)
            await session.flush()
            if ev.kind == "quality":
                session.add(
                    QualitySample(
                        meeting_id=meeting.id,
                        sender="u1",
                        sender_name="x",
                        at=t,
                        rtt_ms=0,
                        jitter_ms=0,
                        loss_pct=0,
                        send_kbps=0,
                        recv_kbps=0,
                        fps=0,
                        width=0,
                        height=0,
                        r_factor=float(ev.extra % 100),
                        mos=3.0,
                    )
                )
        elif ev.kind == "alert":
            session.add(
                Alert(
                    institution_id=inst,
                    syndrome="fever",
                    period_start=day(t),
                    period_end=day(t),
                    state="new",
                    severity="low",
                    method="ewma",
                    score=1,
                    observed=1,
                    expected=1,
                    created_at=t - timedelta(minutes=ev.extra),
                    updated_at=t,
                    first_response_at=t,
                )
            )
        elif ev.kind == "incident":
            session.add(Incident(title="i", created_by_id=hana, created_at=t, site_ids=[inst]))
        else:
            incident = Incident(title="i", created_by_id=hana, created_at=t, site_ids=[inst])
            session.add(incident)
            await session.flush()
            session.add(Task(incident_id=incident.id, site_id=inst, title="t", created_at=t))
        await session.flush()


def expected(world: World, evs: list[Ev]) -> dict[str, dict[tuple[date, int], float]]:
    """measure → (day, institution or 0) → summed value, counted from the events."""
    out: dict[str, dict[tuple[date, int], float]] = defaultdict(lambda: defaultdict(float))
    n: Counter[tuple[date, int]] = Counter()
    for ev in evs:
        inst = world.inst[SITES[ev.site]].id
        key = (day(at(ev)), inst)
        if ev.kind in ("meeting", "quality"):
            out["meetings"][key] += 1
            out["meeting_minutes"][key] += ev.extra
        if ev.kind == "quality":
            r = ev.extra % 100
            band = "good" if r >= 80 else "fair" if r >= 70 else "poor"
            out[f"quality_{band}"][key] += 1
        if ev.kind == "alert":  # counted on the day it was raised, `extra` minutes earlier
            out["alerts"][(day(at(ev) - timedelta(minutes=ev.extra)), inst)] += 1
            out["alert_response_minutes"][key] += ev.extra
            n[key] += 1
        if ev.kind in ("incident", "task"):
            out["incidents"][(key[0], 0)] += 1
        if ev.kind == "task":
            out["emergency_tasks"][key] += 1
    return out


FIRST, LAST = date(2026, 2, 28), date(2026, 3, 12)
MEASURES = [m for m in registry.all_measures() if not m.snapshot]


async def _stored(session: AsyncSession) -> set[tuple[Any, ...]]:
    rows = await session.execute(
        select(
            Rollup.day,
            Rollup.measure,
            Rollup.institution_id,
            Rollup.department_id,
            Rollup.service_type,
            Rollup.value,
            Rollup.n,
        )
    )
    return {tuple(r) for r in rows.all()}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(evs=events)
async def test_rollups_equal_a_direct_count(app: Any, world: World, evs: list[Ev]) -> None:
    async with app.state.sessions() as session:
        await session.begin()
        await _insert(session, world, evs, [0])
        await rollup.refresh(session, FIRST, LAST, snapshots=False)
        want = expected(world, evs)
        for measure in MEASURES:
            cells = await figures.daily(session, measure, FIRST, LAST, EVERYWHERE)
            got = {k: v for k, (v, _n) in cells.items()}
            assert got == pytest.approx(dict(want.get(measure.code, {}))), measure.code
            # a period's figure (sum, or mean of the summed cells) equals the direct one
            direct = await figures.trend(
                session, measure, FIRST, LAST, EVERYWHERE, grain="month", direct=True
            )
            rolled = await figures.trend(session, measure, FIRST, LAST, EVERYWHERE, grain="month")
            assert direct == rolled, measure.code
        alerts = [ev for ev in evs if ev.kind == "alert"]
        mean = await figures.trend(
            session,
            registry.get("alert_response_minutes"),
            FIRST,
            LAST,  # type: ignore[arg-type]
            EVERYWHERE,
            grain="month",
        )
        if alerts:
            assert sum(p.value for p in mean) == pytest.approx(
                round(sum(ev.extra for ev in alerts) / len(alerts), 4)
            )
        await session.rollback()


async def _clear(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as s, s.begin():
        for model in (Rollup, QualitySample, Task, Incident, Alert, Meeting):
            await s.execute(delete(model))
        await s.execute(delete(JobClaim).where(JobClaim.name == rollup.JOB))


@pytest.mark.commits
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(evs=events, hours=st.integers(12, 48))
async def test_incremental_rollups_equal_a_rebuild(
    app: Any, world: World, evs: list[Ev], hours: int
) -> None:
    """The job runs every `hours` while the events happen; then a rebuild changes nothing."""
    factory = app.state.sessions
    await _clear(factory)
    evs = sorted(evs, key=lambda e: e.minute)
    seq = [0]
    clock = BASE
    pending = list(evs)
    while clock <= BASE + timedelta(minutes=SPAN_MINUTES + 60 * hours):
        now_due = [e for e in pending if at(e) <= clock]
        pending = [e for e in pending if at(e) > clock]
        async with factory() as s, s.begin():
            await _insert(s, world, now_due, seq)
        await rollup.run_due(factory=factory, now=clock, node="test", lookback_days=1)
        clock += timedelta(hours=hours)
    async with factory() as s:
        incremental = await _stored(s)
    async with factory() as s, s.begin():
        await rollup.rebuild(s, today=LAST, since=FIRST)
    async with factory() as s:
        rebuilt = await _stored(s)
    incremental = {r for r in incremental if r[1] != "terminal_availability"}
    assert incremental == rebuilt
    await _clear(factory)
