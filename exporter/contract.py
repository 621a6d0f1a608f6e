"""The metric contract: every metric family llmpulse exports, in one place.

Names, types, HELP texts, label sets and histogram buckets are spelled here and nowhere else. The collectors
(providers, probes, ingest), the exposition renderer, the dashboard and rule generators and the tests import
these objects, so a rename is one edit and a dashboard can never reference a metric that does not exist.

Conventions (Prometheus "Writing exporters"): base units in the name, ``_total`` only on counters, no timestamps
on samples, no date labels, bounded label values. Every series carries ``provider`` and ``source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]

NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels Prometheus reserves or that the exposition format gives a meaning of its own.
RESERVED_LABELS = frozenset({"le", "quantile", "__name__", "job", "instance"})

BASE_LABELS: tuple[str, ...] = ("provider", "source")


@dataclass(frozen=True)
class Family:
    """One metric family: its exposition name, type, HELP text and label names.

    ``labels`` must be present on every series; ``optional_labels`` may be (opt-in breakdowns such as ``api_key``
    and ``user``). Static labels configured on a source are added on top and checked against both at config time.
    """

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    optional_labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    # The Grafana unit of panels that show this family, and the group of the reference tables.
    grafana_unit: str = "short"
    group: str = "core"

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"{self.type} {self.name} must not end in _total")
        if self.type == "histogram" and not self.buckets:
            raise ValueError(f"histogram {self.name} needs buckets")
        for label in (*self.labels, *self.optional_labels):
            if not LABEL_RE.match(label) or label in RESERVED_LABELS:
                raise ValueError(f"invalid label {label!r} on {self.name}")

    def __hash__(self) -> int:
        # Families key every per-series dict (poll sums, the month-to-date guard, rendering), so this runs once per
        # series and poll: hash the name (equal families have equal names) instead of a tuple of every field.
        return hash(self.name)

    @property
    def all_labels(self) -> frozenset[str]:
        return frozenset(self.labels) | frozenset(self.optional_labels)

    @property
    def series_names(self) -> tuple[str, ...]:
        """Sample names this family produces in the exposition (histograms have three)."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


FAMILIES: dict[str, Family] = {}


def _family(
    name: str,
    type_: MetricType,
    help_: str,
    labels: tuple[str, ...] = (),
    *,
    optional: tuple[str, ...] = (),
    buckets: tuple[float, ...] = (),
    grafana_unit: str = "short",
    group: str = "core",
    base: bool = True,
) -> Family:
    fam = Family(
        name=name,
        type=type_,
        help=help_,
        labels=(*BASE_LABELS, *labels) if base else labels,
        optional_labels=optional,
        buckets=buckets,
        grafana_unit=grafana_unit,
        group=group,
    )
    if name in FAMILIES:
        raise ValueError(f"duplicate metric family {name}")
    FAMILIES[name] = fam
    return fam


MTD = (
    "Month-to-date total for the current UTC calendar month, recomputed from the provider's own data on every "
    "poll (resets at 00:00 UTC on the 1st; never decreases within a month)."
)

# Breakdowns a usage source can opt into with group_by (cardinality: off by default).
OPTIONAL_USAGE_LABELS = ("api_key", "user")

# --- usage and cost from provider billing APIs ------------------------------------------------------------------------
USAGE_REQUESTS = _family(
    "llmpulse_usage_requests_total",
    "counter",
    "Model requests reported by the provider's usage API (OpenAI num_model_requests). " + MTD,
    ("project", "model"),
    optional=OPTIONAL_USAGE_LABELS,
    group="usage",
)
USAGE_TOKENS = _family(
    "llmpulse_usage_tokens_total",
    "counter",
    "Tokens reported by the provider's usage API by token_type (input counts all input tokens, cached included; "
    "cached_input, cache_write_input, output, input_audio, output_audio). " + MTD,
    ("project", "model", "token_type"),
    optional=OPTIONAL_USAGE_LABELS,
    group="usage",
)
USAGE_UNITS = _family(
    "llmpulse_usage_units_total",
    "counter",
    "Non-token usage reported by the provider's usage API: images, audio characters, audio seconds and "
    "server tool requests, by unit. " + MTD,
    ("project", "model", "unit"),
    optional=OPTIONAL_USAGE_LABELS,
    group="usage",
)
COST_USD = _family(
    "llmpulse_cost_usd_total",
    "counter",
    "Cost reported by the provider's cost API, in US dollars (Anthropic cents converted). " + MTD,
    ("project", "line_item"),
    optional=("api_key",),
    grafana_unit="currencyUSD",
    group="cost",
)
PROJECT_INFO = _family(
    "llmpulse_project_info",
    "gauge",
    "Human-readable name of a project (OpenAI project / Anthropic workspace); value is always 1. Opt-in with "
    "project_names: true so names never ride on every series.",
    ("project", "project_name"),
    group="usage",
)

