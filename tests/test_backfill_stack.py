"""`llmpulse stack up --backfill 40d`: the native stack imports the simulator's history into its Prometheus before
Prometheus starts, with a retention that keeps it, so the cost dashboards show last month on first start."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from e2e_support import require_binaries
from helpers import run_cli

from exporter.durations import parse_duration

pytestmark = pytest.mark.e2e


def test_stack_up_with_backfill_shows_last_month(tmp_path: Path) -> None:
    require_binaries()
    workdir = tmp_path / "stack"
    up = run_cli(
        "stack", "up", "--workdir", str(workdir), "--free-ports", "--no-grafana", "--backfill", "40d", timeout=900
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        prom = dict(re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+)\S*", up.stdout, re.M))["prometheus"]
        flags = requests.get(f"{prom}/api/v1/status/flags", timeout=10).json()["data"]
        # 40 days of history + 30 of live data (Prometheus prints it back as 10w)
        assert parse_duration(flags["storage.tsdb.retention.time"]) == 70 * 86400
        this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if datetime.now(UTC) - timedelta(hours=3) < this_month:
            pytest.skip("the default --until (3 hours ago) is still in last month")
        body = requests.post(
            f"{prom}/api/v1/query",
            data={
                "query": "sum by (source) (llmpulse_cost_usd_total)",
                "time": f"{this_month.timestamp() - 0.001:.3f}",
            },
            timeout=30,
        ).json()
        by_source = {r["metric"]["source"]: float(r["value"][1]) for r in body["data"]["result"]}
        assert set(by_source) == {"openai-demo", "anthropic-demo"} and min(by_source.values()) > 0, by_source
        assert "wrote" in (workdir / "logs" / "backfill.log").read_text()
    finally:
        down = run_cli("stack", "down", "--workdir", str(workdir), timeout=120)
        assert down.returncode == 0, down.stderr
