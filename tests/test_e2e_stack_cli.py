"""End to end: `llmpulse stack up|status|down` as a user runs it, with the default (committed) bundle and the demo.

`up` returns once every service is ready and prints the URLs; the services keep running in the background;
`status` reports them healthy; Prometheus scrapes the exporter; `down` ends every process it started.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import requests
from e2e_support import require_binaries, wait_for
from helpers import Metrics, run_cli

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_stack_up_status_down(tmp_path: Path) -> None:
    require_binaries()
    workdir = tmp_path / "stack"
    up = run_cli("stack", "up", "--workdir", str(workdir), "--free-ports", "--no-grafana", timeout=150)
    state_file = workdir / "run" / "stack.json"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        urls = dict(re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+)\S*", up.stdout, re.M))
        assert set(urls) == {"simulator", "exporter", "mailpit", "alertmanager", "prometheus"}, up.stdout
        assert "stop with: llmpulse stack down" in up.stdout
        state = json.loads(state_file.read_text())
        pids = [int(p["pid"]) for p in state["pids"].values()]
        assert len(pids) == 5 and all(_alive(p) for p in pids)

        status = run_cli("stack", "status", "--workdir", str(workdir))
        assert status.returncode == 0, status.stdout
        assert len(re.findall(r"\bup\b", status.stdout)) == 5

        # The services answer on the printed URLs, and the pipeline is connected.
        metrics = Metrics(requests.get(f"{urls['exporter']}/metrics", timeout=10).text)
        assert metrics.total("llmpulse_source_up") > 0
        prom = urls["prometheus"]

        def exporter_scraped() -> bool:
            targets = requests.get(f"{prom}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            return any(t["labels"]["job"] == "llmpulse" and t["health"] == "up" for t in targets)

        wait_for(exporter_scraped, 60, "Prometheus scrapes the exporter (default 15 s interval)")
        ams = requests.get(f"{prom}/api/v1/alertmanagers", timeout=10).json()["data"]["activeAlertmanagers"]
        assert [a["url"] for a in ams] == [f"{urls['alertmanager']}/api/v2/alerts"]
        assert requests.get(f"{urls['mailpit']}/", timeout=10).status_code == 200
        # The committed bundle, generated again: the same rule groups as the repository's files.
        groups = requests.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert {g["name"] for g in groups} >= {"llmpulse.api.rules", "llmpulse.cost.rules"}
    finally:
        down = run_cli("stack", "down", "--workdir", str(workdir), timeout=60)
    assert down.returncode == 0, down.stderr
    assert "stopped:" in down.stdout
    assert not state_file.exists()
    assert not any(_alive(p) for p in pids)
    after = run_cli("stack", "status", "--workdir", str(workdir))
    assert after.returncode == 1 and "no stack is running" in after.stdout
