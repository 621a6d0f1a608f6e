"""End to end: two exporter replicas behind one Prometheus show the numbers of one replica.

Two real exporter processes poll the same (frozen) simulator, a real Prometheus scrapes both under one job and
evaluates the committed rules. Every dashboard query over cost, usage and balances (families every replica reports
identically, and the recording rules built on them) must return exactly what it returns when the instance variable
selects one replica: a sum over replicas would double them, and budget alerts would fire at half the budget.
Bounded: a minute or so.
"""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import wait_for
from helpers import ROOT, exporter
from usage_sums import FrozenSimulator

from exporter import contract
from exporter.bundle.dashboards import panel_queries, substitute
from exporter.bundle.promql import analyse
from exporter.demo import DEMO_ENV, demo_config
from exporter.stack import find_binary, free_ports

pytestmark = pytest.mark.e2e

IDENTICAL = {
    name for fam in contract.FAMILIES.values() if contract.identical_across_replicas(fam) for name in fam.series_names
}
#: Recording rules computed from families every replica reports identically.
RULE_PREFIXES = (
    "provider_source:llmpulse_cost_usd",
    "provider:llmpulse_cost_usd",
    ":llmpulse_cost_usd",
    "provider_source_currency:llmpulse_balance",
    ":llmpulse_budget_usd",
    "provider:llmpulse_budget_usd",
    ":llmpulse_month_elapsed",
)


def _replica_identical(expr: str) -> bool:
    names = analyse(expr).metric_names
    return bool(names) and all(n in IDENTICAL or n.startswith(RULE_PREFIXES) for n in names)


def _prometheus(tmp: Path, targets: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    binary = find_binary("prometheus")
    if binary is None:
        pytest.skip("needs the prometheus binary (apt install prometheus)")
    port = free_ports(["prometheus"])["prometheus"]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((ROOT / "prometheus" / "rules").glob("*.yml"))],
        "scrape_configs": [{"job_name": "llmpulse", "static_configs": [{"targets": targets}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(tmp / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def _series(url: str, expr: str) -> int:
    try:
        return len(requests.post(f"{url}/api/v1/query", data={"query": expr}, timeout=10).json()["data"]["result"])
    except (requests.ConnectionError, KeyError, ValueError):  # not up yet, or not ready (no JSON)
        return 0


def _query(url: str, expr: str, at: float) -> dict[str, float]:
    try:
        body = requests.post(f"{url}/api/v1/query", data={"query": expr, "time": f"{at:.3f}"}, timeout=30).json()
    except requests.ConnectionError:
        return {}
    assert body.get("status") == "success", (expr, body)
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return {"": float(result[1])}
    return {
        ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()) if k != "instance"): float(r["value"][1])
        for r in result
    }


def test_two_replicas_show_the_cost_usage_and_balances_of_one(tmp_path: Path) -> None:
    simulator = FrozenSimulator()
    try:
        config: dict[str, Any] = demo_config(simulator.url, interval="2s", probe_interval="5s")
        for item in (*config["sources"], *config.get("probes", [])):
            item["timeout"] = item.get("interval", "2s")
        config["bundle"] = {"prometheus": {"scrape_interval": "1s", "scrape_timeout": "1s"}}
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with (
            exporter(config, tmp_path / "a", env=DEMO_ENV) as one,
            exporter(config, tmp_path / "b", env=DEMO_ENV) as two,
        ):
            targets = [one.url.removeprefix("http://"), two.url.removeprefix("http://")]
            proc, url = _prometheus(tmp_path, targets)
            try:
                cost = contract.COST_USD.name
                wait_for(lambda: _series(url, f"count by (instance) ({cost})") == 2, 60, "both replicas' cost")
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
                wait_for(lambda: _query(url, ":llmpulse_cost_usd:month_to_date", time.time()), 60, "rules evaluated")
                time.sleep(3)  # a few evaluations with both replicas' data
                at = time.time() - 1
                compared, with_data = 0, 0
                for q in panel_queries():
                    if not _replica_identical(q.expr):
                        continue
                    both = _query(url, substitute(q.expr, rate_interval="10s", range_="1m"), at)
                    single = q.expr.replace('instance=~"$instance"', f'instance="{targets[0]}"')
                    alone = _query(url, substitute(single, rate_interval="10s", range_="1m"), at)
                    compared += 1
                    with_data += bool(alone)
                    assert both.keys() == alone.keys(), (q.dashboard, q.panel, both, alone)
                    for key, value in alone.items():
                        other = both[key]
                        assert (math.isnan(value) and math.isnan(other)) or math.isclose(value, other, rel_tol=1e-9), (
                            q.dashboard,
                            q.panel,
                            key,
                            other,
                            value,
                        )
                print(f"\n{compared} cost, usage and balance queries compared, {with_data} with data: all equal")
                assert with_data >= 15, (compared, with_data)
                # the budget alert's input is one replica's month-to-date cost, not twice it
                total = _query(url, "sum(:llmpulse_cost_usd:month_to_date)", at)[""]
                per_instance = _query(url, f'sum({cost}{{instance="{targets[0]}"}})', at)[""]
                assert math.isclose(total, per_instance, rel_tol=1e-9) and total > 0
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        simulator.stop()
