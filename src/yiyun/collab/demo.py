"""Demo whiteboards: the demo meetings open with a board that already has a case
sketch on it (two pages), stored like any document (one snapshot)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.collab.docs import WhiteboardDoc
from yiyun.collab.models import CollabDoc
from yiyun.meetings.demo import PAST_TITLE, SCHEDULED_TITLE
from yiyun.meetings.models import Meeting

SKETCH: list[dict[str, Any]] = [
    {"id": "d-title", "page": "p1", "type": "text", "x": 60.0, "y": 40.0, "w": 0.0, "h": 0.0,
     "text": "2 型糖尿病 · 胰岛素方案讨论", "color": "#111827", "width": 5.0},
    {"id": "d-note1", "page": "p1", "type": "note", "x": 60.0, "y": 120.0, "w": 200.0,
     "h": 140.0, "text": "HbA1c 9.2%\n空腹血糖 11.4 mmol/L", "color": "#111827", "width": 1.0},
    {"id": "d-note2", "page": "p1", "type": "note", "x": 420.0, "y": 120.0, "w": 200.0,
     "h": 140.0, "text": "建议：基础胰岛素\n睡前 10 U 起始", "color": "#111827", "width": 1.0},
    {"id": "d-arrow", "page": "p1", "type": "arrow", "x": 270.0, "y": 190.0, "w": 140.0,
     "h": 0.0, "color": "#dc2626", "width": 3.0},
    {"id": "d-box", "page": "p1", "type": "rect", "x": 40.0, "y": 100.0, "w": 600.0,
     "h": 180.0, "color": "#2563eb", "width": 2.0},
    {"id": "d-pen", "page": "p2", "type": "pen", "x": 0.0, "y": 0.0, "w": 0.0, "h": 0.0,
     "points": [80.0, 300.0, 140.0, 240.0, 200.0, 260.0, 260.0, 180.0, 320.0, 200.0, 380.0, 120.0],
     "color": "#16a34a", "width": 3.0},
    {"id": "d-text2", "page": "p2", "type": "text", "x": 80.0, "y": 60.0, "w": 0.0, "h": 0.0,
     "text": "血糖随访曲线（示意）", "color": "#111827", "width": 4.0},
]  # fmt: skip


def sketch_snapshot(author: int) -> bytes:
    board = WhiteboardDoc()
    board.initialise()
    with board.ydoc.transaction(origin="demo"):
        pages = board.root("pages")
        pages.append({"id": "p1", "name": "1"})
        pages.append({"id": "p2", "name": "2"})
        elements = board.root("elements")
        for z, element in enumerate(SKETCH):
            elements[element["id"]] = {**element, "author": str(author), "z": float(z)}
    return board.ydoc.get_update()


async def seed_boards(factory: async_sessionmaker[AsyncSession]) -> int:
    """A board for each demo meeting that has none yet; returns how many were made."""
    made = 0
    async with factory.begin() as db:
        meetings = (
            await db.scalars(
                select(Meeting).where(Meeting.title.in_([SCHEDULED_TITLE, PAST_TITLE]))
            )
        ).all()
        for meeting in meetings:
            exists = await db.scalar(
                select(CollabDoc.id).where(
                    CollabDoc.kind == WhiteboardDoc.kind, CollabDoc.key == meeting.code
                )
            )
            if exists is None:
                db.add(
                    CollabDoc(
                        kind=WhiteboardDoc.kind,
                        key=meeting.code,
                        schema_version=WhiteboardDoc.version,
                        snapshot=sketch_snapshot(meeting.host_id),
                        snapshot_upto=0,
                    )
                )
                made += 1
    return made
