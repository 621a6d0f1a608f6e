"""End to end: `llmpulse stack up|status|down` as a user runs it, with the default (committed) bundle and the demo.

`up` returns once every service is ready and prints the URLs; the services keep running in the background;
`status` reports them healthy; Prometheus scrapes the exporter; `down` ends every process it started.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
import requests
from e2e_support import require_binaries, wait_for
from helpers import Metrics, free_port, run_cli

from exporter.stack import free_ports, port_free

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
        # Every page `up` prints exists on the binaries it runs (Debian's: the classic UI, Alertmanager's API).
        pages = re.findall(r"^\s+\w+\s+(http://127\.0\.0\.1:\d+\S*)", up.stdout, re.M)
        assert len(pages) == 5
        for page in pages:
            assert requests.get(page, timeout=10).status_code == 200, page
        state = json.loads(state_file.read_text())
        pids = [int(p["pid"]) for p in state["pids"].values()]
        assert len(pids) == 5 and all(_alive(p) for p in pids)

        def status_ok() -> bool:  # every source has finished its first poll, and all are up
            return run_cli("stack", "status", "--workdir", str(workdir)).returncode == 0

        wait_for(status_ok, 60, "stack status exits 0 once every source's first poll succeeded")
        status = run_cli("stack", "status", "--workdir", str(workdir))
        services, _, sources = status.stdout.partition("sources (")
        assert len(re.findall(r"\bup\b", services)) == 5, status.stdout
        assert "DOWN" not in sources and len(re.findall(r"\bup$", sources, re.M)) >= 6, status.stdout

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


def test_stack_up_again_at_once_and_status_reports_a_down_source(tmp_path: Path) -> None:
    """`stack up; stack down; stack up` on the same ports works at once (the ports' old connections in TIME_WAIT do
    not count as busy), and `stack status` names a source that is down and exits 1."""
    require_binaries()
    closed = free_port()  # nothing listens here: the source polling it is down
    config = tmp_path / "llmpulse.yml"
    config.write_text(
        "sources:\n"
        "  - {type: openai, name: openai-sim, base_url: 'http://simulator:9878', api_key_env: LLMPULSE_DEMO_KEY,"
        " interval: 2s, timeout: 2s}\n"
        f"  - {{type: deepseek, name: deepseek-unreachable, base_url: 'http://127.0.0.1:{closed}',"
        " api_key_env: LLMPULSE_DEMO_KEY, interval: 2s, timeout: 2s}\n"
    )
    workdir = tmp_path / "stack"
    ports = free_ports()
    port_args = [arg for key, port in ports.items() for arg in ("--port", f"{key}={port}")]
    up_args = ["stack", "up", "--workdir", str(workdir), "--config", str(config), "--no-grafana", *port_args]
    first = run_cli(*up_args, timeout=150)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        # Clients connected to every service (readiness checks, scrapes): their ports have TIME_WAIT entries now.
    finally:
        assert run_cli("stack", "down", "--workdir", str(workdir), timeout=60).returncode == 0
    again = run_cli(*up_args, timeout=150)
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already in use" not in again.stderr

        def source_reported() -> str:
            out = run_cli("stack", "status", "--workdir", str(workdir)).stdout
            return out if re.search(r"deepseek-unreachable\s+\S+\s+DOWN", out) else ""

        status_text = wait_for(source_reported, 60, "stack status lists the unreachable source as DOWN")
        assert re.search(r"openai-sim\s+\S+\s+up$", status_text, re.M), status_text
        assert run_cli("stack", "status", "--workdir", str(workdir)).returncode == 1
    finally:
        assert run_cli("stack", "down", "--workdir", str(workdir), timeout=60).returncode == 0


def test_busy_port_message_names_the_service_that_needs_it(tmp_path: Path) -> None:
    """A port something really listens on is busy; the error names the stack's service and what usually holds it."""
    require_binaries()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_free(port)
        result = run_cli(
            "stack",
            "up",
            "--workdir",
            str(tmp_path / "wd"),
            "--free-ports",
            "--port",
            f"exporter={port}",
            "--no-grafana",
        )
    assert result.returncode == 1
    assert f"exporter port {port}" in result.stderr and "llmpulse serve" in result.stderr, result.stderr
    assert "Prometheus/Alertmanager" not in result.stderr
