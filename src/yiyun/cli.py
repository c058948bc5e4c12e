"""The `yiyun` command: serve, migrate, demo, token, audit, storage, surveillance, bench."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from yiyun.settings import Settings, get_settings

if TYPE_CHECKING:
    from yiyun.core.storage import LocalStore


def _settings() -> Settings:
    return get_settings()


@click.group()
@click.version_option(package_name="yiyun")
def main() -> None:
    """Yiyun (医云): regional telemedicine platform."""


def multi_worker_problems(settings: Settings) -> list[str]:
    """What keeps these settings from running in several worker processes."""
    problems = []
    if not settings.db.url.startswith("postgresql"):
        problems.append(
            "SQLite takes one writer process (the audit chain lock is in-process): "
            "use PostgreSQL (YIYUN_DB__URL)"
        )
    if settings.bus.url.startswith("memory://"):
        problems.append(
            "the in-process bus reaches one process only (session revocations, "
            "notifications, chat): set YIYUN_BUS__URL=redis://..."
        )
    if settings.media.engine == "embedded":
        problems.append(
            "the embedded media engine lives inside one process: use the Janus engine "
            "(YIYUN_MEDIA__ENGINE=janus)"
        )
    return problems


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (PostgreSQL, a Redis bus and Janus; see docs/performance.md).",
)
def serve(host: str, port: int, reload: bool, workers: int) -> None:
    """Serve the web application (migrates the database first)."""
    import uvicorn

    if reload:
        uvicorn.run(
            "yiyun.web.asgi:app",
            host=host,
            port=port,
            reload=True,
            factory=False,
            proxy_headers=False,  # the client address: security.trusted_proxies only
        )
        return
    settings = _settings()
    if workers > 1:
        problems = multi_worker_problems(settings)
        if problems:
            raise click.ClickException(
                "cannot serve with several workers: " + "; ".join(problems) + "."
            )
        click.echo(
            f"serving with {workers} workers: route /ws/signal to one single-process instance "
            "(a meeting room's sockets must meet in one process; docs/performance.md)",
            err=True,
        )
        if settings.db.migrate_on_start:  # once here, not racing in every worker
            from yiyun.core import migrate as mig

            mig.upgrade(settings.db.url)
            os.environ["YIYUN_DB__MIGRATE_ON_START"] = "false"
        uvicorn.run(
            "yiyun.web.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            proxy_headers=False,
        )
        return
    from yiyun.web.app import create_app

    # proxy_headers off: X-Forwarded-For is believed from security.trusted_proxies only
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=False)


@main.command()
@click.option("--revision", default="head", show_default=True)
@click.option("--down", "down_to", default=None, help="Downgrade to this revision instead.")
def migrate(revision: str, down_to: str | None) -> None:
    """Apply (or roll back) database migrations."""
    from yiyun.core import migrate as mig

    settings = _settings()
    if settings.db.url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if down_to:
        mig.downgrade(settings.db.url, down_to)
        click.echo(f"downgraded to {down_to}")
    else:
        mig.upgrade(settings.db.url, revision)
        click.echo(f"database at {revision}")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@main.group()
def token() -> None:
    """API bearer tokens for automation."""


@token.command("create")
@click.option("--user", "username", required=True, help="Username the token acts as.")
@click.option("--name", default="cli", show_default=True)
@click.option("--days", default=90.0, show_default=True, type=float)
def token_create(username: str, name: str, days: float) -> None:
    """Create a bearer token and print it once."""
    from yiyun.auth import service as auth_service
    from yiyun.core.db import create_engine, session_factory, transaction
    from yiyun.core.errors import YiyunError

    settings = _settings()

    async def go() -> str:
        engine = create_engine(settings.db.url)
        try:
            async with transaction(session_factory(engine)) as session:
                issued = await auth_service.create_api_token(
                    session=session, username=username, name=name, days=days
                )
                return issued.token
        finally:
            await engine.dispose()

    try:
        click.echo(run(go()))
    except YiyunError as exc:
        raise click.ClickException(exc.message) from exc


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option(
    "--anchor",
    default=None,
    metavar="SEQ:HASH",
    help="An anchor printed by an earlier run: also detects a truncated tail.",
)
def audit_verify(anchor: str | None) -> None:
    """Recompute the hash chain; exit 1 naming the first bad row."""
    from yiyun.audit import service as audit_service
    from yiyun.core.db import create_engine, session_factory

    settings = _settings()

    async def go() -> audit_service.VerifyResult:
        engine = create_engine(settings.db.url)
        try:
            async with session_factory(engine)() as session:
                return await audit_service.verify(session=session, anchor=anchor)
        finally:
            await engine.dispose()

    result = run(go())
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} entries verified")
        click.echo(f"anchor: {result.anchor}  (keep it; pass --anchor next time)")
        return
    where = (
        f"seq {result.first_bad_seq} (row id {result.first_bad_id})"
        if result.first_bad_seq is not None
        else "outside the sequence"
    )
    click.echo(
        f"audit chain BROKEN at {where}: {result.reason}; "
        f"{result.checked} entries verified before it",
        err=True,
    )
    sys.exit(1)


@main.group()
def storage() -> None:
    """Files at rest (recordings, documents): key rotation and sealing (docs/storage.md)."""


def _store() -> LocalStore:
    from yiyun.core.storage import LocalStore
    from yiyun.settings import blob_keys

    settings = _settings()
    return LocalStore(settings.storage.path, blob_keys(settings.security))


def _each_blob(store: LocalStore, act: Callable[[str], str]) -> tuple[dict[str, int], list[str]]:
    """Run `act(key)` (returning a count name) over every blob; failures are listed."""
    from yiyun.core.errors import YiyunError

    counts: dict[str, int] = {}
    failed: list[str] = []
    for key in store.keys_stored():
        try:
            name = act(key)
        except (YiyunError, OSError) as exc:
            failed.append(f"{key}: {getattr(exc, 'message', exc)}")
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts, failed


def _report(counts: dict[str, int], failed: list[str]) -> None:
    for name, n in sorted(counts.items()):
        click.echo(f"{name}: {n}")
    for line in failed:
        click.echo(f"FAILED {line}", err=True)
    if failed:
        sys.exit(1)


@storage.command("status")
def storage_status() -> None:
    """Count stored files by the key that wraps them (and any still in plain form)."""
    store = _store()

    def which(key: str) -> str:
        return f"key {store.key_id(key)}" if store.is_sealed(key) else "plaintext"

    _report(*_each_blob(store, which))


@storage.command("rewrap")
@click.option("--to", "to", default=None, metavar="KEY_ID", help="Default: the current key.")
def storage_rewrap(to: str | None) -> None:
    """Wrap every file's data key with one key (rotation); file bodies are not rewritten.

    Configure the new key beside the old ones, make it current, run this, check
    `yiyun storage status`, then remove the old key."""
    store = _store()
    target = to or store.keys.current
    if target not in store.keys.keys:
        raise click.ClickException(f"key {target!r} is not configured")

    def one(key: str) -> str:
        if not store.is_sealed(key):
            return "skipped (plaintext: run `yiyun storage seal`)"
        return f"rewrapped to {target}" if store.rewrap(key, target) else f"already {target}"

    _report(*_each_blob(store, one))


@storage.command("seal")
def storage_seal() -> None:
    """Encrypt, in place, files an earlier version stored in plain form (run once after
    upgrading; safe to run again)."""
    store = _store()

    def one(key: str) -> str:
        return "sealed" if store.seal_legacy(key) else "already sealed"

    _report(*_each_blob(store, one))


def _mount() -> None:
    from yiyun.bench import bench
    from yiyun.consult.cli import consult
    from yiyun.demo.cli import demo
    from yiyun.stats.cli import stats
    from yiyun.surveillance.cli import surveillance
    from yiyun.teaching.cli import teaching

    main.add_command(bench)
    main.add_command(stats)
    main.add_command(consult)
    main.add_command(demo)
    main.add_command(surveillance)
    main.add_command(teaching)


_mount()
