"""Documents that belong to a meeting (its whiteboard, its screen annotations): the key
is the meeting's code and access follows the meeting.

Host, co-hosts and participants edit while the meeting is not over; observers only
watch; once it has ended every member can still open it, read-only. Anyone else gets
`Access.NONE`, indistinguishable from a meeting that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.principal import Principal
from yiyun.collab.docs import Access, DocType, ScreenAnnotationDoc, WhiteboardDoc, register
from yiyun.meetings import service as meetings_service
from yiyun.meetings.access import LIVE_STATES
from yiyun.meetings.models import Meeting

WRITERS = frozenset({"host", "cohost", "participant"})
MEETING_CODE = re.compile(r"[A-Za-z0-9-]{1,16}")


async def meeting_access(session: AsyncSession, principal: Principal, key: str) -> Access:
    meeting = await session.scalar(select(Meeting).where(Meeting.code == key))
    if meeting is None:
        return Access.NONE
    role = await meetings_service.member_role(session, meeting, principal)
    if role is None:
        return Access.NONE
    if role in WRITERS and meeting.state in LIVE_STATES:
        return Access.WRITE
    return Access.READ


def register_meeting_documents() -> None:
    register(DocType(WhiteboardDoc, meeting_access, MEETING_CODE))
    register(DocType(ScreenAnnotationDoc, meeting_access, MEETING_CODE))


async def board_context(
    session: AsyncSession, principal: Principal, meeting: Meeting, kind: str = "whiteboard"
) -> dict[str, Any]:
    """What `collab/_board.html` needs for a meeting's board (the caller is a member)."""
    access = await meeting_access(session, principal, meeting.code)
    return {
        "ws": f"/ws/docs/{kind}",
        "key": meeting.code,
        "readonly": access < Access.WRITE,
        "export_name": f"whiteboard-{meeting.code}",
    }
