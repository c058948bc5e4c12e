"""`yiyun bench`: run the project's benchmarks from a source checkout.

The benchmarks live in the repository's `benchmarks/` folder, not in the installed
package: they need the test harness (`tests/media/janus_harness.py` for network
namespaces), FFmpeg and Janus, and they start servers and load generators that a
deployed node never runs. So a command finds the runner next to the source tree this
package is imported from (an editable install, `src/yiyun/..`), or in the current
directory, and runs it with this interpreter in its own process; its options are
passed through. From an installed wheel without a checkout it says so and exits.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def find_runner(name: str) -> Path:
    """`benchmarks/<name>` of the source checkout (next to `src/yiyun`, or the cwd)."""
    roots = [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in roots:
        candidate = root / "benchmarks" / name
        if candidate.is_file():
            return candidate
    raise click.ClickException(
        f"benchmarks/{name} not found: the benchmarks run from a source checkout of Yiyun "
        "(they are not part of the installed package); run this command in the checkout."
    )


def run_runner(name: str, args: list[str]) -> None:
    """Run `benchmarks/<name>` with this interpreter; exit with its status if it fails."""
    script = find_runner(name)
    argv = [sys.executable, str(script), *args]
    status = subprocess.call(argv, cwd=script.parents[1])  # noqa: S603 - our own runner
    if status != 0:
        raise SystemExit(status)


def results_options(default: str) -> Callable[[F], F]:
    """`--output` (the JSON results file, `default` unless given) and `--help-runner`, for
    a command whose runner writes results; `runner_flags` turns them into arguments."""

    def add(command: F) -> F:
        command = click.option(
            "--help-runner", is_flag=True, help="Show every option of the runner."
        )(command)
        return click.option(
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"JSON results file (default: benchmarks/results/{default}).",
        )(command)

    return add


def runner_flags(output: Path | None, help_runner: bool) -> list[str]:
    """The runner's arguments for `results_options`."""
    args = ["--help"] if help_runner else []
    return args + (["--output", str(output.resolve())] if output is not None else [])


@click.group()
def bench() -> None:
    """Benchmarks (from a source checkout; results in benchmarks/results/)."""


@bench.command("media", context_settings={"ignore_unknown_options": True})
@click.option("--quick", is_flag=True, help="A short run (under about 2 minutes).")
@click.option(
    "--engines",
    default=None,
    metavar="LIST",
    help="Comma-separated subset of embedded,janus,relay (default: all three).",
)
@click.option(
    "--nice",
    type=int,
    default=None,
    help="Niceness of the servers and load generator (e.g. -10 on a shared machine).",
)
@results_options("media.json")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def media(
    quick: bool,
    engines: str | None,
    output: Path | None,
    nice: int | None,
    help_runner: bool,
    runner_args: tuple[str, ...],
) -> None:
    """Embedded SFU vs Janus vs aiortc MediaRelay on this machine.

    Egress packets/s per core of server CPU, CPU per added 720p subscriber stream,
    SFU-added latency and join -> first decoded frame, each engine in its own process,
    CPU and network namespace (root for namespaces; Janus is skipped without).
    Prints a table and writes JSON (benchmarks/bench_media.py).
    """
    args = runner_flags(output, help_runner)
    if quick:
        args.append("--quick")
    if engines:
        args += ["--engines", engines]
    if nice is not None:
        args += ["--nice", str(nice)]
    run_runner("bench_media.py", [*args, *runner_args])


@bench.command("api", context_settings={"ignore_unknown_options": True})
@click.option(
    "--db",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="Database the app runs on (a fresh one, seeded with the demo consortium).",
)
@click.option("--duration", type=float, default=None, help="Seconds per measurement (8).")
@click.option("--rounds", type=int, default=None, help="Alternating rounds (3).")
@click.option("--workers", type=int, default=None, help="uvicorn workers of the app (1).")
@results_options("api-<db>.json")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def api(
    db: str,
    duration: float | None,
    rounds: int | None,
    workers: int | None,
    output: Path | None,
    help_runner: bool,
    runner_args: tuple[str, ...],
) -> None:
    """The request path against a bare FastAPI route, in the same run.

    Starts the app on a freshly seeded SQLite or PostgreSQL database and a bare FastAPI
    app returning a 4-field model, drives them alternately with wrk (or a Python
    fallback without wrk) and prints requests/s, p50/p99 and each route's ratio to the
    bare route (benchmarks/bench_api.py).
    """
    args = runner_flags(output, help_runner) + ([] if help_runner else ["--db", db])
    if duration is not None:
        args += ["--duration", str(duration)]
    if rounds is not None:
        args += ["--rounds", str(rounds)]
    if workers is not None:
        args += ["--workers", str(workers)]
    run_runner("bench_api.py", [*args, *runner_args])


