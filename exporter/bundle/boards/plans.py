"""Subscription plans: what is left of each plan quota (MiniMax Token Plan, Zhipu GLM coding plan, Coze) and when
it resets, for a row of the Cost & budget board. Every replica of the exporter reports the same quota, so the
queries keep one value per quota (``max by`` its identifying labels) instead of adding replicas up."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Ctx
from exporter.bundle.panels import Panel, Row, table, target, timeseries
from exporter.bundle.promql import DashboardQueries, sum_by

queries = DashboardQueries()
QUOTA_BY = ("provider", "source", "quota", "window")


def quotas_table(ctx: Ctx) -> Panel:
    return table(
        "Plan quotas left",
        "Share of each subscription plan quota still unused in its current window, as the provider reports it "
        "(llmpulse_plan_quota_remaining_ratio), and the time until the window resets "
        f"(llmpulse_plan_quota_reset_timestamp_seconds). Red under {ctx.plan_quota_low_ratio:.0%} "
        "(LLMPlanQuotaLow).",
        "percentunit",
        [
            target(sum_by(QUOTA_BY, queries.sel(contract.PLAN_QUOTA_REMAINING_RATIO), agg="max")),
            target(f"{sum_by(QUOTA_BY, queries.sel(contract.PLAN_QUOTA_RESET), agg='max')} - time()"),
        ],
        columns={
            "provider": "Provider",
            "source": "Source",
            "quota": "Quota",
            "window": "Window",
            "Value #A": "Left",
            "Value #B": "Resets in",
        },
        per_column={
            "Value #A": {
                "unit": "percentunit",
                "decimals": 1,
                "custom.cellOptions": {"type": "color-text"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "red", "value": None}, {"color": "green", "value": ctx.plan_quota_low_ratio}],
                },
            },
            "Value #B": {"unit": "s", "decimals": 0},
        },
        sort_by="Left",
        descending=False,
    )


def quotas_over_time(ctx: Ctx) -> Panel:
    return timeseries(
        "Plan quota left over time",
        "Unused share of each plan quota window (llmpulse_plan_quota_remaining_ratio): a saw-tooth that drops as "
        "the plan is used and jumps back to 100 % at each reset. The red band is under the LLMPlanQuotaLow threshold.",
        "percentunit",
        [
            target(
                sum_by(QUOTA_BY, queries.sel(contract.PLAN_QUOTA_REMAINING_RATIO), agg="max"),
                "{{source}} {{quota}} {{window}}",
            )
        ],
        threshold_line=True,
        steps=[("red", None), ("transparent", ctx.plan_quota_low_ratio)],
    )


def row(ctx: Ctx) -> Row:
    return (8, [(quotas_table(ctx), 12), (quotas_over_time(ctx), 12)])
