"""Support of the end-to-end tests: the native stack (real Prometheus and Alertmanager) on free loopback ports with
short windows, a webhook receiver the test runs, and small clients of the Prometheus and Alertmanager APIs.

Short windows keep each scenario within a minute: scrape and evaluation every second, rate windows of 30 s,
``for:`` of a few seconds, Alertmanager group timings of 1-2 s. The thresholds stay the shipped defaults (5 %
errors, P99 2 s), so the tests exercise the real alert conditions. Everything else (the rules, routing, receivers,
templates) is what `llmpulse generate` produces for that ``bundle:`` section, rewritten by `llmpulse stack`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from exporter.bundle.stackfiles import service_url
from exporter.demo import demo_config
from exporter.stack import BINARIES, Stack, find_binary, free_ports

WINDOW = "20s"


def require_binaries() -> None:
    """Skip (with what to install) when Prometheus or Alertmanager is missing; CI installs both."""
    missing = [f"{name} ({b.install})" for name, b in BINARIES.items() if b.required and not find_binary(name)]
    if missing:
        pytest.skip("end-to-end tests need " + "; ".join(missing))


def short_bundle(receiver_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A ``bundle:`` section with short intervals and windows and a webhook to the test's receiver.

    The default e-mail receiver (the stack's mail catcher) is kept next to the webhook, so the default path is
    exercised too. ``sections`` are merged over the defaults one level deep (e.g. ``budget={...}``).
    """
    timing = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}
    bundle: dict[str, Any] = {
        "prometheus": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "api": {
            "error_ratio_window": WINDOW,
            "latency_window": WINDOW,
            "slow_call_window": WINDOW,
            "rate_limited_window": WINDOW,
            "auth_failure_window": WINDOW,
            # A probe every few seconds gives a handful of calls per short window; a fault must resolve within
            # the test's deadline.
            "min_calls": 5,
            "keep_firing_for": "10s",
        },
        "for": {
            "LLMAPIHighErrorRate": "5s",
            "LLMAPIHighLatencyP99": "5s",
            "LLMPulseExporterDown": "3s",
            "LLMBudgetBurnHigh": "3s",
            "LLMBudgetExceeded": "3s",
            "LLMBalanceLow": "3s",
            "LLMBalanceExhausted": "3s",
        },
        "routing": {"critical": timing, "warning": timing, "info": timing, "watchdog": timing},
        "receivers": {
            "webhooks": [{"name": "e2e-webhook", "url": receiver_url, "severities": ["critical", "warning"]}],
            "email": [
                {
                    "name": "mailpit",
                    "to": ["oncall@llmpulse.local"],
                    "from": "alertmanager@llmpulse.local",
                    "smarthost": "mailpit:1025",
                    "require_tls": False,
                }
            ],
        },
    }
    for key, value in sections.items():
        bundle[key] = {**bundle.get(key, {}), **value}
    return bundle


