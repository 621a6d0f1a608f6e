"""End to end: a real Prometheus 2.42 scraping the exporter every second counts every injected error with
``increase()``, including the first one of each new code and of a model that appears mid-run.

Low traffic, as in production at night: one to three calls per post, a post every ~1.2 s, errors on a few of them,
new codes (500, then 429, then 401) and a new model introduced while Prometheus is already scraping. Every counter
series created during the run must start at 0 in Prometheus' own storage (the zero-first rule of the exposition),
and ``increase()`` over the run must see at least 90 % of the injected errors. Prometheus negotiates OpenMetrics by
default, so this is also the OpenMetrics exposition read by a real Prometheus (its ``_created`` samples included).
Bounded: about 40 s of traffic and a minute in all.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import Prom, wait_for
from helpers import exporter

from exporter import contract
from exporter.stack import find_binary, free_ports

pytestmark = pytest.mark.e2e

TOKEN = "first-increment-token-5d1e"
TOKEN_ENV = "LLMPULSE_FIRST_INCREMENT_TOKEN"
CONFIG: dict[str, Any] = {
    "events": {"name": "app-events", "provider": "appx", "token_env": TOKEN_ENV},
    # The zero-first hold is one scrape interval.
    "bundle": {"prometheus": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}},
}
#: (step, model, code or None for success) of every injected call, in order. New codes and a new model appear
#: only after Prometheus has scraped for a while.
PLAN: list[list[tuple[str, str | None]]] = [
    [("gpt-4o-mini", None)],
    [("gpt-4o-mini", None), ("gpt-4o-mini", "500")],
    [("gpt-4o-mini", None)],
    [("gpt-4o-mini", "500")],
    [("gpt-4o-mini", None), ("gpt-4o-mini", None)],
    [("gpt-4o-mini", "429")],
    [("gpt-4o-mini", None)],
    [("gpt-4o-mini", "429"), ("gpt-4o-mini", None)],
    [("deepseek-chat", None)],
    [("deepseek-chat", "401")],
    [("gpt-4o-mini", None), ("deepseek-chat", None)],
    [("deepseek-chat", "503"), ("gpt-4o-mini", None)],
    [("gpt-4o-mini", "401")],
    [("deepseek-chat", None)],
    [("deepseek-chat", "500"), ("gpt-4o-mini", "500"), ("gpt-4o-mini", None)],
    [("gpt-4o-mini", None)],
    [("deepseek-chat", "429")],
    [("gpt-4o-mini", None), ("deepseek-chat", None)],
    [("gpt-4o-mini", "503")],
    [("deepseek-chat", "401"), ("gpt-4o-mini", None)],
    [("gpt-4o-mini", None)],
    [("deepseek-chat", None), ("deepseek-chat", "502")],
    [("gpt-4o-mini", None)],
    [("gpt-4o-mini", "502")],
    [("deepseek-chat", None)],
]


def _event(model: str, code: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"app": "night-bot", "channel": "web", "model": model, "duration_ms": 800}
    if code is None:
        event["status"] = "success"
    else:
        event.update(status="error", code=code, error_type="e2e")
    return event


def _start_prometheus(tmp: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = find_binary("prometheus")
    if binary is None:
        pytest.skip("needs the prometheus binary (apt install prometheus)")
    port = free_ports(["prometheus"])["prometheus"]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "llmpulse", "static_configs": [{"targets": [target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).ok
    except requests.ConnectionError:
        return False


def _first_samples(prom: Prom, selector: str, window: int) -> dict[str, float]:
    """The first stored sample of every series matching ``selector`` within the last ``window`` seconds."""
    out = {}
    for series in prom.query(f"{selector}[{window}s]"):
        labels = ",".join(f"{k}={v}" for k, v in sorted(series["metric"].items()) if k not in ("job", "instance"))
        out[labels] = float(series["values"][0][1])
    return out


def test_increase_sees_every_injected_error_including_new_codes_and_models(tmp_path: Path) -> None:
    with exporter(CONFIG, tmp_path, env={TOKEN_ENV: TOKEN}) as exp:
        target = exp.url.removeprefix("http://")
        proc, prom_url = _start_prometheus(tmp_path, target)
        prom = Prom(prom_url)
        try:
            wait_for(lambda: _ready(prom_url) or proc.poll() is not None, 60, "Prometheus ready")
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            wait_for(lambda: prom.query('up{job="llmpulse"} == 1'), 30, "Prometheus scraping the exporter")
            started = time.time()
            injected: dict[tuple[str, str], int] = {}
            for step in PLAN:
                resp = requests.post(
                    f"{exp.url}/events",
                    json=[_event(model, code) for model, code in step],
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=10,
                )
                assert resp.status_code == 200, resp.text
                for model, code in step:
                    if code is not None:
                        injected[(model, code)] = injected.get((model, code), 0) + 1
                time.sleep(1.2)
            # A few scrapes after the last post, so the last values (and any zero-first hold) are stored.
            time.sleep(4)
            window = int(time.time() - started) + 10
            total = sum(injected.values())
            errors = f'{contract.ERROR_CODES.name}{{source="app-events"}}'
            calls = f'{contract.API_CALLS.name}{{source="app-events", outcome="error"}}'
            seen_codes = float(prom.query(f"sum(increase({errors}[{window}s]))")[0]["value"][1])
            seen_calls = float(prom.query(f"sum(increase({calls}[{window}s]))")[0]["value"][1])
            by_code = {
                (r["metric"]["model"], r["metric"]["code"]): float(r["value"][1])
                for r in prom.query(f"sum by (model, code) (increase({errors}[{window}s]))")
            }
            print(
                f"\ninjected {total} errors in {sum(len(s) for s in PLAN)} calls over {window}s; increase() saw "
                f"{seen_codes:.2f} on {contract.ERROR_CODES.name} ({seen_codes / total:.0%}) and {seen_calls:.2f} on "
                f'{contract.API_CALLS.name}{{outcome="error"}} ({seen_calls / total:.0%})'
            )
            assert seen_codes >= 0.9 * total, (seen_codes, total, by_code)
            assert seen_calls >= 0.9 * total, (seen_calls, total)
            # every (model, code) pair is counted, the first error of each new one included
            for pair, count in injected.items():
                assert by_code.get(pair, 0.0) >= 0.9 * count, (pair, count, by_code)
            # every counter series created during the run starts at 0 in Prometheus' storage
            for selector in (
                errors,
                f'{contract.API_CALLS.name}{{source="app-events"}}',
                f'{contract.API_CALL_DURATION.name}_count{{source="app-events"}}',
            ):
                firsts = _first_samples(prom, selector, window + 30)
                assert firsts, selector
                assert all(v == 0 for v in firsts.values()), (selector, firsts)
            # Prometheus negotiated OpenMetrics: the _created samples only it carries are stored
            assert prom.query('llmpulse_api_calls_created{source="app-events"}')
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
