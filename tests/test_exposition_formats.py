"""The real exporter's /metrics in both formats: a scrape that prefers OpenMetrics 1.0 (as Prometheus does) gets it,
anything else gets the text format 0.0.4; both are accepted by promtool and by prometheus_client's parsers.

The exporter runs the demo config against the simulator (every source, probe and the /events route), so the body
holds every kind of family: month-to-date counters, gauges, histograms, live probe and event series.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from exporter.demo import DEMO_ENV, demo_config

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
#: promtool's lint on the contract's one counter named "counter" (the name is a contract), and, for OpenMetrics
#: read by promtool's text-format parser, a counter's _total and _created samples seen as families without HELP.
LINT = ("metric name should not include type 'counter'", "no help text")


def _promtool(body: bytes) -> list[str]:
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert result.returncode in (0, 3), result
    return [line for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()]


@pytest.mark.parametrize("gzip", [False, True])
def test_the_exporter_serves_both_formats_and_both_parse(simulator: Any, tmp_path: Path, gzip: bool) -> None:
    config = demo_config(simulator.url, interval="5s", probe_interval="5s")
    for item in (*config["sources"], *config["probes"]):
        item["timeout"] = "5s"
    encoding = {"Accept-Encoding": "gzip"} if gzip else {"Accept-Encoding": "identity"}
    with exporter(config, tmp_path, env=DEMO_ENV) as exp:
        exp.wait_for(lambda m: m.names() >= {"llmpulse_api_calls_total", "llmpulse_cost_usd_total"}, 30, "data")
        om = requests.get(f"{exp.url}/metrics", headers={"Accept": PROMETHEUS_ACCEPT, **encoding}, timeout=10)
        text = requests.get(f"{exp.url}/metrics", headers={"Accept": "text/plain", **encoding}, timeout=10)
    assert om.headers["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert text.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Accept" in om.headers["Vary"]
    om_families = {f.name: f for f in openmetrics_families(om.text)}  # raises on anything OpenMetrics forbids
    text_families = {f.name: f for f in text_string_to_metric_families(text.text)}
    assert om.text.endswith("# EOF\n") and "# EOF" not in text.text
    # the same families and values, with _created in OpenMetrics only
    assert set(om_families) == set(text_families)
    calls = om_families["llmpulse_api_calls"]
    assert calls.type == "counter" and any(s.name == "llmpulse_api_calls_created" for s in calls.samples)
    assert {s.name for s in text_families["llmpulse_api_calls"].samples} == {"llmpulse_api_calls_total"}
    assert "process_cpu_seconds" in om_families  # the process metrics come in OpenMetrics too
    if shutil.which("promtool"):
        for body, allowed in ((text.content, LINT[:1]), (om.content, LINT)):
            findings = _promtool(body)
            assert all(f.endswith(allowed) for f in findings), findings
