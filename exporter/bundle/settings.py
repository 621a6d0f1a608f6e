"""The ``bundle:`` section of the config: thresholds, windows, budgets, routing and receivers of the bundle.

One object feeds every generator (rules, alert tests, Alertmanager config, runbooks, dashboards), the way a
monitoring mixin's ``_config`` does: no number is hard-coded in a rule body. Every default carries the reason it
was chosen; change a value, run ``llmpulse generate``, and the rules, their unit tests, the routing and the runbooks
follow.

``bundle: {}`` (or no ``bundle:`` key at all) gives the bundle committed in the repository, which targets the
docker-compose stack (service names ``exporter``, ``alertmanager``, ``mailpit``).

Durations are Prometheus durations (``30s``, ``5m``, ``1d``) and are stored as seconds. All of them can be made short
(``10s`` ``for``, ``30s`` windows) so an end-to-end test can see alerts fire within a minute.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from exporter import contract
from exporter.bundle.kubernetes.settings import KubernetesSettings
from exporter.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Severity = Literal["critical", "warning", "info"]
Ratio = Annotated[float, Field(gt=0, lt=1)]

# Every alert the bundle generates, in the order of the alerts table. Names are a contract.
ALERT_NAMES: tuple[str, ...] = (
    "LLMAPIHighErrorRate",
    "LLMAPIHighLatencyP99",
    "LLMAPIErrorBudgetBurn",
    "LLMAPIRateLimited",
    "LLMAPIAuthFailure",
    "LLMAPIProbeFailing",
    "LLMAPISlowCalls",
    "LLMBudgetBurnHigh",
    "LLMBudgetExceeded",
    "LLMBudgetForecastExceeded",
    "LLMSpendSpike",
    "LLMUnpricedUsage",
    "LLMBalanceLow",
    "LLMBalanceRunwayShort",
    "LLMBalanceExhausted",
    "LLMPlanQuotaLow",
    "LLMRateLimitHeadroomLow",
    "LLMTLSCertExpiringSoon",
    "LLMProviderIncident",
    "LLMStatusPageUnreadable",
    "LLMPulseSourceDown",
    "LLMPulseSourceStale",
    "LLMPulseExporterDown",
    "Watchdog",
)
AlertName = Literal[ALERT_NAMES]  # type: ignore[valid-type]

_TARGET_RE = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RECEIVER_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def _hostports(values: list[str]) -> list[str]:
    for value in values:
        if not _TARGET_RE.match(value):
            raise ValueError(f"{value!r} is not a HOST:PORT scrape target")
    return values


# --- Prometheus -------------------------------------------------------------------------------------------------------
class PrometheusSettings(_Strict):
    """What ``prometheus/prometheus.yml`` scrapes and where it sends alerts."""

    # The job label of the exporter's series. Rules select ``up{job=...}`` with it, so keep it in step with the
    # scrape config if you copy the rules into an existing Prometheus.
    job: str = Field(default="llmpulse", pattern=r"^[A-Za-z0-9_.\-]+$")
    # The compose service name and the exporter's default port (9877). The native stack regenerates with
    # 127.0.0.1 targets.
    exporter_targets: list[str] = Field(default_factory=lambda: ["exporter:9877"], min_length=1)
    # Alertmanager's compose service; also scraped (job "alertmanager") so its own failures are visible.
    alertmanager_targets: list[str] = Field(default_factory=lambda: ["alertmanager:9093"])
    # Prometheus scrapes itself (job "prometheus"): rule evaluation failures and notification drops show up there.
    self_target: str = "localhost:9090"
    # 15s: the exporter's data changes at most every probe interval (60s by default) or poll (5m); four samples a
    # minute keep rate() windows of 1m and more well populated at negligible cost.
    scrape_interval: Duration = 15.0
    # Below the scrape interval, as Prometheus requires; /metrics is served from cached bytes, so 10s is generous.
    scrape_timeout: Duration = 10.0
    # Rules are evaluated as often as data arrives; alert `for:` durations are multiples of it.
    evaluation_interval: Duration = 15.0
    # Relative to prometheus.yml, so the same file works in compose (/etc/prometheus) and natively.
    rule_files: list[str] = Field(default_factory=lambda: ["rules/*.yml"], min_length=1)
    # Added to every series and alert leaving this Prometheus (e.g. {cluster: prod}); empty by default.
    external_labels: dict[str, str] = Field(default_factory=dict)

    _targets = field_validator("exporter_targets", "alertmanager_targets")(_hostports)

    @field_validator("self_target")
    @classmethod
    def _self_target(cls, v: str) -> str:
        return _hostports([v])[0]

    @field_validator("external_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _LABEL_NAME_RE.match(key) or key.startswith("__"):
                raise ValueError(f"invalid label name {key!r}")
        return v

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> PrometheusSettings:
        if self.scrape_timeout > self.scrape_interval:
            raise ValueError("scrape_timeout must not exceed scrape_interval")
        return self


class LinksSettings(_Strict):
    """Where notifications point people to."""

    # Every alert's runbook_url is this URL plus "#<alertname in lower case>" (GitHub's heading anchors), pointing
    # into docs/runbooks.md. Point it at your fork or wiki if you edit the runbooks.
    runbook_base_url: str = "https://github.com/llmpulse/llmpulse/blob/main/docs/runbooks.md"
    # Grafana as the people reading notifications reach it (compose publishes it on localhost:3000). Alerts get a
    # dashboard_url annotation below it.
    grafana_url: str = "http://localhost:3000"

    @field_validator("runbook_base_url", "grafana_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://\S+$", v):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v.rstrip("/")


# --- API health (probes and traffic events) ---------------------------------------------------------------------------
class ApiSettings(_Strict):
    """Thresholds on llmpulse_api_calls_total, llmpulse_api_call_duration_seconds, llmpulse_error_code_counter_total."""

    # 5 % of calls failing for 5 minutes: well above the background error rate of the big providers
    # (typically < 1 %), low enough to catch a degraded model before users do.
    error_ratio: Ratio = 0.05
    # The rate() window of the error ratio. 5m smooths one failed probe in a minute-by-minute series while still
    # reacting within minutes.
    error_ratio_window: Duration = 300.0
    # P99 above 2 s for 5 minutes. 2 s is a bucket boundary of the duration histogram, so the quantile is
    # not an interpolation artefact. Use a larger value if your probes ask for long completions.
    latency_quantile: Ratio = 0.99
    latency_threshold_seconds: float = Field(default=2.0, gt=0)
    latency_window: Duration = 300.0
    # A call over 10 s is "slow" (the slow-request threshold). It must be a bucket boundary of
    # llmpulse_api_call_duration_seconds, or the share cannot be read from the histogram.
    slow_call_seconds: float = Field(default=10.0, gt=0)
    # More than 10 % of calls slower than that: users notice long before the error rate moves.
    slow_call_ratio: Ratio = 0.10
    # 10m: slow calls are rarer than errors; a longer window avoids firing on two slow calls in a quiet minute.
    slow_call_window: Duration = 600.0
    # Share of calls answered 429. 1 % sustained over the `for:` duration means the client is being throttled
    # continuously, not hitting a burst limit once.
    rate_limited_ratio: Ratio = 0.01
    rate_limited_window: Duration = 300.0
    # Any 401/403 in every window for the `for:` duration: a dead or revoked key fails every call, while a single
    # glitch leaves the window before `for:` elapses.
    auth_failure_window: Duration = 300.0
    # Under 10 % of a rate limit left (from the probe's response headers): the next burst will be throttled.
    ratelimit_headroom_ratio: Ratio = 0.10
    # Ratio and quantile alerts (high error rate, error-budget burn, rate limited, slow calls, P99) need at least
    # this many calls in their window (the long one for the burn rate): below it, one or two failures swing the
    # ratio by several percent (2 errors in 14 calls is 14 %) and one slow call is "the P99". With 20, one failure
    # alone never crosses the 5 % error threshold; 20 calls in 5 minutes is 4 a minute, which a probe every 10 s
    # (the demo's) passes and a probe a minute (the default) does not: LLMAPIProbeFailing covers that on purpose.
    min_calls: int = Field(default=20, ge=1)
    # Those alerts keep firing this long after their condition last held (Prometheus keep_firing_for, 2.42+): at
    # low traffic the ratio of a steady fault dips under the threshold now and then, and the alert must neither
    # resolve nor notify again for that. It resolves once, this long after the ratio fell for good.
    keep_firing_for: Duration = 900.0
    # Certificate expiry: warn two weeks ahead (time to chase a provider or renew a proxy), page at three days.
    tls_expiry_warning: Duration = 14 * 86400.0
    tls_expiry_critical: Duration = 3 * 86400.0

    @field_validator("slow_call_seconds")
    @classmethod
    def _on_bucket(cls, v: float) -> float:
        buckets = contract.API_CALL_DURATION.buckets
        if v not in buckets:
            raise ValueError(
                f"must be a bucket boundary of {contract.API_CALL_DURATION.name}: "
                f"{', '.join(f'{b:g}' for b in buckets)}"
            )
        return v

    @field_validator("latency_threshold_seconds")
    @classmethod
    def _inside_buckets(cls, v: float) -> float:
        buckets = contract.API_CALL_DURATION.buckets
        if not buckets[0] <= v < buckets[-1]:
            raise ValueError(
                f"must be between {buckets[0]:g} and {buckets[-1]:g} seconds (the range the duration "
                "histogram resolves)"
            )
        return v

    @model_validator(mode="after")
    def _tls_order(self) -> ApiSettings:
        if self.tls_expiry_critical >= self.tls_expiry_warning:
            raise ValueError("tls_expiry_critical must be shorter than tls_expiry_warning")
        return self


class BurnWindow(_Strict):
    """One multi-window burn-rate condition: error ratio above factor x (1 - objective) over both windows."""

    severity: Literal["critical", "warning"]
    long: Duration
    short: Duration
    factor: float = Field(gt=0)
    for_: Duration = Field(alias="for")

    @model_validator(mode="after")
    def _short_shorter(self) -> BurnWindow:
        if self.short >= self.long:
            raise ValueError("short must be shorter than long")
        return self


def _workbook_windows() -> list[BurnWindow]:
    # The Google SRE workbook's table for a 30-day objective ("Alerting on SLOs", table 5-8), as sloth ships it:
    # page when 2 % of the monthly budget burns in 1 h (14.4x) or 5 % in 6 h (6x); open a ticket when 10 % burns in
    # 1 d (3x) or 3 d (1x). The short window (1/12 of the long one) makes the alert resolve quickly after recovery.
    return [
        BurnWindow(severity="critical", long="1h", short="5m", factor=14.4, **{"for": "2m"}),
        BurnWindow(severity="critical", long="6h", short="30m", factor=6, **{"for": "15m"}),
        BurnWindow(severity="warning", long="1d", short="2h", factor=3, **{"for": "1h"}),
        BurnWindow(severity="warning", long="3d", short="6h", factor=1, **{"for": "3h"}),
    ]


class SloSettings(_Strict):
    """The error-budget burn alert (LLMAPIErrorBudgetBurn) on the probe/event error ratio."""

    # 99 %: what the large LLM APIs deliver in practice (their status pages show 99.0-99.9 % monthly), and a
    # budget a probe sampling once a minute can measure. Raise it for a paid tier with a tighter SLA.
    objective: float = Field(default=0.99, gt=0, lt=1)
    windows: list[BurnWindow] = Field(default_factory=_workbook_windows, min_length=1)

    @model_validator(mode="after")
    def _both_severities_ok(self) -> SloSettings:
        for window in self.windows:
            if window.factor * (1 - self.objective) >= 1:
                raise ValueError(
                    f"factor {window.factor:g} x budget {1 - self.objective:g} >= 100 %: that window "
                    "can never fire; lower the factor or the objective"
                )
        return self


# --- Spend, budgets and balances --------------------------------------------------------------------------------------
class BudgetSettings(_Strict):
    """Budget alerts on llmpulse_cost_usd_total (the month-to-date cost the providers' billing APIs report)."""

    # A placeholder monthly budget for all providers together, in US dollars: set yours. null disables the
    # total-budget alerts (per-provider budgets below still apply).
    monthly_budget_usd: float | None = Field(default=1000.0, gt=0)
    # Optional budgets per provider label value, e.g. {openai: 600, anthropic: 300}.
    provider_budgets_usd: dict[str, float] = Field(default_factory=dict)
    # Warn at 80 % of a budget: at a steady burn that leaves about a week of the month to react.
    burn_high_ratio: Ratio = 0.80
    # The month-end forecast extrapolates month-to-date spend linearly; during the first 3 days one busy day
    # would dominate it, so the forecast alert waits.
    forecast_min_elapsed: Duration = 3 * 86400.0
    # A spike: spend over the last spike_window more than spike_factor times its average over the baseline window
    # before it. 3x over a 1d window against the 7 days before catches a runaway loop or a leaked key within a day
    # without firing on ordinary weekday/weekend swings.
    spike_factor: float = Field(default=3.0, gt=1)
    spike_window: Duration = 86400.0
    spike_baseline_window: Duration = 7 * 86400.0
    # ...and only when the spike is worth a look: tripling $0.50 a day is not an incident.
    spike_min_usd: float = Field(default=10.0, ge=0)
    # Tokens of a model missing from the price table within this window (llmpulse_unpriced_tokens_total): the
    # estimated cost is undercounting.
    unpriced_window: Duration = 3600.0

    @field_validator("provider_budgets_usd")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for provider, amount in v.items():
            if not provider or amount <= 0:
                raise ValueError(f"{provider!r}: budgets must be positive amounts keyed by provider label value")
        return v

    @model_validator(mode="after")
    def _windows(self) -> BudgetSettings:
        if self.spike_baseline_window <= self.spike_window:
            raise ValueError("spike_baseline_window must be longer than spike_window")
        return self


class BalanceSettings(_Strict):
    """Alerts on prepaid balances (llmpulse_balance{kind="total"}: what can still be spent)."""

    # Low-balance thresholds per currency, in that currency. 10 USD / 70 CNY is about a day of a small bot's
    # traffic: enough time to top up. Add the currencies your providers report.
    low: dict[str, float] = Field(default_factory=lambda: {"USD": 10.0, "CNY": 70.0})
    # For currencies not listed above: a threshold on the USD-converted balance (llmpulse_balance_usd, present
    # when exchange_rates has the currency). null disables the fallback.
    low_usd_fallback: float | None = Field(default=10.0, gt=0)
    # Runway (days left at the current burn) under a week: a top-up usually needs a purchase order or a card.
    runway_days: float = Field(default=7.0, gt=0)
    # The burn rate is the balance's slope (deriv) over this window. 1d averages out the daily traffic cycle; a
    # top-up makes the slope positive, which (correctly) silences the runway alert for a while.
    burn_window: Duration = 86400.0
    # The runway is a prediction: it needs this much history of the balance before it is trusted (a slope over an
    # hour of a fresh series is noise), and a level next to it (node-mixin's filesystem-filling pattern): a balance
    # above runway_levels[currency] never triggers it, however fast it falls. Currencies not listed have no level
    # condition.
    runway_min_history: Duration = 6 * 3600.0
    runway_levels: dict[str, float] = Field(default_factory=lambda: {"USD": 100.0, "CNY": 700.0})

    @field_validator("low", "runway_levels")
    @classmethod
    def _currencies(cls, v: dict[str, float]) -> dict[str, float]:
        for currency, amount in v.items():
            if not re.match(r"^[A-Z]{3}$", currency) or amount <= 0:
                raise ValueError(f"{currency!r}: need a 3-letter currency code and a positive threshold")
        return v


class PlanSettings(_Strict):
    """The plan-quota alert (LLMPlanQuotaLow) on llmpulse_plan_quota_remaining_ratio."""

    # Under 10 % of a window's quota left: at a steady pace that is the last tenth of the window, time enough to
    # slow down or switch to a pay-as-you-go key before calls are refused.
    quota_low_ratio: Ratio = 0.1
    # A quota that resets within this time is about to be refilled: no alert. 30m is shorter than MiniMax's and
    # Zhipu's 5-hour windows' last tenth, so a window spent early still alerts.
    quiet_before_reset: Duration = 1800.0


IncidentLevel = Literal["minor", "major", "critical"]


def _default_incident_levels() -> list[IncidentLevel]:
    return ["major", "critical"]


class StatusSettings(_Strict):
    """Provider status pages (llmpulse_status_indicator)."""

    # Which overall indicators count as an incident. minor is left out by default: the large providers post
    # several minor incidents a week (often one model in one region); add it if those matter to you.
    # "unknown" is never an incident (the page could not be read: LLMStatusPageUnreadable).
    incident_indicators: list[IncidentLevel] = Field(default_factory=_default_incident_levels, min_length=1)


class SelfSettings(_Strict):
    """The exporter's own health."""

    # Data older than an hour: six times the slowest default poll interval (balances, 10m), so several polls
    # in a row failed or the poller is stuck.
    stale_after: Duration = 3600.0


class AlertFor(_Strict):
    """``for:`` of each alert: how long a condition must hold before it notifies anyone.

    The rule of thumb is at least twice the update interval of the slowest input: cost sources poll every 5m,
    balances every 10m, probes every minute, status pages every minute.
    """

    LLMAPIHighErrorRate: Duration = 300.0  # 5m
    LLMAPIHighLatencyP99: Duration = 300.0  # 5m
    LLMAPIRateLimited: Duration = 600.0  # 10m: "sustained" 429s, not one burst
    LLMAPIAuthFailure: Duration = 300.0  # 5m: every 5m window has a 401/403 for 5m (see auth_failure_window)
    LLMAPIProbeFailing: Duration = 300.0  # 5m: five failed probes in a row at the default 1m probe interval
    LLMAPISlowCalls: Duration = 600.0  # 10m, like its window
    LLMBudgetBurnHigh: Duration = 900.0  # 15m: three cost polls confirm the month-to-date figure
    LLMBudgetExceeded: Duration = 900.0
    LLMBudgetForecastExceeded: Duration = 3600.0  # 1h: the forecast moves with every cost update
    LLMSpendSpike: Duration = 1800.0  # 30m
    LLMUnpricedUsage: Duration = 900.0
    LLMBalanceLow: Duration = 1200.0  # 20m: two balance polls
    LLMBalanceRunwayShort: Duration = 1800.0
    LLMBalanceExhausted: Duration = 300.0  # 5m: calls are failing already
    LLMPlanQuotaLow: Duration = 600.0  # 10m: two polls at the default 5m interval
    LLMRateLimitHeadroomLow: Duration = 300.0
    LLMTLSCertExpiringSoon: Duration = 900.0
    LLMProviderIncident: Duration = 120.0  # 2m: the page is authoritative; fire before the API alerts' 5m
    LLMStatusPageUnreadable: Duration = 900.0
    LLMPulseSourceDown: Duration = 900.0  # 15m: three failed polls at the 5m usage interval
    LLMPulseSourceStale: Duration = 300.0
    LLMPulseExporterDown: Duration = 300.0  # 5m: twenty missed scrapes; a restart never pages


# --- Alertmanager -----------------------------------------------------------------------------------------------------
class RouteTiming(_Strict):
    """Notification timing of one severity's route (Alertmanager's group_wait / group_interval / repeat_interval)."""

    group_wait: Duration
    group_interval: Duration
    repeat_interval: Duration

    @model_validator(mode="after")
    def _multiple(self) -> RouteTiming:
        if self.repeat_interval < self.group_interval:
            raise ValueError("repeat_interval must not be shorter than group_interval")
        return self


class RoutingSettings(_Strict):
    """The route tree and inhibitions of ``alertmanager/alertmanager.yml``."""

    # One notification per alert name and provider: "LLMAPIHighErrorRate for openai" with every affected
    # source/model listed inside, instead of one message per model.
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "provider"], min_length=1)
    # Critical pages fast: 10s to collect the burst, re-notify each minute for new alerts, remind hourly.
    critical: RouteTiming = RouteTiming(group_wait="10s", group_interval="1m", repeat_interval="1h")
    # Warnings can wait: Alertmanager's documented defaults (30s / 5m / 4h), repeated twice a working day.
    warning: RouteTiming = RouteTiming(group_wait="30s", group_interval="5m", repeat_interval="12h")
    # Info is a digest (one notification for all info alerts): batch generously, remind daily.
    info: RouteTiming = RouteTiming(group_wait="1m", group_interval="15m", repeat_interval="1d")
    # Watchdog is a heartbeat: a dead man's switch expects it every few minutes.
    watchdog: RouteTiming = RouteTiming(group_wait="10s", group_interval="1m", repeat_interval="5m")
    # Alertmanager marks an alert resolved when Prometheus stops re-sending it for this long.
    resolve_timeout: Duration = 300.0
    # An open incident on a provider's status page mutes that provider's error/latency alerts (the incident alert
    # says it all). Set false to be told about both.
    incident_mutes_api_alerts: bool = True
    # A source that is down or stale mutes the alerts computed from its data (spend, unpriced usage, balance,
    # status page): they are about old numbers, and LLMPulseSourceDown/Stale names the real problem.
    source_problems_mute_data_alerts: bool = True

    @field_validator("group_by")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for name in v:
            if name != "..." and not _LABEL_NAME_RE.match(name):
                raise ValueError(f"invalid label name {name!r}")
        if "..." in v:
            raise ValueError("'...' disables grouping; list label names instead")
        return v


