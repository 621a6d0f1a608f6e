"""The daily summary: one day's figures read from Prometheus, each next to the day before, rendered for people.

A day is midnight to midnight in the report's time zone. Every figure is one PromQL expression evaluated at the
day's end over a window of the day's length (``increase(...[86400s])``); the previous day is the same expression
evaluated at the day's start. A query that returns nothing is *missing* (shown as such), never zero: a dashboard
full of zeros on a day the exporter was down would lie.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

TOP = 5


class ReportError(Exception):
    """Prometheus could not be asked (unreachable, or a query failed): the message says which and why."""


@dataclass(frozen=True)
class Figure:
    """One headline figure of the report."""

    key: str
    label: str
    unit: str  # "count", "seconds", "ratio", "usd"
    expr: str  # PromQL with {w} for the window (e.g. 86400s)


FIGURES: tuple[Figure, ...] = (
    Figure("calls", "Calls", "count", "sum(increase(llmpulse_api_calls_total[{w}]))"),
    Figure("distinct_users", "Distinct users", "count", 'sum(llmpulse_events_distinct_users{{window="1d"}})'),
    Figure(
        "avg_response_seconds",
        "Average response time",
        "seconds",
        "sum(increase(llmpulse_api_call_duration_seconds_sum[{w}])) / "
        "(sum(increase(llmpulse_api_call_duration_seconds_count[{w}])) > 0)",
    ),
    Figure(
        "p95_response_seconds",
        "P95 response time",
        "seconds",
        "histogram_quantile(0.95, sum by (le) (increase(llmpulse_api_call_duration_seconds_bucket[{w}])))",
    ),
    Figure(
        "error_rate",
        "Error rate",
        "ratio",
        'sum(increase(llmpulse_api_calls_total{{outcome="error"}}[{w}])) / '
        "(sum(increase(llmpulse_api_calls_total[{w}])) > 0)",
    ),
    Figure("spend_reported_usd", "Spend (reported)", "usd", "sum(increase(llmpulse_cost_usd_total[{w}]))"),
    Figure("spend_estimated_usd", "Spend (estimated)", "usd", "sum(increase(llmpulse_cost_estimated_usd_total[{w}]))"),
)


@dataclass(frozen=True)
class Ranking:
    key: str
    label: str
    unit: str
    by: tuple[str, ...]
    expr: str


RANKINGS: tuple[Ranking, ...] = (
    Ranking(
        "top_models",
        "Top models by estimated spend",
        "usd",
        ("model",),
        "topk(" + str(TOP) + ", sum by (model) (increase(llmpulse_cost_estimated_usd_total[{w}])) > 0)",
    ),
    Ranking(
        "top_projects",
        "Top projects by reported spend",
        "usd",
        ("provider", "project"),
        "topk(" + str(TOP) + ", sum by (provider, project) (increase(llmpulse_cost_usd_total[{w}])) > 0)",
    ),
    Ranking(
        "top_error_codes",
        "Top error codes",
        "count",
        ("code",),
        "topk(" + str(TOP) + ", sum by (code) (increase(llmpulse_error_code_counter_total[{w}])) > 0)",
    ),
    Ranking(
        "balances",
        "Balances",
        "balance",
        ("source", "currency"),
        'sum by (source, currency) (llmpulse_balance{{kind="total"}})',
    ),
    Ranking(
        "runway_days",
        "Runway (days at the last day's burn)",
        "days",
        ("source", "currency"),
        'clamp_max(sum by (source, currency) (llmpulse_balance{{kind="total"}}) / '
        '(-86400 * sum by (source, currency) (deriv(llmpulse_balance{{kind="total"}}[1d])) > 0), 3650)',
    ),
)


@dataclass
class Value:
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass
class Report:
    day: str
    timezone: str
    start: str
    end: str
    figures: dict[str, Value] = field(default_factory=dict)
    rankings: dict[str, list[tuple[str, Value]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for value in out["figures"].values():
            value["change"] = (
                None if value["value"] is None or value["previous"] is None else (value["value"] - value["previous"])
            )
        out["rankings"] = {
            key: [{"name": name, **asdict(v), "change": v.change} for name, v in items]
            for key, items in self.rankings.items()
        }
        return out


Query = Callable[[str, float], list[tuple[dict[str, str], float]]]


def prometheus_query(url: str, timeout: float = 30.0) -> Query:
    """An instant-query function against ``url`` (``/api/v1/query`` with ``time``)."""
    base = url.rstrip("/")
    session = requests.Session()

    def query(expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        try:
            resp = session.post(f"{base}/api/v1/query", data={"query": expr, "time": f"{at:.3f}"}, timeout=timeout)
        except requests.RequestException as exc:
            raise ReportError(f"cannot reach Prometheus at {base}: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            raise ReportError(f"{base}: HTTP {resp.status_code}, not a Prometheus API answer") from None
        if body.get("status") != "success":
            raise ReportError(f"query failed: {body.get('error', resp.status_code)}: {expr}")
        out = []
        for item in body["data"]["result"]:
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append((dict(item["metric"]), value))
        return out

    return query


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.timestamp(), end.timestamp()


def build_report(query: Query, day: date, tz_name: str) -> Report:
    """Evaluate every figure for ``day`` and the day before (both in ``tz_name``)."""
    tz = ZoneInfo(tz_name)
    start, end = day_bounds(day, tz)
    prev_start, _ = day_bounds(day - timedelta(days=1), tz)
    window, prev_window = f"{int(end - start)}s", f"{int(start - prev_start)}s"  # 23 h or 25 h on DST days
    report = Report(
        day.isoformat(),
        tz_name,
        datetime.fromtimestamp(start, tz).isoformat(),
        datetime.fromtimestamp(end, tz).isoformat(),
    )

    def scalar(expr: str, at: float) -> float | None:
        result = query(expr, at)
        return result[0][1] if result else None

    for fig in FIGURES:
        report.figures[fig.key] = Value(
            scalar(fig.expr.format(w=window), end), scalar(fig.expr.format(w=prev_window), start)
        )
    for rank in RANKINGS:
        now = {_name(m, rank.by): v for m, v in query(rank.expr.format(w=window), end)}
        before = {_name(m, rank.by): v for m, v in query(rank.expr.format(w=prev_window), start)}
        items = sorted(now.items(), key=lambda kv: -kv[1])
        report.rankings[rank.key] = [(name, Value(v, before.get(name))) for name, v in items]
    return report


def _name(metric: dict[str, str], by: Sequence[str]) -> str:
    return " / ".join(metric.get(label, "") or "(none)" for label in by)


# --- rendering --------------------------------------------------------------------------------------------------------
MISSING = "missing"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return MISSING
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "days":
        return f"{value:.1f} d"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def fmt_change(v: Value, unit: str) -> str:
    change = v.change
    if change is None:
        return "n/a"
    sign = "+" if change >= 0 else "-"
    shown = fmt(abs(change), unit) if unit != "ratio" else f"{abs(change) * 100:.2f} pp"
    pct = f" ({change / v.previous * 100:+.0f} %)" if v.previous else ""
    return f"{sign}{shown}{pct}"


def render_markdown(report: Report) -> str:
    lines = [f"**LLM daily report: {report.day}** ({report.timezone})", "", "| Figure | Day | Change vs day before |"]
    lines.append("|---|---:|---:|")
    for fig in FIGURES:
        v = report.figures[fig.key]
        lines.append(f"| {fig.label} | {fmt(v.value, fig.unit)} | {fmt_change(v, fig.unit)} |")
    for rank in RANKINGS:
        items = report.rankings.get(rank.key, [])
        lines += ["", f"**{rank.label}**"]
        if not items:
            lines.append(f"- {MISSING}")
        for name, v in items:
            unit = "count" if rank.unit == "balance" else rank.unit
            lines.append(f"- {name}: {fmt(v.value, unit)} ({fmt_change(v, unit)})")
    return "\n".join(lines) + "\n"


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "timezone", "section", "name", "value", "previous", "change"])

    def cell(x: float | None) -> str:
        return "" if x is None else repr(x)

    for fig in FIGURES:
        v = report.figures[fig.key]
        writer.writerow(
            [report.day, report.timezone, "figure", fig.key, cell(v.value), cell(v.previous), cell(v.change)]
        )
    for rank in RANKINGS:
        for name, v in report.rankings.get(rank.key, []):
            writer.writerow(
                [report.day, report.timezone, rank.key, name, cell(v.value), cell(v.previous), cell(v.change)]
            )
    return out.getvalue()


def render(report: Report, fmt_name: str) -> str:
    if fmt_name == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt_name == "csv":
        return render_csv(report)
    return render_markdown(report)
