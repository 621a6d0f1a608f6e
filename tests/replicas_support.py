"""Support of the two-replica and remote-storage end-to-end tests: real processes on loopback, no stack runner.

A *deployment* here is what a cluster runs, minus Kubernetes: one simulator (the providers), exporter processes
with one config (replicas), and Prometheus servers that scrape a chosen set of replicas with the generated rules
(short windows), optionally remote-writing to VictoriaMetrics. Every process gets a free port and a temporary
directory, and is stopped (its process group) when the ``with`` block ends.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import Prom, wait_for
from helpers import free_port

from exporter.bundle.rules import ALERTS_FILE, RULES_FILE
from exporter.bundle.settings import BundleConfig
from exporter.bundle.writer import bundle_files
from exporter.demo import DEMO_ENV, demo_config

#: Scrape and rule evaluation every second, rate windows of 20 s: data within seconds, as in the other e2e tests.
SHORT_BUNDLE: dict[str, Any] = {
    "prometheus": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
}


def short_settings() -> BundleConfig:
    return BundleConfig.model_validate(SHORT_BUNDLE)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Deployment:
    workdir: Path
    processes: dict[str, Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes[name] = process
        return process

    def wait_http(self, name: str, path: str, timeout: float = 60.0) -> None:
        def answers() -> bool:
            process = self.processes[name]
            if not process.alive():
                raise AssertionError(f"{name} exited:\n{process.tail()}")
            try:
                return requests.get(self.url(name) + path, timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, timeout, f"{name} answers {path}", lambda: self.processes[name].tail())

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {'prometheus' if 'prom' in name else name})")
    return path


@contextmanager
def deployment(
    tmp: Path,
    *,
    replicas: list[str],
    prometheus: Mapping[str, list[str]],
    remote_write: bool = False,
    source_interval: str = "2s",
    probe_interval: str = "3s",
    frozen: bool = True,
) -> Iterator[Deployment]:
    """The simulator, one exporter process per name in ``replicas`` (one config), and one Prometheus per key of
    ``prometheus`` scraping the replicas listed for it (job ``llmpulse``, the generated rules). With
    ``remote_write``, a VictoriaMetrics ``vm`` receives every Prometheus' samples.

    ``frozen``: the simulated balances stop burning, so every poll of every replica reads the same providers'
    answers (the usage and cost data are fixed already) and values can be compared exactly."""
    prom_bin = _binary("prometheus")
    vm_bin = _binary("victoria-metrics") if remote_write else ""
    d = Deployment(tmp)
    names = ["simulator", *replicas, *prometheus] + (["vm"] if remote_write else [])
    d.ports = {name: free_port() for name in names}
    try:
        py = [sys.executable, "-m", "exporter"]
        d.start("simulator", [*py, "simulate", "--listen", f"127.0.0.1:{d.ports['simulator']}"])
        d.wait_http("simulator", "/_sim/health")
        if frozen:
            resp = requests.post(f"{d.url('simulator')}/_sim/balances", json={"*": {"burn_per_hour": 0}}, timeout=10)
            assert resp.status_code == 200, resp.text
        config = demo_config(d.url("simulator"), interval=source_interval, probe_interval=probe_interval)
        for source in config["sources"]:
            source["timeout"] = source_interval
        for probe in config.get("probes", []):
            probe["timeout"] = probe_interval
        config_path = tmp / "exporter.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        for name in replicas:
            listen = f"127.0.0.1:{d.ports[name]}"
            d.start(name, [*py, "serve", "--config", str(config_path), "--listen", listen], env=DEMO_ENV)
        if remote_write:
            storage = tmp / "vm-data"
            d.start(
                "vm",
                [
                    vm_bin,
                    f"-storageDataPath={storage}",
                    f"-httpListenAddr=127.0.0.1:{d.ports['vm']}",
                    "-retentionPeriod=1d",
                    # Answer with the newest samples (the default hides the last 30 s, for slow ingestion).
                    "-search.latencyOffset=0s",
                ],
            )
        files = bundle_files(short_settings())
        for name, targets in prometheus.items():
            home = tmp / name
            (home / "rules").mkdir(parents=True)
            for path in (RULES_FILE, ALERTS_FILE):
                (home / "rules" / Path(path).name).write_text(files[path])
            prom_config: dict[str, Any] = {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "rule_files": ["rules/*.yml"],
                "scrape_configs": [
                    {
                        "job_name": "llmpulse",
                        "static_configs": [{"targets": [f"127.0.0.1:{d.ports[r]}" for r in targets]}],
                    }
                ],
            }
            if remote_write:
                prom_config["remote_write"] = [{"url": f"{d.url('vm')}/api/v1/write"}]
            (home / "prometheus.yml").write_text(yaml.safe_dump(prom_config, sort_keys=False))
            d.start(
                name,
                [
                    prom_bin,
                    f"--config.file={home / 'prometheus.yml'}",
                    f"--storage.tsdb.path={home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{d.ports[name]}",
                ],
            )
        for name in [*replicas, *prometheus] + (["vm"] if remote_write else []):
            d.wait_http(name, "/-/ready" if name != "vm" else "/health", timeout=90)
        yield d
    except BaseException:
        for process in d.processes.values():
            print(f"--- {process.name} log tail:\n{process.tail()}")
        raise
    finally:
        d.stop_all()


# --- comparing query results ----------------------------------------------------------------------------------------
def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("instance", "pod")))


def vector(prom: Prom, expr: str, at: float) -> dict[tuple[tuple[str, str], ...], float]:
    """The result of an instant query at time ``at``: labels (without instance) -> value."""
    resp = requests.post(f"{prom.url}/api/v1/query", data={"query": expr, "time": f"{at:.3f}"}, timeout=30)
    body = resp.json()
    assert body.get("status") == "success", f"{prom.url}: query failed: {expr}\n{body}"
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return {(): float(result[1])}
    return {_key(r["metric"]): float(r["value"][1]) for r in result}


def same(a: Mapping[Any, float], b: Mapping[Any, float], rel: float) -> bool:
    """Equal label sets and values within ``rel`` (NaN equals NaN: both panels show nothing)."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=rel, abs_tol=1e-9):
            return False
    return True