Severities = list[Severity]


def _default_severities() -> Severities:
    # Info included: the info receiver sends a digest (all info alerts in one notification, a daily reminder), so
    # a channel that takes the pages also gets the low-priority news without a message per alert.
    return ["critical", "warning", "info"]


class _Channel(_Strict):
    name: str = Field(pattern=_RECEIVER_NAME_RE)
    # Which alert severities this channel receives (default all three; info arrives as a digest).
    severities: Severities = Field(default_factory=_default_severities, min_length=1)
    send_resolved: bool = True


class WebhookReceiver(_Channel):
    """A generic Alertmanager webhook (JSON payload version 4)."""

    # Not a secret here: Alertmanager 0.25 has no url_file. Put credentials in bearer_token_file instead.
    url: str
    max_alerts: int = Field(default=0, ge=0, description="0 = all alerts of the group in one payload")
    # A bearer token read by Alertmanager from this file at notify time (http_config.authorization).
    bearer_token_file: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://\S+$", v):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v


class EmailReceiver(_Channel):
    """Email through an SMTP smarthost. The password comes from a file (auth_password_file, Alertmanager 0.25+)."""

    # Recipients (joined into one To: header) and the sender.
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    # HOST:PORT of the SMTP server.
    smarthost: str
    # The name announced in HELO/EHLO; Alertmanager's default (localhost) when unset.
    hello: str | None = None
    # SMTP AUTH; the password is read by Alertmanager from this file at send time, never written here.
    auth_username: str | None = None
    auth_password_file: str | None = None
    # Refuse to send without STARTTLS (Alertmanager's default). Local mail catchers need false.
    require_tls: bool = True

    @field_validator("smarthost")
    @classmethod
    def _hostport(cls, v: str) -> str:
        return _hostports([v])[0]

    @model_validator(mode="after")
    def _auth(self) -> EmailReceiver:
        if self.auth_password_file and not self.auth_username:
            raise ValueError("auth_password_file needs auth_username")
        return self


