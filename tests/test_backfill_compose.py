"""The compose stack's ``backfill`` profile: what can be checked without a Docker engine is checked.

docker-compose 1.29 resolves the profile (``--profile backfill config``); the test then runs the resolved commands
of its two one-shots natively, with each container path replaced by a directory standing for its volume: the
``backfill`` service's ``llmpulse backfill ... --no-blocks`` against the simulator, then the ``backfill-import``
service's ``promtool tsdb create-blocks-from openmetrics`` on its output into the directory standing for
Prometheus' data volume, then a real Prometheus with the compose ``prometheus`` service's own flags (its retention
included) on that directory. Last month's month-to-date counters must equal the simulator's totals, and the oldest
imported day must still be there. Here promtool and Prometheus are Debian's 2.42; the images ship 2.53.3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import Prom, wait_for
from helpers import ROOT, free_port, stop_process, wait_http_ok
from test_backfill import check_prometheus, month_bounds, write_config

from exporter.durations import parse_duration

pytestmark = pytest.mark.e2e

ONE_SHOTS = ("backfill", "backfill-import")


def resolved(tmp: Path, env: dict[str, str], *files: str) -> dict[str, Any]:
    """``docker-compose --profile backfill config`` with only ``env`` set (no .env file)."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (CI installs Debian's docker-compose 1.29)")
    empty = tmp / "empty.env"
    empty.write_text("")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "LLMPULSE_", "PROMETHEUS_"))}
    proc = subprocess.run(
        ["docker-compose", "--env-file", str(empty), *files, "--profile", "backfill", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = yaml.safe_load(proc.stdout)
    return data


def flag(args: list[str], name: str) -> str:
    """The value of ``--name=value`` or ``--name value`` in a command."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return args[i + 1]
    raise AssertionError(f"{name} not in {args}")


def volume_paths(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> named volume (named volumes only)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = str(spec).split(":")[:2]
        if not source.startswith("/"):
            out[target] = source
    return out


def localize(args: list[str], paths: dict[str, Path]) -> list[str]:
    """A container command with each container path (longest first) replaced by its host directory or file."""
    out = []
    for arg in args:
        for target in sorted(paths, key=len, reverse=True):
            if arg == target or arg.startswith(target + "/"):
                arg = str(paths[target]) + arg[len(target) :]
                break
            if arg.startswith("--") and ("=" + target) in arg:
                name, value = arg.split("=", 1)
                arg = f"{name}={paths[target]}{value[len(target) :]}"
                break
        out.append(arg)
    return out


def test_the_profile_is_two_ordered_one_shots_and_the_retention_keeps_their_window(tmp_path: Path) -> None:
    for files in ((), ("-f", "docker-compose.yml")):  # the demo, and real keys without the simulator
        compose = resolved(tmp_path, {}, *files)
        services = compose["services"]
        for name in ONE_SHOTS:
            assert services[name]["profiles"] == ["backfill"], name
            assert services[name]["restart"] == "no", f"{name} is a one-shot"
        backfill, imp, prom = services["backfill"], services["backfill-import"], services["prometheus"]
        assert imp["depends_on"] == {"backfill": {"condition": "service_completed_successfully"}}
        assert "profiles" not in prom and "backfill" not in prom.get("depends_on", {})  # the stack runs without it
        cmd = backfill["command"]
        assert cmd[0] == "backfill" and "--no-blocks" in cmd and "--promtool" not in cmd
        # the exporter's config, keys and key files
        assert flag(cmd, "--config") == "/etc/llmpulse/config.yml"
        assert backfill["environment"] == services["exporter"]["environment"]
        binds = {str(v).split(":")[1] for v in backfill["volumes"] if str(v).startswith("/")}
        assert binds == {"/etc/llmpulse/config.yml", "/etc/llmpulse/secrets"}
        # the file goes through a shared volume into Prometheus' data volume, on the Prometheus image
        out = flag(cmd, "--out")
        assert imp["image"] == prom["image"] and imp["entrypoint"] == ["/bin/promtool"]
        assert imp["command"][:3] == ["tsdb", "create-blocks-from", "openmetrics"]
        source, dest = imp["command"][-2:]
        assert source == f"{out}/backfill.om"
        assert volume_paths(imp)[out] == volume_paths(backfill)[out]
        assert f"{volume_paths(imp)[out]}:{out}:ro" in imp["volumes"]
        data = flag(prom["command"], "--storage.tsdb.path")
        assert dest == data and volume_paths(imp)[data] == volume_paths(prom)[data]
        # the retention keeps the window (and tells the backfill, which warns when it would not)
        retention = flag(prom["command"], "--storage.tsdb.retention.time")
        assert flag(cmd, "--retention") == retention
        assert parse_duration(retention) >= parse_duration(flag(cmd, "--since")) + 30 * 86400
    # the demo's backfill reads the simulator, so it waits for it; with real keys there is none
    demo = resolved(tmp_path, {})["services"]["backfill"]
    assert demo["depends_on"] == {"simulator": {"condition": "service_healthy"}}
    assert "depends_on" not in resolved(tmp_path, {}, "-f", "docker-compose.yml")["services"]["backfill"]


def test_the_profile_commands_import_last_month_into_a_prometheus_that_keeps_it(tmp_path: Path, simulator: Any) -> None:
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if promtool is None or prometheus is None:
        pytest.skip("needs promtool and prometheus (apt install prometheus)")
    now = datetime.now(UTC)
    last_month, this_month = month_bounds(now)
    env = {}
    if now - timedelta(hours=3) < this_month:  # the default --until (3h ago) would stop before last month's end
        env["LLMPULSE_BACKFILL_UNTIL"] = this_month.strftime("%Y-%m-%dT%H:%M:%SZ")
    services = resolved(tmp_path, env, "-f", "docker-compose.yml")["services"]
    backfill, imp, prom = services["backfill"], services["backfill-import"], services["prometheus"]

    # one directory per named volume, the test's config where compose mounts the exporter's
    volumes = {
        name: tmp_path / f"volume-{name}" for svc in (backfill, imp, prom) for name in volume_paths(svc).values()
    }
    for path in volumes.values():
        path.mkdir(exist_ok=True)

    def paths(service: dict[str, Any]) -> dict[str, Path]:
        return {target: volumes[name] for target, name in volume_paths(service).items()}

    config = write_config(tmp_path, simulator.url)
    backfill_paths = {**paths(backfill), "/etc/llmpulse/config.yml": config}
    # the image's entrypoint is `llmpulse` (Dockerfile)
    run = subprocess.run(
        [sys.executable, "-m", "exporter", *localize(backfill["command"], backfill_paths)],
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path / "no-promtool-here")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in volumes["backfill"].iterdir()) == ["backfill.om"]

    entry = [promtool if arg == "/bin/promtool" else arg for arg in imp["entrypoint"]]
    built = subprocess.run([*entry, *localize(imp["command"], paths(imp))], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    blocks = [p for p in volumes["prometheus-data"].iterdir() if p.is_dir()]
    assert blocks and all((b / "meta.json").is_file() for b in blocks)

    # Prometheus with the compose service's flags; its config replaced by one with no scrape targets (the compose
    # one names hosts that exist only in the compose network), on a free loopback port
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1m\n")
    args = localize(prom["command"], {**paths(prom), "/etc/prometheus/prometheus.yml": conf})
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [prometheus, *args, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/-/ready", proc, 120, "prometheus", log_path.read_text)
        prom_api = Prom(url)
        flags = requests.get(f"{url}/api/v1/status/flags", timeout=10).json()["data"]
        assert flags["storage.tsdb.retention.time"] == flag(prom["command"], "--storage.tsdb.retention.time")
        check_prometheus(prom_api, simulator.url, last_month, this_month)
        # the oldest imported day survived the retention (a shorter one deletes it when Prometheus opens the blocks)
        # (on the hourly step grid: an instant query looks back only 5 minutes for a sample)
        first_day = (now.timestamp() - parse_duration(flag(backfill["command"], "--since")) + 86400) // 3600 * 3600
        oldest = wait_for(
            lambda: requests.post(
                f"{url}/api/v1/query",
                data={"query": "count(llmpulse_usage_tokens_total)", "time": f"{first_day:.0f}"},
                timeout=30,
            ).json()["data"]["result"],
            30,
            "the first day of the window in Prometheus",
        )
        assert float(oldest[0]["value"][1]) > 0
    finally:
        stop_process(proc)
