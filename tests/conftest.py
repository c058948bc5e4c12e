"""Shared fixtures: settings, a migrated database (SQLite or PostgreSQL), the app, personas."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import db, services
from tests.factories import World
from yiyun.core import migrate
from yiyun.core.db import create_engine
from yiyun.models import import_all
from yiyun.settings import DbSettings, MediaSettings, Settings, StorageSettings
from yiyun.web.app import create_app

import_all()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("YIYUN_TEST_DB", "sqlite"),
        help="database backend for the suite",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups on the worker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, a module with costly module-scoped fixtures (a browser
    and a server, the R reference runs) runs whole on one worker instead of starting them
    on every worker."""
    for item in items:
        if item.get_closest_marker("e2e") or item.get_closest_marker("rref"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


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


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (per worker), dropped at the end."""
    admin = request.getfixturevalue("pg_admin_url")
    name = f"yiyun_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(db.pg_exec(admin, f'CREATE DATABASE "{name}"'))
    yield db.pg_url(admin, name)
    asyncio.run(db.pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


def _pg_copy(request: pytest.FixtureRequest, template: str, label: str) -> Iterator[str]:
    """A database created from `template` (no connection to it may be open)."""
    admin = str(request.getfixturevalue("pg_admin_url"))
    name = f"{template.rsplit('/', 1)[1]}_{label}"
    db.run(db.pg_exec(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"'))
    yield db.pg_url(admin, name)
    db.run(db.pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def world_template(
    template_db: str,
    db_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[db.Database]:
    """The personas' world seeded once per session into a copy of the template."""
    if db_backend == "postgresql":
        copies = _pg_copy(request, template_db, "world")
        url = next(copies)
        yield db.Database(url, db.run(db.seed(url)))
        next(copies, None)
        return
    path = tmp_path_factory.mktemp("template") / "world.db"
    shutil.copyfile(template_db.split("///", 1)[1], path)
    url = f"sqlite+aiosqlite:///{path}"
    yield db.Database(url, db.run(db.seed(url)))


@pytest.fixture(scope="session")
def pg_scratch(template_db: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """This worker's database for tests marked `commits` (emptied before each)."""
    yield from _pg_copy(request, template_db, "scratch")


@pytest.fixture
def db_source(request: pytest.FixtureRequest, db_backend: str, template_db: str) -> db.Database:
    """Which database the test starts from: the personas' world if it asks for `world`."""
    wants_world = "world" in request.fixturenames
    if db_backend == "postgresql" and request.node.get_closest_marker("commits"):
        return db.Database(str(request.getfixturevalue("pg_scratch")), bind="commits")
    if wants_world:
        return request.getfixturevalue("world_template")  # type: ignore[no-any-return]
    return db.Database(template_db)


@pytest.fixture
async def database(
    request: pytest.FixtureRequest, db_backend: str, db_source: db.Database, tmp_path: Path
) -> AsyncIterator[db.Database]:
    if db_backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(db_source.url.split("///", 1)[1], target)
        yield db.Database(f"sqlite+aiosqlite:///{target}", db_source.world)
        return
    if db_source.bind == "commits":
        await db.pg_empty(db_source.url)
        wants_world = "world" in request.fixturenames
        yield db.Database(db_source.url, await db.seed(db_source.url) if wants_world else None)
        return
    engine = create_engine(db_source.url)
    try:
        async with engine.connect() as conn:
            outer = await conn.begin()
            with db.SavepointOrder(conn.sync_connection) as order:
                yield db.Database(db_source.url, db_source.world, bind=conn)
            await outer.rollback()
    finally:
        await engine.dispose()
    if order.problem:
        pytest.fail(order.problem)


@pytest.fixture
def db_url(database: db.Database) -> str:
    return database.url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        log_json=True,
        db=DbSettings(url=db_url, migrate_on_start=False),
        storage=StorageSettings(path=tmp_path / "blobs", max_upload_bytes=256 * 1024),
        media=MediaSettings(engine="fake"),
        security=db.SECURITY,
    )


@pytest.fixture
async def app(settings: Settings, database: db.Database) -> AsyncIterator[object]:
    application = create_app(settings, configure_logs=False, bind=database.bind)
    yield application
    await application.state.rooms.close()
    await application.state.hub.close()
    await application.state.bus.close()
    if database.bind is None:
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
def world(database: db.Database) -> World:
    """The personas' world, already in the test's database (seeded once per session)."""
    assert database.world is not None, "the database fixture seeds the world it is asked for"
    return database.world