class SlackReceiver(_Channel):
    """Slack incoming webhook; the webhook URL (a secret) is read from a file (api_url_file)."""

    # A file holding the incoming-webhook URL (read by Alertmanager at send time).
    api_url_file: str
    # Override of the webhook's default channel, e.g. "#llm-alerts".
    channel: str | None = None


class WecomReceiver(_Channel):
    """WeCom (WeChat Work) application messages through Alertmanager's wechat_configs.

    Alertmanager reads ``api_secret_file`` only from 0.31 on. For older versions (``alertmanager_version``, 0.25 by
    default) the generator reads the file and writes the secret inline, so the output must then be treated as a
    secret and not committed. The relay's ``wecom`` group-bot target keeps the secret out of Alertmanager instead.
    """

    # The WeCom corporation and the application (agent) that sends.
    corp_id: str
    agent_id: str
    # The application's secret (see the class docstring for Alertmanager 0.25).
    api_secret_file: str
    # Addressees: user ids, department ids or tag ids ("|"-separated lists), at least one.
    to_user: str | None = None
    to_party: str | None = None
    to_tag: str | None = None
    # Alertmanager's default is https://qyapi.weixin.qq.com/cgi-bin/ (private deployments differ).
    api_url: str | None = None

    @model_validator(mode="after")
    def _addressee(self) -> WecomReceiver:
        if not (self.to_user or self.to_party or self.to_tag):
            raise ValueError("set at least one of to_user, to_party, to_tag")
        return self


