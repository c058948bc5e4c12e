"""The shipped Prometheus rules are valid and do what their unit tests say (promtool, from
Debian's `prometheus` package, installed by scripts/install-system.sh); the Grafana
dashboard only asks for metrics the app exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail(
            "promtool is missing: run scripts/install-system.sh (Debian package prometheus)"
        )
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_rules_check_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", str(DEPLOY / "prometheus" / "rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(DEPLOY / "prometheus" / "rules_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def _names(expr: str) -> set[str]:
    words = set(re.findall(r"\b(yiyun_[a-z_]+)", expr))
    return {re.sub(r"_(bucket|count|sum|total)$", "", w) for w in words}


async def test_rules_and_dashboard_use_only_exported_metrics(client: httpx.AsyncClient) -> None:
    exported = {
        re.sub(r"_(bucket|count|sum|total|created)$", "", line.split()[2])
        for line in (await client.get("/metrics")).text.splitlines()
        if line.startswith("# TYPE ")
    }
    wanted = {"yiyun_calls", "yiyun_call_participants", "yiyun_terminals", "yiyun_call_mos",
              "yiyun_job_lag_seconds", "yiyun_call_join_failures", "yiyun_device_refusals",
              "yiyun_heartbeats", "yiyun_alarms_open", "yiyun_node_ready"}  # fmt: skip
    assert wanted <= exported
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text()
    dashboard: dict[str, Any] = json.loads(
        (DEPLOY / "grafana" / "yiyun-operations.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]] + [rules]
    used = set().union(*(_names(e) for e in exprs))
    # the bus round trip appears once the first node report measured it
    assert used - exported <= {"yiyun_bus_lag_seconds"}, used - exported
