"""The daily run on synthetic history: an injected outbreak becomes exactly one merged
alert, re-runs add nothing, unacknowledged alerts escalate, and the periodic jobs are
claimed once however many app nodes run them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import World
from yiyun.core.bus import InProcessBus
from yiyun.notify.models import Notification
from yiyun.surveillance import detection, jobs, syndromes
from yiyun.surveillance.config import SurveillanceSettings, config_from
from yiyun.surveillance.models import (
    Alert,
    AlertEvent,
    AlertState,
    DailyCount,
    JobClaim,
    Severity,
    Signal,
)

AS_OF = date(2026, 11, 20)
OUTBREAK = {AS_OF - timedelta(days=3): 9, AS_OF - timedelta(days=2): 16,
            AS_OF - timedelta(days=1): 22, AS_OF: 14}  # fmt: skip
RATES = {"fever": 6.0, "ili": 3.0, "diarrhoea": 2.0, "rash_fever": 0.3, "ari": 8.0, "hfmd": 0.5}
SIZE = {"chc_a": 1.0, "chc_b": 1.3, "lead": 3.0}
CONFIG = SurveillanceSettings(lookback_days=1)  # as a daily run; district Farrington lacks history
RUN_AT = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 08:00 on the 21st in the district


async def seed_history(
    session: AsyncSession, world: World, days: int = 70, outbreak: bool = True
) -> None:
    """Poisson counts for every site and syndrome; diarrhoea at CHC A jumps at the end."""
    rng = np.random.default_rng(20261120)
    rows = []
    for site, size in SIZE.items():
        for code, rate in RATES.items():
            counts = rng.poisson(rate * size, days)
            for i, n in enumerate(counts):
                on = AS_OF - timedelta(days=days - 1 - i)
                extra = (
                    OUTBREAK.get(on, 0)
                    if outbreak and (site, code) == ("chc_a", "diarrhoea")
                    else 0
                )
                rows.append({"institution_id": world.inst[site].id, "syndrome": code, "on": on,
                             "count": int(n) + extra, "source": "api", "reported_at": RUN_AT,
                             "late": False})  # fmt: skip
    async with session.begin():
        await syndromes.ensure_builtin(session)
        await session.execute(insert(DailyCount), rows)


async def run(session: AsyncSession, as_of: date, **kw: object) -> detection.RunSummary:
    await session.rollback()
    async with session.begin():
        return await detection.run(
            session=session,
            bus=InProcessBus(),
            as_of=as_of,
            config=kw.pop("config", CONFIG),  # type: ignore[arg-type]
            now=kw.pop("now", RUN_AT),  # type: ignore[arg-type]
        )


async def site_alerts(session: AsyncSession, world: World) -> list[Alert]:
    await session.rollback()
    query = select(Alert).where(Alert.institution_id.is_not(None)).order_by(Alert.id)
    rows = list((await session.scalars(query.execution_options(populate_existing=True))).all())
    session.expunge_all()  # detached snapshots: later rollbacks do not expire them
    return rows


async def test_an_injected_outbreak_becomes_one_merged_alert(
    session: AsyncSession, world: World
) -> None:
    await seed_history(session, world)
    summaries = [await run(session, day) for day in sorted(OUTBREAK)]
    alerts = await site_alerts(session, world)
    assert [(a.institution_id, a.syndrome) for a in alerts] == [
        (world.inst["chc_a"].id, "diarrhoea")
    ]
    alert = alerts[0]
    assert alert.state == AlertState.NEW and alert.method == "ewma"
    assert alert.signal_count >= 3
    assert alert.period_end == AS_OF and alert.period_start <= AS_OF - timedelta(days=2)
    assert alert.observed >= 22  # the peak day is the one shown
    assert sum(s.alerts_created for s in summaries) >= 1
    events = (
        await session.scalars(
            select(AlertEvent.action).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)
        )
    ).all()
    assert events[0] == "create" and set(events[1:]) == {"merge"}
    signals = (await session.scalars(select(Signal).where(Signal.alert_id == alert.id))).all()
    assert len(signals) == alert.signal_count
    assert {s.on for s in signals} <= set(OUTBREAK)


async def test_re_running_adds_no_signal_and_no_alert(session: AsyncSession, world: World):
    await seed_history(session, world)
    for day in sorted(OUTBREAK):
        await run(session, day)
    before = await session.scalar(select(func.count()).select_from(Signal))
    again = [await run(session, day) for day in sorted(OUTBREAK)]
    assert all(s.signals == s.alerts_created == s.alerts_merged == 0 for s in again)
    assert await session.scalar(select(func.count()).select_from(Signal)) == before
    # One run over the four days at once finds the same alert, not a second one.
    wide = await run(session, AS_OF, config=CONFIG.model_copy(update={"lookback_days": 4}))
    assert wide.alerts_created == 0
    assert len(await site_alerts(session, world)) == 1


async def test_one_run_over_several_days_merges_like_daily_runs(
    session: AsyncSession, world: World
):
    await seed_history(session, world)
    wide = CONFIG.model_copy(update={"lookback_days": 4})
    summary = await run(session, AS_OF, config=wide)
    alerts = await site_alerts(session, world)
    assert len(alerts) == 1 and alerts[0].period_end == AS_OF
    site_signals = await session.scalar(
        select(func.count()).select_from(Signal).where(Signal.institution_id.is_not(None))
    )
    assert alerts[0].signal_count == site_signals >= 3
    assert summary.series == len(SIZE) * len(RATES) + len(RATES)


async def test_quiet_history_raises_no_site_alert(session: AsyncSession, world: World) -> None:
    await seed_history(session, world, outbreak=False)
    for day in sorted(OUTBREAK):
        await run(session, day)
    assert await site_alerts(session, world) == []


async def test_a_signal_after_a_closed_alert_opens_a_new_one(session: AsyncSession, world: World):
    await seed_history(session, world)
    await run(session, AS_OF - timedelta(days=2))
    first = (await site_alerts(session, world))[0]
    await session.rollback()
    async with session.begin():
        stored = await session.get(Alert, first.id)
        assert stored is not None
        stored.state = AlertState.CLOSED
    await run(session, AS_OF)
    alerts = await site_alerts(session, world)
    assert len(alerts) == 2 and alerts[1].state == AlertState.NEW


def test_history_each_method_needs() -> None:
    assert detection.history_needed("ears-c1") == 7
    assert detection.history_needed("ears-c3", {"baseline": 14}) == 18
    assert detection.history_needed("farrington") == 3 * 365 + 3
    assert detection.history_needed("percentile") == 3 * 364 + 2 * 7 + 7
    with pytest.raises(ValueError):
        detection.history_needed("astrology")


async def test_methods_without_enough_history_are_skipped(session: AsyncSession, world: World):
    await seed_history(session, world)
    config = SurveillanceSettings(site_methods=("ears-c2",), district_methods=("farrington",))
    summary = await run(session, AS_OF, config=config)
    assert summary.skipped and summary.skipped[0].startswith("district:farrington")


# --- escalation -------------------------------------------------------------------------------


async def test_an_unacknowledged_alert_escalates_every_n_hours(session: AsyncSession, world: World):
    await seed_history(session, world)
    await run(session, AS_OF)
    alert = (await site_alerts(session, world))[0]
    severity = alert.severity

    async def escalate(hours: float) -> int:
        await session.rollback()
        async with session.begin():
            return await detection.escalate(
                session=session, bus=InProcessBus(), now=RUN_AT + timedelta(hours=hours),
                after_hours=6,
            )  # fmt: skip

    assert await escalate(5) == 0
    assert await escalate(6.5) == 1
    assert await escalate(7) == 0  # six more hours before it escalates again
    assert await escalate(12.6) == 1
    escalated = (await site_alerts(session, world))[0]
    assert escalated.escalations == 2
    assert escalated.severity == severity.raised().raised()
    paged = (
        await session.scalars(
            select(Notification).where(Notification.data["action"].as_string() == "escalate")
        )
    ).all()
    assert {n.user_id for n in paged} == {world.users["hana"].id}
    assert all(n.urgent for n in paged)
    await session.rollback()
    async with session.begin():
        stored = await session.get(Alert, alert.id)
        assert stored is not None
        stored.state = AlertState.ACKNOWLEDGED
    assert await escalate(30) == 0


async def test_escalation_is_claimed_once_by_concurrent_callers(
    app: object, session: AsyncSession, world: World
) -> None:
    await seed_history(session, world)
    await run(session, AS_OF)
    factory: async_sessionmaker[AsyncSession] = app.state.sessions  # type: ignore[attr-defined]

    async def node() -> int:
        async with factory() as s, s.begin():
            return await detection.escalate(
                session=s, bus=None, now=RUN_AT + timedelta(hours=7), after_hours=6
            )

    escalated = await asyncio.gather(node(), node(), node())
    async with factory() as s:
        alerts = await s.scalar(select(func.count()).select_from(Alert))
        once = await s.scalar(select(func.count()).select_from(Alert).where(Alert.escalations == 1))
    assert sum(escalated) == alerts == once >= 1
    assert Severity.CRITICAL.raised() is Severity.CRITICAL  # the top level stays the top


# --- the periodic jobs ------------------------------------------------------------------------


async def test_jobs_run_once_when_due_whichever_node_claims_them(
    app: object, session: AsyncSession, world: World
) -> None:
    await seed_history(session, world)
    factory: async_sessionmaker[AsyncSession] = app.state.sessions  # type: ignore[attr-defined]
    cfg = SurveillanceSettings(daily_at=time(6, 0), escalate_every_minutes=5)
    at = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 08:00 CST, after today's 06:00

    async def node(name: str, when: datetime) -> dict:
        return await jobs.run_due(factory=factory, bus=None, config=cfg, now=when, node=name)

    first = await asyncio.gather(node("a", at), node("b", at))
    assert sorted(k for ran in first for k in ran) == ["detect", "escalate"]
    detected = next(ran["detect"] for ran in first if "detect" in ran)
    assert detected["as_of"] == AS_OF.isoformat() and detected["alerts_created"] >= 1
    assert await node("a", at + timedelta(minutes=1)) == {}
    later = await node("b", at + timedelta(minutes=6))
    assert list(later) == ["escalate"]
    async with factory() as s:
        claim = await s.get(JobClaim, jobs.DETECT)
        assert claim is not None
        assert claim.due_at == datetime(2026, 11, 21, 22, 0, tzinfo=UTC)  # 06:00 tomorrow CST
    # After three days down, the next run judges the days it missed too.
    back = await node("a", at + timedelta(days=3))
    assert back["detect"]["as_of"] == (AS_OF + timedelta(days=3)).isoformat()


async def test_the_runner_ticks_in_the_background_and_stops(app: object, world: World) -> None:
    factory: async_sessionmaker[AsyncSession] = app.state.sessions  # type: ignore[attr-defined]
    # The daily run at 00:00 district time is always due today (at the default 06:00 it
    # is not, between midnight and six in the district).
    cfg = SurveillanceSettings(tick_seconds=0.05, daily_at=time(0, 0))
    runner = jobs.Runner(factory, InProcessBus(), cfg)
    runner.start()
    for _ in range(100):
        await asyncio.sleep(0.05)
        async with factory() as s:
            done = (
                await s.scalars(select(JobClaim).where(JobClaim.finished_at.is_not(None)))
            ).all()
        if len(done) == 2:
            break
    await runner.stop()
    assert {c.name for c in done} == {jobs.DETECT, jobs.ESCALATE}
    idle = jobs.Runner(factory, None, SurveillanceSettings(jobs_enabled=False))
    idle.start()  # switched off by settings: nothing runs
    assert idle._task is None


def test_the_daily_run_is_due_at_the_configured_district_time() -> None:
    six = time(6, 0)
    assert jobs.next_daily(datetime(2026, 11, 20, 21, 0, tzinfo=UTC), six) == datetime(
        2026, 11, 20, 22, 0, tzinfo=UTC
    )
    assert jobs.next_daily(datetime(2026, 11, 20, 22, 0, tzinfo=UTC), six) == datetime(
        2026, 11, 21, 22, 0, tzinfo=UTC
    )
    assert config_from(object()) == SurveillanceSettings()


# --- the demo history -------------------------------------------------------------------------


async def test_the_demo_history_opens_with_live_alerts_and_tops_up_idempotently(
    app: object, settings: object, session: AsyncSession, world: World
) -> None:
    from yiyun.surveillance import demo

    factory: async_sessionmaker[AsyncSession] = app.state.sessions  # type: ignore[attr-defined]
    end = date(2026, 11, 25)
    first = await demo.seed_surveillance(factory, settings, years=1, end=end)  # type: ignore[arg-type]
    assert (first.sites, first.days) == (3, 365 + 28)
    assert first.rows == 3 * 6 * (365 + 28)
    live = (await session.scalars(select(Alert).where(Alert.state == AlertState.NEW))).all()
    assert live and all(a.period_end >= end - timedelta(days=7) for a in live)
    assert world.inst["chc_b"].id in {a.institution_id for a in live}  # the injected outbreaks
    worked = (await session.scalars(select(Alert).where(Alert.state == AlertState.CLOSED))).all()
    assert all(a.first_response_at and a.first_response_at > a.created_at for a in worked)
    again = await demo.seed_surveillance(factory, settings, years=1, end=end)  # type: ignore[arg-type]
    assert (again.rows, again.alerts) == (0, 0)
    later = await demo.seed_surveillance(factory, settings, years=1, end=end + timedelta(days=2))  # type: ignore[arg-type]
    assert later.rows == 3 * 6 * 2


def test_the_demo_counts_follow_the_seasons() -> None:
    from yiyun.org.enums import InstitutionKind
    from yiyun.surveillance import demo

    sites = [(InstitutionKind.COMMUNITY_HEALTH_CENTRE, f"C{i}") for i in range(30)]
    codes = ["ili", "hfmd", "diarrhoea"]
    end = date(2026, 12, 31)
    counts = demo.synthetic_counts(sites, codes, end, 365)
    assert counts.shape == (365, 30, 3) and counts.min() >= 0
    month = np.array([(end - timedelta(days=364 - i)).month for i in range(365)])
    per_month = {m: counts[month == m].sum(axis=(0, 1)) / (month == m).sum() for m in range(1, 13)}
    assert per_month[1][0] > 1.5 * per_month[10][0]  # influenza-like illness peaks in winter
    assert per_month[5][1] > 2 * per_month[12][1]  # hand-foot-mouth in late spring
    assert per_month[7][2] > 1.3 * per_month[3][2]  # diarrhoea in summer
    weekday = np.array([(end - timedelta(days=364 - i)).weekday() for i in range(365)])
    assert counts[weekday == 0].mean() > 1.5 * counts[weekday == 6].mean()
    assert (counts == demo.synthetic_counts(sites, codes, end, 365)).all()  # seeded
