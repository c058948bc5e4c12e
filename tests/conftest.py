"""Shared fixtures: settings, a migrated database (SQLite or PostgreSQL), the app, personas."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import services
from tests.factories import World, seed_world
from yiyun.core import migrate
from yiyun.core.db import create_engine
from yiyun.models import import_all
from yiyun.settings import DbSettings, MediaSettings, SecuritySettings, Settings, StorageSettings
from yiyun.web.app import create_app

import_all()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("YIYUN_TEST_DB", "sqlite"),
        help="database backend for the suite",
    )


@pytest.fixture(scope="session")
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    service = services.postgres()
    yield service.url
    service.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    service = services.redis()
    yield service.url
    service.stop()


async def _pg_exec(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = request.getfixturevalue("pg_admin_url")
    name = f"yiyun_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_exec(admin, f'CREATE DATABASE "{name}"'))
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(_pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def template_db(
    db_backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """Migrated once per session: a SQLite file to copy, or the session's PG database."""
    if db_backend == "postgresql":
        url = str(request.getfixturevalue("pg_database"))
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    return url


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        tables = (
            (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
async def db_url(template_db: str, db_backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if db_backend == "postgresql":
        yield template_db
        await _truncate_all(template_db)
        return
    source = Path(template_db.split("///", 1)[1])
    target = tmp_path / "test.db"
    shutil.copyfile(source, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        log_json=True,
        db=DbSettings(url=db_url, migrate_on_start=False),
        storage=StorageSettings(path=tmp_path / "blobs", max_upload_bytes=256 * 1024),
        media=MediaSettings(engine="fake"),
        security=SecuritySettings(
            secret_key="test-secret-key-0123456789abcdef",
            data_key="test-data-key-0123456789abcdef",
            argon2_time_cost=1,
            argon2_memory_kib=64,
            lockout_threshold=5,
        ),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings, configure_logs=False)
    yield application
    await application.state.rooms.close()
    await application.state.hub.close()
    await application.state.bus.close()
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def session(app: object) -> AsyncIterator[AsyncSession]:
    """A session on the app's database (commit yourself to make rows visible)."""
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        yield s


@pytest.fixture
async def world(app: object, settings: Settings) -> World:
    async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        return await seed_world(s, settings.security, app.state.cipher)  # type: ignore[attr-defined]
