"""Prometheus recording and alerting rules, built as Python data from the metric contract and the bundle settings.

Every metric name comes from a :class:`exporter.contract.Family`; every threshold, window and ``for:`` comes from
:class:`exporter.bundle.settings.BundleConfig`. Recording rules follow ``level:metric:operations`` and aggregate with
``without (...)`` so static labels a user puts on a source (``team``, ``env``) survive into alerts and routing.

Alerts carry ``severity`` (critical pages, warning is a ticket, info is for dashboards, none is the watchdog),
a static ``summary``, a templated ``description`` (what broke, where, how bad, what to do), ``runbook_url`` into
docs/runbooks.md and ``dashboard_url`` into the matching Grafana dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter import contract
from exporter.bundle.boards.common import UIDS as BOARD_UIDS  # the dashboards' own uids, so links never drift
from exporter.bundle.settings import BundleConfig
from exporter.durations import format_duration

RULES_FILE = "prometheus/rules/llmpulse.rules.yml"
ALERTS_FILE = "prometheus/rules/llmpulse.alerts.yml"


def dur(seconds: float) -> str:
    """A Prometheus duration (``5m``, ``1d``, ``1h30m``)."""
    return format_duration(seconds)


def num(value: float) -> str:
    """A number as PromQL and humans read it (``0.05``, ``1000``, ``14.4``)."""
    return f"{value:.10g}"


def pct(ratio: float) -> str:
    return f"{ratio * 100:.10g}%"


def money(value: float) -> str:
    return f"${value:,.2f}".replace(".00", "")


def sel(family: contract.Family, suffix: str = "", **matchers: str) -> str:
    """``name{matchers}`` for a contract family; label names are checked against the contract."""
    if suffix and family.type != "histogram":
        raise ValueError(f"{family.name} has no {suffix} series")
    allowed = family.all_labels | ({"le"} if suffix == "_bucket" else set())
    parts = []
    for label, value in matchers.items():
        if label not in allowed:
            raise ValueError(f"{family.name} has no label {label!r}")
        op, val = (
            ("=~", value[2:])
            if value.startswith("=~")
            else ("!~", value[2:])
            if value.startswith("!~")
            else ("=", value)
        )
        parts.append(f'{label}{op}"{val}"')
    return f"{family.name}{suffix}" + ("{" + ", ".join(parts) + "}" if parts else "")


def without(labels: Iterable[str]) -> str:
    return f"without ({', '.join(labels)})"


#: ``without`` lists start with the replica labels: series of several exporter replicas aggregate into one.
REPLICA = contract.REPLICA_LABELS


def dedup(expr: str, agg: str = "max") -> str:
    """One series per replica set: families every replica reports identically (``contract.identical_across_replicas``)
    are deduplicated before any sum across providers, projects or models, so two replicas never double a total."""
    return f"{agg} {without(REPLICA)} ({expr})"


# --- recording rule names (stable API: the dashboards and the end-to-end tests use them) -------------------------
def _windowed(prefix: str) -> Callable[[float], str]:
    """The name of a recording rule over a window: ``prefix`` followed by the window (``...:rate5m``)."""

    def name(window: float) -> str:
        return f"{prefix}{dur(window)}"

    return name


class Names:
    """Names of the recording rules. Those with a window in the name follow the configured window."""

    PSM = "provider_source_model"

    calls_rate = staticmethod(_windowed(f"{PSM}:llmpulse_api_calls:rate"))
    errors_ratio = staticmethod(_windowed(f"{PSM}:llmpulse_api_calls_errors:ratio_rate"))
    rate_limited_ratio = staticmethod(_windowed(f"{PSM}:llmpulse_api_calls_rate_limited:ratio_rate"))
    slow_ratio = staticmethod(_windowed(f"{PSM}:llmpulse_api_calls_slow:ratio_rate"))
    latency_quantile = staticmethod(_windowed(f"{PSM}:llmpulse_api_call_duration_seconds:histogram_quantile_rate"))
    spend = staticmethod(_windowed("provider_source:llmpulse_cost_usd:increase"))

    @staticmethod
    def spend_baseline(window: float, baseline: float) -> str:
        return f"{Names.spend(window)}_avg{dur(baseline)}"

    COST_MTD_SOURCE = "provider_source:llmpulse_cost_usd:month_to_date"
    COST_MTD_PROVIDER = "provider:llmpulse_cost_usd:month_to_date"
    COST_MTD_TOTAL = ":llmpulse_cost_usd:month_to_date"
    MONTH_ELAPSED = ":llmpulse_month_elapsed:ratio"
    FORECAST_PROVIDER = "provider:llmpulse_cost_usd:month_end_forecast"
    FORECAST_TOTAL = ":llmpulse_cost_usd:month_end_forecast"
    BUDGET_PROVIDER = "provider:llmpulse_budget_usd:monthly"
    BUDGET_TOTAL = ":llmpulse_budget_usd:monthly"
    BALANCE_BURN = "provider_source_currency:llmpulse_balance:burn_per_day"
    BALANCE_RUNWAY = "provider_source_currency:llmpulse_balance:runway_days"


def api_windows(s: BundleConfig) -> list[float]:
    """Every rate window the API rules need (alert windows and both windows of every burn-rate pair)."""
    windows = {s.api.error_ratio_window, s.api.rate_limited_window, s.api.latency_window, s.api.slow_call_window}
    for w in s.slo.windows:
        windows |= {w.long, w.short}
    return sorted(windows)


def _rule(record: str, expr: str, note: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"#": note, "record": record, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def _api_recording(s: BundleConfig) -> list[dict[str, Any]]:
    rules = []
    calls = contract.API_CALLS
    for w in api_windows(s):
        rate = Names.calls_rate(w)
        rules.append(
            _rule(
                rate,
                f"sum {without((*REPLICA, 'outcome'))} (rate({sel(calls)}[{dur(w)}]))",
                f"LLM API calls per second (probes and traffic events) over {dur(w)}, by provider, source and model.",
            )
        )
        rules.append(
            _rule(
                Names.errors_ratio(w),
                f"(\n  sum {without((*REPLICA, 'outcome'))} (rate({sel(calls, outcome='error')}[{dur(w)}]))\n"
                f"or\n  {rate} * 0\n)\n/\n{rate}",
                f"Share of calls that failed over {dur(w)} (0 when none failed; absent when there were no calls).",
            )
        )
    w = s.api.rate_limited_window
    rules.append(
        _rule(
            Names.rate_limited_ratio(w),
            f"(\n  sum {without((*REPLICA, 'code', 'error_type'))} "
            f"(rate({sel(contract.ERROR_CODES, code='429')}[{dur(w)}]))\nor\n  {Names.calls_rate(w)} * 0\n)\n"
            f"/\n{Names.calls_rate(w)}",
            f"Share of calls answered 429 (rate limited) over {dur(w)}.",
        )
    )
    w = s.api.latency_window
    quantiles = sorted({0.5, 0.95, s.api.latency_quantile})
    for q in quantiles:
        rules.append(
            _rule(
                Names.latency_quantile(w),
                f"histogram_quantile({num(q)}, sum {without(REPLICA)} "
                f"(rate({sel(contract.API_CALL_DURATION, '_bucket')}[{dur(w)}])))",
                f"P{num(q * 100)} duration of whole calls over {dur(w)} (label quantile).",
                {"quantile": num(q)},
            )
        )
    w = s.api.slow_call_window
    count = f"sum {without(REPLICA)} (rate({sel(contract.API_CALL_DURATION, '_count')}[{dur(w)}]))"
    fast = (
        f"sum {without((*REPLICA, 'le'))} "
        f"(rate({sel(contract.API_CALL_DURATION, '_bucket', le=floatToGoString(s.api.slow_call_seconds))}[{dur(w)}]))"
    )
    rules.append(
        _rule(
            Names.slow_ratio(w),
            f"(\n  {count}\n-\n  {fast}\n)\n/\n{count}",
            f"Share of calls slower than {num(s.api.slow_call_seconds)}s over {dur(w)} (read from the histogram bucket "
            f'le="{floatToGoString(s.api.slow_call_seconds)}").',
        )
    )
    return rules


_COST_DETAIL = ("project", "line_item", "api_key")


def _cost_recording(s: BundleConfig) -> list[dict[str, Any]]:
    b = s.budget
    cost = sel(contract.COST_USD)
    elapsed = "(day_of_month() - 1) * 86400 + time() % 86400"
    rules = [
        _rule(
            Names.COST_MTD_SOURCE,
            f"sum {without(_COST_DETAIL)} ({dedup(cost)})",
            "Reported cost this month per source. The counter's value IS the month-to-date total (it restarts "
            "on the 1st), so this is a sum, not an increase(). Every replica reports it: deduplicated first.",
        ),
        _rule(
            Names.COST_MTD_PROVIDER,
            f"sum by (provider) ({dedup(cost)})",
            "Reported cost this month per provider.",
        ),
        _rule(Names.COST_MTD_TOTAL, f"sum({dedup(cost)})", "Reported cost this month, all providers."),
        _rule(
            Names.MONTH_ELAPSED,
            f"clamp_min({elapsed}, 3600) / (days_in_month() * 86400)",
            "Fraction of the current UTC month that has elapsed (at least one hour, so forecasts stay finite).",
        ),
        _rule(
            Names.FORECAST_PROVIDER,
            f"{Names.COST_MTD_PROVIDER} / scalar({Names.MONTH_ELAPSED})",
            "Linear month-end forecast per provider: month-to-date cost / elapsed fraction of the month.",
        ),
        _rule(
            Names.FORECAST_TOTAL,
            f"{Names.COST_MTD_TOTAL} / scalar({Names.MONTH_ELAPSED})",
            "Linear month-end forecast, all providers.",
        ),
    ]
    if b.monthly_budget_usd:
        rules.append(
            _rule(
                Names.BUDGET_TOTAL,
                f"vector({num(b.monthly_budget_usd)})",
                "The monthly budget of all providers together (bundle.budget.monthly_budget_usd), for dashboards.",
                {"scope": "total"},
            )
        )
    for provider, amount in sorted(b.provider_budgets_usd.items()):
        rules.append(
            _rule(
                Names.BUDGET_PROVIDER,
                f"vector({num(amount)})",
                f"The monthly budget of {provider} (bundle.budget.provider_budgets_usd).",
                {"provider": provider, "scope": "provider"},
            )
        )
    w, base = b.spike_window, b.spike_baseline_window
    rules.append(
        _rule(
            Names.spend(w),
            f"sum {without(_COST_DETAIL)} ({dedup(f'increase({cost}[{dur(w)}])')})",
            f"Spend over the last {dur(w)} per source (increase() handles the monthly restart of the counter).",
        )
    )
    rules.append(
        _rule(
            Names.spend_baseline(w, base),
            f"sum {without(_COST_DETAIL)} ({dedup(f'increase({cost}[{dur(base)}] offset {dur(w)})')}) * {num(w / base)}\n"
            f"and on (provider, source)\ncount {without(_COST_DETAIL)} ({dedup(f'{cost} offset {dur(w + base)}')})",
            f"Average spend per {dur(w)} over the {dur(base)} before the last {dur(w)}; only once the source has "
            f"{dur(w + base)} of history (a younger baseline would make every day look like a spike).",
        )
    )
    return rules


def _balance_recording(s: BundleConfig) -> list[dict[str, Any]]:
    total = sel(contract.BALANCE, kind="total")
    w = s.balance.burn_window
    return [
        _rule(
            Names.BALANCE_BURN,
            f"-86400 * sum {without(('kind',))} ({dedup(f'deriv({total}[{dur(w)}])')})",
            f"How much of the spendable balance goes per day, from its slope over {dur(w)} (negative after a top-up).",
        ),
        _rule(
            Names.BALANCE_RUNWAY,
            f"sum {without(('kind',))} ({dedup(total)})\n/\n({Names.BALANCE_BURN} > 0)",
            "Days until the balance reaches zero at the current burn (absent when the balance is not falling).",
        ),
    ]


def recording_groups(s: BundleConfig) -> list[dict[str, Any]]:
    return [
        {"name": "llmpulse.api.rules", "rules": _api_recording(s)},
        {"name": "llmpulse.cost.rules", "rules": _cost_recording(s)},
        {"name": "llmpulse.balance.rules", "rules": _balance_recording(s)},
    ]


# --- alerts -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AlertRule:
    """One alerting rule. ``key`` tells variants of one alert apart (tier, scope, currency) in tests and docs."""

    name: str
    severity: str
    expr: str
    for_: float | None
    summary: str
    description: str
    group: str
    board: str
    key: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # How long the alert keeps firing after its condition last held (Prometheus 2.42+).
    keep_firing_for: float | None = None
    # The label the dashboard link filters on (None: no filter, e.g. the exporter itself).
    board_var: str | None = "provider"

    def runbook_url(self, s: BundleConfig) -> str:
        return f"{s.links.runbook_base_url}#{self.name.lower()}"

    def dashboard_url(self, s: BundleConfig) -> str:
        url = f"{s.links.grafana_url}/d/{BOARD_UIDS[self.board]}"
        if self.board_var:
            url += f"?var-{self.board_var}={{{{ $labels.{self.board_var} }}}}"
        return url

    def annotations(self, s: BundleConfig) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url(s),
            "dashboard_url": self.dashboard_url(s),
        }

    def to_rule(self, s: BundleConfig) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = dur(self.for_)
        if self.keep_firing_for:
            rule["keep_firing_for"] = dur(self.keep_firing_for)
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = self.annotations(s)
        return rule


WHERE = "{{ $labels.provider }} model {{ $labels.model }} (source {{ $labels.source }})"


def enough_calls(s: BundleConfig, window: float, *, ignoring: str = "") -> str:
    """The minimum-traffic guard of ratio and quantile alerts: at least ``api.min_calls`` calls in ``window``."""
    match = f" ignoring ({ignoring})" if ignoring else ""
    return f"and{match}\n{Names.calls_rate(window)} * {num(window)} >= {s.api.min_calls}"


def _api_alerts(s: BundleConfig) -> list[AlertRule]:
    a, f = s.api, s.alert_for
    out = [
        AlertRule(
            name="LLMAPIHighErrorRate",
            severity="warning",
            expr=f"{Names.errors_ratio(a.error_ratio_window)} > {num(a.error_ratio)}\n"
            f"{enough_calls(s, a.error_ratio_window)}",
            for_=f.LLMAPIHighErrorRate,
            summary="LLM API calls are failing at a high rate.",
            description=f"{{{{ $value | humanizePercentage }}}} of calls to {WHERE} failed over the last "
            f"{dur(a.error_ratio_window)}, above the {pct(a.error_ratio)} threshold. Look at the error codes: 429 = "
            "throttled, 401/403 = key, 5xx/529 = the provider is in trouble (check its status page).",
            group="api",
            board="latency",
            keep_firing_for=a.keep_firing_for,
        ),
        AlertRule(
            name="LLMAPIHighLatencyP99",
            severity="warning",
            expr=f'{Names.latency_quantile(a.latency_window)}{{quantile="{num(a.latency_quantile)}"}} '
            f"> {num(a.latency_threshold_seconds)}\n{enough_calls(s, a.latency_window, ignoring='quantile')}",
            for_=f.LLMAPIHighLatencyP99,
            summary="LLM API calls are slow.",
            description=f"P{num(a.latency_quantile * 100)} response time of {WHERE} is {{{{ $value | humanizeDuration }}}} over "
            f"the last {dur(a.latency_window)}, above {num(a.latency_threshold_seconds)}s. Compare time to first "
            "token and the connection phases to tell a slow model from a network or TLS problem; consider a "
            "faster model or another region.",
            group="api",
            board="latency",
            keep_firing_for=a.keep_firing_for,
        ),
    ]
    # One rule per burn-rate pair (kubernetes-mixin style): each keeps its own for:, and the long/short labels
    # tell the pairs apart in notifications. A critical pair firing mutes the warning ones (inhibition).
    budget = 1 - s.slo.objective
    for w in s.slo.windows:
        threshold = f"({num(w.factor)} * {num(budget)})"
        action = (
            f"Page: at this rate the whole month's error budget is gone in {dur(30 * 86400 / w.factor)}."
            if w.severity == "critical"
            else f"Ticket: at this rate the month's error budget is gone in {dur(30 * 86400 / w.factor)}; "
            "find the cause this week."
        )
        out.append(
            AlertRule(
                name="LLMAPIErrorBudgetBurn",
                severity=w.severity,
                expr=f"{Names.errors_ratio(w.long)} > {threshold}\nand\n{Names.errors_ratio(w.short)} > {threshold}\n"
                f"{enough_calls(s, w.long)}",
                for_=w.for_,
                summary="LLM API errors are burning the error budget.",
                description=f"{{{{ $value | humanizePercentage }}}} of calls to {WHERE} failed over the last {dur(w.long)} (and over "
                f"the last {dur(w.short)}): {num(w.factor)}x the error budget of the {pct(s.slo.objective)} "
                f"objective. {action}",
                group="api",
                board="latency",
                key=f"{w.severity}-{dur(w.long)}-{dur(w.short)}",
                labels={"long": dur(w.long), "short": dur(w.short)},
                keep_firing_for=a.keep_firing_for,
            )
        )
    out += [
        AlertRule(
            name="LLMAPIRateLimited",
            severity="warning",
            expr=f"{Names.rate_limited_ratio(a.rate_limited_window)} > {num(a.rate_limited_ratio)}\n"
            f"{enough_calls(s, a.rate_limited_window)}",
            for_=f.LLMAPIRateLimited,
            summary="LLM API calls are being rate limited.",
            description=f"{{{{ $value | humanizePercentage }}}} of calls to {WHERE} were answered 429 over the last "
            f"{dur(a.rate_limited_window)} (threshold {pct(a.rate_limited_ratio)}), continuously for "
            f"{dur(f.LLMAPIRateLimited)}. Back off and honour Retry-After, spread the traffic, or ask the provider "
            "for a higher tier.",
            group="api",
            board="latency",
            keep_firing_for=a.keep_firing_for,
        ),
        AlertRule(
            name="LLMAPIAuthFailure",
            severity="critical",
            expr=f"sum {without((*REPLICA, 'error_type'))} "
            f"(increase({sel(contract.ERROR_CODES, code='=~401|403')}[{dur(a.auth_failure_window)}])) > 0",
            for_=f.LLMAPIAuthFailure,
            summary="LLM API calls are refused as unauthorized.",
            description=f'Calls to {WHERE} keep failing with HTTP {{{{ $labels.code }}}} ({{{{ $value | printf "%.0f" }}}} in '
            f"the last {dur(a.auth_failure_window)}): the API key is invalid, revoked, out of quota or lacks access "
            "to this model. Rotate or fix the key.",
            group="api",
            board="latency",
        ),
        AlertRule(
            name="LLMAPIProbeFailing",
            severity="critical",
            expr=f"{dedup(sel(contract.PROBE_SUCCESS))} == 0",
            for_=f.LLMAPIProbeFailing,
            summary="An LLM API probe keeps failing.",
            description=f"Every probe of {WHERE} failed for {dur(f.LLMAPIProbeFailing)}: the API is unreachable or erroring "
            "from here. Check the probe's error code, the provider's status page and the network path.",
            group="api",
            board="latency",
        ),
        AlertRule(
            name="LLMAPISlowCalls",
            severity="warning",
            expr=f"{Names.slow_ratio(a.slow_call_window)} > {num(a.slow_call_ratio)}\n"
            f"{enough_calls(s, a.slow_call_window)}",
            for_=f.LLMAPISlowCalls,
            summary="Many LLM API calls are very slow.",
            description=f"{{{{ $value | humanizePercentage }}}} of calls to {WHERE} took longer than "
            f"{num(a.slow_call_seconds)}s over the last {dur(a.slow_call_window)} (threshold "
            f"{pct(a.slow_call_ratio)}). Users are waiting: check the provider's status, long prompts or outputs, "
            "and timeouts in the application.",
            group="api",
            board="latency",
            keep_firing_for=a.keep_firing_for,
        ),
        AlertRule(
            name="LLMRateLimitHeadroomLow",
            severity="warning",
            expr=f"{dedup(sel(contract.RATELIMIT_REMAINING), 'min')} / ({dedup(sel(contract.RATELIMIT_LIMIT))} > 0) "
            f"< {num(a.ratelimit_headroom_ratio)}",
            for_=f.LLMRateLimitHeadroomLow,
            summary="An LLM API rate limit is nearly used up.",
            description=f"Only {{{{ $value | humanizePercentage }}}} of the {{{{ $labels.resource }}}} rate limit of {WHERE} was "
            f"left at the last probe (threshold {pct(a.ratelimit_headroom_ratio)}). The next burst will be "
            "throttled: smooth the traffic or raise the limit.",
            group="api",
            board="latency",
        ),
    ]
    for tier, limit in (("warning", a.tls_expiry_warning), ("critical", a.tls_expiry_critical)):
        out.append(
            AlertRule(
                name="LLMTLSCertExpiringSoon",
                severity=tier,
                expr=f"{dedup(sel(contract.TLS_CERT_EXPIRY), 'min')} - time() < {num(limit)}",
                for_=f.LLMTLSCertExpiringSoon,
                summary="The TLS certificate of an LLM API endpoint expires soon.",
                description="The TLS certificate of the endpoint probed by {{ $labels.source }} ({{ $labels.provider }}) expires "
                f"in {{{{ $value | humanizeDuration }}}} (threshold {dur(limit)}). Renew it if the endpoint is yours (a "
                "proxy or gateway); otherwise tell the provider.",
                group="api",
                board="latency",
                key=tier,
            )
        )
    return out


def _cost_alerts(s: BundleConfig) -> list[AlertRule]:
    b, f = s.budget, s.alert_for
    out: list[AlertRule] = []
    scopes: list[tuple[str, str, float, str, dict[str, str]]] = []
    if b.monthly_budget_usd:
        scopes.append(("total", "", b.monthly_budget_usd, "all providers", {"scope": "total"}))
    for provider, amount in sorted(b.provider_budgets_usd.items()):
        # The provider label repeats the selector's value: it keeps the rules of several budgets distinct.
        scopes.append(
            (
                provider,
                f'{{provider="{provider}"}}',
                amount,
                "{{ $labels.provider }}",
                {"scope": "provider", "provider": provider},
            )
        )
    for scope, matcher, amount, who, labels in scopes:
        mtd = (Names.COST_MTD_TOTAL if scope == "total" else Names.COST_MTD_PROVIDER) + matcher
        forecast = (Names.FORECAST_TOTAL if scope == "total" else Names.FORECAST_PROVIDER) + matcher
        var = None if scope == "total" else "provider"
        out += [
            AlertRule(
                name="LLMBudgetBurnHigh",
                severity="warning",
                expr=f"{mtd} >= {num(b.burn_high_ratio * amount)}",
                for_=f.LLMBudgetBurnHigh,
                summary="LLM spend has used most of the monthly budget.",
                description=f'Spend this month for {who} is ${{{{ $value | printf "%.2f" }}}}, at least '
                f"{pct(b.burn_high_ratio)} of the {money(amount)} monthly budget. Check what drives it (Cost "
                "dashboard, by model and project) and decide whether to raise the budget or cut usage.",
                group="cost",
                board="cost",
                key=scope,
                labels=labels,
                board_var=var,
            ),
            AlertRule(
                name="LLMBudgetExceeded",
                severity="critical",
                expr=f"{mtd} >= {num(amount)}",
                for_=f.LLMBudgetExceeded,
                summary="LLM spend has exceeded the monthly budget.",
                description=f'Spend this month for {who} is ${{{{ $value | printf "%.2f" }}}}, over the {money(amount)} '
                "monthly budget. Every further call is over budget: cap usage, switch to cheaper models, or raise "
                "the budget deliberately.",
                group="cost",
                board="cost",
                key=scope,
                labels=labels,
                board_var=var,
            ),
            AlertRule(
                name="LLMBudgetForecastExceeded",
                severity="warning",
                expr=f"{forecast} > {num(amount)}\nand on ()\n"
                f"(day_of_month() - 1) * 86400 + time() % 86400 >= {num(b.forecast_min_elapsed)}",
                for_=f.LLMBudgetForecastExceeded,
                summary="LLM spend is on course to exceed the monthly budget.",
                description=f'At this month\'s pace, spend for {who} reaches ${{{{ $value | printf "%.2f" }}}} by the end of '
                f"the month, over the {money(amount)} budget. Slow the spend now (cheaper models, caching, "
                "limits) or plan for the overrun.",
                group="cost",
                board="cost",
                key=scope,
                labels=labels,
                board_var=var,
            ),
        ]
    w, base = b.spike_window, b.spike_baseline_window
    out.append(
        AlertRule(
            name="LLMSpendSpike",
            severity="warning",
            expr=f"{Names.spend(w)} > {num(b.spike_factor)} * {Names.spend_baseline(w, base)}\nand\n"
            f"{Names.spend(w)} > {num(b.spike_min_usd)}",
            for_=f.LLMSpendSpike,
            summary="LLM spend is far above its usual level.",
            description=f'{{{{ $labels.provider }}}} (source {{{{ $labels.source }}}}) spent ${{{{ $value | printf "%.2f" }}}} '
            f"over the last {dur(w)}, more than {num(b.spike_factor)}x its average per {dur(w)} over the {dur(base)} "
            "before. Look for a runaway loop, a new feature or a leaked key (Cost dashboard by project and model).",
            group="cost",
            board="cost",
        )
    )
    out.append(
        AlertRule(
            name="LLMUnpricedUsage",
            severity="info",
            expr=f"sum {without((*REPLICA, 'token_type'))} "
            f"(increase({sel(contract.UNPRICED_TOKENS)}[{dur(b.unpriced_window)}])) > 0",
            for_=f.LLMUnpricedUsage,
            summary="Tokens of a model without a price are not in the estimated cost.",
            description="{{ $value | humanize }} tokens of {{ $labels.provider }} model {{ $labels.model }} (source "
            f"{{{{ $labels.source }}}}) had no price in the last {dur(b.unpriced_window)}, so the estimated cost "
            "undercounts. Add the model to pricing.models in the config.",
            group="cost",
            board="cost",
        )
    )
    return out


def _runway_expr(s: BundleConfig) -> str:
    """Runway under the threshold, once the balance has ``runway_min_history`` of history, and (for currencies
    with a level) while the balance is under that level: a prediction alone fires on noise."""
    bal = s.balance
    total = sel(contract.BALANCE, kind="total")
    history = dedup(f"{total} offset {dur(bal.runway_min_history)}")
    expr = (
        f"{Names.BALANCE_RUNWAY} < {num(bal.runway_days)}\n"
        f"and on (provider, source, currency)\nmax {without(('kind',))} ({history})"
    )
    if bal.runway_levels:
        levels = "\nor\n".join(
            f"{dedup(sel(contract.BALANCE, kind='total', currency=cur))} < {num(amount)}"
            for cur, amount in sorted(bal.runway_levels.items())
        )
        others = "|".join(sorted(bal.runway_levels))
        levels += f"\nor\n{dedup(sel(contract.BALANCE, kind='total', currency='!~' + others))}"
        expr += f"\nand on (provider, source, currency)\n(\n{levels}\n)"
    return expr


def _balance_alerts(s: BundleConfig) -> list[AlertRule]:
    bal, f = s.balance, s.alert_for
    out = []
    for currency, amount in sorted(bal.low.items()):
        out.append(
            AlertRule(
                name="LLMBalanceLow",
                severity="warning",
                expr=f"{dedup(sel(contract.BALANCE, kind='total', currency=currency))} < {num(amount)}",
                for_=f.LLMBalanceLow,
                summary="A prepaid LLM balance is low.",
                description="The prepaid balance of {{ $labels.provider }} (source {{ $labels.source }}) is "
                f'{{{{ $value | printf "%.2f" }}}} {currency}, below {num(amount)} {currency}. Top it up before '
                "calls start failing.",
                group="balance",
                board="cost",
                key=currency,
                labels={"currency": currency},
            )
        )
    if bal.low_usd_fallback:
        others = "|".join(sorted(bal.low)) or "NONE"
        out.append(
            AlertRule(
                name="LLMBalanceLow",
                severity="warning",
                expr=f"{dedup(sel(contract.BALANCE_USD, kind='total', currency='!~' + others))} "
                f"< {num(bal.low_usd_fallback)}",
                for_=f.LLMBalanceLow,
                summary="A prepaid LLM balance is low.",
                description="The prepaid {{ $labels.currency }} balance of {{ $labels.provider }} (source {{ $labels.source }}) "
                f'is worth ${{{{ $value | printf "%.2f" }}}}, below ${num(bal.low_usd_fallback)}. Top it up before '
                "calls start failing.",
                group="balance",
                board="cost",
                key="usd-fallback",
            )
        )
    out += [
        AlertRule(
            name="LLMBalanceRunwayShort",
            severity="warning",
            expr=_runway_expr(s),
            for_=f.LLMBalanceRunwayShort,
            summary="A prepaid LLM balance will run out soon.",
            description="At the burn of the last " + dur(bal.burn_window) + ", the {{ $labels.currency }} balance of "
            '{{ $labels.provider }} (source {{ $labels.source }}) lasts {{ $value | printf "%.1f" }} more days, '
            f"under the {num(bal.runway_days)}-day threshold. Top up now, or find what made spend grow.",
            group="balance",
            board="cost",
        ),
        AlertRule(
            name="LLMBalanceExhausted",
            severity="critical",
            expr=f"{dedup(sel(contract.BALANCE_AVAILABLE))} == 0\nor on (provider, source)\n"
            f"{dedup(sel(contract.BALANCE, kind='total'))} <= 0",
            for_=f.LLMBalanceExhausted,
            summary="A prepaid LLM balance is exhausted.",
            description="{{ $labels.provider }} (source {{ $labels.source }}) reports no usable balance: its API refuses calls "
            "or soon will. Top up now; fail over to another provider meanwhile.",
            group="balance",
            board="cost",
        ),
    ]
    return out


def plan_quota_low_expr(s: BundleConfig) -> str:
    """Replica-safe (every replica reports the same quota: ``max without(instance, pod)``); quiet when the window
    resets soon anyway; a quota without an announced reset time still alerts."""
    keep = "max without(instance, pod)"
    ratio = f"{keep} ({sel(contract.PLAN_QUOTA_REMAINING_RATIO)})"
    reset = f"{keep} ({sel(contract.PLAN_QUOTA_RESET)})"
    return (
        f"{ratio} < {num(s.plan.quota_low_ratio)}\n"
        f"unless on (provider, source, quota, window)\n"
        f"({reset} - time()) <= {num(s.plan.quiet_before_reset)}"
    )


def _plan_alerts(s: BundleConfig) -> list[AlertRule]:
    return [
        AlertRule(
            name="LLMPlanQuotaLow",
            severity="warning",
            expr=plan_quota_low_expr(s),
            for_=s.alert_for.LLMPlanQuotaLow,
            summary="A subscription plan's quota is nearly used up before it resets.",
            description="{{ $labels.provider }} (source {{ $labels.source }}) has "
            "{{ $value | humanizePercentage }} of its {{ $labels.quota }} quota left in the {{ $labels.window }} "
            f"window, under {pct(s.plan.quota_low_ratio)}, and the window does not reset within "
            f"{dur(s.plan.quiet_before_reset)}. Calls on this plan will be refused or throttled: slow down, or move "
            "traffic to a pay-as-you-go key until the reset.",
            group="balance",
            board="cost",
        )
    ]


def _status_alerts(s: BundleConfig) -> list[AlertRule]:
    f = s.alert_for
    indicators = "|".join(s.status.incident_indicators)
    mute = " Its error and latency alerts are muted while this fires." if s.routing.incident_mutes_api_alerts else ""
    return [
        AlertRule(
            name="LLMProviderIncident",
            severity="warning",
            expr=f"{dedup(sel(contract.STATUS_INDICATOR, indicator='=~' + indicators))} == 1",
            for_=f.LLMProviderIncident,
            summary="An LLM provider reports an incident.",
            description="The status page of {{ $labels.provider }} (source {{ $labels.source }}) reports a "
            "{{ $labels.indicator }} incident. Expect errors and slow calls from this provider."
            + mute
            + " Follow the status page; fail over to another provider if the product depends on it.",
            group="status",
            board="overview",
        ),
        AlertRule(
            name="LLMStatusPageUnreadable",
            severity="warning",
            expr=f"{dedup(sel(contract.STATUS_INDICATOR, indicator='unknown'), 'min')} == 1",
            for_=f.LLMStatusPageUnreadable,
            summary="A provider status page cannot be read.",
            description="llmpulse could not read or parse the status page of {{ $labels.provider }} (source "
            "{{ $labels.source }}) for " + dur(f.LLMStatusPageUnreadable) + ". This is not an outage, but "
            "incidents there go unnoticed: check the page URL (base_url) and the exporter log.",
            group="status",
            board="health",
        ),
    ]


def _exporter_alerts(s: BundleConfig) -> list[AlertRule]:
    f, job = s.alert_for, s.prometheus.job
    return [
        AlertRule(
            name="LLMPulseSourceDown",
            severity="warning",
            expr=f"{sel(contract.SOURCE_UP)} == 0",
            for_=f.LLMPulseSourceDown,
            summary="An llmpulse source cannot be polled.",
            description="The polls of source {{ $labels.source }} ({{ $labels.provider }}) have failed for "
            f"{dur(f.LLMPulseSourceDown)}; its last good data is still served and is getting old. "
            f"{contract.SOURCE_POLL_ERRORS.name} says why (auth, rate limit, timeout...); see the exporter log.",
            group="exporter",
            board="health",
        ),
        AlertRule(
            name="LLMPulseSourceStale",
            severity="warning",
            expr=f"time() - {sel(contract.SOURCE_LAST_SUCCESS)} > {num(s.exporter.stale_after)}\nand\n"
            f"{sel(contract.SOURCE_LAST_SUCCESS)} > 0",
            for_=f.LLMPulseSourceStale,
            summary="The data of an llmpulse source is stale.",
            description="The newest data of source {{ $labels.source }} ({{ $labels.provider }}) is "
            f"{{{{ $value | humanizeDuration }}}} old (threshold {dur(s.exporter.stale_after)}). Cost, balance and "
            "status figures from it are out of date: check the source's errors and the exporter log.",
            group="exporter",
            board="health",
        ),
        AlertRule(
            name="LLMPulseExporterDown",
            severity="critical",
            expr=f'up{{job="{job}"}} == 0\nor\nabsent(up{{job="{job}"}})',
            for_=f.LLMPulseExporterDown,
            summary="Prometheus cannot scrape the llmpulse exporter.",
            description=f"Prometheus has not scraped llmpulse (job {job}) for {dur(f.LLMPulseExporterDown)}: no LLM metric "
            "is fresh and every other llmpulse alert is blind. Check the exporter process or container, its log "
            "and the scrape target.",
            group="exporter",
            board="health",
            board_var=None,
        ),
        AlertRule(
            name="Watchdog",
            severity="none",
            expr="vector(1)",
            for_=None,
            summary="The alerting pipeline is working.",
            description="This alert always fires, to prove that Prometheus evaluates rules and Alertmanager delivers them. "
            "Route it to a dead man's switch: when the heartbeat stops, the monitoring itself is down.",
            group="meta",
            board="health",
            board_var=None,
        ),
    ]


def alert_rules(s: BundleConfig, *, include_disabled: bool = False) -> list[AlertRule]:
    """Every alerting rule the settings produce, in the order of the alerts table."""
    alerts = [
        *_api_alerts(s),
        *_cost_alerts(s),
        *_balance_alerts(s),
        *_plan_alerts(s),
        *_status_alerts(s),
        *_exporter_alerts(s),
    ]
    order = {name: i for i, name in enumerate(_ORDER)}
    alerts.sort(key=lambda a: order[a.name])
    if include_disabled:
        return alerts
    return [a for a in alerts if s.enabled(a.name)]


def _order() -> tuple[str, ...]:
    from exporter.bundle.settings import ALERT_NAMES

    return ALERT_NAMES


_ORDER = _order()

ALERT_GROUPS = ("api", "cost", "balance", "status", "exporter", "meta")


def alert_groups(s: BundleConfig) -> list[dict[str, Any]]:
    groups = []
    alerts = alert_rules(s)
    for group in ALERT_GROUPS:
        rules = [a.to_rule(s) for a in alerts if a.group == group]
        if rules:
            groups.append({"name": f"llmpulse.{group}.alerts", "rules": rules})
    return groups
