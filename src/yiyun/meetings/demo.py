"""Demo meetings: a scheduled joint clinic about a consenting patient, and a past call
with quality figures so the operations page has something to show. Idempotent."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now
from yiyun.media import signaling as sig
from yiyun.meetings import quality
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.org.models import User
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent, Patient

SCHEDULED_TITLE = "糖尿病联合门诊（示例）"
PAST_TITLE = "心衰患者远程会诊（示例）"


async def _users(db: AsyncSession, *names: str) -> dict[str, User]:
    rows = (await db.scalars(select(User).where(User.username.in_(names)))).all()
    return {u.username: u for u in rows}


async def _consenting_patient(db: AsyncSession, institution_id: int, by: int) -> int | None:
    patient_id = await db.scalar(
        select(Patient.id).where(Patient.home_institution_id == institution_id).limit(1)
    )
    if patient_id is None:
        return None
    has = await db.scalar(
        select(Consent.id).where(
            Consent.patient_id == patient_id,
            Consent.purpose == ConsentPurpose.RECORDING,
            Consent.withdrawn_at.is_(None),
        )
    )
    if has is None:
        db.add(
            Consent(
                patient_id=patient_id,
                purpose=ConsentPurpose.RECORDING,
                granted_at=now(),
                granted_by_id=by,
                note="示例录制同意（演示数据）",
            )
        )
    return patient_id


def _meeting(title: str, host: User, **fields: object) -> Meeting:
    return Meeting(
        code=secrets.token_hex(5),
        title=title,
        host_id=host.id,
        institution_id=host.institution_id,
        **fields,
    )


async def seed_meetings(factory: async_sessionmaker[AsyncSession]) -> int:
    """Create the demo meetings that are missing; returns how many were created."""
    created = 0
    async with factory.begin() as db:
        users = await _users(db, "specialist", "doctor", "nurse", "doctor2")
        if len(users) < 4:
            return 0
        host, doctor = users["specialist"], users["doctor"]
        titles = set(
            (
                await db.scalars(
                    select(Meeting.title).where(Meeting.title.in_([SCHEDULED_TITLE, PAST_TITLE]))
                )
            ).all()
        )
        stamp = now()
        if SCHEDULED_TITLE not in titles:
            patient_id = await _consenting_patient(db, doctor.institution_id, doctor.id)
            start = (stamp + timedelta(days=1)).replace(minute=30, second=0, microsecond=0)
            meeting = _meeting(
                SCHEDULED_TITLE,
                host,
                kind="scheduled",
                state="scheduled",
                starts_at=start,
                duration_minutes=45,
                description="社区转诊的 2 型糖尿病患者，讨论胰岛素方案。",
                patient_id=patient_id,
            )
            db.add(meeting)
            await db.flush()
            for name, role in (
                ("specialist", "host"),
                ("doctor", "participant"),
                ("nurse", "participant"),
            ):
                db.add(
                    MeetingMember(
                        meeting_id=meeting.id, user_id=users[name].id, role=role, invited_at=stamp
                    )
                )
            created += 1
        if PAST_TITLE not in titles:
            begun = stamp - timedelta(days=2, hours=3)
            meeting = _meeting(
                PAST_TITLE,
                host,
                kind="instant",
                state="ended",
                ended_at=begun + timedelta(minutes=25),
            )
            db.add(meeting)
            await db.flush()
            rng = random.Random(7)  # noqa: S311 - demo figures, not security
            profiles = {
                "specialist": (35, 4, 0.2),
                "doctor": (90, 12, 1.0),
                "doctor2": (260, 35, 4.5),
            }
            for name, (rtt, jitter, loss) in profiles.items():
                user = users[name]
                db.add(
                    MeetingMember(
                        meeting_id=meeting.id,
                        user_id=user.id,
                        role="host" if name == "specialist" else "participant",
                        invited_at=begun,
                    )
                )
                for n in range(60):
                    stats = sig.Stats(
                        type="stats",
                        rtt_ms=max(1.0, rng.gauss(rtt, rtt * 0.15)),
                        jitter_ms=max(0.0, rng.gauss(jitter, jitter * 0.2)),
                        loss_pct=min(100.0, max(0.0, rng.gauss(loss, loss * 0.3))),
                        send_kbps=rng.uniform(900, 1800),
                        recv_kbps=rng.uniform(1200, 2600),
                        fps=rng.uniform(24, 30),
                        width=1280,
                        height=720,
                    )
                    row = quality.sample(
                        meeting.id, f"u{user.id}", user.display_name, quality.rate(stats)
                    )
                    row.at = begun + timedelta(seconds=5 * n)
                    db.add(row)
            created += 1
    return created
