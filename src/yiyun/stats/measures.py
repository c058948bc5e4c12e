"""The measures of the workflows that exist today, each declared once.

A new workflow adds its own, e.g. for consultations (in `consult/stats.py`, imported
below)::

    declare(Measure(
        code="consultations",
        label_zh="会诊例数", label_en="Consultations",
        definition_zh="已出具会诊意见的会诊，按意见签署时间计日（北京时间）…",
        definition_en="Consultations with a signed opinion, dated by the signing time…",
        kind=Kind.COUNT, unit_zh="例", unit_en="cases",
        time_column="consult_consult.reported_at", state="reported",
        facts=_consult_facts,   # (session, start, end) -> [Fact(at, inst, dept, type)]
    ))

and nothing else: the rollup job, the rebuild, the dashboards, the glossary and the
exports pick it up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core.clock import as_utc, now
from yiyun.emergency.models import Incident, Task
from yiyun.meetings import emodel
from yiyun.meetings.models import Meeting, MeetingState, QualitySample
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Terminal, User
from yiyun.stats.registry import Fact, Kind, Measure, declare
from yiyun.surveillance.models import Alert

ALL_DAY = "Asia/Shanghai"


async def _meetings(session: AsyncSession, start: datetime, end: datetime) -> list[tuple]:  # type: ignore[type-arg]
    rows = await session.execute(
        select(
            Meeting.ended_at,
            Meeting.institution_id,
            User.department_id,
            Meeting.subject_type,
            Meeting.starts_at,
            Meeting.created_at,
        )
        .join(User, User.id == Meeting.host_id)
        .where(
            Meeting.state == MeetingState.ENDED,
            Meeting.ended_at >= start,
            Meeting.ended_at < end,
        )
    )
    return list(rows.all())


async def meeting_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    return [
        Fact(ended, inst, dept, subject or "meeting")
        for ended, inst, dept, subject, _s, _c in await _meetings(session, start, end)
    ]


def meeting_minutes(ended: datetime, starts_at: datetime | None, created: datetime) -> float:
    """Minutes from the later of the scheduled start and the creation to the end (≥ 0)."""
    began = max(as_utc(created), as_utc(starts_at)) if starts_at else as_utc(created)
    return max(0.0, round((as_utc(ended) - began).total_seconds() / 60, 2))


async def minute_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    return [
        Fact(ended, inst, dept, subject or "meeting", meeting_minutes(ended, starts, created))
        for ended, inst, dept, subject, starts, created in await _meetings(session, start, end)
    ]


async def alert_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    rows = await session.execute(
        select(Alert.created_at, Alert.institution_id, Alert.syndrome).where(
            Alert.created_at >= start, Alert.created_at < end
        )
    )
    return [Fact(at, inst, None, "surveillance") for at, inst, _s in rows.all()]


async def response_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    rows = await session.execute(
        select(Alert.first_response_at, Alert.created_at, Alert.institution_id).where(
            Alert.first_response_at.is_not(None),
            Alert.first_response_at >= start,
            Alert.first_response_at < end,
        )
    )
    return [
        Fact(
            responded,
            inst,
            None,
            "surveillance",
            round(max(0.0, (as_utc(responded) - as_utc(created)).total_seconds() / 60), 2),
        )
        for responded, created, inst in rows.all()
        if responded is not None
    ]


async def incident_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    rows = await session.execute(
        select(Incident.created_at).where(Incident.created_at >= start, Incident.created_at < end)
    )
    return [Fact(at, None, None, "emergency") for (at,) in rows.all()]


async def task_facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    rows = await session.execute(
        select(Task.created_at, Task.site_id).where(Task.created_at >= start, Task.created_at < end)
    )
    return [Fact(at, site, None, "emergency") for at, site in rows.all()]


BANDS = {"good": (80.0, 1e9), "fair": (70.0, 80.0), "poor": (-1e9, 70.0)}


def band_of(r: float) -> str:
    """G.109 categories folded into three bands: good (R ≥ 80), fair (70–80), poor (< 70)."""
    label = emodel.label(r)
    return "good" if label in ("excellent", "good") else "fair" if label == "fair" else "poor"


def _quality(band: str):  # type: ignore[no-untyped-def]
    async def facts(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
        lo, hi = BANDS[band]
        rows = await session.execute(
            select(QualitySample.at, Meeting.institution_id)
            .join(Meeting, Meeting.id == QualitySample.meeting_id)
            .where(
                QualitySample.at >= start,
                QualitySample.at < end,
                QualitySample.r_factor >= lo,
                QualitySample.r_factor < hi,
            )
        )
        return [Fact(at, inst, None, "meeting") for at, inst in rows.all()]

    return facts


async def terminal_snapshot(session: AsyncSession, start: datetime, end: datetime) -> list[Fact]:
    """Today only: each active terminal adds 1 if online; n counts the terminals."""
    at = now()
    if not (start <= at < end):
        return []
    rows = await session.execute(
        select(Terminal.institution_id, Terminal.status, func.count())
        .where(Terminal.active.is_(True))
        .group_by(Terminal.institution_id, Terminal.status)
    )
    out: list[Fact] = []
    for inst, status, count in rows.all():
        online = 1.0 if status == TerminalStatus.ONLINE else 0.0
        out.extend(Fact(at, inst, None, "terminal", online) for _ in range(int(count)))
    return out


DAY_ZH = "按北京时间（UTC+8）自然日计"
DAY_EN = "counted on Asia/Shanghai calendar days"

declare(
    Measure(
        code="meetings",
        label_zh="视频会议场次",
        label_en="Video meetings",
        definition_zh=f"已结束的视频会议，按结束时间{DAY_ZH}；"
        "机构为会议所属机构，科室为主持人科室，服务类型为会议所关联的业务（未关联为“会议”）。",
        definition_en=f"Meetings in state ended, dated by their end time (ended_at), {DAY_EN}; "
        "institution: the meeting's; department: the host's; service type: what the "
        "meeting is for (plain meetings: meeting).",
        kind=Kind.COUNT,
        unit_zh="场",
        unit_en="meetings",
        facts=meeting_facts,
        time_column="meetings_meeting.ended_at",
        state="ended",
        group="meetings",
    )
)
declare(
    Measure(
        code="meeting_minutes",
        label_zh="会议时长",
        label_en="Meeting minutes",
        definition_zh="已结束会议的时长（分钟），自计划开始与创建两者中较晚者至结束；"
        f"按结束时间{DAY_ZH}。",
        definition_en="Minutes of ended meetings, from the later of the scheduled start and "
        f"the creation to the end; dated by the end time, {DAY_EN}.",
        kind=Kind.SUM,
        unit_zh="分钟",
        unit_en="minutes",
        facts=minute_facts,
        time_column="meetings_meeting.ended_at",
        state="ended",
        group="meetings",
    )
)
declare(
    Measure(
        code="alerts",
        label_zh="监测预警数",
        label_en="Surveillance alerts",
        definition_zh=f"症状监测产生的预警（任何状态），按创建时间{DAY_ZH}；"
        "机构为预警所在站点，全区预警不计入任何机构。",
        definition_en="Surveillance alerts raised (any state), dated by creation "
        f"(created_at), {DAY_EN}; institution: the alert's site; district-wide alerts "
        "belong to no institution.",
        kind=Kind.COUNT,
        unit_zh="条",
        unit_en="alerts",
        facts=alert_facts,
        time_column="surveillance_alert.created_at",
        state="any",
        group="surveillance",
    )
)
declare(
    Measure(
        code="alert_response_minutes",
        label_zh="预警平均响应时间",
        label_en="Mean alert response time",
        definition_zh="预警自创建至首次响应的平均分钟数，"
        f"按首次响应时间{DAY_ZH}；只计已响应的预警。",
        definition_en="Mean minutes from an alert's creation to its first response "
        f"(first_response_at), dated by the first response, {DAY_EN}; alerts with a "
        "response only.",
        kind=Kind.MEAN,
        unit_zh="分钟",
        unit_en="minutes",
        facts=response_facts,
        time_column="surveillance_alert.first_response_at",
        state="responded",
        group="surveillance",
    )
)
declare(
    Measure(
        code="incidents",
        label_zh="应急事件数",
        label_en="Emergency incidents",
        definition_zh=f"指挥中心开启的应急事件（任何状态），按开启时间{DAY_ZH}；属全区，不分机构。",
        definition_en="Emergency incidents opened in the command room (any state), dated by "
        f"opening (created_at), {DAY_EN}; district-wide, no institution.",
        kind=Kind.COUNT,
        unit_zh="起",
        unit_en="incidents",
        facts=incident_facts,
        time_column="emergency_incident.created_at",
        state="any",
        group="emergency",
    )
)
declare(
    Measure(
        code="emergency_tasks",
        label_zh="应急任务数",
        label_en="Emergency tasks",
        definition_zh=f"下发给站点的应急任务（任何状态），按下发时间{DAY_ZH}；机构为接收站点。",
        definition_en="Emergency tasks dispatched to a site (any state), dated by dispatch "
        f"(created_at), {DAY_EN}; institution: the receiving site.",
        kind=Kind.COUNT,
        unit_zh="项",
        unit_en="tasks",
        facts=task_facts,
        time_column="emergency_task.created_at",
        state="any",
        group="emergency",
    )
)
for _band, _zh, _en, _rule_zh, _rule_en in (
    ("good", "通话质量良好", "Call quality good", "R ≥ 80（MOS 约 ≥ 4.0）", "R ≥ 80 (MOS ≈ 4.0+)"),
    ("fair", "通话质量一般", "Call quality fair", "70 ≤ R < 80", "70 ≤ R < 80"),
    ("poor", "通话质量较差", "Call quality poor", "R < 70", "R < 70"),
):
    declare(
        Measure(
            code=f"quality_{_band}",
            label_zh=_zh,
            label_en=_en,
            definition_zh=f"通话质量采样（每位参会者定期上报的 E-model 评分）中 {_rule_zh} 的"
            f"采样数，按采样时间{DAY_ZH}；机构为会议所属机构。",
            definition_en=f"Call quality samples (each participant's periodic E-model rating) "
            f"with {_rule_en}, dated by the sample time, {DAY_EN}; institution: the meeting's.",
            kind=Kind.COUNT,
            unit_zh="次采样",
            unit_en="samples",
            facts=_quality(_band),
            time_column="meetings_quality.at",
            state="any",
            group="quality",
        )
    )
declare(
    Measure(
        code="terminal_availability",
        label_zh="终端在线率",
        label_en="Terminal availability",
        definition_zh="在用终端中在线的比例，由统计任务每次运行时对当日取样（当日最后一次为准）；"
        "过去的日子无法由源表重算，重建时保留。",
        definition_en="Share of active terminals online, sampled for the current day each time "
        "the statistics job runs (the last sample of the day stands); past days cannot be "
        "recomputed from the source table and are kept by a rebuild.",
        kind=Kind.RATIO,
        unit_zh="%",
        unit_en="%",
        facts=terminal_snapshot,
        time_column="org_terminal.status (sampled)",
        state="online",
        group="operations",
        snapshot=True,
        dimensions=("institution",),
    )
)
