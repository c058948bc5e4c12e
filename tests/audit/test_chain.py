"""The audit log is a hash chain: appends are transactional, tampering is detected."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.chain import GENESIS, hashed_fields, row_hash
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor
from yiyun.cli import main
from yiyun.settings import Settings

ALICE = Actor(user_id=1, username="alice", institution_id=3, ip="10.0.0.7", request_id="r-1")

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def sessions(app: Any) -> Sessions:
    factory: Sessions = app.state.sessions
    return factory


async def _append(sessions: Sessions, n: int, *, action: str = "patient.read") -> None:
    """Append `n` entries, each in its own committed transaction."""
    for i in range(n):
        async with sessions() as s, s.begin():
            await audit.record(
                session=s,
                actor=ALICE,
                action=action,
                entity_type="patient",
                entity_id=100 + i,
                patient_id=100 + i,
                details={"i": i, "note": "查看病历", "nested": {"ok": True}},
            )


async def _verify(sessions: Sessions) -> audit.VerifyResult:
    async with sessions() as s:
        return await audit.verify(session=s)


async def _count(sessions: Sessions) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def _sql(sessions: Sessions, *statements: str) -> None:
    async with sessions() as s, s.begin():
        for statement in statements:
            await s.execute(text(statement))


async def test_an_empty_chain_verifies(sessions: Sessions) -> None:
    result = await _verify(sessions)
    assert result.ok
    assert result.checked == await _count(sessions)


async def test_appended_entries_form_a_chain_that_verifies(sessions: Sessions) -> None:
    await _append(sessions, 5)
    async with sessions() as s:
        rows = (await s.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert rows[2].actor == "alice"
    assert rows[2].institution_id == 3  # taken from the actor
    assert rows[2].details == {"i": 2, "note": "查看病历", "nested": {"ok": True}}
    result = await _verify(sessions)
    assert (result.ok, result.checked, result.first_bad_seq) == (True, 5, None)


async def test_the_stored_hash_is_the_hash_of_the_stored_fields(sessions: Sessions) -> None:
    await _append(sessions, 2)
    async with sessions() as s:
        row = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 2))
    assert row is not None
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
    )
    assert row.hash == row_hash(row.prev_hash, fields)
    assert row.hash != row_hash(row.prev_hash, {**fields, "outcome": "denied"})


async def test_an_entry_rolls_back_with_its_transaction(sessions: Sessions) -> None:
    await _append(sessions, 2)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with sessions() as s, s.begin():
            await audit.record(session=s, actor=ALICE, action="patient.update", patient_id=5)
            raise Boom
    assert await _count(sessions) == 2
    # the chain lock was released: the next append neither waits nor forks the chain
    async with asyncio.timeout(10):
        await _append(sessions, 1, action="patient.after_rollback")
    async with sessions() as s:
        last = await s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last is not None
    assert (last.seq, last.action) == (3, "patient.after_rollback")
    assert (await _verify(sessions)).ok


async def test_an_explicit_rollback_discards_the_entry(sessions: Sessions) -> None:
    async with sessions() as s:
        await audit.record(session=s, actor=ALICE, action="patient.read", patient_id=9)
        await s.rollback()
    assert await _count(sessions) == 0
    async with asyncio.timeout(10):
        await _append(sessions, 1)
    assert await _count(sessions) == 1


async def test_a_session_closed_without_commit_releases_the_chain(sessions: Sessions) -> None:
    async with sessions() as s:
        await audit.record(session=s, actor=ALICE, action="patient.read", patient_id=9)
    assert await _count(sessions) == 0
    async with asyncio.timeout(3):
        await _append(sessions, 1)
    assert await _count(sessions) == 1


async def test_a_savepoint_does_not_end_the_serialisation(app: Any, sessions: Sessions) -> None:
    engine = app.state.engine.sync_engine
    other_read_chain = asyncio.Event()
    ours: list[Any] = []

    def watch(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM audit_event" in statement and conn not in ours:
            other_read_chain.set()

    event.listen(engine, "before_cursor_execute", watch)
    try:
        async with sessions() as s, s.begin():
            ours.append((await s.connection()).sync_connection)
            await audit.record(session=s, actor=ALICE, action="patient.update", patient_id=1)
            async with s.begin_nested():
                pass
            # another writer starts while this transaction holds an uncommitted entry; it
            # must wait for the commit rather than read the chain and append beside it
            other = asyncio.create_task(_append(sessions, 1, action="patient.other"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(other_read_chain.wait(), 1.5)
        async with asyncio.timeout(10):
            await other
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    async with sessions() as s:
        actions = (await s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))).all()
    assert actions == ["patient.update", "patient.other"]
    assert (await _verify(sessions)).ok


# --- tampering -------------------------------------------------------------------------

Tamper = Callable[[Sessions], Coroutine[Any, Any, None]]


async def _edit_outcome(sessions: Sessions) -> None:
    await _sql(sessions, "UPDATE audit_event SET outcome = 'denied' WHERE seq = 3")


async def _edit_actor(sessions: Sessions) -> None:
    await _sql(sessions, "UPDATE audit_event SET actor = 'mallory' WHERE seq = 3")


async def _edit_patient(sessions: Sessions) -> None:
    await _sql(sessions, "UPDATE audit_event SET patient_id = 999 WHERE seq = 3")


async def _edit_details(sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        row = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
        assert row is not None
        row.details = {**row.details, "i": 42}


async def _edit_time(sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        row = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
        assert row is not None
        row.at = row.at.replace(microsecond=(row.at.microsecond + 1) % 1_000_000)


async def _edit_and_rehash(sessions: Sessions) -> None:
    """A careful forger recomputes the edited row's hash; the next link still breaks."""
    async with sessions() as s, s.begin():
        row = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
        assert row is not None
        row.outcome = "denied"
        row.hash = row_hash(
            row.prev_hash,
            hashed_fields(
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
            ),
        )


