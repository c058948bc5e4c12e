"""Migrations go up, down and up again, and the models never drift from them."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from yiyun.core import migrate
from yiyun.core.db import compared, create_engine, metadata
from yiyun.models import import_all

import_all()

SCRIPTS = ScriptDirectory.from_config(migrate.alembic_config("sqlite+aiosqlite://"))
MODEL_TABLES = set(metadata.tables)


def _revisions() -> list[str]:
    """Every revision from the first to head."""
    return [s.revision for s in reversed(list(SCRIPTS.walk_revisions()))]


def _schema(url: str) -> dict[str, Any]:
    """Tables (with columns and indexes) and the stamped revision, read from the database."""

    def read(conn: Connection) -> dict[str, Any]:
        insp = inspect(conn)
        tables = {
            name: {
                "columns": sorted(c["name"] for c in insp.get_columns(name)),
                "indexes": sorted(i["name"] or "" for i in insp.get_indexes(name)),
            }
            for name in insp.get_table_names()
        }
        version = None
        if "alembic_version" in tables:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return {"tables": tables, "version": version}

    async def go() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _drift(url: str) -> list[Any]:
    """What autogenerate would write for the models against this database."""

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "target_metadata": metadata, "include_object": compared},
        )
        return list(compare_metadata(context, metadata))

    async def go() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _check_up_down_up(url: str) -> None:
    head = SCRIPTS.get_current_head()
    migrate.upgrade(url)
    first = _schema(url)
    assert first["version"] == head
    tables = {t for t in first["tables"] if compared(None, t, "table", True, None)}
    assert tables - {"alembic_version"} == MODEL_TABLES

    migrate.downgrade(url, "base")
    empty = _schema(url)
    assert set(empty["tables"]) <= {"alembic_version"}  # downgrade left nothing behind
    assert empty["version"] is None

    migrate.upgrade(url)
    assert _schema(url) == first
    assert _drift(url) == []


def _check_stairway(url: str) -> None:
    """Each revision upgrades, downgrades one step and upgrades again on its own."""
    for revision in _revisions():
        migrate.upgrade(url, revision)
        migrate.downgrade(url, "-1")
        migrate.upgrade(url, revision)
    assert _schema(url)["version"] == SCRIPTS.get_current_head()


# --- the revision files ----------------------------------------------------------------


def test_there_is_exactly_one_head() -> None:
    assert len(SCRIPTS.get_heads()) == 1


def test_revision_files_are_named_by_date_and_slug_and_can_go_down() -> None:
    versions = Path(SCRIPTS.versions)
    files = sorted(p for p in versions.glob("*.py") if p.name != "__init__.py")
    assert files
    for path in files:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_[a-z0-9_]+\.py", path.name), path.name
        source = path.read_text(encoding="utf-8")
        body = source.split("def downgrade() -> None:", 1)
        assert len(body) == 2, f"{path.name} has no downgrade()"
        assert "op." in body[1], f"{path.name} has an empty downgrade()"


# --- SQLite ----------------------------------------------------------------------------


def test_sqlite_goes_up_down_and_up_without_drift(tmp_path: Path) -> None:
    _check_up_down_up(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


def test_sqlite_migrates_one_revision_at_a_time(tmp_path: Path) -> None:
    _check_stairway(f"sqlite+aiosqlite:///{tmp_path / 'stairs.db'}")


def test_the_models_match_the_migrated_sqlite_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    migrate.upgrade(url)
    assert _drift(url) == []


def test_drift_is_detected_when_the_schema_differs(tmp_path: Path) -> None:
    """The drift check itself can fail: an index dropped by hand is reported."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'drifted.db'}"
    migrate.upgrade(url)

    async def drop_index() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP INDEX ix_audit_event_at")
        await engine.dispose()

    asyncio.run(drop_index())
    diffs = _drift(url)
    assert [d[0] for d in diffs] == ["add_index"]
    assert diffs[0][1].name == "ix_audit_event_at"


# --- PostgreSQL ------------------------------------------------------------------------


async def _pg(admin_url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(admin_url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.fixture
def fresh_pg(pg_admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own, dropped afterwards."""
    name = f"yiyun_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg(pg_admin_url, f'CREATE DATABASE "{name}"'))
    base = pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


LEFTOVERS_SQL = """
SELECT 'type ' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
UNION ALL
SELECT 'sequence ' || sequence_name FROM information_schema.sequences
 WHERE sequence_schema = 'public'
"""


def _pg_leftovers(url: str) -> list[str]:
    """Types and sequences still in the public schema (a downgrade must drop them too)."""
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    return sorted(str(r[0]) for r in asyncio.run(_pg(plain, LEFTOVERS_SQL)))


@pytest.mark.postgres
def test_postgresql_goes_up_down_and_up_without_drift(fresh_pg: str) -> None:
    # one fresh database for both checks: creating and dropping databases is the slow part
    _check_up_down_up(fresh_pg)
    migrate.downgrade(fresh_pg, "base")
    assert _pg_leftovers(fresh_pg) == []
    _check_stairway(fresh_pg)
    assert _drift(fresh_pg) == []
