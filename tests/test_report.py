"""``llmpulse report`` against a real Prometheus holding known data.

The data are written here as OpenMetrics (samples every 5 minutes over two days, so every ``increase`` over a day
covers its window exactly), turned into blocks with promtool and served by Prometheus. Every figure of the report
must equal what the samples say; what has no data (distinct users, balances) must read as missing, not zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import run_cli
from history_support import build_blocks, prometheus_on_blocks

STEP = 300
PER_DAY = 86400 // STEP  # samples per day
BASE = 'provider="openai",source="main"'


def day_under_test() -> datetime:
    """Three days ago (UTC midnight): old enough to be in blocks only, young enough for any retention."""
    return (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def synthetic(day: datetime) -> str:
    """Two days of counters: the day before (D-1) and the day (D). Per 5 minutes on D: 20 successful calls, 1 error
    (code 503), 21 call durations of 0.4 s (all in the 0.25-0.5 s bucket); $1/h reported cost on project A, $0.25/h
    on B, $2/h estimated on model m. On D-1: 10 successful calls, no error, $0.50/h on A only."""
    start = (day - timedelta(days=1)).timestamp()
    series: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, sample: str, ts: float, value: float) -> None:
        series.setdefault(sample, (family, []))[1].append(f"{sample} {value!r} {int(ts)}")

    ok = err = cost_a = cost_b = est = 0.0
    buckets = {"0.25": 0.0, "0.5": 0.0, "+Inf": 0.0}
    dur_sum = 0.0
    for i in range(2 * PER_DAY + 1):
        ts = start + i * STEP
        if i > 0:
            on_day = i > PER_DAY  # the 5 minutes that END at ts belong to D
            ok += 20 if on_day else 10
            err += 1 if on_day else 0
            calls = 21 if on_day else 10
            buckets["0.5"] += calls
            buckets["+Inf"] += calls
            dur_sum += 0.4 * calls
            cost_a += (1.0 if on_day else 0.5) / 12
            cost_b += 0.25 / 12 if on_day else 0.0
            est += 2.0 / 12 if on_day else 0.0
        add("llmpulse_api_calls", "counter", f'llmpulse_api_calls_total{{{BASE},model="m",outcome="success"}}', ts, ok)
        add("llmpulse_api_calls", "counter", f'llmpulse_api_calls_total{{{BASE},model="m",outcome="error"}}', ts, err)
        add(
            "llmpulse_error_code_counter",
            "counter",
            f'llmpulse_error_code_counter_total{{{BASE},model="m",code="503",error_type=""}}',
            ts,
            err,
        )
        for le, count in buckets.items():
            add(
                "llmpulse_api_call_duration_seconds",
                "histogram",
                f'llmpulse_api_call_duration_seconds_bucket{{{BASE},model="m",le="{le}"}}',
                ts,
                count,
            )
        add(
            "llmpulse_api_call_duration_seconds",
            "histogram",
            f'llmpulse_api_call_duration_seconds_sum{{{BASE},model="m"}}',
            ts,
            dur_sum,
        )
        add(
            "llmpulse_api_call_duration_seconds",
            "histogram",
            f'llmpulse_api_call_duration_seconds_count{{{BASE},model="m"}}',
            ts,
            buckets["+Inf"],
        )
        add("llmpulse_cost_usd", "counter", f'llmpulse_cost_usd_total{{{BASE},project="A",line_item="x"}}', ts, cost_a)
        if cost_b:
            add(
                "llmpulse_cost_usd",
                "counter",
                f'llmpulse_cost_usd_total{{{BASE},project="B",line_item="x"}}',
                ts,
                cost_b,
            )
        add(
            "llmpulse_cost_estimated_usd",
            "counter",
            f'llmpulse_cost_estimated_usd_total{{{BASE},project="A",model="m"}}',
            ts,
            est,
        )
    kinds = {
        "llmpulse_api_calls": "counter",
        "llmpulse_error_code_counter": "counter",
        "llmpulse_api_call_duration_seconds": "histogram",
        "llmpulse_cost_usd": "counter",
        "llmpulse_cost_estimated_usd": "counter",
    }
    out: list[str] = []
    for family, kind in kinds.items():
        out.append(f"# TYPE {family} {kind}")
        for fam, lines in series.values():
            if fam == family:
                out += lines
    return "\n".join(out) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("report")
    blocks = build_blocks(synthetic(day_under_test()), tmp / "om")
    with prometheus_on_blocks(tmp, blocks) as prom:
        yield prom.url


def report(url: str, *args: str) -> Any:
    result = run_cli("report", "--prometheus", url, "--day", day_under_test().strftime("%Y-%m-%d"), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_figure_equals_the_data(prometheus: str) -> None:
    body = json.loads(report(prometheus, "--format", "json"))
    fig = body["figures"]
    assert fig["calls"]["value"] == pytest.approx(21 * PER_DAY)
    assert fig["calls"]["previous"] == pytest.approx(10 * PER_DAY)
    assert fig["calls"]["change"] == pytest.approx(11 * PER_DAY)
    assert fig["error_rate"]["value"] == pytest.approx(1 / 21)
    assert fig["error_rate"]["previous"] == pytest.approx(0.0)  # measured zero, not missing
    assert fig["avg_response_seconds"]["value"] == pytest.approx(0.4)
    # Every observation lies in the (0.25, 0.5] bucket: linear interpolation puts P95 at 95 % of its width.
    assert fig["p95_response_seconds"]["value"] == pytest.approx(0.25 + 0.25 * 0.95)
    assert fig["spend_reported_usd"]["value"] == pytest.approx(24 + 6)
    assert fig["spend_reported_usd"]["previous"] == pytest.approx(12)
    assert fig["spend_estimated_usd"]["value"] == pytest.approx(48)
    # Nothing reported distinct users: missing on both days, never zero.
    assert fig["distinct_users"] == {"value": None, "previous": None, "change": None}
    ranks = body["rankings"]
    assert [(r["name"], round(r["value"], 6)) for r in ranks["top_projects"]] == [
        ("openai / A", 24.0),
        ("openai / B", 6.0),
    ]
    assert ranks["top_projects"][0]["previous"] == pytest.approx(12)
    assert ranks["top_projects"][1]["previous"] is None  # B spent nothing the day before
    assert [(r["name"], round(r["value"], 6)) for r in ranks["top_models"]] == [("m", 48.0)]
    assert [(r["name"], round(r["value"])) for r in ranks["top_error_codes"]] == [("503", PER_DAY)]
    assert ranks["balances"] == [] and ranks["runway_days"] == []


def test_markdown_and_csv(prometheus: str) -> None:
    md = report(prometheus)
    assert "| Calls | 6,048 | +3,168 (+110 %) |" in md
    assert "| Distinct users | missing | n/a |" in md
    assert "| Spend (reported) | $30.00 | +$18.00 (+150 %) |" in md
    assert "- openai / A: $24.00 (+$12.00 (+100 %))" in md
    rows = report(prometheus, "--format", "csv").splitlines()
    assert rows[0] == "day,timezone,section,name,value,previous,change"
    users = next(r for r in rows if ",distinct_users," in r)
    assert users.endswith("figure,distinct_users,,,")


def test_timezone_moves_the_day(prometheus: str) -> None:
    """In Asia/Shanghai (UTC+8) the day starts 8 hours earlier: 8 hours of it fall on the slower day before."""
    body = json.loads(report(prometheus, "--timezone", "Asia/Shanghai", "--format", "json"))
    assert body["start"].endswith("+08:00")
    assert body["figures"]["calls"]["value"] == pytest.approx(21 * PER_DAY * 16 / 24 + 10 * PER_DAY * 8 / 24)


def test_unreachable_prometheus_and_bad_timezone() -> None:
    result = run_cli("report", "--prometheus", "http://127.0.0.1:9", "--day", "2026-11-01")
    assert result.returncode == 1 and "cannot reach Prometheus" in result.stderr
    result = run_cli("report", "--prometheus", "http://127.0.0.1:9", "--timezone", "Mars/Olympus")
    assert result.returncode == 2 and "unknown time zone" in result.stderr
