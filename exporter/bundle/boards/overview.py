"""Overview: the four headline numbers, spend against budget, provider status and sources; trends below."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx
from exporter.bundle.boards.common import (
    UIDS,
    budget_steps,
    budget_target,
    cost_mtd,
    error_ratio,
    forecast,
    provider_status,
    ratio_steps,
    sources_up,
)
from exporter.bundle.panels import Panel, even, gauge, link, stat, target, timeseries
from exporter.bundle.promql import RANGE, DashboardQueries, sum_by

queries = DashboardQueries()


def total_calls() -> Panel:
    return stat(
        "Calls",
        "LLM API calls in the selected time range: llmpulse's own probes plus the traffic events posted to "
        "/events (llmpulse_api_calls_total).",
        "short",
        [target(f"sum({queries.increase(contract.API_CALLS, RANGE)})", "calls", instant=True)],
        decimals=0,
        links=[link("Traffic & sessions", UIDS["traffic"])],
    )


def distinct_users() -> Panel:
    return stat(
        "Distinct users (24 h)",
        "Distinct user_id values in the traffic events of the last 24 hours, all apps and channels together "
        f"({contract.EVENTS_DISTINCT_USERS_ALL.name}: one HyperLogLog sketch fed by every event, about 1.6 % "
        "error; a user of two apps counts once). Several events sources or exporter replicas add up.",
        "short",
        [target(f"sum({queries.sel(contract.EVENTS_DISTINCT_USERS_ALL, window='1d')})", "users")],
        decimals=0,
        links=[link("Traffic & sessions", UIDS["traffic"])],
    )


def average_response_time(ctx: Ctx) -> Panel:
    total = f"sum({queries.increase(contract.API_CALL_DURATION, RANGE, '_sum')})"
    count = f"sum({queries.increase(contract.API_CALL_DURATION, RANGE, '_count')})"
    return stat(
        "Average response time",
        "Mean duration of whole LLM API calls in the selected time range (llmpulse_api_call_duration_seconds "
        "sum / count, probes and traffic events). Tail latency is on Latency & errors.",
        "s",
        [target(f"{total} / {count}", "average", instant=True)],
        steps=ratio_steps(ctx.latency_seconds),
        links=[link("Latency & errors", UIDS["latency"])],
    )


def error_rate(ctx: Ctx) -> Panel:
    return stat(
        "Error rate",
        "Share of LLM API calls that failed in the selected time range (llmpulse_api_calls_total "
        f'outcome="error" / all). Red at the LLMAPIHighErrorRate threshold ({ctx.error_ratio:.0%}).',
        "percentunit",
        [target(error_ratio(queries, window=RANGE, func="increase"), "errors", instant=True)],
        decimals=2,
        steps=ratio_steps(ctx.error_ratio),
        links=[link("Latency & errors", UIDS["latency"])],
    )


def cost_month_to_date(ctx: Ctx) -> Panel:
    description = (
        "Cost reported by the providers' billing APIs for the current UTC month "
        "(llmpulse_cost_usd_total, whose value is the month-to-date total)."
    )
    kwargs: dict = {"steps": budget_steps(ctx), "links": [link("Cost & budget", UIDS["cost"])], "decimals": 2}
    if ctx.monthly_budget_usd:
        description += f" The gauge ends at the monthly budget (${ctx.monthly_budget_usd:,.0f})."
        return gauge(
            "Cost month to date",
            description,
            "currencyUSD",
            [target(cost_mtd(queries), "month to date")],
            minimum=0,
            maximum=ctx.monthly_budget_usd,
            **kwargs,
        )
    return stat(
        "Cost month to date", description, "currencyUSD", [target(cost_mtd(queries), "month to date")], **kwargs
    )


def month_end_forecast(ctx: Ctx) -> Panel:
    description = (
        "Month-end cost if spending goes on at this month's average pace: month-to-date cost / "
        f"elapsed share of the UTC month, shown from day {ctx.forecast_min_elapsed / 86400:g} on (like "
        "LLMBudgetForecastExceeded)."
    )
    if ctx.monthly_budget_usd:
        description += (
            f" Orange from {ctx.budget_warning_ratio:.0%} of the budget, red over it (LLMBudgetForecastExceeded)."
        )
    return stat(
        "Month-end forecast",
        description,
        "currencyUSD",
        [target(forecast(queries, ctx), "forecast")],
        steps=budget_steps(ctx),
        decimals=2,
        links=[link("Cost & budget", UIDS["cost"])],
    )


def calls_by_provider() -> Panel:
    return timeseries(
        "Calls per second by provider",
        "LLM API calls per second from probes and traffic events (llmpulse_api_calls_total), by provider.",
        "reqps",
        [target(sum_by(("provider",), queries.rate(contract.API_CALLS)), "{{provider}}")],
    )


def error_ratio_by_provider(ctx: Ctx) -> Panel:
    return timeseries(
        "Error ratio by provider",
        "Share of failed calls per provider (llmpulse_api_calls_total). The shaded band starts at the "
        f"LLMAPIHighErrorRate threshold ({ctx.error_ratio:.0%}).",
        "percentunit",
        [target(error_ratio(queries, ("provider",)), "{{provider}}")],
        steps=[("transparent", None), ("red", ctx.error_ratio)],
        threshold_line=True,
    )


def p95_by_provider(ctx: Ctx) -> Panel:
    return timeseries(
        "P95 response time by provider",
        "95th percentile duration of whole calls per provider (llmpulse_api_call_duration_seconds). The shaded "
        f"band starts at the latency alert threshold ({ctx.latency_seconds:g} s).",
        "s",
        [target(queries.quantile(0.95, contract.API_CALL_DURATION, ("provider",)), "{{provider}}")],
        steps=[("transparent", None), ("red", ctx.latency_seconds)],
        threshold_line=True,
    )


def cost_by_provider_trend(ctx: Ctx) -> Panel:
    return timeseries(
        "Cost month to date by provider",
        "Month-to-date reported cost per provider as it grew (llmpulse_cost_usd_total), with the monthly budget "
        "when one is configured. Steps appear when the provider's billing data arrives.",
        "currencyUSD",
        [target(cost_mtd(queries, ("provider",)), "{{provider}}"), *budget_target(ctx)],
        stack=False,
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["overview"],
        slug="overview",
        title="llmpulse / Overview",
        summary="LLM APIs at a glance: calls, users, response time, errors, spend against budget, provider "
        "status and exporter sources, with trends below.",
        tags=("llmpulse", "overview"),
        time_from="now-24h",
        refresh="1m",
        rows=[
            even(5, [total_calls(), distinct_users(), average_response_time(ctx), error_rate(ctx)]),
            even(6, [cost_month_to_date(ctx), month_end_forecast(ctx), provider_status(queries), sources_up(queries)]),
            even(8, [calls_by_provider(), error_ratio_by_provider(ctx)]),
            even(8, [p95_by_provider(ctx), cost_by_provider_trend(ctx)]),
        ],
    )
