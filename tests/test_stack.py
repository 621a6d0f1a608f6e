"""`llmpulse stack`: the bundle generated for the native topology, a compose-style exporter config on localhost, and
the CLI's refusals (nothing is started).

The full stack (real Prometheus and Alertmanager) runs in tests/test_e2e_*.py.
"""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from exporter.bundle.settings import BundleConfig
from exporter.bundle.topology import COMPOSE, native
from exporter.bundle.writer import bundle_files
from exporter.stack import Stack, free_ports, localize_config


def test_the_native_topology_names_exactly_the_compose_services_and_container_paths(tmp_path: Path) -> None:
    ports = {"exporter": 40001, "mailpit_smtp": 40002, "prometheus": 40003}
    topo = native(ports, tmp_path / "etc", ["exporter", "mailpit", "prometheus", "alertmanager"])
    assert topo.localize("exporter:9877") == "127.0.0.1:40001"
    assert topo.localize("http://exporter:9877/relay/feishu") == "http://127.0.0.1:40001/relay/feishu"
    assert topo.localize("mailpit:1025") == "127.0.0.1:40002"
    assert topo.localize("localhost:9090") == "127.0.0.1:40003"  # Prometheus' self-scrape
    for other in ("exporter:9100", "node-exporter:9877", "my.exporter:9877", 'up{job="llmpulse"} == 0'):
        assert topo.localize(other) == other
    assert topo.mount("grafana/dashboards") == str(tmp_path / "etc" / "grafana/dashboards")
    # Targets of services that do not run (Grafana here) are left out; other targets are kept as written.
    assert topo.targets(["grafana:3000", "alertmanager:9093", "node:9100"]) == ["127.0.0.1:9093", "node:9100"]
    assert (
        COMPOSE.localize("exporter:9877") == "exporter:9877" and COMPOSE.localize("localhost:9090") == "localhost:9090"
    )


def test_the_bundle_is_generated_for_the_native_topology(tmp_path: Path) -> None:
    topo = native(
        {"exporter": 40001, "alertmanager": 40004, "prometheus": 40003, "mailpit_smtp": 40002},
        tmp_path,
        ["exporter", "mailpit", "alertmanager", "prometheus"],
    )
    files = bundle_files(BundleConfig(), topo)
    prom = yaml.safe_load(files["prometheus/prometheus.yml"])
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in prom["scrape_configs"]}
    assert targets == {
        "llmpulse": ["127.0.0.1:40001"],
        "prometheus": ["127.0.0.1:40003"],
        "alertmanager": ["127.0.0.1:40004"],
    }
    am = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    smarthosts = {c["smarthost"] for r in am["receivers"] for c in r.get("email_configs", [])}
    assert smarthosts == {"127.0.0.1:40002"}
    datasources = yaml.safe_load(files["grafana/provisioning/datasources/llmpulse.yml"])["datasources"]
    assert {d["url"] for d in datasources} == {"http://127.0.0.1:40003", "http://127.0.0.1:40004"}
    assert str(tmp_path / "grafana/dashboards") in files["grafana/provisioning/dashboards/llmpulse.yml"]
    # Nothing of the compose network is left in what the native stack runs.
    text = "".join(
        files[p] for p in files if p.startswith(("prometheus/prometheus", "alertmanager/alert", "grafana/prov"))
    )
    assert not re.search(r"\b(exporter|alertmanager|prometheus|mailpit|grafana|simulator):\d+", text)
    assert "/var/lib/grafana" not in text


def test_a_users_exporter_config_written_for_compose_runs_on_localhost(tmp_path: Path) -> None:
    topo = native({"simulator": 40005}, tmp_path / "etc", ["simulator", "exporter"])
    data = {
        "sources": [{"base_url": "http://simulator:9878", "api_key_file": "secrets/openai", "api_key_env": None}],
        "pricing": {"file": "p.yml"},
        "events": {"token_file": "/abs/token"},
        "probes": [{"api_key_file": "/etc/llmpulse/secrets/key", "base_url": "https://api.openai.com"}],
    }
    out = localize_config(data, topo, tmp_path)
    assert out["sources"][0] == {
        "base_url": "http://127.0.0.1:40005",
        "api_key_file": str(tmp_path / "secrets/openai"),
        "api_key_env": None,
    }
    assert out["pricing"]["file"] == str(tmp_path / "p.yml")
    assert out["events"]["token_file"] == "/abs/token"
    assert out["probes"][0] == {"api_key_file": str(tmp_path / "secrets/key"), "base_url": "https://api.openai.com"}


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


def test_a_relay_without_a_token_gets_the_stacks_own_token(tmp_path: Path) -> None:
    """The relay refuses unauthenticated posts; the native stack makes a token (0600) for the exporter's relay and
    its Alertmanager's relay receivers, so the relay works out of the box and nobody else can post."""
    config = tmp_path / "config.yml"
    config.write_text(
        "relay:\n  bots: [{name: oncall, type: wecom, webhook_url_env: T_WECOM_URL}]\n"
        "bundle:\n  receivers:\n    relay: {bots: [{target: wecom, name: oncall}]}\n"
    )
    os.environ["T_WECOM_URL"] = "http://127.0.0.1:9/cgi-bin/webhook/send?key=stack-test-key"
    try:
        st = Stack(tmp_path / "stack", config=config, grafana=False, simulator=False, mailpit=False)
        st.plan()
        st.prepare()
    finally:
        del os.environ["T_WECOM_URL"]
    token = st.relay_token_file
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and len(token.read_text().strip()) >= 32
    exporter_config = yaml.safe_load((tmp_path / "stack" / "etc" / "exporter.yml").read_text())
    assert exporter_config["relay"]["token_file"] == str(token)
    am = yaml.safe_load((tmp_path / "stack" / "etc" / "alertmanager" / "alertmanager.yml").read_text())
    hooks = [c for r in am["receivers"] for c in r.get("webhook_configs", []) if "/relay/" in c["url"]]
    assert hooks and all(h["http_config"]["authorization"]["credentials_file"] == str(token) for h in hooks), hooks
    assert token.read_text().strip() not in (tmp_path / "stack" / "etc" / "exporter.yml").read_text()