class RelayBotRef(_Channel):
    """A chat bot the exporter's relay posts to (configured with its secrets under the top-level ``relay:``)."""

    # The bot's platform and its name under relay.bots: Alertmanager posts to <relay url>/relay/<target>/<name>.
    target: Literal["feishu", "dingtalk", "wecom"]
    name: str = Field(pattern=_RECEIVER_NAME_RE)


class RelayReceivers(_Strict):
    # The exporter as Alertmanager reaches it (compose service name and default port).
    url: str = "http://exporter:9877"
    # Bearer token Alertmanager sends to the relay (the relay's token_env/token_file holds the same value).
    bearer_token_file: str | None = None
    bots: list[RelayBotRef] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://\S+$", v):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v.rstrip("/")


def _default_email() -> list[EmailReceiver]:
    # The stack's mail catcher (compose service "mailpit": SMTP on 1025, web UI on 127.0.0.1:8025; natively the
    # built-in inbox listens on the same ports): notifications are visible out of the box with no account anywhere.
    # It speaks plain SMTP, hence require_tls false. Every severity: critical and warning as a person on call would
    # get them, info as a digest.
    return [
        EmailReceiver(
            name="mailpit",
            to=["oncall@llmpulse.local"],
            smarthost="mailpit:1025",
            require_tls=False,
            **{"from": "alertmanager@llmpulse.local"},
        )
    ]


