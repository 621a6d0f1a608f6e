"""Expressions and panels more than one dashboard shows (so Overview and the detail boards agree)."""

from __future__ import annotations

from collections.abc import Sequence

from exporter import contract
from exporter.bundle.boards import Ctx
from exporter.bundle.panels import Panel, Step, range_text, stat, target, value_text
from exporter.bundle.promql import RATE, DashboardQueries, le, sum_by

UIDS = {
    "overview": "llmpulse-overview",
    "cost": "llmpulse-cost",
    "usage": "llmpulse-usage",
    "latency": "llmpulse-latency",
    "traffic": "llmpulse-traffic",
    "health": "llmpulse-health",
}

#: Seconds since 00:00 UTC on the 1st of the current month.
MONTH_ELAPSED_SECONDS = "(day_of_month() - 1) * 86400 + time() % 86400"
#: Fraction of the current UTC month that has elapsed, like the rules' :llmpulse_month_elapsed:ratio. The forecast
#: is only shown once budget.forecast_min_elapsed has passed, so no clamp is needed to keep it finite.
MONTH_ELAPSED = f"scalar(({MONTH_ELAPSED_SECONDS}) / (days_in_month() * 86400))"
#: The monthly budget as Prometheus has it (the recording rule from bundle.budget.monthly_budget_usd).
BUDGET_TOTAL = ':llmpulse_budget_usd:monthly{scope="total"}'
#: Balances are compared per currency: days left need no exchange rate.
BALANCE_BY = ("provider", "source", "currency")

#: Runway shown when a balance is not burning (or would last longer than this many days).
RUNWAY_CAP_DAYS = 3650

