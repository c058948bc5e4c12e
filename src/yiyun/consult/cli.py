"""`yiyun consult`: the consortium signing CA, and consultations as surveillance counts."""

from __future__ import annotations

import asyncio
from datetime import date

import click

from yiyun.settings import get_settings


@click.group()
def consult() -> None:
    """Remote consultation administration."""


@consult.command("init-ca")
def init_ca() -> None:
    """Create the consortium signing CA (if there is none) and print its certificate."""
    from yiyun.consult import signing
    from yiyun.core.crypto import FieldCipher
    from yiyun.core.db import create_engine, session_factory, transaction
    from yiyun.settings import secret

    settings = get_settings()

    async def run() -> str:
        engine = create_engine(settings.db.url)
        try:
            async with transaction(session_factory(engine)) as session:
                cipher = FieldCipher(secret(settings.security.data_key))
                row = await signing.ensure_ca(session, cipher)
                return row.cert_pem
        finally:
            await engine.dispose()

    click.echo(asyncio.run(run()), nl=False)


@consult.command("derive-counts")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
def derive_counts(start: object, end: object) -> None:
    """Store syndromic counts classified from the consultations signed in [start, end]."""
    from yiyun.audit.service import SYSTEM
    from yiyun.consult import encounters
    from yiyun.core.db import create_engine, session_factory, transaction

    settings = get_settings()
    first: date = start.date()  # type: ignore[attr-defined]
    last: date = end.date()  # type: ignore[attr-defined]

    async def run() -> str:
        engine = create_engine(settings.db.url)
        try:
            async with transaction(session_factory(engine)) as session:
                result = await encounters.store_counts(
                    session=session, actor=SYSTEM, start=first, end=last
                )
                return result.model_dump_json()
        finally:
            await engine.dispose()

    click.echo(asyncio.run(run()))
