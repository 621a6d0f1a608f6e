"""Latency & errors: the call-duration heatmap and percentiles, time to first token, errors by code, 429s,
slow calls, rate-limit headroom, connection phases, certificates and the providers' status pages."""

from __future__ import annotations

from exporter import contract
from exporter.bundle.boards import Board, Ctx
from exporter.bundle.boards.common import (
    COMPONENT_LEVELS,
    COMPONENT_TEXT,
    UIDS,
    code_ratio,
    error_ratio,
    one_hot_level,
    ratio_steps,
    slow_ratio,
)
from exporter.bundle.panels import (
    Panel,
    bargauge,
    even,
    heatmap,
    stat,
    state_timeline,
    table,
    target,
    timeseries,
    value_text,
)
from exporter.bundle.promql import RANGE, DashboardQueries, or_zero, sum_by

queries = DashboardQueries()


def band(red: float) -> dict:
    """Threshold steps drawn as a shaded band from ``red`` upwards."""
    return {"steps": [("transparent", None), ("red", red)], "threshold_line": True}


def tail_stat(ctx: Ctx) -> Panel:
    name = f"P{ctx.latency_quantile * 100:g}"
    return stat(
        f"{name} response time",
        f"{name} duration of whole calls (llmpulse_api_call_duration_seconds) over the rate window: the "
        f"percentile LLMAPIHighLatencyP99 watches. Red from its threshold ({ctx.latency_seconds:g} s).",
        "s",
        [target(queries.quantile(ctx.latency_quantile, contract.API_CALL_DURATION), name)],
        graph=True,
        steps=ratio_steps(ctx.latency_seconds),
    )


def error_ratio_stat(ctx: Ctx) -> Panel:
    return stat(
        "Error ratio",
        f"Share of failed calls over the rate window (llmpulse_api_calls_total). Red from {ctx.error_ratio:.0%} "
        "(LLMAPIHighErrorRate).",
        "percentunit",
        [target(error_ratio(queries), "errors")],
        graph=True,
        decimals=2,
        steps=ratio_steps(ctx.error_ratio),
    )


def rate_limited_stat(ctx: Ctx) -> Panel:
    return stat(
        "429 share",
        'Share of calls answered 429 Too Many Requests (llmpulse_error_code_counter_total code="429" / all '
        f"calls): the application needs backoff or a higher tier. Red from {ctx.rate_limited_ratio:.0%} "
        "(LLMAPIRateLimited).",
        "percentunit",
        [target(code_ratio(queries, "429"), "429")],
        graph=True,
        decimals=2,
        steps=ratio_steps(ctx.rate_limited_ratio),
    )


def slow_stat(ctx: Ctx) -> Panel:
    return stat(
        "Slow calls",
        f"Share of calls slower than {ctx.slow_call_seconds:g} s (from the duration histogram's "
        f"{ctx.slow_call_seconds:g} s bucket). Red from {ctx.slow_call_ratio:.0%} (LLMAPISlowCalls).",
        "percentunit",
        [target(slow_ratio(queries, ctx), "slow")],
        graph=True,
        decimals=2,
        steps=ratio_steps(ctx.slow_call_ratio),
    )


def auth_failures() -> Panel:
    return stat(
        "Auth failures in range",
        "Calls refused with 401 or 403 in the selected range (llmpulse_error_code_counter_total): a key is dead, "
        "revoked or lacks a permission (LLMAPIAuthFailure).",
        "short",
        [
            target(
                or_zero(f"sum({queries.increase(contract.ERROR_CODES, RANGE, code='=~401|403')})"),
                "401/403",
                instant=True,
            )
        ],
        decimals=0,
        steps=[("green", None), ("red", 1)],
    )


def probes_ok() -> Panel:
    success = queries.sel(contract.PROBE_SUCCESS)
    return stat(
        "Probes succeeding",
        "Share of probes whose last call succeeded (llmpulse_probe_success).",
        "percentunit",
        [target(f"sum({success}) / count({success})", "succeeding")],
        decimals=0,
        steps=[("red", None), ("orange", 0.5), ("green", 1)],
    )


def probes_table() -> Panel:
    by = ("provider", "source", "model")
    return table(
        "Probes",
        "Every probe: whether its last call succeeded (llmpulse_probe_success) and how long it took "
        "(llmpulse_probe_duration_seconds).",
        "s",
        [
            target(sum_by(by, queries.sel(contract.PROBE_SUCCESS), agg="min")),
            target(sum_by(by, queries.sel(contract.PROBE_DURATION), agg="max")),
        ],
        columns={
            "provider": "Provider",
            "source": "Probe",
            "model": "Model",
            "Value #A": "Last call",
            "Value #B": "Duration",
        },
        per_column={
            "Value #A": {
                "unit": "none",
                "mappings": value_text({0: ("failed", "red"), 1: ("ok", "green")}),
                "custom.cellOptions": {"type": "color-text"},
            },
            "Value #B": {"unit": "s"},
        },
    )


