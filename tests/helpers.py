"""Test helpers: run the real ``llmpulse`` process, read its /metrics, talk to the simulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http_ok(url: str, proc: subprocess.Popen, timeout: float, what: str, log: Callable[[], str]) -> None:
    """Poll ``url`` until it answers 200, failing at once (with the process's log) if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{log()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not ready after {timeout}s:\n{log()}")


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Metrics:
    """Parsed exposition: look samples up by name and (a subset of) labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            self.helps[family.name] = family.documentation
            for s in family.samples:
                self.samples.append((s.name, dict(s.labels), float(s.value)))

    def find(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [
            (lab, v)
            for n, lab, v in self.samples
            if n == name and all(lab.get(k) == want for k, want in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        """The single sample matching name and labels (fails if none or several match)."""
        found = self.find(name, **labels)
        assert len(found) == 1, f"expected exactly one {name}{labels}, found {len(found)}: {found[:5]}"
        return found[0][1]

    def get(self, name: str, **labels: str) -> float | None:
        found = self.find(name, **labels)
        return found[0][1] if len(found) == 1 else None

    def total(self, name: str, **labels: str) -> float:
        return sum(v for _, v in self.find(name, **labels))

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}


class ExporterProcess:
    """A real ``llmpulse serve`` subprocess on a free loopback port."""

    def __init__(
        self, config: dict[str, Any] | None, tmp: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"exporter-{self.port}.log"
        cmd = [sys.executable, "-m", "exporter", "serve", "--listen", f"127.0.0.1:{self.port}"]
        if config is not None:
            self.config_path = tmp / f"config-{self.port}.yml"
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            cmd += ["--config", str(self.config_path)]
        cmd += args or []
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 20.0) -> ExporterProcess:
        wait_http_ok(f"{self.url}/-/ready", self.proc, timeout, "exporter", self.log)
        return self

    def scrape(self, accept: str | None = None) -> requests.Response:
        """One scrape of /metrics, as it comes (new counter series may still read 0: see exporter.zero_first)."""
        resp = requests.get(f"{self.url}/metrics", timeout=5, headers={"Accept": accept} if accept else None)
        resp.raise_for_status()
        return resp

    def metrics(self) -> Metrics:
        """/metrics after the zero-first delay: the first scrape reads the zeros of new series, the second the values."""
        self.scrape()
        return Metrics(self.scrape().text)

    def wait_for(self, predicate: Callable[[Metrics], bool], timeout: float = 20.0, what: str = "") -> Metrics:
        """Scrape until ``predicate(metrics)`` holds; fail with the last exposition otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.metrics()
            try:
                if predicate(last):
                    return last
            except (AssertionError, KeyError):
                pass
            time.sleep(0.2)
        tail = "\n".join(line for line in (last.text if last else "").splitlines() if line.startswith("llmpulse"))
        raise AssertionError(f"condition {what!r} not met within {timeout}s\n{tail[-4000:]}\n--- log:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@contextmanager
def exporter(
    config: dict[str, Any] | None,
    tmp: Path,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    ready: bool = True,
) -> Iterator[ExporterProcess]:
    proc = ExporterProcess(config, tmp, env, args)
    try:
        if ready:
            proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exporter ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