class Receivers(_Strict):
    """Notification channels. Setting ``receivers:`` replaces the default (the stack's mail catcher) entirely."""

    webhooks: list[WebhookReceiver] = Field(default_factory=list)
    email: list[EmailReceiver] = Field(default_factory=list)
    slack: list[SlackReceiver] = Field(default_factory=list)
    wecom: list[WecomReceiver] = Field(default_factory=list)
    relay: RelayReceivers = Field(default_factory=RelayReceivers)
    # A dead man's switch (healthchecks.io, Dead Man's Snitch, Grafana OnCall...) that expects the always-firing
    # Watchdog every repeat_interval of routing.watchdog (5m). Empty by default: the watchdog receiver then
    # discards the heartbeat, and nothing tells you when the alerting pipeline itself is down.
    watchdog_url: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> Receivers:
        names = {
            "webhooks": [c.name for c in self.webhooks],
            "email": [c.name for c in self.email],
            "slack": [c.name for c in self.slack],
            "wecom": [c.name for c in self.wecom],
            "relay.bots": [f"{b.target}/{b.name}" for b in self.relay.bots],
        }
        for kind, values in names.items():
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{kind}: duplicate name {dupes[0]!r}")
        if self.watchdog_url and not re.match(r"^https?://\S+$", self.watchdog_url):
            raise ValueError(f"watchdog_url: expected an http(s) URL, got {self.watchdog_url!r}")
        return self