def duration_heatmap() -> Panel:
    return heatmap(
        "Response time heatmap",
        "Distribution of whole-call durations over time (llmpulse_api_call_duration_seconds buckets): each "
        "cell is the rate of calls that took up to that bucket's bound. Bands above 2 s are the tail the P99 "
        "alert watches.",
        "reqps",
        [target(sum_by(("le",), queries.rate(contract.API_CALL_DURATION, "_bucket")), "{{le}}")],
        y_unit="s",
    )


def percentiles(ctx: Ctx) -> Panel:
    return timeseries(
        "P50 / P95 / P99 response time",
        "Percentiles of whole-call duration across the selected providers and models "
        "(llmpulse_api_call_duration_seconds). The shaded band starts at the P99 alert threshold.",
        "s",
        [target(queries.quantile(p, contract.API_CALL_DURATION), f"P{round(p * 100)}") for p in (0.5, 0.95, 0.99)],
        **band(ctx.latency_seconds),
    )


def p99_by_model(ctx: Ctx) -> Panel:
    return timeseries(
        "P99 response time by provider and model",
        "99th percentile call duration per provider and model (llmpulse_api_call_duration_seconds).",
        "s",
        [target(queries.quantile(0.99, contract.API_CALL_DURATION, ("provider", "model")), "{{provider}} {{model}}")],
        **band(ctx.latency_seconds),
    )


def ttft() -> Panel:
    return timeseries(
        "Time to first token",
        "Time from sending a streaming request to its first content token, P50 and P95 per provider "
        "(llmpulse_time_to_first_token_seconds, streaming probes). High TTFT with normal total time = queueing.",
        "s",
        [
            target(queries.quantile(0.5, contract.TIME_TO_FIRST_TOKEN, ("provider",)), "{{provider}} P50"),
            target(queries.quantile(0.95, contract.TIME_TO_FIRST_TOKEN, ("provider",)), "{{provider}} P95"),
        ],
    )


def errors_by_code() -> Panel:
    return timeseries(
        "Errors by code",
        "Failed calls per second by code, stacked (llmpulse_error_code_counter_total): HTTP status, Coze body "
        "code, or timeout / connection / tls / invalid_response. 429 = rate limited, 401/403 = dead key, "
        "500/502/503/529 = provider trouble. 'none' = no error recorded yet.",
        "reqps",
        [target(or_zero(sum_by(("code",), queries.rate(contract.ERROR_CODES)), code="none"), "{{code}}")],
        stack=True,
        bars=False,
    )


def error_ratio_by_provider(ctx: Ctx) -> Panel:
    return timeseries(
        "Error ratio by provider and model",
        'Share of failed calls per provider and model (llmpulse_api_calls_total outcome="error" / all).',
        "percentunit",
        [target(error_ratio(queries, ("provider", "model")), "{{provider}} {{model}}")],
        **band(ctx.error_ratio),
    )


def rate_limited_by_provider() -> Panel:
    return timeseries(
        "429 share by provider",
        f'Share of calls answered 429 per provider ({contract.ERROR_CODES.name} code="429" / {contract.API_CALLS.name}).',
        "percentunit",
        [target(code_ratio(queries, "429", ("provider",)), "{{provider}}")],
    )


def slow_by_provider(ctx: Ctx) -> Panel:
    return timeseries(
        f"Slow-call share by provider (> {ctx.slow_call_seconds:g} s)",
        f"Share of calls slower than {ctx.slow_call_seconds:g} s per provider "
        "(llmpulse_api_call_duration_seconds buckets).",
        "percentunit",
        [target(slow_ratio(queries, ctx, ("provider",)), "{{provider}}")],
        **band(ctx.slow_call_ratio),
    )


def headroom(ctx: Ctx) -> Panel:
    remaining = queries.sel(contract.RATELIMIT_REMAINING)
    limit = queries.sel(contract.RATELIMIT_LIMIT)
    return bargauge(
        "Rate-limit headroom",
        f"Share of each rate limit left, from the last probe's response headers ({contract.RATELIMIT_REMAINING.name} / "
        f"{contract.RATELIMIT_LIMIT.name}) per provider, model and resource. Red under {ctx.ratelimit_headroom_ratio:.0%} "
        "(LLMRateLimitHeadroomLow). Probes see the whole key's limit, so this is the application's headroom too.",
        "percentunit",
        [
            target(
                sum_by(("provider", "model", "resource"), f"{remaining} / ({limit} > 0)", agg="min"),
                "{{provider}} {{model}} {{resource}}",
                instant=True,
            )
        ],
        minimum=0,
        maximum=1,
        decimals=0,
        steps=[("red", None), ("orange", ctx.ratelimit_headroom_ratio), ("green", ctx.ratelimit_headroom_ratio * 2)],
    )