def exporter_config(
    *, source_interval: str = "2s", probe_interval: str = "3s", extra_probes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The demo config (polling the compose simulator, which the stack rewrites) with short intervals.

    Probe timeouts equal their interval (a config's timeout may not exceed it) and stay above the 2.5 s slow calls
    the latency scenario injects.
    """
    data = demo_config(service_url("simulator"), interval=source_interval, probe_interval=probe_interval)
    for source in data["sources"]:
        source["timeout"] = source_interval
    for probe in data.get("probes", []):
        probe["timeout"] = probe_interval
    data.setdefault("probes", []).extend(extra_probes or [])
    return data


# --- a webhook receiver the test runs -------------------------------------------------------------------------------
@dataclass
class Delivery:
    received: float  # time.monotonic() at arrival
    payload: dict[str, Any]


@dataclass
class WebhookReceiver:
    """Collects Alertmanager webhook payloads posted to ``/hook`` on a loopback port."""

    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.monotonic()
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsable": body.decode("utf-8", "replace")}
                with receiver._lock:
                    receiver.deliveries.append(Delivery(arrived, payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def alerts(self) -> list[tuple[Delivery, dict[str, Any]]]:
        with self._lock:
            return [(d, a) for d in self.deliveries for a in d.payload.get("alerts", [])]

    def wait_for(
        self, alertname: str, status: str, *, after: float = 0.0, timeout: float = 90.0, what: str = ""
    ) -> tuple[Delivery, dict[str, Any]]:
        """The first alert named ``alertname`` with ``status`` that arrived after ``after`` (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery, alert in self.alerts():
                if (
                    delivery.received >= after
                    and alert.get("labels", {}).get("alertname") == alertname
                    and alert.get("status") == status
                ):
                    return delivery, alert
            time.sleep(0.2)
        seen = sorted({(a["labels"].get("alertname"), a.get("status")) for _, a in self.alerts()})
        raise AssertionError(f"no {status} notification of {alertname} within {timeout:g}s {what}; got {seen}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- API clients ------------------------------------------------------------------------------------------------------
class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        resp = requests.post(f"{self.url}/api/v1/query", data={"query": expr}, timeout=30)
        body = resp.json()
        assert body.get("status") == "success", f"query failed: {expr}\n{body}"
        result = body["data"]["result"]
        return result if isinstance(result, list) else [result]

    def alerts(self, name: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        alerts = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [
            a
            for a in alerts
            if (name is None or a["labels"]["alertname"] == name) and (state is None or a["state"] == state)
        ]

    def wait_alert(self, name: str, state: str = "firing", timeout: float = 90.0) -> list[dict[str, Any]]:
        return wait_for(
            lambda: self.alerts(name, state),
            timeout,
            f"{name} {state} in Prometheus",
            lambda: str([(a["labels"]["alertname"], a["state"]) for a in self.alerts()]),
        )

    def wait_data(self, expr: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        return wait_for(lambda: self.query(expr), timeout, f"data for {expr}")

    def rule_groups(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]


def wait_for(fn: Callable[[], Any], timeout: float, what: str, detail: Callable[[], str] | None = None) -> Any:
    """Poll ``fn`` until it returns something truthy; fail naming ``what`` (no timed assertions, only a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s" + (f"; {detail()}" if detail else ""))
        time.sleep(0.25)


class Sim:
    """The stack's simulator admin API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(f"{self.url}{path}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sim/faults", timeout=10).raise_for_status()


# --- the running stack ---------------------------------------------------------------------------------------------
@dataclass
class E2EStack:
    stack: Stack
    prom: Prom
    sim: Sim
    receiver: WebhookReceiver
    workdir: Path

    def url(self, name: str) -> str:
        return self.stack.url(name)

    def alert_rules(self) -> dict[str, list[dict[str, Any]]]:
        """Alerting rules of the generated bundle the stack runs, by alert name."""
        out: dict[str, list[dict[str, Any]]] = {}
        for path in sorted((self.workdir / "etc" / "prometheus" / "rules").glob("*.yml")):
            for group in yaml.safe_load(path.read_text())["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        out.setdefault(rule["alert"], []).append(rule)
        return out

    def recording_rules(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.workdir / "etc" / "prometheus" / "rules").glob("*.yml")):
            for group in yaml.safe_load(path.read_text())["groups"]:
                out += [r for r in group["rules"] if "record" in r]
        return out


@contextmanager
def running_stack(
    tmp: Path, *, exporter: dict[str, Any], bundle: Callable[[str], dict[str, Any]], traffic: bool = False
) -> Iterator[E2EStack]:
    """Start the native stack in ``tmp`` on free ports; ``bundle(receiver_url)`` gives its bundle section."""
    require_binaries()
    receiver = WebhookReceiver()
    config_path = tmp / "exporter.yml"
    config_path.write_text(yaml.safe_dump(exporter, sort_keys=False))
    bundle_path = tmp / "bundle.yml"
    bundle_path.write_text(yaml.safe_dump({"bundle": bundle(receiver.url)}, sort_keys=False))
    stack = Stack(
        tmp / "stack",
        config=config_path,
        bundle_config=bundle_path,
        ports=free_ports(),
        simulator=True,
        grafana=False,
        traffic=traffic,
        mailpit=False,
    )
    try:
        stack.start(timeout=90)
        yield E2EStack(stack, Prom(stack.url("prometheus")), Sim(stack.url("simulator")), receiver, stack.workdir)
    except BaseException:
        for name in stack.services:
            print(f"--- {name} log tail:\n{stack.log_tail(name, 15)}")
        raise
    finally:
        stack.stop(grace=5)
        receiver.stop()


def self_signed_https(tmp: Path) -> tuple[str, Path, Callable[[], None]]:
    """An HTTPS endpoint on loopback with a fresh self-signed certificate (for the TLS expiry panels).

    Returns (base URL, CA file for the probe's tls_ca_file, stop). Skips when openssl is missing.
    """
    import http.server
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"object": "list", "data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"https://127.0.0.1:{server.server_address[1]}", cert, stop