async def _delete_row(sessions: Sessions) -> None:
    await _sql(sessions, "DELETE FROM audit_event WHERE seq = 3")


async def _delete_and_renumber(sessions: Sessions) -> None:
    """Close the gap a deletion leaves; the links still do not hold."""
    await _sql(
        sessions,
        "DELETE FROM audit_event WHERE seq = 3",
        "UPDATE audit_event SET seq = seq - 1 WHERE seq = 4",
        "UPDATE audit_event SET seq = seq - 1 WHERE seq = 5",
    )


async def _swap_content(sessions: Sessions) -> None:
    """Rows 3 and 4 trade everything but their place in the sequence."""
    columns = (
        "at",
        "actor_id",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "patient_id",
        "institution_id",
        "outcome",
        "ip",
        "request_id",
        "details",
        "prev_hash",
        "hash",
    )
    async with sessions() as s, s.begin():
        three = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
        four = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 4))
        assert three is not None and four is not None
        for column in columns:
            a, b = getattr(three, column), getattr(four, column)
            setattr(three, column, b)
            setattr(four, column, a)


async def _swap_fields_keep_links(sessions: Sessions) -> None:
    """Rows 3 and 4 trade their content but keep their hashes."""
    async with sessions() as s, s.begin():
        three = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 3))
        four = await s.scalar(select(AuditEvent).where(AuditEvent.seq == 4))
        assert three is not None and four is not None
        for column in ("entity_id", "patient_id", "details"):
            a, b = getattr(three, column), getattr(four, column)
            setattr(three, column, b)
            setattr(four, column, a)