# --- estimated cost from a price table --------------------------------------------------------------------------------
COST_ESTIMATED_USD = _family(
    "llmpulse_cost_estimated_usd_total",
    "counter",
    "Cost estimated by llmpulse from token counts and its price table, in US dollars. Follows the semantics of "
    "the tokens it is computed from (month-to-date for billing sources, since start for events).",
    ("project", "model"),
    grafana_unit="currencyUSD",
    group="cost",
)
CACHE_SAVINGS_USD = _family(
    "llmpulse_cache_savings_estimated_usd_total",
    "counter",
    "What prompt caching saved, estimated by llmpulse from the price table: cached_input tokens times (input "
    "price - cached input price), in US dollars. Same semantics as llmpulse_cost_estimated_usd_total.",
    ("project", "model"),
    grafana_unit="currencyUSD",
    group="cost",
)
UNPRICED_TOKENS = _family(
    "llmpulse_unpriced_tokens_total",
    "counter",
    "Tokens of models with no entry in the price table: not counted as $0 in the estimated cost.",
    ("model", "token_type"),
    group="cost",
)

# --- self-metrics of the poller ---------------------------------------------------------------------------------------
SOURCE_UP = _family(
    "llmpulse_source_up",
    "gauge",
    "1 if the last poll of this source succeeded completely, 0 if it failed (its last good data is still served).",
    group="self",
)
SOURCE_LAST_SUCCESS = _family(
    "llmpulse_source_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last completely successful poll of this source (0 if none yet).",
    grafana_unit="dateTimeFromNow",
    group="self",
)
SOURCE_POLL_DURATION = _family(
    "llmpulse_source_poll_duration_seconds",
    "gauge",
    "Wall-clock duration of the last poll of this source, all pages and retries included.",
    grafana_unit="s",
    group="self",
)
SOURCE_API_REQUESTS = _family(
    "llmpulse_source_api_requests_total",
    "counter",
    "HTTP calls llmpulse made to the provider's API for this source, by HTTP status code (or timeout, "
    "connection, tls when no status was received); retries are counted.",
    ("code",),
    group="self",
)
SOURCE_POLL_ERRORS = _family(
    "llmpulse_source_poll_errors_total",
    "counter",
    "Failed polls of this source by reason (http_4xx, http_5xx, rate_limited, timeout, connection, tls, "
    "invalid_response, pagination, blocked = a CDN/bot challenge instead of the API, endpoint_retired = HTTP 410, "
    "internal: an unexpected error inside llmpulse).",
    ("reason",),
    group="self",
)
SOURCE_REVISIONS = _family(
    "llmpulse_source_revisions_total",
    "counter",
    "Downward revisions of a month-to-date total by the provider: llmpulse kept the higher value instead of "
    "decreasing a counter; counted per metric family.",
    ("metric",),
    group="self",
)
SOURCE_SERIES = _family(
    "llmpulse_source_series",
    "gauge",
    "Series this source contributes to the exposition in its current snapshot (a cardinality guard).",
    group="self",
)
LABEL_VALUES_REPAIRED = _family(
    "llmpulse_label_values_repaired_total",
    "counter",
    "Label values from this source's provider answers (project names, models, line items, status components, "
    "http_json labels) that were not valid Unicode, e.g. half an emoji, and were exported with U+FFFD "
    "replacement characters instead; counted per poll.",
    group="self",
)
SERIES_FOLDED = _family(
    "llmpulse_series_folded_total",
    "counter",
    "Samples of this source that would have created a series beyond its series budget (per family or per source, "
    "see max_series_per_family and max_series) and were added to the family's 'other' series instead: for "
    "/events one per event, for a polled source one per folded series and poll.",
    ("metric",),
    group="self",
)
EXPOSITION_RENDER_FAILURES = _family(
    "llmpulse_exposition_render_failures_total",
    "counter",
    "Times a metric family could not be rendered and was left out of /metrics while the rest was served (a bug "
    "in llmpulse: the log has the details).",
    ("metric",),
    base=False,
    group="self",
)
BUILD_INFO = _family(
    "llmpulse_build_info",
    "gauge",
    "Build information of the running llmpulse; value is always 1.",
    ("version",),
    base=False,
    group="self",
)

