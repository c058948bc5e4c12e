"""Every notification is worded in its recipient's language: meeting calls and changes,
emergency tasks and surveillance alerts alike (Chinese unless the user chose English)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.factories import World
from yiyun.auth import service as auth_service
from yiyun.i18n.text import Localised, Text
from yiyun.notify.models import Notification
from yiyun.org.models import User
from yiyun.surveillance import syndromes, workflow
from yiyun.surveillance.models import Alert, AlertState, Severity, Syndrome


async def _speaks_english(app: Any, *names: str) -> None:
    async with app.state.sessions() as s, s.begin():
        await s.execute(update(User).where(User.username.in_(names)).values(locale="en"))


async def _inbox(app: Any, world: World, name: str, kind: str) -> list[Notification]:
    async with app.state.sessions() as s:
        query = select(Notification).where(
            Notification.user_id == world.users[name].id, Notification.kind == kind
        )
        return list((await s.scalars(query.order_by(Notification.id))).all())


def test_a_text_renders_nested_and_localised_parameters() -> None:
    text = Text(
        "Surveillance alert #{id} ({syndrome} · {site}): {action}",
        id=7,
        syndrome=Localised({"zh_CN": "流感样病例", "en": "Influenza-like illness"}),
        site=Text("whole district"),
        action=Text("acknowledged"),
    )
    assert text.render("en") == (
        "Surveillance alert #7 (Influenza-like illness · whole district): acknowledged"
    )
    assert text.render("zh_CN") == "监测预警 #7（流感样病例·全区）：已签收"


async def test_a_call_rings_each_invitee_in_their_language(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await _speaks_english(app, "bob")
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("alice"),
        json={"title": "急会诊", "invitees": ["bob", "nina"]},
    )
    assert res.status_code == 201, res.text
    (to_bob,) = await _inbox(app, world, "bob", "meeting.ring")
    (to_nina,) = await _inbox(app, world, "nina", "meeting.ring")
    # who calls, into which meeting (the title as the host typed it), in each language
    assert to_bob.title == "Alice invites you to the video meeting “急会诊”"
    assert to_nina.title == "Alice邀请您参加视频会议「急会诊」"


async def test_a_scheduled_meeting_tells_each_invitee_in_their_language(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await _speaks_english(app, "bob")
    starts = datetime.now(UTC).replace(microsecond=0).isoformat()
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("alice"),
        json={"title": "多学科会诊", "invitees": ["bob", "nina"], "starts_at": starts},
    )
    assert res.status_code == 201, res.text
    (to_bob,) = await _inbox(app, world, "bob", "meeting.invited")
    (to_nina,) = await _inbox(app, world, "nina", "meeting.invited")
    assert to_bob.title == "Alice invites you to the video meeting “多学科会诊”"
    assert to_nina.title == "Alice邀请您参加视频会议「多学科会诊」"


async def test_an_emergency_task_is_worded_per_site_staff(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await _speaks_english(app, "nina")
    incident = await client.post(
        "/api/v1/emergency/incidents",
        headers=world.auth("hana"),
        json={"title": "发热聚集", "site_ids": [world.inst["chc_a"].id]},
    )
    res = await client.post(
        f"/api/v1/emergency/incidents/{incident.json()['id']}/tasks",
        headers=world.auth("hana"),
        json={"site_ids": [world.inst["chc_a"].id], "title": "上报发热门诊就诊人数"},
    )
    assert res.status_code == 201, res.text
    (to_nina,) = await _inbox(app, world, "nina", "emergency.task")
    (to_alice,) = await _inbox(app, world, "alice", "emergency.task")
    assert to_nina.body == "Task for the incident: 发热聚集"
    assert to_alice.body == "应急事件任务：发热聚集"


async def test_an_alert_is_worded_per_recipient_not_in_chinese_for_all(
    app: Any, world: World
) -> None:
    await _speaks_english(app, "ines")
    async with app.state.sessions() as s, s.begin():
        await syndromes.ensure_builtin(s)
        alert = Alert(
            institution_id=world.inst["chc_a"].id,
            syndrome="ili",
            period_start=date(2026, 11, 24),
            period_end=date(2026, 11, 25),
            state=AlertState.NEW,
            severity=Severity.MEDIUM,
            method="ears-c2",
            score=4.2,
            observed=12,
            expected=3.0,
            signal_count=2,
            created_at=datetime(2026, 11, 26, tzinfo=UTC),
            updated_at=datetime(2026, 11, 26, tzinfo=UTC),
        )
        s.add(alert)
    principal = auth_service.principal_of(world.users["hana"])
    async with app.state.sessions() as s, s.begin():
        await workflow.take(
            session=s,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            alert=await s.get(Alert, alert.id),
            action=workflow.AlertAction.ACKNOWLEDGE,
            note="电话核实中",
        )
        site = world.inst["chc_a"]
        names = await s.execute(
            select(Syndrome.name, Syndrome.name_en).where(Syndrome.code == "ili")
        )
        zh_name, en_name = names.one()
    (to_ines,) = await _inbox(app, world, "ines", "surveillance.alert")
    assert to_ines.title == (
        f"Surveillance alert #{alert.id} ({en_name} · {site.name}): acknowledged"
    )
    assert to_ines.body == "电话核实中"  # the note is what hana wrote
    async with app.state.sessions() as s, s.begin():
        await s.execute(update(User).where(User.username == "ines").values(locale=None))
    async with app.state.sessions() as s, s.begin():
        await workflow.take(
            session=s,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            alert=await s.get(Alert, alert.id),
            action=workflow.AlertAction.INVESTIGATE,
        )
    latest = (await _inbox(app, world, "ines", "surveillance.alert"))[-1]
    assert latest.title == f"监测预警 #{alert.id}（{zh_name}·{site.name}）：开始调查"
