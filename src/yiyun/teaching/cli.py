"""``yiyun teaching status`` (the library's videos and their transcodes) and ``yiyun
teaching transcode`` (run the transcoder now, in the foreground, with a progress bar)."""

from __future__ import annotations

import asyncio
import sys

import click
from sqlalchemy import select

from yiyun.settings import get_settings

BAR = 30


def _bar(share: float) -> str:
    done = round(share * BAR)
    return "[" + "#" * done + "." * (BAR - done) + f"] {share * 100:5.1f}%"


@click.group()
def teaching() -> None:
    """The teaching library: videos and their transcodes (docs/teaching.md)."""


@teaching.command("status")
def status() -> None:
    """Every video that is not yet in the library, or failed, with its progress."""
    from yiyun.core.db import create_engine, session_factory
    from yiyun.teaching.models import Video, VideoState

    async def run() -> None:
        engine = create_engine(get_settings().db.url)
        try:
            async with session_factory(engine)() as s:
                rows = (await s.scalars(select(Video).order_by(Video.id))).all()
        finally:
            await engine.dispose()
        counts = {state: sum(1 for v in rows if v.state == state) for state in VideoState}
        click.echo("  ".join(f"{state.value}: {n}" for state, n in counts.items()))
        for v in rows:
            if v.state in (VideoState.READY, VideoState.WITHDRAWN):
                continue
            line = f"#{v.id:<5} {v.state.value:<12} {_bar(v.progress)}  {v.title[:40]}"
            if v.error:
                line += f"\n        attempt {v.attempts}: {v.error[:120]}"
            click.echo(line)

    asyncio.run(run())


@teaching.command("transcode")
@click.option("--all", "drain", is_flag=True, help="keep going until nothing is waiting")
def transcode_now(drain: bool) -> None:
    """Take the next waiting video (or all of them) and transcode it here."""
    from yiyun.core.bus import create_bus
    from yiyun.core.db import create_engine, session_factory
    from yiyun.core.storage import LocalStore
    from yiyun.settings import blob_keys
    from yiyun.teaching import worker

    settings = get_settings()

    async def run() -> int:
        engine = create_engine(settings.db.url)
        bus = create_bus(settings.bus.url)
        job = worker.Transcoder(
            worker.Context(
                factory=session_factory(engine),
                bus=bus,
                store=LocalStore(settings.storage.path, blob_keys(settings.security)),
                config=settings.teaching,
                work_dir=settings.data_dir / "teaching-work" / "cli",
            ),
            on_progress=lambda vid, share: click.echo(f"\r#{vid} {_bar(share)}", nl=False),
        )
        done = 0
        try:
            while (video_id := await job.tick()) is not None:
                done += 1
                click.echo(f"\r#{video_id} {_bar(1.0)}")
                if not drain:
                    break
        finally:
            await bus.close()
            await engine.dispose()
        return done

    done = asyncio.run(run())
    click.echo(f"{done} video(s) transcoded" if done else "nothing is waiting")
    sys.exit(0)
