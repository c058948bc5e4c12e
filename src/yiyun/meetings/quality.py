"""Call quality: rate each client's getStats() summary with the E-model and keep it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core.clock import now
from yiyun.media import signaling as sig
from yiyun.meetings import emodel
from yiyun.meetings.models import Meeting, QualitySample
from yiyun.meetings.schemas import QualitySummary


def rate(stats: sig.Stats) -> dict[str, Any]:
    """The figures a host sees for one participant, with R and MOS."""
    rating = emodel.rate(rtt_ms=stats.rtt_ms, jitter_ms=stats.jitter_ms, loss_pct=stats.loss_pct)
    return {
        "r": round(rating.r, 1),
        "mos": round(rating.mos, 2),
        "label": rating.label,
        "rtt_ms": round(stats.rtt_ms, 1),
        "jitter_ms": round(stats.jitter_ms, 1),
        "loss_pct": round(stats.loss_pct, 2),
        "send_kbps": round(stats.send_kbps),
        "recv_kbps": round(stats.recv_kbps),
        "fps": round(stats.fps, 1),
        "width": stats.width,
        "height": stats.height,
    }


def sample(meeting_id: int, sender: str, sender_name: str, rated: dict[str, Any]) -> QualitySample:
    return QualitySample(
        meeting_id=meeting_id,
        sender=sender,
        sender_name=sender_name[:100],
        at=now(),
        rtt_ms=rated["rtt_ms"],
        jitter_ms=rated["jitter_ms"],
        loss_pct=rated["loss_pct"],
        send_kbps=rated["send_kbps"],
        recv_kbps=rated["recv_kbps"],
        fps=rated["fps"],
        width=rated["width"],
        height=rated["height"],
        r_factor=rated["r"],
        mos=rated["mos"],
    )


async def summary(session: AsyncSession, meeting_id: int) -> list[QualitySummary]:
    """Per participant: samples, mean and worst MOS, mean RTT, worst loss."""
    return (await summaries(session, [meeting_id])).get(meeting_id, [])


async def summaries(
    session: AsyncSession, meeting_ids: list[int]
) -> dict[int, list[QualitySummary]]:
    """`summary` for several meetings in one query."""
    rows = (
        await session.execute(
            select(
                QualitySample.meeting_id,
                QualitySample.sender,
                func.max(QualitySample.sender_name),
                func.count(),
                func.avg(QualitySample.mos),
                func.min(QualitySample.mos),
                func.avg(QualitySample.rtt_ms),
                func.max(QualitySample.loss_pct),
                func.avg(QualitySample.jitter_ms),
                func.min(QualitySample.at),
                func.max(QualitySample.at),
            )
            .where(QualitySample.meeting_id.in_(meeting_ids))
            .group_by(QualitySample.meeting_id, QualitySample.sender)
            .order_by(QualitySample.meeting_id, QualitySample.sender)
        )
    ).all()
    out: dict[int, list[QualitySummary]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(
            QualitySummary(
                identity=r[1],
                name=r[2],
                samples=r[3],
                mos_mean=round(float(r[4]), 2),
                mos_min=round(float(r[5]), 2),
                rtt_ms_mean=round(float(r[6]), 1),
                loss_pct_max=round(float(r[7]), 2),
                jitter_ms_mean=round(float(r[8]), 1),
                first_at=r[9],
                last_at=r[10],
            )
        )
    return out


async def recent_calls(session: AsyncSession, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest meetings that reported quality, worst participant first in each."""
    latest = (
        select(QualitySample.meeting_id, func.max(QualitySample.at).label("last_at"))
        .group_by(QualitySample.meeting_id)
        .order_by(func.max(QualitySample.at).desc())
        .limit(limit)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Meeting, latest.c.last_at)
            .join(latest, latest.c.meeting_id == Meeting.id)
            .order_by(latest.c.last_at.desc())
        )
    ).all()
    people = await summaries(session, [meeting.id for meeting, _ in rows])
    calls = []
    for meeting, last_at in rows:
        worst_first = sorted(people.get(meeting.id, []), key=lambda q: q.mos_min)
        calls.append(
            {
                "meeting": meeting,
                "last_at": last_at,
                "participants": worst_first,
                "worst": worst_first[0].mos_min if worst_first else None,
            }
        )
    return calls


def band(mos: float | None) -> str:
    """Colour band for a MOS figure (G.107 Annex B user-satisfaction bands)."""
    if mos is None:
        return ""
    if mos >= 4.03:  # R >= 80: satisfied
        return "ok"
    if mos >= 3.60:  # R >= 70: some users dissatisfied
        return "warn"
    return "bad"
