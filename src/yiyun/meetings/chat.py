"""Meeting chat and shared files: the database is the source of truth.

A message is written (and committed) before anyone sees it; the bus only fans it out.
`(meeting, sender, client_id)` is unique, so a message sent again after a reconnect
that lost its acknowledgement is stored once and acknowledged with the same id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.clock import now
from yiyun.core.db import retry_when_locked
from yiyun.core.errors import IllegalTransition, InvalidInput, NotFound
from yiyun.core.storage import BlobStore
from yiyun.meetings import workflow
from yiyun.meetings.models import ChatMessage, Meeting, MeetingFile
from yiyun.records.files import check_upload

MAX_FILE_BYTES = 20 * 1024 * 1024
HISTORY_LIMIT = 500


def file_payload(row: MeetingFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.filename,
        "size": row.size,
        "content_type": row.content_type,
    }


def payload(row: ChatMessage, file: MeetingFile | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "sender": row.sender,
        "sender_name": row.sender_name,
        "text": row.body,
        "file": file_payload(file) if file is not None else None,
        "at": row.created_at.isoformat(),
    }


@dataclass(frozen=True)
class Posted:
    message: dict[str, Any]
    duplicate: bool


async def post(
    sessions: async_sessionmaker[AsyncSession],
    *,
    meeting_id: int,
    sender: str,
    sender_name: str,
    client_id: str,
    text: str,
    file_id: int | None,
) -> Posted:
    """Store a message (once per client id) and return what to deliver."""
    text = text.strip()
    if not text and file_id is None:
        raise InvalidInput("an empty message is not sent", code="meeting.chat_empty")
    return await retry_when_locked(
        lambda: _post(sessions, meeting_id, sender, sender_name, client_id, text, file_id)
    )


async def _post(
    sessions: async_sessionmaker[AsyncSession],
    meeting_id: int,
    sender: str,
    sender_name: str,
    client_id: str,
    text: str,
    file_id: int | None,
) -> Posted:
    try:
        async with sessions.begin() as db:
            file = await _file(db, meeting_id, file_id) if file_id is not None else None
            row = ChatMessage(
                meeting_id=meeting_id,
                sender=sender,
                sender_name=sender_name[:100],
                client_id=client_id,
                body=text,
                file_id=file_id,
                created_at=now(),
            )
            db.add(row)
            await db.flush()
            return Posted(payload(row, file), duplicate=False)
    except IntegrityError:
        async with sessions.begin() as db:
            existing = await db.scalar(
                select(ChatMessage).where(
                    ChatMessage.meeting_id == meeting_id,
                    ChatMessage.sender == sender,
                    ChatMessage.client_id == client_id,
                )
            )
            if existing is None:  # the integrity error was something else
                raise
            file = await db.get(MeetingFile, existing.file_id) if existing.file_id else None
            return Posted(payload(existing, file), duplicate=True)


async def _file(db: AsyncSession, meeting_id: int, file_id: int) -> MeetingFile:
    file = await db.get(MeetingFile, file_id)
    if file is None or file.meeting_id != meeting_id:
        raise NotFound("no such file in this meeting", code="meeting.file_not_found")
    return file


async def history(
    db: AsyncSession, *, meeting_id: int, after: int = 0, limit: int = HISTORY_LIMIT
) -> list[dict[str, Any]]:
    """Messages after the given id, oldest first (the last `limit` of them)."""
    rows = (
        await db.execute(
            select(ChatMessage, MeetingFile)
            .outerjoin(MeetingFile, MeetingFile.id == ChatMessage.file_id)
            .where(ChatMessage.meeting_id == meeting_id, ChatMessage.id > after)
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
    ).all()
    return [payload(m, f) for m, f in reversed(rows)]


async def save_file(
    *,
    session: AsyncSession,
    store: BlobStore,
    meeting_id: int,
    sender: str,
    filename: str,
    data: bytes,
) -> MeetingFile:
    """Check (size, sniffed type, name matches content), store, record. Refusals store nothing."""
    checked = check_upload(filename, data, max_bytes=MAX_FILE_BYTES)
    key = f"meetings/{meeting_id}/files/{secrets.token_hex(16)}"
    await store.put(key, data)
    row = MeetingFile(
        meeting_id=meeting_id,
        storage_key=key,
        filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=hashlib.sha256(data).hexdigest(),
        sender=sender,
        created_at=now(),
    )
    session.add(row)
    await session.flush()
    return row


async def share_file(
    *,
    session: AsyncSession,
    store: BlobStore,
    meeting: Meeting,
    sender: str,
    filename: str,
    data: bytes,
    actor: Actor,
) -> MeetingFile:
    """A file someone in an open meeting shares in its chat (checked, stored, audited)."""
    if meeting.state != workflow.OPEN:
        raise IllegalTransition(state=meeting.state, action="upload", code="meeting.not_open")
    row = await save_file(
        session=session,
        store=store,
        meeting_id=meeting.id,
        sender=sender,
        filename=filename,
        data=data,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.file.upload",
        entity_type="meeting",
        entity_id=meeting.id,
        details={
            "file_id": row.id,
            "content_type": row.content_type,
            "size": row.size,
            **({"guest_id": actor.extra["guest_id"]} if "guest_id" in actor.extra else {}),
        },
    )
    return row


async def load_file(
    *, session: AsyncSession, store: BlobStore, meeting_id: int, file_id: int
) -> tuple[MeetingFile, bytes]:
    row = await _file(session, meeting_id, file_id)
    return row, await store.get(row.storage_key)
