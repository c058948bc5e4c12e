"""Alembic environment: async engine, project metadata, batch mode on SQLite."""

from __future__ import annotations

import asyncio
import concurrent.futures

from alembic import context
from sqlalchemy.engine import Connection

from yiyun.core.db import compared, create_engine, metadata
from yiyun.models import import_all

import_all()
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=compared,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_online())
    else:  # called from async code: run the migration on a loop of its own
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _online()).result()
