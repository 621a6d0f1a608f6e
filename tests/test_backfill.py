"""``llmpulse backfill``: the real command against the simulator over HTTP, then a real Prometheus on its blocks.

The end-to-end test backfills 40 days, starts Prometheus on the blocks and checks that last month's month-to-date
counters at the end of last month equal the simulator's totals for that month (summed from its raw pages by
:mod:`usage_sums`, not by exporter code), and that the cost dashboard's queries return last month's data.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import Prom, wait_for
from helpers import ROOT, run_cli
from history_support import prometheus_on_blocks
from usage_sums import Series, anthropic_expected, compare_series, openai_expected

from exporter import contract
from exporter.backfill import Window, om_family_header, om_timestamp, replay, sample_times
from exporter.bundle.promql import SCRAPE_VARIABLES, VARIABLES
from exporter.config import OpenAISource
from exporter.history import DAY, HOUR, Bucket, History
from exporter.providers.usage_common import Totals

USAGE_FAMILIES = (
    "llmpulse_usage_requests_total",
    "llmpulse_usage_tokens_total",
    "llmpulse_usage_units_total",
    "llmpulse_cost_usd_total",
)


def write_config(tmp: Path, sim_url: str, **extra: Any) -> Path:
    common = {"base_url": sim_url, "api_key_env": "LLMPULSE_DEMO_KEY", "retries": 0, **extra}
    config = {
        "sources": [
            {"type": "openai", "name": "openai-main", **common, "project_names": True},
            {"type": "anthropic", "name": "anthropic-main", **common},
            {"type": "deepseek", "name": "deepseek-main", **common},
        ]
    }
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """(start of last month, start of this month), UTC."""
    this = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    return last, this


# --- pure parts -------------------------------------------------------------------------------------------------------
def test_window_snaps_to_the_step_grid_and_lists_month_ends() -> None:
    since = datetime(2026, 10, 28, 11, 40, tzinfo=UTC).timestamp()
    until = datetime(2026, 12, 7, 8, 20, tzinfo=UTC).timestamp()
    window = Window.snapped(since, until, HOUR)
    assert window.since == datetime(2026, 10, 28, 12, tzinfo=UTC).timestamp()
    assert window.until == datetime(2026, 12, 7, 8, tzinfo=UTC).timestamp()
    assert window.fetch_start == datetime(2026, 10, 1, tzinfo=UTC).timestamp()
    assert window.month_ends() == [
        datetime(2026, 11, 1, tzinfo=UTC).timestamp(),
        datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
    ]
    times = sample_times(window)
    closing = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert (closing - 0.001, closing) in times
    assert times == sorted(times)


def test_openmetrics_details() -> None:
    assert om_timestamp(1793188800.0) == "1793188800"
    assert om_timestamp(1793188799.999) == "1793188799.999"
    assert om_family_header(contract.COST_USD).splitlines()[1] == "# TYPE llmpulse_cost_usd counter"
    assert om_family_header(contract.PROJECT_INFO).splitlines()[1] == "# TYPE llmpulse_project_info gauge"


def _cost_bucket(start: float, cents: int) -> Bucket:
    def add(totals: Totals, not_before: float) -> None:
        totals.add(contract.COST_USD, Decimal(cents) / 100, project="p", line_item="x")

    return Bucket(start, start + DAY, "cost", "costs", add)


def test_replay_restarts_each_month_and_counts_a_day_once_it_has_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_DEMO_KEY", "k")
    source = OpenAISource.model_validate(
        {"type": "openai", "name": "o", "base_url": "http://127.0.0.1:1", "api_key_env": "LLMPULSE_DEMO_KEY"}
    )
    oct30 = datetime(2026, 10, 30, tzinfo=UTC).timestamp()
    history = History(source, oct30, oct30 + 3 * DAY)
    history.buckets = [_cost_bucket(oct30 + i * DAY, 100 * (i + 1)) for i in range(3)]  # $1, $2, $3
    window = Window.snapped(oct30, oct30 + 3 * DAY, 12 * HOUR)
    got = {
        datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M:%S.%f")[:-3]: ms.get(
            contract.COST_USD, project="p", line_item="x"
        )
        for t, ms in replay(history, sample_times(window), [])
    }
    # Oct 30 is complete at Oct 31 00:00; Oct 31 only in the closing sample; November restarts from zero.
    assert "10-30 00:00:00.000" not in got and "10-30 12:00:00.000" not in got  # nothing has ended yet
    assert got["10-31 00:00:00.000"] == 1.0
    assert got["10-31 12:00:00.000"] == 1.0
    assert got["10-31 23:59:59.999"] == 3.0  # closing sample: the whole month
    assert "11-01 00:00:00.000" not in got  # new month, no November bucket has ended
    assert got["11-02 00:00:00.000"] == 3.0  # November 1st alone


# --- the command ------------------------------------------------------------------------------------------------------
def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("sources:\n  - type: openai\n    name: x\n    interval: soon\n")
    out = tmp_path / "out"
    result = run_cli("backfill", "--config", str(bad), "--since", "2d", "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert "sources[0]" in result.stderr and not out.exists()


def test_config_without_usage_source_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text(yaml.safe_dump({"sources": [{"type": "deepseek", "name": "d", "api_key_env": "LLMPULSE_DEMO_KEY"}]}))
    result = run_cli("backfill", "--config", str(cfg), "--since", "2d", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "no usage/cost source" in result.stderr


def test_future_until_and_empty_window_are_refused(tmp_path: Path, simulator: Any) -> None:
    cfg = write_config(tmp_path, simulator.url)
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run_cli("backfill", "--config", str(cfg), "--since", "2d", "--until", future, "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "in the future" in result.stderr
    # --since after --until: no step can lie between them, whatever the time of day the test runs
    result = run_cli("backfill", "--config", str(cfg), "--since", "10m", "--until", "20m", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "holds no step" in result.stderr
    assert not (tmp_path / "o").exists()


def test_provider_failure_exits_1_and_writes_nothing(tmp_path: Path, simulator: Any) -> None:
    cfg = write_config(tmp_path, simulator.url)
    simulator.faults({"anthropic": {"fail_page": 2, "fail_page_status": 500, "fail_page_count": 100}})
    out = tmp_path / "out"
    result = run_cli("backfill", "--config", str(cfg), "--since", "20d", "--out", str(out), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "anthropic-main" in result.stderr and "nothing was written" in result.stderr
    assert not (out / "backfill.om").exists() and not (out / "blocks").exists()
    assert "openai-main: usage/completions page 1" in result.stderr  # progress was shown


def test_retention_warning_and_existing_blocks(tmp_path: Path, simulator: Any) -> None:
    cfg = write_config(tmp_path, simulator.url)
    out = tmp_path / "out"
    (out / "blocks" / "01OLD").mkdir(parents=True)
    result = run_cli("backfill", "--config", str(cfg), "--since", "2d", "--out", str(out))
    assert result.returncode == 2 and "already holds blocks" in result.stderr
    shutil.rmtree(out / "blocks")
    result = run_cli(
        "backfill", "--config", str(cfg), "--since", "2d", "--retention", "1d", "--out", str(out), timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "beyond the retention of 1d" in result.stderr
    assert (out / "backfill.om").read_text().endswith("# EOF\n")


def test_no_blocks_writes_only_the_openmetrics_file_without_promtool(tmp_path: Path, simulator: Any) -> None:
    cfg = write_config(tmp_path, simulator.url)
    out = tmp_path / "out"
    no_promtool = {"PATH": str(tmp_path / "empty-bin")}  # promtool cannot be found: none is needed
    result = run_cli(
        "backfill",
        "--config",
        str(cfg),
        "--since",
        "2d",
        "--no-blocks",
        "--out",
        str(out),
        env=no_promtool,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["backfill.om"]  # no blocks/, no temporary directory left
    om = (out / "backfill.om").read_text()
    assert om.endswith("# EOF\n") and "# TYPE llmpulse_cost_usd counter" in om
    assert "--max-block-duration=162h" in result.stdout and "cp -r" not in result.stdout
    # an old file is replaced whole, and a leftover blocks/ does not stop it (it writes none)
    (out / "blocks" / "01OLD").mkdir(parents=True)
    again = run_cli(
        "backfill",
        "--config",
        str(cfg),
        "--since",
        "1d",
        "--no-blocks",
        "--out",
        str(out),
        env=no_promtool,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert (out / "backfill.om").read_text() != om and (out / "backfill.om").read_text().endswith("# EOF\n")
    both = run_cli(
        "backfill", "--config", str(cfg), "--since", "1d", "--no-blocks", "--promtool", "promtool", "--out", "x"
    )
    assert both.returncode == 2 and "give one or the other" in both.stderr


# --- end to end: a real Prometheus on the blocks -------------------------------------------------------------------------
def _at(prom: Prom, expr: str, ts: float) -> list[dict[str, Any]]:
    resp = requests.post(f"{prom.url}/api/v1/query", data={"query": expr, "time": f"{ts:.3f}"}, timeout=30)
    body = resp.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _series(result: list[dict[str, Any]], source: str) -> dict[Series, float]:
    out: dict[Series, float] = {}
    for item in result:
        labels = dict(item["metric"])
        if labels.get("source") != source:
            continue
        name = labels.pop("__name__")
        rest = {k: v for k, v in labels.items() if k not in ("provider", "source")}
        out[(name, frozenset(rest.items()))] = float(item["value"][1])
    return out


def _dashboard_queries(name: str) -> list[tuple[str, str]]:
    board = json.loads((ROOT / "grafana" / "dashboards" / "llmpulse" / f"{name}.json").read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if expr:
                out.append((panel.get("title", ""), expr))
    return out


def test_backfill_40_days_into_a_real_prometheus(tmp_path: Path, simulator: Any) -> None:
    now = datetime.now(UTC)
    last_month, this_month = month_bounds(now)
    cfg = write_config(tmp_path, simulator.url)
    out = tmp_path / "out"
    args = ["backfill", "--config", str(cfg), "--since", "40d", "--out", str(out)]
    if now - timedelta(hours=3) < this_month:  # the default --until would stop before last month's end
        args += ["--until", this_month.strftime("%Y-%m-%dT%H:%M:%SZ")]
    result = run_cli(*args, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "cp -r" in result.stdout and "retention.time=" in result.stdout
    assert "deepseek-main" not in result.stderr  # balance sources have no history to read
    om = (out / "backfill.om").read_text()
    assert om.endswith("# EOF\n") and "# TYPE llmpulse_cost_usd counter" in om

    with prometheus_on_blocks(tmp_path, out / "blocks") as prom:
        check_prometheus(prom, simulator.url, last_month, this_month)


def check_prometheus(prom: Prom, sim_url: str, last_month: datetime, this_month: datetime) -> None:
    end = this_month.timestamp() - 0.001  # the closing sample of last month
    query = '{__name__=~"' + "|".join(USAGE_FAMILIES) + '"}'
    wait_for(lambda: _at(prom, query, end), 60, "backfilled series in Prometheus")
    result_at_end = _at(prom, query, end)
    window = (last_month, this_month)
    for source, expected in (
        ("openai-main", openai_expected(sim_url, limit=31, window=window)),
        ("anthropic-main", anthropic_expected(sim_url, limit=31, window=window)),
    ):
        problems = compare_series(_series(result_at_end, source), expected, "backfilled")
        assert not problems, "\n".join(problems[:20])

    # Month-to-date: the counters restart on the 1st (the first hour of this month holds far less than last month).
    first_hour = _at(prom, 'sum(llmpulse_cost_usd_total{source="openai-main"})', this_month.timestamp() + 2 * DAY)
    month_total = _at(prom, 'sum(llmpulse_cost_usd_total{source="openai-main"})', end)
    assert float(first_hour[0]["value"][1]) < float(month_total[0]["value"][1])

    # Every cost-dashboard query over reported or estimated cost returns data for last month (Grafana's variables
    # replaced the way Grafana does for "All", step 1h like the backfill).
    checked = 0
    for title, expr in _dashboard_queries("cost"):
        if "llmpulse_cost_usd_total" not in expr and "llmpulse_cost_estimated_usd_total" not in expr:
            continue  # balances and key limits have no provider history to backfill
        if re.search(r"(?<![\w:]):\w*:", expr):
            continue  # reads a recording rule (the budget): rules are evaluated from now on, not backfilled
        q = expr.replace("$__range", "30d").replace("$__rate_interval", "2h")
        for var in (*SCRAPE_VARIABLES, *VARIABLES):  # what Grafana sends for each variable's default "All"
            q = q.replace(f"${var.name}", var.all_value)
        resp = requests.post(
            f"{prom.url}/api/v1/query_range",
            data={
                "query": q,
                "start": last_month.timestamp() + DAY,
                "end": this_month.timestamp() - HOUR,
                "step": "3600",
            },
            timeout=60,
        ).json()
        assert resp["status"] == "success", (title, q, resp)
        assert resp["data"]["result"], f"{title}: no data for last month from {q}"
        checked += 1
    assert checked >= 8