def _default_receivers() -> Receivers:
    return Receivers(email=_default_email())


class BundleConfig(BaseModel):
    """The whole ``bundle:`` section. Every key is optional; see docs/bundle.md for the reference."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    links: LinksSettings = Field(default_factory=LinksSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    balance: BalanceSettings = Field(default_factory=BalanceSettings)
    plan: PlanSettings = Field(default_factory=PlanSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)
    exporter: SelfSettings = Field(default_factory=SelfSettings)
    # `for:` per alert name.
    alert_for: AlertFor = Field(default_factory=AlertFor, alias="for")
    # Alerts to leave out of the generated rules and their unit tests (their runbook sections stay).
    disabled_alerts: list[AlertName] = Field(default_factory=list)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    receivers: Receivers = Field(default_factory=_default_receivers)
    # The oldest Alertmanager the generated config must load in (Debian ships 0.25). Fields newer versions read
    # (wechat api_secret_file: 0.31) are used only when this allows them.
    alertmanager_version: Literal["0.25", "0.26", "0.27", "0.28", "0.31"] = "0.25"
    # The Kubernetes manifests (deploy/kubernetes): namespace, image, replicas, labels the Operator selects.
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)

    @model_validator(mode="after")
    def _consistent(self) -> BundleConfig:
        runway_s = self.balance.runway_days * 86400
        if runway_s <= self.alert_for.LLMBalanceRunwayShort:
            raise ValueError(
                "balance.runway_days must be longer than for.LLMBalanceRunwayShort, or the runway "
                "runs out before the alert may fire"
            )
        if self.budget.forecast_min_elapsed + self.alert_for.LLMBudgetForecastExceeded > 27 * 86400:
            raise ValueError(
                "budget.forecast_min_elapsed plus for.LLMBudgetForecastExceeded must stay within the "
                "first 27 days of a month, or the forecast alert could never fire in February"
            )
        if self.api.tls_expiry_critical <= self.alert_for.LLMTLSCertExpiringSoon:
            raise ValueError("api.tls_expiry_critical must be longer than for.LLMTLSCertExpiringSoon")
        return self

    def enabled(self, alert: str) -> bool:
        return alert not in self.disabled_alerts
