"""`yiyun bench`: each command hands its runner the options it was given."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from yiyun import bench


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(bench, "run_runner", lambda name, args: calls.append((name, args)))
    return calls


@pytest.mark.parametrize(
    ("command", "runner", "own"),
    [
        (["api", "--db", "postgresql"], "bench_api.py", ["--db", "postgresql"]),
        (["workflows", "--no-pg"], "bench_workflows.py", ["--no-pg"]),
        (["media", "--quick"], "bench_media.py", ["--quick"]),
    ],
)
def test_results_file_and_options_reach_the_runner(
    handed: list[tuple[str, list[str]]], tmp_path: Path, command: list[str], runner: str,
    own: list[str],
) -> None:  # fmt: skip
    out = tmp_path / "r.json"
    result = CliRunner().invoke(bench.bench, [*command, "--output", str(out), "--extra", "1"])
    assert result.exit_code == 0, result.output
    [(name, args)] = handed
    assert name == runner
    assert args[-2:] == ["--extra", "1"]  # unknown options pass through
    assert set(own) <= set(args) and args[args.index("--output") + 1] == str(out.resolve())
    assert "--help" not in args


def test_help_runner_asks_the_runner_for_its_help(handed: list[tuple[str, list[str]]]) -> None:
    result = CliRunner().invoke(bench.bench, ["api", "--help-runner"])
    assert result.exit_code == 0, result.output
    assert handed == [("bench_api.py", ["--help"])]
