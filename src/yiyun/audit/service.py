"""Write and verify the audit log.

`record()` appends in the caller's transaction, so the entry commits or rolls back with
the change it describes. Appends are serialised so the chain never forks: PostgreSQL
takes a transaction-scoped advisory lock; SQLite (one process, the embedded default)
holds an in-process lock until the session's transaction ends.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from yiyun.audit.chain import GENESIS, encode_institutions, hashed_fields, row_hash
from yiyun.audit.models import AuditEvent
from yiyun.core.clock import now

_PG_LOCK_KEY = 0x7969_7975_6E41  # "yiyunA"
_sqlite_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
_HELD = "yiyun_audit_lock"


@dataclass(frozen=True)
class Actor:
    """Who acts, from where: carried from the request into every audit entry."""

    user_id: int | None
    username: str
    institution_id: int | None = None
    ip: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


SYSTEM = Actor(user_id=None, username="system")


def _release(session: Session) -> None:
    lock: asyncio.Lock | None = session.info.pop(_HELD, None)
    if lock is not None and lock.locked():
        lock.release()


async def _serialise(session: AsyncSession) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        return
    if _HELD in session.sync_session.info:
        return
    engine_key = bind.engine if hasattr(bind, "engine") else bind
    lock = _sqlite_locks.setdefault(engine_key, asyncio.Lock())
    await lock.acquire()
    session.sync_session.info[_HELD] = lock


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    # Only the root transaction's end (commit, rollback or close) ends the serialisation;
    # a SAVEPOINT ending inside it does not.
    if transaction.parent is None:
        _release(session)


async def record(
    *,
    session: AsyncSession,
    actor: Actor,
    action: str,
    outcome: str = "success",
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    patient_id: int | None = None,
    institution_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    subject_institutions: frozenset[int] | None = None,
) -> AuditEvent:
    """Append one entry to the chain inside the caller's transaction.

    `institution_id` is the actor's institution (by default); `subject_institutions` are
    the institutions whose data the entry is about (a patient's), so each of them sees it.
    """
    subjects = encode_institutions(subject_institutions)
    await _serialise(session)
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    stamp = at or now()
    fields = hashed_fields(
        seq=seq,
        at=stamp,
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        patient_id=patient_id,
        institution_id=institution_id if institution_id is not None else actor.institution_id,
        outcome=outcome,
        ip=actor.ip,
        request_id=actor.request_id,
        details=json.loads(json.dumps(details or {}, default=str)),
        subject_institutions=subjects,
    )
    entry = AuditEvent(
        seq=seq,
        at=stamp,
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        entity_type=entity_type,
        entity_id=fields["entity_id"],
        patient_id=patient_id,
        institution_id=fields["institution_id"],
        outcome=outcome,
        ip=actor.ip,
        request_id=actor.request_id,
        details=fields["details"],
        subject_institutions=subjects,
        prev_hash=prev,
        hash=row_hash(prev, fields),
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def anchor(self) -> str:
        """`SEQ:HASH` of the last entry: keep it elsewhere to detect later truncation."""
        return f"{self.head_seq}:{self.head_hash}"


async def iter_chain(session: AsyncSession, batch: int = 2000) -> AsyncIterator[AuditEvent]:
    """Every entry in chain order, streamed in batches."""
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq


async def verify(*, session: AsyncSession, anchor: str | None = None) -> VerifyResult:
    """Walk the chain; report the first row whose link or content does not hold."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    async for row in iter_chain(session):
        if row.seq != expected_seq:
            return VerifyResult(
                False,
                checked,
                row.seq,
                row.id,
                f"sequence gap: expected {expected_seq}, found {row.seq}",
            )
        if row.prev_hash != prev:
            return VerifyResult(False, checked, row.seq, row.id, "previous-hash link broken")
        fields = hashed_fields(
            seq=row.seq,
            at=row.at,
            actor_id=row.actor_id,
            actor=row.actor,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            patient_id=row.patient_id,
            institution_id=row.institution_id,
            outcome=row.outcome,
            ip=row.ip,
            request_id=row.request_id,
            details=row.details,
            subject_institutions=row.subject_institutions,
        )
        if row_hash(prev, fields) != row.hash:
            return VerifyResult(False, checked, row.seq, row.id, "content does not match hash")
        prev = row.hash
        expected_seq += 1
        checked += 1
    total = await session.scalar(select(func.count()).select_from(AuditEvent))
    if total != checked:
        return VerifyResult(False, checked, None, None, "rows outside the sequence")
    head = VerifyResult(True, checked, head_seq=expected_seq - 1, head_hash=prev)
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or int(seq) > head.head_seq:
            return VerifyResult(
                False,
                checked,
                int(seq) if seq.isdigit() else None,
                None,
                "anchored entry is missing: the log was truncated",
                head.head_seq,
                head.head_hash,
            )
        anchored = await session.scalar(select(AuditEvent).where(AuditEvent.seq == int(seq)))
        if anchored is None or anchored.hash != digest:
            return VerifyResult(
                False,
                checked,
                int(seq),
                None,
                "anchored entry does not match the recorded hash",
                head.head_seq,
                head.head_hash,
            )
    return head