async def _reorder_seq(sessions: Sessions) -> None:
    await _sql(
        sessions,
        "UPDATE audit_event SET seq = -3 WHERE seq = 3",
        "UPDATE audit_event SET seq = 3 WHERE seq = 4",
        "UPDATE audit_event SET seq = 4 WHERE seq = -3",
    )


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason", "checked"),
    [
        (_edit_outcome, 3, "content does not match hash", 2),
        (_edit_actor, 3, "content does not match hash", 2),
        (_edit_patient, 3, "content does not match hash", 2),
        (_edit_details, 3, "content does not match hash", 2),
        (_edit_time, 3, "content does not match hash", 2),
        (_edit_and_rehash, 4, "previous-hash link broken", 3),  # row 3 now "holds"
        (_delete_row, 4, "sequence gap: expected 3, found 4", 2),
        (_delete_and_renumber, 3, "previous-hash link broken", 2),
        (_swap_content, 3, "previous-hash link broken", 2),
        (_swap_fields_keep_links, 3, "content does not match hash", 2),
        (_reorder_seq, 3, "previous-hash link broken", 2),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
async def test_tampering_breaks_the_chain_at_the_first_bad_row(
    sessions: Sessions, tamper: Tamper, bad_seq: int, reason: str, checked: int
) -> None:
    await _append(sessions, 6)
    assert (await _verify(sessions)).ok
    await tamper(sessions)
    result = await _verify(sessions)
    assert result.ok is False
    assert result.first_bad_seq == bad_seq
    assert result.reason == reason
    assert result.checked == checked  # the rows before it still hold


async def test_a_row_outside_the_sequence_is_reported(sessions: Sessions) -> None:
    await _append(sessions, 3)
    await _sql(sessions, "UPDATE audit_event SET seq = 0 WHERE seq = 3")
    result = await _verify(sessions)
    assert result.ok is False
    assert result.first_bad_seq is None
    assert result.reason == "rows outside the sequence"


# --- the command line ------------------------------------------------------------------


def _cli_verify(settings: Settings, data_dir: Path) -> Any:
    env = {"YIYUN_DB__URL": settings.db.url, "YIYUN_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(main, ["audit", "verify"], env=env)


@pytest.mark.commits
async def test_cli_verify_exits_zero_on_an_intact_chain(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    await _append(sessions, 4)
    result = await asyncio.to_thread(_cli_verify, settings, tmp_path / "cli")
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 4 entries verified" in result.output


@pytest.mark.commits
async def test_cli_verify_fails_naming_the_tampered_row(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    await _append(sessions, 4)
    await _edit_outcome(sessions)
    async with sessions() as s:
        row_id = await s.scalar(select(AuditEvent.id).where(AuditEvent.seq == 3))
    result = await asyncio.to_thread(_cli_verify, settings, tmp_path / "cli")
    assert result.exit_code == 1
    assert f"BROKEN at seq 3 (row id {row_id})" in result.stderr
    assert "content does not match hash" in result.stderr
    assert "2 entries verified before it" in result.stderr


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.commits
async def test_concurrent_appends_keep_one_chain(sessions: Sessions) -> None:
    await _append(sessions, 1)

    async def one(i: int) -> None:
        async with sessions() as s, s.begin():
            await audit.record(
                session=s, actor=ALICE, action="patient.read", patient_id=1000 + i, details={"i": i}
            )
            await asyncio.sleep(0)  # let the others try to interleave before commit

    async with asyncio.timeout(30):
        await asyncio.gather(*(one(i) for i in range(20)))
    async with sessions() as s:
        rows = (await s.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
    assert [r.seq for r in rows] == list(range(1, 22))
    assert sorted(r.patient_id for r in rows[1:]) == [1000 + i for i in range(20)]
    assert len({r.prev_hash for r in rows}) == 21  # no fork: every row has its own parent
    result = await _verify(sessions)
    assert (result.ok, result.checked) == (True, 21)


def test_the_hashed_time_is_the_instant_in_utc_whatever_the_zone_given() -> None:
    """An entry recorded with a Beijing time must hash as the database gives it back."""
    from datetime import UTC, datetime, timedelta, timezone

    from yiyun.audit.chain import canonical_time

    beijing = datetime(2026, 12, 8, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    utc = datetime(2026, 12, 8, 1, 30, 0, 123456, tzinfo=UTC)
    assert canonical_time(beijing) == canonical_time(utc) == "2026-12-08T01:30:00.123456Z"
    assert canonical_time(utc.replace(tzinfo=None)) == canonical_time(utc)  # SQLite: naive UTC