INDICATOR_LEVELS = {"unknown": -1, "none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
INDICATOR_TEXT: dict[float, tuple[str, str]] = {
    -1: ("unknown (page unreadable)", "text"),
    0: ("operational", "green"),
    1: ("maintenance", "blue"),
    2: ("minor", "yellow"),
    3: ("major", "orange"),
    4: ("critical", "red"),
}
COMPONENT_LEVELS = {
    "unknown": -1,
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
COMPONENT_TEXT: dict[float, tuple[str, str]] = {
    -1: ("unknown", "text"),
    0: ("operational", "green"),
    1: ("maintenance", "blue"),
    2: ("degraded", "yellow"),
    3: ("partial outage", "orange"),
    4: ("major outage", "red"),
}
UP_TEXT: dict[float, tuple[str, str]] = {0: ("down", "red"), 1: ("up", "green")}


def budget_steps(ctx: Ctx) -> list[Step]:
    if not ctx.monthly_budget_usd:
        return [("green", None)]
    return [
        ("green", None),
        ("orange", ctx.budget_warning_ratio * ctx.monthly_budget_usd),
        ("red", ctx.monthly_budget_usd),
    ]


def ratio_steps(red: float) -> list[Step]:
    return [("green", None), ("orange", red / 2), ("red", red)]


def cost_mtd(queries: DashboardQueries, by: Sequence[str] = ()) -> str:
    """Reported cost, month to date: the counter's value IS the month-to-date total (see the metric's HELP)."""
    return sum_by(by, queries.sel(contract.COST_USD))


def forecast(queries: DashboardQueries, ctx: Ctx, by: Sequence[str] = ()) -> str:
    """Linear month-end forecast: month-to-date cost divided by the elapsed fraction of the month, shown only
    after budget.forecast_min_elapsed of the month (the guard of LLMBudgetForecastExceeded): earlier, one busy day
    would dominate it."""
    return (
        f"{cost_mtd(queries, by)} / {MONTH_ELAPSED}\n"
        f"and on () ({MONTH_ELAPSED_SECONDS} >= {ctx.forecast_min_elapsed:g})"
    )


def budget_target(ctx: Ctx) -> list:
    """The monthly budget line, read from the recording rule Prometheus evaluates (not a number in the JSON)."""
    return [target(BUDGET_TOTAL, "budget")] if ctx.monthly_budget_usd else []


def ratio(numerator: str, total: str) -> str:
    """``numerator / total`` where a missing numerator (no error series yet) reads as 0, not as no data."""
    return f"({numerator} or {total} * 0) / {total}"


def error_ratio(queries: DashboardQueries, by: Sequence[str] = (), window: str = RATE, func: str = "rate") -> str:
    errors = sum_by(by, queries.over(func, contract.API_CALLS, window, outcome="error"))
    total = sum_by(by, queries.over(func, contract.API_CALLS, window))
    return ratio(errors, total)


def code_ratio(queries: DashboardQueries, code: str, by: Sequence[str] = ()) -> str:
    """Share of calls that failed with ``code`` (a regex such as ``429`` or ``401|403``)."""
    errors = sum_by(by, queries.rate(contract.ERROR_CODES, code=f"=~{code}"))
    total = sum_by(by, queries.rate(contract.API_CALLS))
    return ratio(errors, total)


def slow_ratio(queries: DashboardQueries, ctx: Ctx, by: Sequence[str] = ()) -> str:
    if ctx.slow_call_seconds not in contract.API_CALL_DURATION.buckets:
        raise ValueError(
            f"slow_call_seconds {ctx.slow_call_seconds} is not a bucket bound of "
            f"{contract.API_CALL_DURATION.name} ({contract.API_CALL_DURATION.buckets})"
        )
    fast = sum_by(by, queries.rate(contract.API_CALL_DURATION, "_bucket", le=le(ctx.slow_call_seconds)))
    total = sum_by(by, queries.rate(contract.API_CALL_DURATION, "_count"))
    return f"1 - {fast} / {total}"


def one_hot_level(
    queries: DashboardQueries, family: contract.Family, label: str, levels: dict[str, int], by: Sequence[str]
) -> str:
    """Turn a one-hot state gauge into one number per ``by`` group (worst state wins), for value mappings."""
    parts = [f"({queries.sel(family, **{label: name})} == 1) * {value}" for name, value in levels.items()]
    return sum_by(by, " or ".join(parts), agg="max")


def provider_status(queries: DashboardQueries) -> Panel:
    return stat(
        "Provider status",
        "Overall indicator of each provider's status page (llmpulse_status_indicator): operational, maintenance, "
        "minor, major or critical. 'unknown' means the page could not be read and is never an outage.",
        "none",
        [
            target(
                one_hot_level(queries, contract.STATUS_INDICATOR, "indicator", INDICATOR_LEVELS, ("provider",)),
                "{{provider}}",
            )
        ],
        mappings=value_text(INDICATOR_TEXT),
        text_mode="value_and_name",
    )


def sources_up(queries: DashboardQueries) -> Panel:
    up_sel = queries.sel(contract.SOURCE_UP)
    return stat(
        "Sources up",
        "Polled sources (billing, balance, status page, analytics) whose last poll succeeded, and those whose "
        "last poll failed (llmpulse_source_up). A failed source keeps serving its last good data; see Exporter "
        "health for why it failed.",
        "short",
        [target(f"sum({up_sel})", "up"), target(f"count({up_sel} == 0) or vector(0)", "down")],
        decimals=0,
        text_mode="value_and_name",
        overrides=[
            {
                "matcher": {"id": "byName", "options": "up"},
                "properties": [{"id": "color", "value": {"fixedColor": "green", "mode": "fixed"}}],
            },
            {
                "matcher": {"id": "byName", "options": "down"},
                "properties": [
                    {
                        "id": "thresholds",
                        "value": {
                            "mode": "absolute",
                            "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                        },
                    }
                ],
            },
        ],
    )


def runway_days(queries: DashboardQueries, ctx: Ctx) -> str:
    """Days until the balance reaches 0 at the burn over the alert's burn window, as LLMBalanceRunwayShort computes
    it; capped, so "not burning" shows as the cap instead of disappearing."""
    balance = sum_by(BALANCE_BY, queries.sel(contract.BALANCE, kind="total"))
    return f"clamp({balance} / clamp_min({burn_per_day(queries, ctx)}, 1e-9), 0, {RUNWAY_CAP_DAYS})"


def burn_per_day(queries: DashboardQueries, ctx: Ctx) -> str:
    """USD per day the total balance fell over the burn window (deriv, as LLMBalanceRunwayShort computes it; 0
    when it did not fall, e.g. after a top-up)."""
    deriv = queries.over("deriv", contract.BALANCE, ctx.burn_window, kind="total")
    return f"clamp_min(-86400 * {sum_by(BALANCE_BY, deriv)}, 0)"


def runway_mappings() -> list:
    return [range_text(RUNWAY_CAP_DAYS, None, "not burning / 10 y+", "green")]
