"""Ring a site's room terminals like a person.

When people are rung to a meeting (an invitation rung at once, the emergency "convene
all sites"), the kiosks of their sites ring too: one message per site on
`ops.site.<institution id>`, published after the commit, carrying only ids and the
meeting's title (no patient data: meetings about a patient are not offered to kiosks).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core import events
from yiyun.core.bus import EventBus
from yiyun.meetings.models import Meeting
from yiyun.org.models import User


def site_channel(institution_id: int) -> str:
    return f"ops.site.{institution_id}"


async def ring_sites(
    *, session: AsyncSession, bus: EventBus, meeting: Meeting, user_ids: list[int]
) -> list[int]:
    """Ring the terminals of the sites these people work at; the sites rung."""
    if meeting.patient_id is not None or not user_ids:
        return []
    sites = sorted(
        set(
            (
                await session.scalars(
                    select(User.institution_id).where(User.id.in_(list(set(user_ids))))
                )
            ).all()
        )
    )
    for site in sites:
        events.publish_after_commit(
            session,
            bus,
            site_channel(site),
            {"type": "ring", "meeting_id": meeting.id, "title": meeting.title},
        )
    return sites
