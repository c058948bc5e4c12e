"""Alarms: each check raises its fault once (deduplicated), operations are told in the
app, the fault going away clears it; and who sees and handles them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.factories import World
from tests.ops.helpers import API, enrolled, send, terminal_id
from yiyun.core import events
from yiyun.core.clock import now
from yiyun.core.jobs import JobClaim
from yiyun.meetings.models import QualitySample
from yiyun.notify.models import Notification
from yiyun.ops import alarms, jobs
from yiyun.ops.config import OpsSettings
from yiyun.ops.metrics import OpsMetrics
from yiyun.ops.models import Alarm, AlarmKind, AlarmState, Node, NodeKind
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Terminal

CONFIG = OpsSettings(offline_alarm_minutes=5, mos_minutes=2, mos_threshold=3.1)


async def evaluate(app: Any, minutes: float = 0.0) -> alarms.Evaluated:
    async with app.state.sessions() as s, s.begin():
        done = await alarms.evaluate(
            session=s, bus=app.state.bus, config=CONFIG, at=now() + timedelta(minutes=minutes)
        )
    await events.settle()
    return done


async def open_alarms(app: Any, kind: AlarmKind) -> list[Alarm]:
    async with app.state.sessions() as s:
        rows = await s.scalars(select(Alarm).where(Alarm.kind == kind).order_by(Alarm.id))
        return list(rows.all())


async def test_a_silent_terminal_raises_one_alarm_that_clears_when_it_beats_again(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    credential = await enrolled(app, client, world)
    assert (await send(client, credential)).status_code == 200
    tid = await terminal_id(app)
    assert (await evaluate(app)).raised == 0
    done = await evaluate(app, minutes=6)
    assert done.raised == 1 and done.offline == 1
    async with app.state.sessions() as s:
        terminal = await s.get(Terminal, tid)
        assert terminal is not None and terminal.status is TerminalStatus.OFFLINE
        told = await s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "ops.alarm", Notification.user_id == world.users["otto"].id)
        )
        assert told == 1
    assert (await evaluate(app, minutes=7)).raised == 0  # still silent: the same alarm
    [alarm] = await open_alarms(app, AlarmKind.TERMINAL_OFFLINE)
    assert alarm.state is AlarmState.RAISED and alarm.occurrences == 2
    assert alarm.institution_id == world.inst["chc_a"].id
    assert (await send(client, credential)).status_code == 200
    assert (await evaluate(app)).cleared == 1
    [alarm] = await open_alarms(app, AlarmKind.TERMINAL_OFFLINE)
    assert alarm.state is AlarmState.CLEARED and alarm.open_key is None
    await evaluate(app, minutes=6)  # silent again: a new alarm, the old one stays history
    assert [a.state for a in await open_alarms(app, AlarmKind.TERMINAL_OFFLINE)] == [
        AlarmState.CLEARED,
        AlarmState.RAISED,
    ]


async def test_poor_call_quality_for_m_minutes_raises_and_good_quality_clears(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        f"{API}/meetings", json={"title": "质量", "invitees": []}, headers=world.auth("alice")
    )
    meeting_id = res.json()["id"]
    stamp = now()

    def sample(minutes_ago: float, mos: float) -> QualitySample:
        return QualitySample(
            meeting_id=meeting_id, sender="u1", sender_name="A", at=stamp - timedelta(
                minutes=minutes_ago), rtt_ms=400, jitter_ms=60, loss_pct=8, send_kbps=300,
            recv_kbps=300, fps=10, width=640, height=360, r_factor=50, mos=mos,
        )  # fmt: skip

    async with app.state.sessions() as s, s.begin():
        s.add_all([sample(1.0, 2.4), sample(0.5, 2.6)])  # bad, but sampled for 1 minute only
    assert (await evaluate(app)).raised == 0
    async with app.state.sessions() as s, s.begin():
        s.add(sample(3.0, 2.5))  # now sampled for 3 minutes, all of the last 2 below 3.1
    assert (await evaluate(app)).raised == 1
    [alarm] = await open_alarms(app, AlarmKind.CALL_MOS_LOW)
    assert alarm.details["meeting_id"] == meeting_id and alarm.severity == "major"
    async with app.state.sessions() as s, s.begin():
        s.add(sample(0.1, 4.2))
    assert (await evaluate(app)).cleared == 1


async def test_nodes_disks_media_turn_and_late_jobs_raise_their_alarms(app: Any) -> None:
    stamp = now()
    async with app.state.sessions() as s, s.begin():
        s.add_all([
            Node(name="app-1", kind=NodeKind.APP, seen_at=stamp, up=False, disk_used_pct=50.0),
            Node(name="app-2", kind=NodeKind.APP, seen_at=stamp, up=True, disk_used_pct=96.5),
            Node(name="app-3", kind=NodeKind.APP, seen_at=stamp - timedelta(minutes=5), up=True),
            Node(name="ws://10.0.0.9:8188", kind=NodeKind.JANUS, seen_at=stamp, up=False),
            Node(name="turn:10.0.0.9:3478", kind=NodeKind.TURN, seen_at=stamp, up=False),
            JobClaim(name="late-job", due_at=stamp - timedelta(minutes=30), result={}),
        ])  # fmt: skip
    await evaluate(app)
    async with app.state.sessions() as s:
        found = {(a.kind, a.source) for a in (await s.scalars(select(Alarm))).all()}
    assert found == {
        (AlarmKind.APP_NOT_READY, "app-1"),
        (AlarmKind.APP_NOT_READY, "app-3"),
        (AlarmKind.DISK_FULL, "app-2"),
        (AlarmKind.MEDIA_NODE_DOWN, "ws://10.0.0.9:8188"),
        (AlarmKind.TURN_DOWN, "turn:10.0.0.9:3478"),
        (AlarmKind.JOB_LATE, "late-job"),
    }


async def test_the_job_runs_once_across_nodes_and_reports_the_node(app: Any) -> None:
    """Two nodes ticking at the same moment: one evaluation; each node reports itself."""
    factory, bus = app.state.sessions, app.state.bus
    at = now()
    ran = [
        await jobs.run_due(factory=factory, bus=bus, config=CONFIG, probe=None, node=n, at=at)
        for n in ("node-a", "node-b")
    ]
    assert sum(r is not None for r in ran) == 1

    async def ready() -> bool:
        return True

    async def load() -> dict[str, object]:
        return {"engine": "embedded", "rooms": {"embedded@node-a": 2}, "people": {"x": 5}}

    probe = jobs.Probe(ready=ready, load=load, data_dir=app.state.settings.data_dir,
                       janus_urls=[], turn_urls=[])  # fmt: skip
    metrics = OpsMetrics(app.state.metrics.registry.__class__())
    snap = await jobs.report(
        factory=factory, bus=bus, probe=probe, metrics=metrics, node="node-a", at=at
    )
    assert snap.calls == {"embedded@node-a": 2} and snap.bus_lag is not None
    async with factory() as s:
        node = await s.get(Node, "node-a")
        assert node is not None and node.up and node.disk_used_pct is not None
    assert await jobs.reachable("turn:127.0.0.1:1?transport=udp", 3478) is False


async def test_alarms_are_scoped_and_only_operations_handle_them(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    credential = await enrolled(app, client, world)
    assert (await send(client, credential)).status_code == 200
    async with app.state.sessions() as s, s.begin():
        s.add(Node(name="app-x", kind=NodeKind.APP, seen_at=now(), up=False))
    await evaluate(app, minutes=6)
    seen = {}
    for who in ("otto", "admin", "ines", "mallory", "hana", "alice"):
        res = await client.get(f"{API}/ops/alarms", headers=world.auth(who))
        seen[who] = res.json()["total"] if res.status_code == 200 else res.status_code
    # ops and the consortium admin: both alarms; chc_a's admin: its terminal's; others: none
    assert seen == {"otto": 2, "admin": 2, "ines": 1, "mallory": 403, "hana": 403, "alice": 403}
    bad = await client.get(f"{API}/ops/alarms?days=0", headers=world.auth("otto"))
    assert bad.status_code == 422
    [terminal_alarm] = await open_alarms(app, AlarmKind.TERMINAL_OFFLINE)
    url = f"{API}/ops/alarms/{terminal_alarm.id}"
    assert (await client.post(f"{url}/acknowledge", headers=world.auth("ines"))).status_code == 403
    [node_alarm] = await open_alarms(app, AlarmKind.APP_NOT_READY)
    hidden_url = f"{API}/ops/alarms/{node_alarm.id}/clear"
    hidden = await client.post(hidden_url, headers=world.auth("ines"))
    assert hidden.status_code == 404
    res = await client.post(f"{url}/acknowledge", headers=world.auth("otto"))
    assert res.status_code == 200 and res.json()["state"] == "acknowledged"
    again = await client.post(f"{url}/acknowledge", headers=world.auth("otto"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "ops.illegal_transition"
    odd = await client.post(f"{url}/explode", headers=world.auth("otto"))
    assert odd.status_code == 409
    res = await client.post(f"{url}/clear", headers=world.auth("otto"))
    assert res.status_code == 200 and res.json()["state"] == "cleared"