# --- active probes ----------------------------------------------------------------------------------------------------
# Buckets resolve the 800-1200 ms band finely, and 2 s (P99 alert), 5 s and 10 s (slow-call threshold) exactly.
CALL_DURATION_BUCKETS = (0.1, 0.25, 0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

API_CALL_DURATION = _family(
    "llmpulse_api_call_duration_seconds",
    "histogram",
    "Duration of whole LLM API calls, from llmpulse's active probes or from traffic events posted to /events.",
    ("model",),
    buckets=CALL_DURATION_BUCKETS,
    grafana_unit="s",
    group="probe",
)
TIME_TO_FIRST_TOKEN = _family(
    "llmpulse_time_to_first_token_seconds",
    "histogram",
    "Time from sending a streaming request to receiving its first content token (streaming probes).",
    ("model",),
    buckets=TTFT_BUCKETS,
    grafana_unit="s",
    group="probe",
)
ERROR_CODES = _family(
    "llmpulse_error_code_counter_total",
    "counter",
    "Failed LLM API calls by code (HTTP status, Coze body code, or timeout/connection/tls/invalid_response) and "
    "the provider's error type from the body (empty if none); from probes and traffic events.",
    ("model", "code", "error_type"),
    group="probe",
)
API_CALLS = _family(
    "llmpulse_api_calls_total",
    "counter",
    "LLM API calls by outcome (success or error), from probes and traffic events; error ratio = error calls / all "
    "calls.",
    ("model", "outcome"),
    group="probe",
)
PROBE_SUCCESS = _family(
    "llmpulse_probe_success",
    "gauge",
    "1 if the last probe call succeeded, 0 if it failed.",
    ("model",),
    group="probe",
)
PROBE_DURATION = _family(
    "llmpulse_probe_duration_seconds",
    "gauge",
    "Duration of the last probe call.",
    ("model",),
    grafana_unit="s",
    group="probe",
)
PROBE_TOKENS = _family(
    "llmpulse_probe_tokens_total",
    "counter",
    "Tokens spent by llmpulse's own probes, by token_type (input, output), as reported in the responses.",
    ("model", "token_type"),
    group="probe",
)
RATELIMIT_LIMIT = _family(
    "llmpulse_ratelimit_limit",
    "gauge",
    "Rate limit reported in the last probe's response headers, by resource (requests, tokens, input_tokens, "
    "output_tokens).",
    ("model", "resource"),
    group="probe",
)
RATELIMIT_REMAINING = _family(
    "llmpulse_ratelimit_remaining",
    "gauge",
    "Remaining requests/tokens before the rate limit, from the last probe's response headers.",
    ("model", "resource"),
    group="probe",
)
RATELIMIT_RESET = _family(
    "llmpulse_ratelimit_reset_seconds",
    "gauge",
    "Seconds until the rate limit fully resets, from the last probe's response headers (OpenAI durations and "
    "Anthropic RFC 3339 timestamps both converted).",
    ("model", "resource"),
    grafana_unit="s",
    group="probe",
)
PROBE_PHASE = _family(
    "llmpulse_probe_phase_duration_seconds",
    "gauge",
    "Duration of each connection phase of the last probe (dns, connect, tls, first_byte, transfer), to tell a "
    "network or TLS problem from a slow model.",
    ("model", "phase"),
    grafana_unit="s",
    group="probe",
)
TLS_CERT_EXPIRY = _family(
    "llmpulse_tls_cert_expiry_timestamp_seconds",
    "gauge",
    "Unix time at which the TLS certificate presented by the probed endpoint expires.",
    grafana_unit="dateTimeAsIso",
    group="probe",
)

# --- balances ---------------------------------------------------------------------------------------------------------
BALANCE = _family(
    "llmpulse_balance",
    "gauge",
    "Prepaid balance reported by the provider, in the currency of the currency label. Kind total is what can be "
    "spent; other kinds (granted, topped_up, cash, voucher, purchased, used...) are its parts as the provider "
    "reports them. Moonshot cash can be negative (arrears).",
    ("currency", "kind"),
    group="balance",
)
BALANCE_USD = _family(
    "llmpulse_balance_usd",
    "gauge",
    "llmpulse_balance converted to US dollars with the exchange rate configured for the source.",
    ("currency", "kind"),
    grafana_unit="currencyUSD",
    group="balance",
)
BALANCE_AVAILABLE = _family(
    "llmpulse_balance_available",
    "gauge",
    "1 if the provider says the balance can pay for API calls (DeepSeek is_available; others: total > 0).",
    group="balance",
)
KEY_LIMIT_USD = _family(
    "llmpulse_key_limit_usd",
    "gauge",
    "Spending limit of the API key (OpenRouter /key limit), in US dollars; absent when unlimited.",
    grafana_unit="currencyUSD",
    group="balance",
)
KEY_LIMIT_REMAINING_USD = _family(
    "llmpulse_key_limit_remaining_usd",
    "gauge",
    "Remaining spend under the API key's limit (OpenRouter limit_remaining), in US dollars; absent when unlimited.",
    grafana_unit="currencyUSD",
    group="balance",
)
KEY_USAGE_USD = _family(
    "llmpulse_key_usage_usd",
    "gauge",
    "Spend of the API key as the provider reports it, by window (total, daily, weekly, monthly), in US dollars.",
    ("window",),
    grafana_unit="currencyUSD",
    group="balance",
)

# --- subscription plans: quotas that reset (MiniMax Token Plan, Zhipu GLM coding plan, Coze benefits) -----------------
PLAN_QUOTA_REMAINING_RATIO = _family(
    "llmpulse_plan_quota_remaining_ratio",
    "gauge",
    "Share (0-1) of a subscription plan's quota still unused in its current window, as the provider reports it "
    "(MiniMax Token Plan remaining percent, Zhipu GLM coding plan 100 - percentage, Coze call_tool_limit). quota "
    "names what is limited (a model, tokens, time, call_tool); window its period (interval, 5h, weekly, monthly, "
    "plan).",
    ("quota", "window"),
    grafana_unit="percentunit",
    group="plan",
)
PLAN_QUOTA_RESET = _family(
    "llmpulse_plan_quota_reset_timestamp_seconds",
    "gauge",
    "Unix time at which this plan quota window resets (the provider's end or next-reset time).",
    ("quota", "window"),
    grafana_unit="dateTimeFromNow",
    group="plan",
)
PLAN_INFO = _family(
    "llmpulse_plan_info",
    "gauge",
    "The account's plan or type as the provider names it (Coze user_level, Zhipu level, StepFun prepaid or "
    "postpaid); value is always 1.",
    ("plan",),
    group="plan",
)
PLAN_API_QPS_LIMIT = _family(
    "llmpulse_plan_api_qps_limit",
    "gauge",
    "API requests per second the plan allows now (Coze effective api_run_qps), by API resource (chat, workflow, "
    "plugin).",
    ("resource",),
    group="plan",
)

# --- status pages -----------------------------------------------------------------------------------------------------
STATUS_COMPONENT = _family(
    "llmpulse_status_component",
    "gauge",
    "One-hot status of a component on the provider's status page (operational, degraded_performance, "
    "partial_outage, major_outage, under_maintenance, unknown). unknown = the page could not be read.",
    ("component", "status"),
    group="status",
)
STATUS_INDICATOR = _family(
    "llmpulse_status_indicator",
    "gauge",
    "One-hot overall indicator of the provider's status page (none, minor, major, critical, maintenance, "
    "unknown). unknown = the page could not be read or parsed, never an outage.",
    ("indicator",),
    group="status",
)
STATUS_INCIDENTS_OPEN = _family(
    "llmpulse_status_incidents_open",
    "gauge",
    "Unresolved incidents on the provider's status page by impact (none, minor, major, critical).",
    ("impact",),
    group="status",
)

# --- traffic events ---------------------------------------------------------------------------------------------------
EVENTS_CALLS = _family(
    "llmpulse_events_calls_total",
    "counter",
    "Calls reported to POST /events by app (bot, workflow or app id), channel and outcome, since start.",
    ("app", "channel", "outcome"),
    group="events",
)
EVENTS_SESSIONS = _family(
    "llmpulse_events_sessions_started_total",
    "counter",
    "Sessions started, as reported to POST /events, since start.",
    ("app", "channel"),
    group="events",
)
EVENTS_SESSION_DURATION = _family(
    "llmpulse_events_session_duration_seconds",
    "histogram",
    "Length of sessions reported to POST /events: the session_end's duration_ms when sent, else its time minus "
    "the matching session_start's.",
    ("app", "channel"),
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
    grafana_unit="s",
    group="events",
)
EVENTS_DISTINCT_USERS = _family(
    "llmpulse_events_distinct_users",
    "gauge",
    "Estimated distinct user_id values over a sliding window (1h, 1d), from a HyperLogLog sketch per window "
    "slot (standard error about 1.6 %).",
    ("app", "channel", "window"),
    group="events",
)
EVENTS_DISTINCT_USERS_ALL = _family(
    "llmpulse_events_distinct_users_all_apps",
    "gauge",
    "Estimated distinct user_id values over all apps and channels together, over a sliding window (1h, 1d): one "
    "HyperLogLog sketch fed by every event, so a user of two apps counts once. Read this for a total: a sum of "
    "llmpulse_events_distinct_users over apps counts such a user twice.",
    ("window",),
    group="events",
)
EVENTS_TOKENS = _family(
    "llmpulse_events_tokens_total",
    "counter",
    "Tokens reported in traffic events by model and token_type (input, output), since start.",
    ("model", "token_type"),
    group="events",
)
EVENTS_RECEIVED = _family(
    "llmpulse_events_received_total",
    "counter",
    "Events accepted by POST /events, by event kind (call, session_start, session_end).",
    ("event",),
    group="events",
)
EVENTS_REJECTED = _family(
    "llmpulse_events_rejected_total",
    "counter",
    "Posts refused by POST /events, by reason (unauthorized, too_large, invalid_json, invalid_event, too_many_events).",
    ("reason",),
    group="events",
)

# --- generic http_json sources: families come from the config; this one reports the mapping health --------------------
HTTP_JSON_MISSING = _family(
    "llmpulse_http_json_missing_values_total",
    "counter",
    "Polls in which a configured http_json metric could not be mapped completely: its path or a label path was "
    "missing from the answer (a renamed field upstream), a value was not a number, or its labels were unusable "
    "(a date, duplicates). The source's other values are still served.",
    ("metric",),
    group="self",
)

# --- alert relay ------------------------------------------------------------------------------------------------------
RELAY_NOTIFICATIONS = _family(
    "llmpulse_relay_notifications_total",
    "counter",
    "Alertmanager webhook notifications relayed to chat bots (feishu, dingtalk) by outcome.",
    ("target", "outcome"),
    base=False,
    group="self",
)


def get(name: str) -> Family:
    """Look up a family by exposition name (``llmpulse_x_total``)."""
    return FAMILIES[name]


def exposition_names() -> frozenset[str]:
    """Every sample name that can appear in the exposition (histogram suffixes included)."""
    return frozenset(n for fam in FAMILIES.values() for n in fam.series_names)


@dataclass(frozen=True)
class CustomFamily(Family):
    """A family defined at run time by an http_json source's config (json_exporter style)."""

    origin: str = field(default="config")


GROUP_TITLES = {
    "usage": "Usage (billing APIs)",
    "cost": "Cost",
    "probe": "Probes and traffic: latency, errors, rate limits",
    "balance": "Balances and key limits",
    "plan": "Subscription plans and their quotas",
    "status": "Status pages",
    "events": "Traffic events (POST /events)",
    "self": "Exporter self-metrics",
}


def markdown_reference() -> str:
    """The metric list of docs/metrics.md, generated from this module (a test keeps the doc equal to it)."""
    out: list[str] = []
    for group, title in GROUP_TITLES.items():
        out.append(f"### {title}\n\n| metric | type | labels | meaning |\n|---|---|---|---|")
        for fam in FAMILIES.values():
            if fam.group != group:
                continue
            labels = ", ".join(fam.labels) or "(none)"
            if fam.optional_labels:
                labels += " (+ opt-in " + ", ".join(fam.optional_labels) + ")"
            out.append(f"| `{fam.name}` | {fam.type} | {labels} | {fam.help.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --- replicas -------------------------------------------------------------------------------------------------------
#: Labels that tell replicas of the exporter apart (Prometheus' instance, Kubernetes' pod).
REPLICA_LABELS: tuple[str, ...] = ("instance", "pod")
#: Groups whose families mirror a provider's own data: month-to-date usage and cost (and what the price table
#: derives from them), balances and key limits, status pages. Every replica reports them identically.
_REPLICA_IDENTICAL_GROUPS = frozenset({"usage", "cost", "balance", "status"})
#: Probe families that mirror the provider too: rate-limit headers and the certificate it presents.
_REPLICA_IDENTICAL_PROBE = frozenset({RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET, TLS_CERT_EXPIRY})


def identical_across_replicas(family: Family) -> bool:
    """True if every exporter replica reports this family identically, so aggregations deduplicate it first
    (``max without (instance, pod)``); False if each replica produces its own share (probes, /events, self-metrics),
    so aggregations sum it."""
    return family.group in _REPLICA_IDENTICAL_GROUPS or family in _REPLICA_IDENTICAL_PROBE