@bench.command("docs", context_settings={"ignore_unknown_options": True})
@click.option("--editors", type=int, default=None, help="Editors on one board (30).")
@click.option("--rate", type=float, default=None, help="Updates per second per editor (10).")
@click.option("--seconds", type=float, default=None, help="Length of the run (30).")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def docs(
    editors: int | None, rate: float | None, seconds: float | None, runner_args: tuple[str, ...]
) -> None:
    """Real-time documents: apply + store + broadcast latency, ops/s and storage per
    editing hour with compaction (benchmarks/bench_docs.py)."""
    args: list[str] = []
    if editors is not None:
        args += ["--editors", str(editors)]
    if rate is not None:
        args += ["--rate", str(rate)]
    if seconds is not None:
        args += ["--seconds", str(seconds)]
    run_runner("bench_docs.py", [*args, *runner_args])


@bench.command("heartbeats", context_settings={"ignore_unknown_options": True})
@click.option(
    "--db",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="Database of the run (a fresh one with 2,000 enrolled terminals).",
)
@click.option("--seconds", type=float, default=None, help="Seconds per path (10).")
@click.option("--terminals", type=int, default=None, help="Terminals in the fleet (2000).")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def heartbeats(
    db: str, seconds: float | None, terminals: int | None, runner_args: tuple[str, ...]
) -> None:
    """Heartbeat ingestion per core: 2,000 terminals reporting every 10 s need 200/s.

    Times POST /api/v1/devices/heartbeat through the app and the service path alone, in
    one process, and prints heartbeats per CPU-second (benchmarks/bench_heartbeats.py).
    """
    args = ["--db", db]
    if seconds is not None:
        args += ["--seconds", str(seconds)]
    if terminals is not None:
        args += ["--terminals", str(terminals)]
    run_runner("bench_heartbeats.py", [*args, *runner_args])


@bench.command("workflows", context_settings={"ignore_unknown_options": True})
@click.option("--quick", is_flag=True, help="1/50 of the rows, few iterations (about a minute).")
@click.option("--no-pg", is_flag=True, help="SQLite only (no PostgreSQL on 127.0.0.1:5432).")
@results_options("workflows.json")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def workflows(
    quick: bool,
    no_pg: bool,
    output: Path | None,
    help_runner: bool,
    runner_args: tuple[str, ...],
) -> None:
    """Worklists and an audited read with a year of a busy district seeded.

    Seeds the demo consortium and one year of workflows (50,000 remote consultations,
    300,000 clinic visits, 100,000 light consultations and their ~2.2 million audit
    entries) into a fresh SQLite file and a fresh PostgreSQL database, then times the
    consultation, clinic and question worklists (p50/p95) and GET /api/v1/patients/{id}
    (audited) against GET /api/v1/institutions/{id} through the app (requests/s, p99,
    ratio). Writes JSON (benchmarks/bench_workflows.py).
    """
    args = runner_flags(output, help_runner)
    if quick:
        args.append("--quick")
    if no_pg:
        args.append("--no-pg")
    run_runner("bench_workflows.py", [*args, *runner_args])


@bench.command("imaging", context_settings={"ignore_unknown_options": True})
@click.option("--requests", "requests_", type=int, default=200, help="Requests per case.")
@click.option("--seconds", type=float, default=3.0, help="Throughput run per case.")
@click.argument("runner_args", nargs=-1, type=click.UNPROCESSED)
def imaging(requests_: int, seconds: float, runner_args: tuple[str, ...]) -> None:
    """Render a 512x512 CT slice: ours against Orthanc's /rendered (needs orthanc)."""
    args = ["--requests", str(requests_), "--seconds", str(seconds)]
    run_runner("bench_imaging.py", [*args, *runner_args])
