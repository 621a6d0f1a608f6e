"""Traffic & sessions: calls, sessions, session length and distinct users per bot/app/channel, from the traffic
events posted to /events, plus an hourly heatmap and the probes' share of calls."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx
from exporter.bundle.boards.common import UIDS, ratio, ratio_steps
from exporter.bundle.panels import Panel, bargauge, even, heatmap, stat, target, timeseries
from exporter.bundle.promql import RANGE, DashboardQueries, sum_by

queries = DashboardQueries()

#: One heatmap cell per hour: increase over a fixed 1h window, evaluated every hour.
HOUR = "1h"


def calls_in_range() -> Panel:
    return stat(
        "Calls",
        "Calls reported to POST /events in the selected range (llmpulse_events_calls_total), all apps and channels.",
        "short",
        [target(f"sum({queries.increase(contract.EVENTS_CALLS, RANGE)})", "calls", instant=True)],
        decimals=0,
    )


def sessions_in_range() -> Panel:
    return stat(
        "Sessions started",
        "Sessions started in the selected range, as reported to POST /events (llmpulse_events_sessions_started_total).",
        "short",
        [target(f"sum({queries.increase(contract.EVENTS_SESSIONS, RANGE)})", "sessions", instant=True)],
        decimals=0,
    )


def users(window: str, title: str) -> Panel:
    return stat(
        title,
        f"Distinct user_id values over the last {'hour' if window == '1h' else 'day'}, all apps and channels "
        f"together ({contract.EVENTS_DISTINCT_USERS_ALL.name}: one HyperLogLog sketch fed by every event, about "
        "1.6 % error; a user of two apps counts once, where a sum of per-app estimates would count them twice).",
        "short",
        [target(f"sum({queries.sel(contract.EVENTS_DISTINCT_USERS_ALL, window=window)})", "users")],
        decimals=0,
    )


def median_session() -> Panel:
    return stat(
        "Median session length",
        "Median length of the sessions that ended in the selected range (llmpulse_events_session_duration_seconds, "
        "session_end minus session_start).",
        "s",
        [
            target(
                queries.quantile(0.5, contract.EVENTS_SESSION_DURATION, window=RANGE, func="increase"),
                "median",
                instant=True,
            )
        ],
    )


def failure_ratio(ctx: Ctx) -> Panel:
    errors = f"sum({queries.increase(contract.EVENTS_CALLS, RANGE, outcome='error')})"
    total = f"sum({queries.increase(contract.EVENTS_CALLS, RANGE)})"
    return stat(
        "Failed calls",
        "Share of the reported calls with status error in the selected range (llmpulse_events_calls_total).",
        "percentunit",
        [target(ratio(errors, total), "failed", instant=True)],
        decimals=2,
        steps=ratio_steps(ctx.error_ratio),
    )


def calls_by(label: str, title: str) -> Panel:
    return timeseries(
        title,
        f"Calls per second reported to POST /events per {label} (llmpulse_events_calls_total), stacked.",
        "reqps",
        [target(sum_by((label,), queries.rate(contract.EVENTS_CALLS)), f"{{{{{label}}}}}")],
        stack=True,
    )


def sessions_by_app() -> Panel:
    return timeseries(
        "Sessions started per hour by app",
        "Sessions started per app, as an hourly pace (rate of llmpulse_events_sessions_started_total x 3600).",
        "short",
        [target(f"3600 * {sum_by(('app',), queries.rate(contract.EVENTS_SESSIONS))}", "{{app}}")],
    )


def session_length() -> Panel:
    return timeseries(
        "Session length",
        "P50 and P95 length of the sessions that ended, per app (llmpulse_events_session_duration_seconds).",
        "s",
        [
            target(queries.quantile(0.5, contract.EVENTS_SESSION_DURATION, ("app",)), "{{app}} P50"),
            target(queries.quantile(0.95, contract.EVENTS_SESSION_DURATION, ("app",)), "{{app}} P95"),
        ],
    )


def users_by_app() -> Panel:
    by = ("app", "channel")
    return bargauge(
        "Distinct users by app and channel",
        "Estimated distinct users over the last day and the last hour per app and channel "
        "(llmpulse_events_distinct_users).",
        "short",
        [
            target(
                sum_by(by, queries.sel(contract.EVENTS_DISTINCT_USERS, window="1d"), agg="max"),
                "{{app}} {{channel}} (1 d)",
                instant=True,
            ),
            target(
                sum_by(by, queries.sel(contract.EVENTS_DISTINCT_USERS, window="1h"), agg="max"),
                "{{app}} {{channel}} (1 h)",
                instant=True,
            ),
        ],
        decimals=0,
    )


def hourly_heatmap() -> Panel:
    return heatmap(
        "Calls per hour by app",
        "Calls per app in each hour (increase of llmpulse_events_calls_total over a fixed 1h window, one cell "
        "per hour; a deliberate exception to $__rate_interval): daily rhythm and quiet hours at a glance.",
        "short",
        [target(sum_by(("app",), queries.increase(contract.EVENTS_CALLS, HOUR)), "{{app}}", interval=HOUR)],
        buckets=False,
    )


def calls_by_outcome() -> Panel:
    return timeseries(
        "All measured calls by provider and outcome",
        "Every LLM API call llmpulse measured, from probes and traffic events, per provider and outcome "
        "(llmpulse_api_calls_total).",
        "reqps",
        [target(sum_by(("provider", "outcome"), queries.rate(contract.API_CALLS)), "{{provider}} {{outcome}}")],
        stack=True,
    )


def event_tokens() -> Panel:
    return timeseries(
        "Tokens in traffic events",
        "Tokens per second reported in traffic events, per model and token_type (llmpulse_events_tokens_total).",
        "cps",
        [target(sum_by(("model", "token_type"), queries.rate(contract.EVENTS_TOKENS)), "{{model}} {{token_type}}")],
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["traffic"],
        slug="traffic",
        title="llmpulse / Traffic & sessions",
        summary="What the users of your bots and apps do, from the call records posted to llmpulse's /events "
        "endpoint: calls, sessions, session length and distinct users per bot/app and channel.",
        tags=("llmpulse", "traffic"),
        time_from="now-24h",
        refresh="1m",
        rows=[
            even(
                5,
                [
                    calls_in_range(),
                    sessions_in_range(),
                    users("1h", "Distinct users (1 h)"),
                    users("1d", "Distinct users (24 h)"),
                    median_session(),
                    failure_ratio(ctx),
                ],
            ),
            even(8, [calls_by("app", "Calls by app"), calls_by("channel", "Calls by channel")]),
            even(8, [sessions_by_app(), session_length(), users_by_app()]),
            even(9, [hourly_heatmap(), calls_by_outcome()]),
            (8, [(event_tokens(), 24)]),
        ],
    )
