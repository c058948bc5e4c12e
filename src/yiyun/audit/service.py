"""Write and verify the audit log.

`record()` adds an entry to the caller's transaction, so it commits or rolls back with
the change it describes. The entry joins the chain as the transaction commits (a
`before_commit` hook, which also runs when a SAVEPOINT is released): only then is the
chain head read, the entry numbered and hashed and the row inserted. Appends are
serialised so the chain never forks, from that point to the end of the transaction
rather than for the whole request: PostgreSQL takes a transaction-scoped advisory lock;
SQLite takes the database's write lock (which it holds to the end of the transaction)
before it reads the head. On SQLite that is the only lock: a transaction that has
written already holds it, and waiting for a second, in-process lock while holding it
deadlocked against an append waiting for the write lock (`database is locked`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Engine, Table, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from yiyun.audit.chain import GENESIS, encode_institutions, hashed_fields, row_hash
from yiyun.audit.models import AuditEvent
from yiyun.core.clock import now
from yiyun.core.db import retry_when_locked

_PG_LOCK_KEY = 0x7969_7975_6E41  # "yiyunA"
# A write that changes nothing: on SQLite it takes the database's write lock (waiting up
# to the busy timeout), or finds it held already by this transaction.
_SQLITE_WRITE_LOCK = text("UPDATE audit_event SET seq = seq WHERE 1 = 0")
_PENDING = "yiyun_audit_pending"
_WROTE = "yiyun_wrote"
_CONNECTIONS = "yiyun_connections"
_TABLE = cast("Table", AuditEvent.__table__)
_INSERT = insert(_TABLE)
_COLUMNS = tuple(c.key for c in _TABLE.c if c.key != "id")


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


def _serialise(session: Session) -> None:
    """Hold the chain for the rest of this transaction (runs inside the commit hook)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        return
    session.execute(_SQLITE_WRITE_LOCK)


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    """Number, hash and insert the transaction's entries just before it commits."""
    pending: list[AuditEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    _serialise(session)
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    rows = []
    for entry in pending:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev
        entry.hash = prev = row_hash(prev, fields_of(entry))
        rows.append({column: getattr(entry, column) for column in _COLUMNS})
    # One multi-row INSERT of the table (not the ORM's unit of work): nothing reads the
    # entries back as ORM objects, and they are numbered and hashed already.
    session.execute(_INSERT, rows)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    # Only the root transaction's end (commit, rollback or close) ends the serialisation;
    # a SAVEPOINT ending inside it does not. Entries not yet appended are discarded.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_CONNECTIONS, None)


@event.listens_for(Session, "after_begin")
def _track_writes(session: Session, _transaction: Any, connection: Any) -> None:
    connection.info[_WROTE] = False
    session.info[_CONNECTIONS] = [*session.info.get(_CONNECTIONS, ()), connection]


@event.listens_for(Engine, "before_cursor_execute")
def _note_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":  # anything else counts as a write
        conn.info[_WROTE] = True


def only_audit_pending(session: AsyncSession) -> bool:
    """True when the transaction wrote nothing and holds nothing but queued audit entries
    (a read): those may then be committed by the `GroupWriter` instead."""
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:
        return False
    return not any(c.info.get(_WROTE, True) for c in sync.info.get(_CONNECTIONS, ()))


def queued(session: AsyncSession) -> list[AuditEvent]:
    """The entries recorded in this transaction so far; they join the chain as it commits."""
    return list(session.sync_session.info.get(_PENDING, ()))


def take_pending(session: AsyncSession) -> list[AuditEvent]:
    entries: list[AuditEvent] = session.sync_session.info.pop(_PENDING, [])
    return entries


class GroupWriter:
    """Commits the audit entries of reads together, one transaction for all waiting.

    A read's entry must be durable before its data is returned, but it describes no
    change to commit it with; one commit (one fsync) per read would cap reads at the
    disk's sync rate. Entries queue here while the previous batch commits; each request
    is answered only once its batch has committed (or fails with it).
    """

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._queue: list[tuple[list[AuditEvent], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def append(self, entries: list[AuditEvent]) -> None:
        if not entries:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entries, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            entries = [entry for queued, _ in batch for entry in queued]
            try:
                # A batch that found the database busy is written again, whole: its
                # entries are numbered afresh as it commits (SQLite; no-op elsewhere).
                await retry_when_locked(partial(self._commit, entries))
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _commit(self, entries: list[AuditEvent]) -> None:
        async with self._factory() as session:
            session.sync_session.info[_PENDING] = list(entries)
            await session.commit()


def fields_of(row: AuditEvent) -> dict[str, Any]:
    """The fields an entry's hash covers, read from the entry."""
    return hashed_fields(
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
    """Add one entry to the caller's transaction; it joins the chain when that commits.

    `institution_id` is the actor's institution (by default); `subject_institutions` are
    the institutions whose data the entry is about (a patient's), so each of them sees it.
    """
    subjects = encode_institutions(subject_institutions)
    entry = AuditEvent(
        at=at or now(),
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
    session.sync_session.info.setdefault(_PENDING, []).append(entry)
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
        if row_hash(prev, fields_of(row)) != row.hash:
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
        if not seq.isdecimal() or int(seq) > head.head_seq:
            return VerifyResult(
                False,
                checked,
                int(seq) if seq.isdecimal() else None,
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
