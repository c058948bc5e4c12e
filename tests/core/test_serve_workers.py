"""`yiyun serve --workers N` runs only where every shared thing is shared across processes."""

from __future__ import annotations

from click.testing import CliRunner

from yiyun.cli import main, multi_worker_problems
from yiyun.settings import BusSettings, DbSettings, MediaSettings, Settings


def test_the_embedded_default_names_each_reason_to_stay_in_one_process() -> None:
    problems = multi_worker_problems(Settings())
    assert len(problems) == 3
    assert any("PostgreSQL" in p for p in problems)
    assert any("redis://" in p for p in problems)
    assert any("Janus" in p for p in problems)


def test_postgresql_redis_and_janus_may_run_several_workers() -> None:
    settings = Settings(
        db=DbSettings(url="postgresql+asyncpg://db/yiyun"),
        bus=BusSettings(url="redis://cache:6379/0"),
        media=MediaSettings(engine="janus", janus_urls=["http://janus:8088/janus"]),
    )
    assert multi_worker_problems(settings) == []


def test_serve_refuses_workers_on_the_embedded_default(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YIYUN_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code != 0
    assert "cannot serve with several workers" in result.output
