"""Usage: requests and tokens by model and project (from the providers' usage APIs), the share of input tokens
served from the prompt cache and what caching saved."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx
from exporter.bundle.boards.common import UIDS
from exporter.bundle.panels import Panel, bargauge, even, stat, target, timeseries
from exporter.bundle.promql import RANGE, DashboardQueries, or_zero, sum_by

queries = DashboardQueries()

#: input counts all input tokens (cached included) and output all output tokens; cached_input and
#: cache_write_input are parts of input, the audio types parts of input/output, so input + output is the total.
TOTAL_TYPES = "=~input|output"
#: Usage APIs report per bucket and lag; an hourly window turns the month-to-date steps into a readable pace.
PACE_WINDOW = "1h"


def cached_share(by: tuple[str, ...] = ()) -> str:
    cached = sum_by(by, queries.sel(contract.USAGE_TOKENS, token_type="cached_input"))
    total = sum_by(by, queries.sel(contract.USAGE_TOKENS, token_type="input"))
    return f"({cached} or {total} * 0) / ({total} > 0)"


def requests_mtd() -> Panel:
    return stat(
        "Requests, month to date",
        "Model requests the providers' usage APIs report for the current UTC month (llmpulse_usage_requests_total; "
        "its value is the month-to-date total).",
        "short",
        [target(f"sum({queries.sel(contract.USAGE_REQUESTS)})", "requests")],
        decimals=0,
    )


def tokens_mtd() -> Panel:
    return stat(
        "Tokens, month to date",
        "Input plus output tokens the usage APIs report for the current UTC month (llmpulse_usage_tokens_total; "
        "cached and audio tokens are parts of these).",
        "short",
        [target(f"sum({queries.sel(contract.USAGE_TOKENS, token_type=TOTAL_TYPES)})", "tokens")],
    )


def cached_share_stat() -> Panel:
    return stat(
        "Cached-token share",
        "Share of this month's input tokens read from the providers' prompt cache (token_type cached_input / "
        "input), billed at the cheaper cached price.",
        "percentunit",
        [target(cached_share(), "cached")],
        decimals=1,
    )


def savings_stat() -> Panel:
    return stat(
        "Saved by caching, month to date",
        "What prompt caching saved this month: cached input tokens times the difference between the input and "
        "the cached input price of the price table (llmpulse_cache_savings_estimated_usd_total).",
        "currencyUSD",
        [target(f"sum({queries.sel(contract.CACHE_SAVINGS_USD)})", "saved")],
        decimals=2,
    )


def probe_tokens() -> Panel:
    return stat(
        "Tokens spent by probes in range",
        "Tokens llmpulse's own probes spent in the selected range (llmpulse_probe_tokens_total): what the "
        "latency and error monitoring costs.",
        "short",
        [target(f"sum({queries.increase(contract.PROBE_TOKENS, RANGE)})", "probe tokens", instant=True)],
        decimals=0,
    )


def requests_by_model() -> Panel:
    return bargauge(
        "Requests by model, month to date",
        "Month-to-date model requests per model (llmpulse_usage_requests_total), top 15.",
        "short",
        [target(f"topk(15, {sum_by(('model',), queries.sel(contract.USAGE_REQUESTS))})", "{{model}}", instant=True)],
        decimals=0,
    )


def requests_by_project() -> Panel:
    return bargauge(
        "Requests by project, month to date",
        "Month-to-date model requests per project (OpenAI project / Anthropic workspace id), top 15.",
        "short",
        [
            target(
                f"topk(15, {sum_by(('provider', 'project'), queries.sel(contract.USAGE_REQUESTS))})",
                "{{provider}} {{project}}",
                instant=True,
            )
        ],
        decimals=0,
    )


def tokens_by_model() -> Panel:
    return bargauge(
        "Tokens by model, month to date",
        "Month-to-date input plus output tokens per model (llmpulse_usage_tokens_total), top 15.",
        "short",
        [
            target(
                f"topk(15, {sum_by(('model',), queries.sel(contract.USAGE_TOKENS, token_type=TOTAL_TYPES))})",
                "{{model}}",
                instant=True,
            )
        ],
    )


def tokens_by_type() -> Panel:
    return bargauge(
        "Tokens by type, month to date",
        "Month-to-date tokens per token_type: input (all input, cached included), cached_input, "
        "cache_write_input, output and the audio types (llmpulse_usage_tokens_total).",
        "short",
        [target(sum_by(("token_type",), queries.sel(contract.USAGE_TOKENS)), "{{token_type}}", instant=True)],
    )


def requests_pace() -> Panel:
    return timeseries(
        "Requests per hour by model",
        "Model requests reported in the preceding hour at each point (increase of llmpulse_usage_requests_total "
        "over a fixed 1h window, a deliberate exception to $__rate_interval: the usage APIs report in buckets "
        "and late, so shorter windows show poll steps, not traffic).",
        "short",
        [
            target(
                sum_by(("model",), queries.increase(contract.USAGE_REQUESTS, PACE_WINDOW)), "{{model}}", interval="5m"
            )
        ],
        stack=True,
    )


def tokens_pace() -> Panel:
    return timeseries(
        "Tokens per hour by type",
        "Tokens reported in the preceding hour at each point, per token_type (increase of "
        f"{contract.USAGE_TOKENS.name} over a fixed 1h window, see Requests per hour).",
        "short",
        [
            target(
                sum_by(("token_type",), queries.increase(contract.USAGE_TOKENS, PACE_WINDOW)),
                "{{token_type}}",
                interval="5m",
            )
        ],
    )


def cached_share_by_model() -> Panel:
    return timeseries(
        "Cached-token share by model",
        "Month-to-date share of input tokens served from the prompt cache, per model (cached_input / input). "
        "A drop after a prompt change means the cacheable prefix changed.",
        "percentunit",
        [target(cached_share(("model",)), "{{model}}")],
        soft_max=1,
    )


def savings_by_model() -> Panel:
    return bargauge(
        "Saved by caching by model, month to date",
        "Month-to-date savings from prompt caching per model, estimated with the price table "
        "(llmpulse_cache_savings_estimated_usd_total), top 15.",
        "currencyUSD",
        [target(f"topk(15, {sum_by(('model',), queries.sel(contract.CACHE_SAVINGS_USD))})", "{{model}}", instant=True)],
        decimals=2,
    )


def tokens_by_project() -> Panel:
    return bargauge(
        "Tokens by project, month to date",
        "Month-to-date input plus output tokens per project, top 15 (llmpulse_usage_tokens_total).",
        "short",
        [
            target(
                f"topk(15, {sum_by(('provider', 'project'), queries.sel(contract.USAGE_TOKENS, token_type=TOTAL_TYPES))})",
                "{{provider}} {{project}}",
                instant=True,
            )
        ],
    )


def other_units() -> Panel:
    return bargauge(
        "Non-token usage, month to date",
        "Usage the APIs count in other units: images, audio characters and seconds, server tool requests "
        "(llmpulse_usage_units_total by unit). 'none' = no such usage this month.",
        "short",
        [target(or_zero(sum_by(("unit",), queries.sel(contract.USAGE_UNITS)), unit="none"), "{{unit}}", instant=True)],
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["usage"],
        slug="usage",
        title="llmpulse / Usage",
        summary="What the LLM APIs were used for, as the providers' usage APIs report it: requests and tokens by "
        "model and project, prompt-cache share and savings. Month-to-date values; times are UTC.",
        tags=("llmpulse", "usage"),
        time_from="now-7d",
        refresh="5m",
        timezone="utc",
        rows=[
            even(5, [requests_mtd(), tokens_mtd(), cached_share_stat(), savings_stat(), probe_tokens()]),
            even(8, [requests_by_model(), requests_by_project(), tokens_by_model()]),
            even(8, [requests_pace(), tokens_pace()]),
            even(8, [cached_share_by_model(), savings_by_model(), tokens_by_type()]),
            even(8, [tokens_by_project(), other_units()]),
        ],
    )
