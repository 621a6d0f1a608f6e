"""Cost & budget: reported cost by provider / project / line item, estimated cost by model, daily spend,
forecast against budget, estimated vs reported, prepaid balances and their runway, subscription plan quotas."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx, plans
from exporter.bundle.boards.common import (
    BALANCE_BY,
    BUDGET_TOTAL,
    UIDS,
    budget_steps,
    budget_target,
    burn_per_day,
    cost_mtd,
    forecast,
    runway_days,
    runway_mappings,
)
from exporter.bundle.panels import Panel, bargauge, even, gauge, stat, table, target, timeseries, value_text
from exporter.bundle.promql import RANGE, VARIABLES, DashboardQueries, or_zero, sum_by

queries = DashboardQueries()

# Sources that report cost AND have an estimate, so the two are compared like for like.
BOTH = ("provider", "source")


def reported_mtd(ctx: Ctx) -> Panel:
    return stat(
        "Reported cost, month to date",
        "Cost the providers' billing APIs report for the current UTC month (llmpulse_cost_usd_total; its value "
        "is the month-to-date total). Billing data arrives with the providers' delay (minutes to hours).",
        "currencyUSD",
        [target(cost_mtd(queries), "month to date")],
        decimals=2,
        steps=budget_steps(ctx),
    )


def forecast_stat(ctx: Ctx) -> Panel:
    return stat(
        "Month-end forecast",
        "Month-to-date cost / elapsed share of the UTC month: where the month ends if spending keeps this month's "
        f"average pace. Shown from day {ctx.forecast_min_elapsed / 86400:g} of the month on, like "
        "LLMBudgetForecastExceeded (earlier, one busy day would dominate it). Red over the budget.",
        "currencyUSD",
        [target(forecast(queries, ctx), "forecast")],
        decimals=2,
        steps=budget_steps(ctx),
    )


def budget_used(ctx: Ctx) -> Panel:
    if not ctx.monthly_budget_usd:
        return stat(
            "Budget used",
            "No monthly budget is configured (bundle.monthly_budget_usd); this shows the month-to-date cost.",
            "currencyUSD",
            [target(cost_mtd(queries), "month to date")],
            decimals=2,
        )
    budget = ctx.monthly_budget_usd
    return gauge(
        "Budget used",
        f"Month-to-date reported cost as a share of the monthly budget (${budget:,.0f}). Orange from "
        f"{ctx.budget_warning_ratio:.0%} (LLMBudgetBurnHigh), red from 100 % (LLMBudgetExceeded).",
        "percentunit",
        [target(f"{cost_mtd(queries)} / on () {BUDGET_TOTAL}", "budget used")],
        minimum=0,
        maximum=1,
        decimals=1,
        steps=[("green", None), ("orange", ctx.budget_warning_ratio), ("red", 1)],
    )


def estimated_in_range() -> Panel:
    return stat(
        "Estimated cost in range",
        "Cost llmpulse estimates from token counts and its price table, spent in the selected time range "
        "(llmpulse_cost_estimated_usd_total). Covers providers with no billing API too.",
        "currencyUSD",
        [target(f"sum({queries.increase(contract.COST_ESTIMATED_USD, RANGE)})", "estimated", instant=True)],
        decimals=2,
    )


def unpriced_tokens() -> Panel:
    return stat(
        "Unpriced tokens in range",
        "Tokens of models missing from the price table in the selected range (llmpulse_unpriced_tokens_total): "
        "they are NOT in the estimated cost. Add the model to the price table when this is not 0.",
        "short",
        [target(or_zero(f"sum({queries.increase(contract.UNPRICED_TOKENS, RANGE)})"), "unpriced", instant=True)],
        decimals=0,
        steps=[("green", None), ("orange", 1)],
    )


def cost_by_provider(ctx: Ctx) -> Panel:
    return bargauge(
        "Cost by provider, month to date",
        "Month-to-date reported cost per provider (llmpulse_cost_usd_total).",
        "currencyUSD",
        [target(cost_mtd(queries, ("provider",)), "{{provider}}", instant=True)],
        decimals=2,
        steps=budget_steps(ctx),
    )


def cost_by_project() -> Panel:
    return table(
        "Cost by project, month to date",
        "Month-to-date reported cost per project (OpenAI project / Anthropic workspace id). The name comes from "
        f"{contract.PROJECT_INFO.name} where the source has project_names: true.",
        "currencyUSD",
        [
            target(cost_mtd(queries, ("provider", "source", "project"))),
            target(
                sum_by(("provider", "source", "project", "project_name"), queries.sel(contract.PROJECT_INFO), agg="max")
            ),
        ],
        columns={
            "provider": "Provider",
            "source": "Source",
            "project": "Project",
            "project_name": "Name",
            "Value #A": "Cost",
        },
        per_column={"Value #A": {"unit": "currencyUSD", "decimals": 2}},
        sort_by="Cost",
    )


def cost_by_line_item() -> Panel:
    return bargauge(
        "Cost by line item, month to date",
        "Month-to-date reported cost per line item of the cost API (model and usage type as the provider names "
        "them; llmpulse_cost_usd_total line_item), top 15.",
        "currencyUSD",
        [
            target(
                f"topk(15, {cost_mtd(queries, ('provider', 'line_item'))})", "{{provider}} {{line_item}}", instant=True
            )
        ],
        decimals=2,
    )


def estimated_by_model() -> Panel:
    return bargauge(
        "Estimated cost by model in range",
        "Cost estimated from tokens and the price table per model in the selected range "
        "(llmpulse_cost_estimated_usd_total), top 15. The providers' cost APIs do not break cost down by model.",
        "currencyUSD",
        [
            target(
                f"topk(15, {sum_by(('model',), queries.increase(contract.COST_ESTIMATED_USD, RANGE))})",
                "{{model}}",
                instant=True,
            )
        ],
        decimals=2,
    )


def daily_spend() -> Panel:
    return timeseries(
        "Daily spend",
        "Reported spend per UTC day and provider: one bar per day (the query step is 1d, so Grafana evaluates at "
        f"00:00 UTC; each bar is the increase of {contract.COST_USD.name} over the UTC day that ends there, a "
        "deliberate exception to $__rate_interval). The month-start reset is handled as a counter reset.",
        "currencyUSD",
        [target(sum_by(("provider",), queries.increase(contract.COST_USD, "1d")), "{{provider}}", interval="1d")],
        bars=True,
        stack=True,
        legend_calcs=("lastNotNull", "max", "mean"),
    )


def forecast_vs_budget(ctx: Ctx) -> Panel:
    return timeseries(
        "Forecast vs budget",
        "Month-to-date reported cost, its linear month-end forecast and the monthly budget over time.",
        "currencyUSD",
        [
            target(cost_mtd(queries), "month to date"),
            target(forecast(queries, ctx), "month-end forecast"),
            *budget_target(ctx),
        ],
    )


#: Estimated cost compared with the reported one uses the filters both sides have: the reported cost has no model
#: label, so the $model filter would shrink only the estimate.
like_reported = DashboardQueries(tuple(v.name for v in VARIABLES if v.name != "model"))


def estimated_vs_reported() -> Panel:
    reported = cost_mtd(queries, BOTH)
    estimated = sum_by(BOTH, like_reported.sel(contract.COST_ESTIMATED_USD))
    return timeseries(
        "Estimated vs reported cost",
        "For sources with a billing API: the provider's month-to-date cost next to llmpulse's estimate from the "
        "same source's tokens (llmpulse_cost_estimated_usd_total, month to date for billing sources). A gap means "
        "a stale price table, unpriced models or line items without tokens (tools, storage).",
        "currencyUSD",
        [
            target(sum_by(("provider",), reported), "{{provider}} reported"),
            target(
                sum_by(("provider",), f"{estimated} and on ({', '.join(BOTH)}) {reported}"), "{{provider}} estimated"
            ),
        ],
    )


def estimate_drift() -> Panel:
    reported = cost_mtd(queries, BOTH)
    estimated = sum_by(BOTH, like_reported.sel(contract.COST_ESTIMATED_USD))
    return bargauge(
        "Estimate / reported",
        "llmpulse's estimated month-to-date cost divided by the reported one, per source with a billing API. "
        "100 % = the price table matches the bill.",
        "percentunit",
        [target(f"{estimated} / ({reported} > 0)", "{{source}}", instant=True)],
        decimals=1,
        minimum=0,
        maximum=1.5,
        steps=[("orange", None), ("green", 0.9), ("orange", 1.1)],
    )


def provider_budgets(ctx: Ctx) -> Panel:
    budgets = " or ".join(
        f'label_replace(vector({amount:g}), "provider", "{name}", "", "")' for name, amount in ctx.provider_budgets_usd
    )
    return bargauge(
        "Provider budgets used",
        "Month-to-date reported cost of each provider with a budget of its own (bundle.budget.provider_budgets_usd) "
        f"as a share of that budget. Orange from {ctx.budget_warning_ratio:.0%}, red from 100 %.",
        "percentunit",
        [target(f"{cost_mtd(queries, ('provider',))} / on (provider) ({budgets})", "{{provider}}", instant=True)],
        minimum=0,
        maximum=1,
        decimals=0,
        steps=[("green", None), ("orange", ctx.budget_warning_ratio), ("red", 1)],
    )


def balances_table(ctx: Ctx) -> Panel:
    return table(
        "Balances and runway",
        'Prepaid balance per source and currency as the provider reports it (llmpulse_balance kind="total"), in US '
        f"dollars where an exchange rate is configured, the burn per day over the last {ctx.burn_window}, the days "
        f"left at that burn (red under {ctx.runway_days:g} days, LLMBalanceRunwayShort) and whether the provider "
        "says the balance can pay for calls.",
        "short",
        [
            target(sum_by(BALANCE_BY, queries.sel(contract.BALANCE, kind="total"))),
            target(sum_by(BALANCE_BY, queries.sel(contract.BALANCE_USD, kind="total"))),
            target(burn_per_day(queries, ctx)),
            target(runway_days(queries, ctx)),
            target(sum_by(("provider", "source"), queries.sel(contract.BALANCE_AVAILABLE), agg="min")),
        ],
        columns={
            "provider": "Provider",
            "source": "Source",
            "currency": "Currency",
            "Value #A": "Balance",
            "Value #B": "In USD",
            "Value #C": "Burn per day",
            "Value #D": "Days left",
            "Value #E": "Available",
        },
        per_column={
            "Value #A": {"unit": "short", "decimals": 2},
            "Value #B": {"unit": "currencyUSD", "decimals": 2},
            "Value #C": {"unit": "short", "decimals": 2},
            "Value #D": {
                "unit": "none",
                "decimals": 1,
                "mappings": runway_mappings(),
                "custom.cellOptions": {"type": "color-text"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "red", "value": None}, {"color": "green", "value": ctx.runway_days}],
                },
            },
            "Value #E": {
                "unit": "none",
                "mappings": value_text({0: ("no", "red"), 1: ("yes", "green")}),
                "custom.cellOptions": {"type": "color-text"},
            },
        },
        sort_by="Days left",
        descending=False,
    )


def key_limits() -> Panel:
    by = ("provider", "source")
    return table(
        "API key spend and limits",
        "Spend of each API key as the provider reports it (llmpulse_key_usage_usd: today, this month) and the "
        "key's spending limit with what is left of it (llmpulse_key_limit_usd, llmpulse_key_limit_remaining_usd; "
        "OpenRouter). Empty limit = unlimited key.",
        "currencyUSD",
        [
            target(sum_by(by, queries.sel(contract.KEY_USAGE_USD, window="daily"))),
            target(sum_by(by, queries.sel(contract.KEY_USAGE_USD, window="monthly"))),
            target(sum_by(by, queries.sel(contract.KEY_LIMIT_USD))),
            target(sum_by(by, queries.sel(contract.KEY_LIMIT_REMAINING_USD))),
        ],
        columns={
            "provider": "Provider",
            "source": "Source",
            "Value #A": "Today",
            "Value #B": "This month",
            "Value #C": "Limit",
            "Value #D": "Left",
        },
        per_column={
            name: {"unit": "currencyUSD", "decimals": 2} for name in ("Value #A", "Value #B", "Value #C", "Value #D")
        },
    )


def native_balances() -> Panel:
    return bargauge(
        "Balance in the provider's currency",
        'Total prepaid balance as the provider reports it, in its own currency (llmpulse_balance kind="total"; '
        "DeepSeek, Moonshot and SiliconFlow report CNY). Moonshot can go negative (arrears).",
        "short",
        [
            target(
                sum_by(("source", "currency"), queries.sel(contract.BALANCE, kind="total")),
                "{{source}} ({{currency}})",
                instant=True,
            )
        ],
        decimals=2,
    )


def balance_over_time() -> Panel:
    return timeseries(
        "Balance over time",
        'Total prepaid balance per source in US dollars (llmpulse_balance_usd kind="total"): a falling line is '
        "spend, a jump up is a top-up.",
        "currencyUSD",
        [target(sum_by(("source",), queries.sel(contract.BALANCE_USD, kind="total")), "{{source}}")],
    )


def runway(ctx: Ctx) -> Panel:
    return bargauge(
        "Runway",
        f"Days until each balance reaches zero at its burn over the last {ctx.burn_window} "
        f"(llmpulse_balance / its decline per day, per currency). Red under {ctx.runway_days:g} days "
        "(LLMBalanceRunwayShort); 'not burning' when the balance did not fall.",
        "d",
        [target(runway_days(queries, ctx), "{{source}} {{currency}}", instant=True)],
        decimals=1,
        minimum=0,
        maximum=max(ctx.runway_days * 8, 30),
        mappings=runway_mappings(),
        steps=[("red", None), ("orange", ctx.runway_days), ("green", ctx.runway_days * 2)],
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["cost"],
        slug="cost",
        title="llmpulse / Cost & budget",
        summary="What the LLM APIs cost: reported and estimated cost, daily spend, the month-end forecast "
        "against the budget, prepaid balances and how many days they last. Times are UTC, like "
        "the billing months.",
        tags=("llmpulse", "cost"),
        time_from="now-30d",
        refresh="5m",
        timezone="utc",
        rows=[
            even(5, [reported_mtd(ctx), forecast_stat(ctx), budget_used(ctx), estimated_in_range(), unpriced_tokens()]),
            (8, [(cost_by_provider(ctx), 7), (cost_by_project(), 9), (cost_by_line_item(), 8)]),
            even(8, [daily_spend(), forecast_vs_budget(ctx)]),
            *([even(6, [provider_budgets(ctx)])] if ctx.provider_budgets_usd else []),
            (8, [(estimated_by_model(), 8), (estimated_vs_reported(), 10), (estimate_drift(), 6)]),
            (8, [(balances_table(ctx), 14), (runway(ctx), 10)]),
            even(8, [native_balances(), balance_over_time(), key_limits()]),
            plans.row(ctx),
        ],
    )
