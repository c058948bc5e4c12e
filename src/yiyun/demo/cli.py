"""`yiyun demo`: migrate the database, seed the demo consortium and print its logins."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yiyun.settings import Settings, get_settings

if TYPE_CHECKING:
    from yiyun.demo.seed import DemoSummary


async def _run(
    settings: Settings, *, quiet: bool, per_centre: int, console: Console
) -> DemoSummary:
    from yiyun.auth.service import cipher
    from yiyun.clinics.demo import seed_clinics
    from yiyun.collab.demo import seed_boards
    from yiyun.consult.demo import seed_consults
    from yiyun.core.db import create_engine, session_factory
    from yiyun.demo.seed import seed
    from yiyun.imaging.demo import seed_imaging
    from yiyun.inquiry.demo import seed_inquiries
    from yiyun.meetings.demo import seed_meetings
    from yiyun.stats.demo import seed_stats
    from yiyun.surveillance.demo import seed_surveillance
    from yiyun.teaching.demo import seed_teaching

    engine = create_engine(settings.db.url)
    try:
        factory = session_factory(engine)
        if quiet:
            summary = await seed(factory, settings, patients_per_centre=per_centre)
            await seed_meetings(factory)
            await seed_boards(factory)
            await seed_clinics(factory)
            await seed_imaging(factory, settings)
            summary.residents = await seed_inquiries(
                factory, cipher(settings.security), reply_hours=settings.inquiry.reply_hours
            )
            await seed_consults(factory, settings)
            await seed_surveillance(factory, settings)
            await seed_teaching(factory, settings)
            await seed_stats(factory, settings.stats)
            return summary
        columns = (
            TextColumn("[bold]Seeding[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label)

            summary = await seed(
                factory, settings, progress=progress, patients_per_centre=per_centre
            )
            await seed_meetings(factory)
            await seed_boards(factory)
            await seed_clinics(factory)
            bar.update(task, description="imaging (a CT study for the demo meeting)")
            await seed_imaging(factory, settings)
            summary.residents = await seed_inquiries(
                factory, cipher(settings.security), reply_hours=settings.inquiry.reply_hours
            )
            bar.update(task, description="remote consultations in every state")
            await seed_consults(factory, settings)
            bar.update(task, description="surveillance history (3 years, 94 sites)")
            await seed_surveillance(factory, settings)
            bar.update(task, description="teaching library (generated lectures)")
            await seed_teaching(factory, settings)
            bar.update(task, description="statistics history (5 years)")
            await seed_stats(factory, settings.stats)
            return summary
    finally:
        await engine.dispose()


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or tables; one summary line.")
@click.option(
    "--patients-per-centre",
    default=20,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Residents per community health centre (hospitals get 7-20 times as many).",
)
def demo(quiet: bool, patients_per_centre: int) -> None:
    """Create (or top up) the fictional demo consortium and print its demo logins."""
    from yiyun.auth import passwords
    from yiyun.core import migrate
    from yiyun.demo import data
    from yiyun.demo.seed import KINDS

    settings = get_settings()
    if settings.env == "production":
        raise click.ClickException(
            "refusing to create demo logins with a published password when YIYUN_ENV=production"
        )
    if settings.db.url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.db.url)
    sec = settings.security
    passwords.configure(time_cost=sec.argon2_time_cost, memory_kib=sec.argon2_memory_kib)
    # Wide enough for the logins table when the output is not a terminal (a file, a pipe).
    console = Console(width=None if sys.stdout.isatty() else 160)
    summary = asyncio.run(
        _run(settings, quiet=quiet, per_centre=patients_per_centre, console=console)
    )
    created, existing = sum(summary.created.values()), sum(summary.existing.values())
    if quiet:
        click.echo(f"demo consortium ready: {created} items created, {existing} already present "
                   f"({summary.seconds:.1f} s)")  # fmt: skip
        return
    counts = Table(title=f"{data.REGION_NAME} / {data.REGION_NAME_EN}")
    for heading in ("", "created", "already present"):
        counts.add_column(heading, justify="right" if heading else "left")
    for kind in KINDS:
        counts.add_row(kind, str(summary.created[kind]), str(summary.existing[kind]))
    console.print(counts)
    console.print(f"Finished in {summary.seconds:.1f} s.")
    logins = Table(title="Demo logins (demo data only: the password is published)")
    for heading in ("username", "name", "role", "institution", "password", "TOTP secret"):
        logins.add_column(heading, no_wrap=heading in ("username", "password", "TOTP secret"))
    for login in summary.logins:
        logins.add_row(login.username, login.display_name, login.role.value, login.institution,
                       login.password, login.totp_secret)  # fmt: skip
    console.print(logins)
    console.print("Enrol an authenticator app with the TOTP secret above, or from its otpauth URI:")
    for login in summary.logins:
        click.echo(f"  {login.username:<11} {login.totp_uri}")
    if summary.residents:
        residents = Table(title="Demo residents (resident portal /resident/login)")
        for heading in ("mobile number", "name", "community centre"):
            residents.add_column(heading, no_wrap=True)
        for r in summary.residents:
            residents.add_row(r.phone, r.name, r.institution)
        console.print(residents)
        console.print(
            "Residents sign in with an SMS code: outside production the console SMS channel "
            'writes it to the server log (look for "sms to 139****01").'
        )
