"""Exporter health: are the sources polled, how old is their data, how long do polls take, what did llmpulse
ask the providers' APIs and what did they answer; the event endpoint and the alert relay."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx
from exporter.bundle.boards.common import UIDS, UP_TEXT, sources_up
from exporter.bundle.panels import (
    Panel,
    bargauge,
    even,
    range_text,
    stat,
    state_timeline,
    table,
    target,
    timeseries,
    value_text,
)
from exporter.bundle.promql import RANGE, DashboardQueries, or_zero, sum_by

# Self-metrics have no model or project labels: this board only filters by provider and source.
VARIABLES = ("provider", "source")
queries = DashboardQueries(VARIABLES)
BY_SOURCE = ("provider", "source")
#: A last-success timestamp of 0 ("never") makes the age about 1.7e9 s; show that as "never".
NEVER = 1e9


def age_steps(ctx: Ctx) -> list:
    return [("green", None), ("orange", ctx.stale_seconds / 2), ("red", ctx.stale_seconds)]


def oldest_data(ctx: Ctx) -> Panel:
    return stat(
        "Oldest data",
        "Age of the oldest source's last completely successful poll (time() - "
        f"{contract.SOURCE_LAST_SUCCESS.name}), among sources that have succeeded at least once (one that never "
        f"did shows in 'Sources up' and 'Data age'). Red from {ctx.stale_seconds:g} s (LLMPulseSourceStale).",
        "s",
        [target(f"max(time() - ({queries.sel(contract.SOURCE_LAST_SUCCESS)} > 0))", "oldest")],
        steps=age_steps(ctx),
        mappings=[range_text(NEVER, None, "never", "red")],
    )


#: The scrape's own series (Prometheus' up and scrape_duration_seconds) and the exporter process's (the Python
#: client's process collector), filtered by the job and instance variables like every other query.
SCRAPE = '{job=~"$job", instance=~"$instance"}'
SCRAPE_METRICS = frozenset(
    {"up", "scrape_duration_seconds", "process_resident_memory_bytes", "process_cpu_seconds_total"}
)


def scrape_up() -> Panel:
    return state_timeline(
        "Scrape up",
        "Prometheus' own up series for each exporter replica: 1 when the last scrape of /metrics succeeded "
        "(LLMPulseExporterDown fires after 5m of 0).",
        "none",
        [target(f"up{SCRAPE}", "{{instance}}")],
        mappings=value_text(UP_TEXT),
    )


def scrape_duration() -> Panel:
    return timeseries(
        "Scrape duration",
        "How long Prometheus took to scrape /metrics of each replica (scrape_duration_seconds). /metrics is served "
        "from cached bytes: a rise means the host or the network is struggling, or the series count grew.",
        "s",
        [target(f"scrape_duration_seconds{SCRAPE}", "{{instance}}")],
    )


def memory() -> Panel:
    return timeseries(
        "Memory (RSS)",
        "Resident memory of each exporter process (process_resident_memory_bytes, from the Python client's process "
        "collector). Steady growth with a steady series count is a leak.",
        "bytes",
        [target(f"process_resident_memory_bytes{SCRAPE}", "{{instance}}")],
    )


def cpu() -> Panel:
    return timeseries(
        "CPU",
        "CPU time each exporter process uses per second (rate of process_cpu_seconds_total): 1 = one full core.",
        "percentunit",
        [target(f"rate(process_cpu_seconds_total{SCRAPE}[$__rate_interval])", "{{instance}}")],
    )


def series_total() -> Panel:
    return stat(
        "Series from sources",
        "Series the polled sources contribute to /metrics (llmpulse_source_series): a cardinality guard.",
        "short",
        [target(f"sum({queries.sel(contract.SOURCE_SERIES)})", "series")],
        decimals=0,
        graph=True,
    )


def poll_errors_stat() -> Panel:
    return stat(
        "Failed polls in range",
        "Polls that failed in the selected range, all reasons (llmpulse_source_poll_errors_total).",
        "short",
        [target(or_zero(f"sum({queries.increase(contract.SOURCE_POLL_ERRORS, RANGE)})"), "failed polls", instant=True)],
        decimals=0,
        steps=[("green", None), ("orange", 1)],
    )


def version() -> Panel:
    return stat(
        "Exporter version",
        "Version of each running llmpulse exporter (llmpulse_build_info), and how many run it.",
        "short",
        [target(sum_by(("version",), queries.sel(contract.BUILD_INFO), agg="count"), "{{version}}")],
        decimals=0,
        text_mode="name",
    )


def up_timeline() -> Panel:
    return state_timeline(
        "Source up",
        "Whether each source's last poll succeeded, over time (llmpulse_source_up). While down, a source keeps "
        "serving its last good data.",
        "none",
        [target(sum_by(BY_SOURCE, queries.sel(contract.SOURCE_UP), agg="min"), "{{source}}")],
        mappings=value_text(UP_TEXT),
    )


def data_age(ctx: Ctx) -> Panel:
    return bargauge(
        "Data age",
        "Seconds since each source's last completely successful poll (time() - "
        f"{contract.SOURCE_LAST_SUCCESS.name}); 'never' = no success since start.",
        "s",
        [
            target(
                f"time() - {sum_by(BY_SOURCE, queries.sel(contract.SOURCE_LAST_SUCCESS), agg='max')}",
                "{{source}}",
                instant=True,
            )
        ],
        steps=age_steps(ctx),
        mappings=[range_text(NEVER, None, "never", "red")],
        minimum=0,
        maximum=ctx.stale_seconds,
    )


def poll_duration() -> Panel:
    return timeseries(
        "Poll duration",
        "Wall-clock duration of each source's last poll, all pages and retries included "
        "(llmpulse_source_poll_duration_seconds). It must stay well under the source's interval and timeout.",
        "s",
        [target(sum_by(BY_SOURCE, queries.sel(contract.SOURCE_POLL_DURATION), agg="max"), "{{source}}")],
    )


def api_calls_by_status() -> Panel:
    return timeseries(
        "Calls to provider APIs by status",
        "HTTP calls llmpulse made to the providers' APIs per second, by source and status code, retries "
        "included (llmpulse_source_api_requests_total); timeout/connection/tls when no status came back.",
        "reqps",
        [target(sum_by(("source", "code"), queries.rate(contract.SOURCE_API_REQUESTS)), "{{source}} {{code}}")],
        stack=True,
    )


def poll_errors_by_reason() -> Panel:
    return timeseries(
        "Failed polls by reason",
        "Failed polls per second by source and reason (llmpulse_source_poll_errors_total): http_4xx, http_5xx, "
        "rate_limited, timeout, connection, invalid_response, pagination. 'none' = no failure yet.",
        "cps",
        [
            target(
                or_zero(sum_by(("source", "reason"), queries.rate(contract.SOURCE_POLL_ERRORS)), reason="none"),
                "{{source}} {{reason}}",
            )
        ],
        stack=True,
    )


def revisions() -> Panel:
    return timeseries(
        "Downward revisions kept",
        "Times a provider revised a month-to-date total downwards and llmpulse kept the higher value instead of "
        "decreasing a counter, per second (llmpulse_source_revisions_total). 'none' = no revision yet.",
        "cps",
        [
            target(
                or_zero(sum_by(("source", "metric"), queries.rate(contract.SOURCE_REVISIONS)), metric="none"),
                "{{source}} {{metric}}",
            )
        ],
    )


def sources_table() -> Panel:
    return table(
        "Sources",
        "Every polled source: up or down, when it last succeeded, how long its last poll took and how many "
        "series it exports.",
        "short",
        [
            target(sum_by(BY_SOURCE, queries.sel(contract.SOURCE_UP), agg="min")),
            target(f"1000 * {sum_by(BY_SOURCE, queries.sel(contract.SOURCE_LAST_SUCCESS), agg='max')}"),
            target(sum_by(BY_SOURCE, queries.sel(contract.SOURCE_POLL_DURATION), agg="max")),
            target(sum_by(BY_SOURCE, queries.sel(contract.SOURCE_SERIES))),
        ],
        columns={
            "provider": "Provider",
            "source": "Source",
            "Value #A": "Up",
            "Value #B": "Last success",
            "Value #C": "Poll duration",
            "Value #D": "Series",
        },
        per_column={
            "Value #A": {"unit": "none", "mappings": value_text(UP_TEXT), "custom.cellOptions": {"type": "color-text"}},
            "Value #B": {"unit": "dateTimeFromNow"},
            "Value #C": {"unit": "s"},
            "Value #D": {"unit": "short", "decimals": 0},
        },
    )


def events_accepted() -> Panel:
    return timeseries(
        "Events accepted and refused",
        "Events accepted by POST /events per second by kind (llmpulse_events_received_total) and posts refused "
        "by reason (llmpulse_events_rejected_total: unauthorized, too_large, invalid_json, invalid_event, "
        "too_many_events). 'none' = nothing yet.",
        "cps",
        [
            target(
                or_zero(sum_by(("event",), queries.rate(contract.EVENTS_RECEIVED)), event="none"), "accepted {{event}}"
            ),
            target(
                or_zero(sum_by(("reason",), queries.rate(contract.EVENTS_REJECTED)), reason="none"),
                "refused {{reason}}",
            ),
        ],
    )


def relay() -> Panel:
    return timeseries(
        "Alert relay notifications",
        "Alertmanager notifications relayed to Feishu / DingTalk bots per second, by target and outcome "
        "(llmpulse_relay_notifications_total). 'none' = nothing relayed yet.",
        "cps",
        [
            target(
                or_zero(sum_by(("target", "outcome"), queries.rate(contract.RELAY_NOTIFICATIONS)), outcome="none"),
                "{{target}} {{outcome}}",
            )
        ],
    )


def json_missing() -> Panel:
    return timeseries(
        "http_json paths matching nothing",
        "Configured http_json metric paths that matched nothing in the answer, per second "
        "(llmpulse_http_json_missing_values_total): a field was renamed upstream. 'none' = all paths match.",
        "cps",
        [
            target(
                or_zero(sum_by(("source", "metric"), queries.rate(contract.HTTP_JSON_MISSING)), metric="none"),
                "{{source}} {{metric}}",
            )
        ],
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["health"],
        slug="health",
        title="llmpulse / Exporter health",
        summary="Is llmpulse itself healthy: which sources poll successfully, how fresh their data is, how long "
        "polls take, what the providers' APIs answered, and the event endpoint and alert relay.",
        tags=("llmpulse", "exporter"),
        time_from="now-6h",
        refresh="1m",
        variables=VARIABLES,
        rows=[
            even(5, [sources_up(queries), oldest_data(ctx), series_total(), poll_errors_stat(), version()]),
            even(6, [scrape_up(), scrape_duration(), memory(), cpu()]),
            even(8, [up_timeline(), data_age(ctx)]),
            even(8, [poll_duration(), api_calls_by_status()]),
            even(8, [poll_errors_by_reason(), revisions()]),
            (8, [(sources_table(), 24)]),
            even(8, [events_accepted(), relay(), json_missing()]),
        ],
    )