def ratelimit_reset() -> Panel:
    return bargauge(
        "Rate-limit reset",
        "Seconds until each rate limit fully resets, from the last probe's response headers "
        "(llmpulse_ratelimit_reset_seconds).",
        "s",
        [
            target(
                sum_by(("provider", "resource"), queries.sel(contract.RATELIMIT_RESET), agg="max"),
                "{{provider}} {{resource}}",
                instant=True,
            )
        ],
    )


def phases() -> Panel:
    return timeseries(
        "Connection phases",
        "Duration of each phase of the last probe call, averaged over the selected probes "
        "(llmpulse_probe_phase_duration_seconds): dns, connect and tls growing = network or TLS trouble; "
        "first_byte growing = the model is slow.",
        "s",
        [target(sum_by(("phase",), queries.sel(contract.PROBE_PHASE), agg="avg"), "{{phase}}")],
        stack=True,
    )


def cert_expiry(ctx: Ctx) -> Panel:
    expiry = sum_by(("provider", "source"), queries.sel(contract.TLS_CERT_EXPIRY), agg="min")
    return bargauge(
        "Certificate expiry",
        "Days until the TLS certificate of each probed endpoint expires "
        f"(llmpulse_tls_cert_expiry_timestamp_seconds). Orange under {ctx.cert_warning_days:g} days, red under "
        f"{ctx.cert_critical_days:g} (LLMTLSCertExpiringSoon). Only https endpoints have one.",
        "d",
        [target(f"({expiry} - time()) / 86400", "{{source}}", instant=True)],
        decimals=0,
        minimum=0,
        maximum=365,
        steps=[("red", None), ("orange", ctx.cert_critical_days), ("green", ctx.cert_warning_days)],
    )


def components() -> Panel:
    return state_timeline(
        "Status page components",
        "Each component on the providers' status pages over time (llmpulse_status_component): operational, "
        "maintenance, degraded, partial or major outage. 'unknown' = the page could not be read, never an outage.",
        "none",
        [
            target(
                one_hot_level(
                    queries, contract.STATUS_COMPONENT, "status", COMPONENT_LEVELS, ("provider", "component")
                ),
                "{{provider}} {{component}}",
            )
        ],
        mappings=value_text(COMPONENT_TEXT),
    )


def incidents() -> Panel:
    open_ = sum_by(("provider",), queries.sel(contract.STATUS_INCIDENTS_OPEN))
    known = sum_by(("provider",), queries.sel(contract.STATUS_INDICATOR))
    return stat(
        "Open incidents",
        "Unresolved incidents on each provider's status page (llmpulse_status_incidents_open). While one is open, "
        "its provider's error and latency alerts may be muted (LLMProviderIncident inhibits them).",
        "short",
        [target(f"{open_} or {known} * 0", "{{provider}}")],
        decimals=0,
        text_mode="value_and_name",
        steps=[("green", None), ("orange", 1)],
    )


def build(ctx: Ctx) -> Board:
    return Board(
        uid=UIDS["latency"],
        slug="latency",
        title="llmpulse / Latency & errors",
        summary="How fast and how reliably the LLM APIs answer, measured by llmpulse's probes and the posted "
        "traffic events: latency distribution and percentiles, time to first token, errors by code, "
        "rate limits, connection phases, certificates and the providers' own status pages.",
        tags=("llmpulse", "latency", "errors"),
        time_from="now-6h",
        refresh="1m",
        rows=[
            even(
                5,
                [
                    tail_stat(ctx),
                    error_ratio_stat(ctx),
                    rate_limited_stat(ctx),
                    slow_stat(ctx),
                    auth_failures(),
                    probes_ok(),
                ],
            ),
            even(9, [duration_heatmap(), percentiles(ctx)]),
            even(8, [p99_by_model(ctx), ttft()]),
            even(8, [errors_by_code(), error_ratio_by_provider(ctx)]),
            even(8, [rate_limited_by_provider(), slow_by_provider(ctx)]),
            even(8, [headroom(ctx), ratelimit_reset(), phases()]),
            (8, [(cert_expiry(ctx), 6), (components(), 13), (incidents(), 5)]),
            (8, [(probes_table(), 24)]),
        ],
    )
