"""`llmpulse stack`: rewriting the compose configs for localhost, and the CLI's refusals (nothing is started).

The full stack (real Prometheus and Alertmanager) runs in tests/test_e2e_*.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from exporter.stack import Rewriter, _absolutize_files, _drop_targets, free_ports


def test_rewriter_maps_exactly_the_compose_services_and_container_paths() -> None:
    rw = Rewriter(
        {"exporter:9877": "127.0.0.1:40001", "mailpit:1025": "127.0.0.1:40002"},
        {"/etc/prometheus/rules": "/work/etc/prometheus/rules"},
    )
    data = {
        "targets": ["exporter:9877", "exporter:9100", "node-exporter:9877", "my.exporter:9877"],
        "url": "http://exporter:9877/relay/feishu",
        "smarthost": "mailpit:1025",
        "rule_files": ["/etc/prometheus/rules/*.yml", "/etc/prometheus/rules", "/etc/prometheus/rulesX/a.yml"],
        "expr": 'up{job="llmpulse"} == 0',
        "n": 3,
    }
    assert rw.data(data) == {
        "targets": ["127.0.0.1:40001", "exporter:9100", "node-exporter:9877", "my.exporter:9877"],
        "url": "http://127.0.0.1:40001/relay/feishu",
        "smarthost": "127.0.0.1:40002",
        "rule_files": [
            "/work/etc/prometheus/rules/*.yml",
            "/work/etc/prometheus/rules",
            "/etc/prometheus/rulesX/a.yml",
        ],
        "expr": 'up{job="llmpulse"} == 0',
        "n": 3,
    }


def test_relative_key_files_of_the_exporter_config_stay_valid_in_the_rewritten_copy(tmp_path: Path) -> None:
    data = {
        "sources": [{"api_key_file": "secrets/openai", "api_key_env": None}],
        "pricing": {"file": "p.yml"},
        "events": {"token_file": "/abs/token"},
    }
    out = _absolutize_files(data, tmp_path)
    assert out["sources"][0]["api_key_file"] == str(tmp_path / "secrets/openai")
    assert out["pricing"]["file"] == str(tmp_path / "p.yml")
    assert out["events"]["token_file"] == "/abs/token"


def test_scrape_targets_of_services_not_running_are_dropped() -> None:
    prom = {
        "scrape_configs": [
            {"job_name": "llmpulse", "static_configs": [{"targets": ["exporter:9877"]}]},
            {"job_name": "grafana", "static_configs": [{"targets": ["grafana:3000"]}]},
            {"job_name": "mixed", "static_configs": [{"targets": ["grafana:3000", "alertmanager:9093"]}]},
        ]
    }
    out = _drop_targets(prom, {"grafana"})
    assert [j["job_name"] for j in out["scrape_configs"]] == ["llmpulse", "mixed"]
    assert out["scrape_configs"][1]["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_missing_binary_is_named_with_the_package_to_install(tmp_path: Path) -> None:
    result = run_cli(
        "stack",
        "up",
        "--workdir",
        str(tmp_path / "wd"),
        "--free-ports",
        env={"LLMPULSE_STACK_ALERTMANAGER_BIN": "no-such-alertmanager-binary"},
    )
    assert result.returncode == 1
    assert "alertmanager is not installed" in result.stderr
    assert "apt-get install prometheus-alertmanager" in result.stderr
    assert not (tmp_path / "wd" / "run" / "stack.json").exists()


def test_busy_port_is_named_with_a_way_out_and_nothing_keeps_running(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = [f"{name}={p}" for name, p in free_ports().items() if name != "prometheus"]
        args = [a for p in ports for a in ("--port", p)]
        result = run_cli(
            "stack", "up", "--workdir", str(tmp_path / "wd"), *args, "--port", f"prometheus={port}", "--no-grafana"
        )
    if "is not installed" in result.stderr:
        pytest.skip("prometheus/alertmanager not installed: " + result.stderr.strip())
    assert result.returncode == 1
    assert f"prometheus port {port}" in result.stderr and "--port NAME=PORT" in result.stderr
    assert "--free-ports" in result.stderr
    assert not (tmp_path / "wd" / "run" / "stack.json").exists()
    assert sorted((tmp_path / "wd" / "run").glob("*.pid")) == []


def test_bad_port_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("stack", "up", "--workdir", str(tmp_path), "--port", "prometheus=notaport")
    assert result.returncode == 2
    assert "expected NAME=PORT" in result.stderr and "mailpit_smtp" in result.stderr


def test_status_and_down_without_a_stack_say_so(tmp_path: Path) -> None:
    status = run_cli("stack", "status", "--workdir", str(tmp_path))
    assert status.returncode == 1 and "no stack is running" in status.stdout
    down = run_cli("stack", "down", "--workdir", str(tmp_path))
    assert down.returncode == 0 and "no stack is running" in down.stdout


def test_invalid_bundle_config_is_reported_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.yml"
    bad.write_text(yaml.safe_dump({"bundle": {"api": {"error_ratio": 5}}}))
    result = run_cli("stack", "up", "--workdir", str(tmp_path / "wd"), "--free-ports", "--bundle-config", str(bad))
    if "is not installed" in result.stderr:
        pytest.skip("prometheus/alertmanager not installed: " + result.stderr.strip())
    assert result.returncode == 1
    assert "invalid config" in result.stderr and "bundle.api.error_ratio" in result.stderr
    assert not (tmp_path / "wd" / "run" / "stack.json").exists()
