"""The llmpulse dashboards, one module per dashboard and one function per panel.

A board module exposes ``build(ctx) -> Board``: its identity (uid, title, tags, time range) and its rows of
panels. :mod:`exporter.bundle.dashboards` wraps boards into Grafana JSON (variables, links, the "generated"
note) and writes the provisioning files. :class:`Ctx` carries what the ``bundle:`` config decides (budget,
thresholds), so a panel's thresholds match the alert rules' thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exporter.bundle.panels import Row
from exporter.bundle.topology import COMPOSE, Topology


def _setting(settings: Any, path: str, default: Any) -> Any:
    """``settings.a.b`` for ``path="a.b"``, or ``default`` when a part is missing (``llmpulse generate`` without a
    config passes None and gets the built-in defaults, which are BundleConfig's defaults)."""
    node = settings
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return default
    return node


@dataclass(frozen=True)
class Ctx:
    """What the dashboards take from the ``bundle:`` config (BundleConfig), so panel thresholds are the alert
    thresholds. The defaults here are only used when a setting is absent; BundleConfig's defaults win."""

    #: Monthly budget for all providers, in US dollars; None draws no budget line and no budget gauge.
    monthly_budget_usd: float | None = 1000.0
    #: Budgets per provider label value (a "provider budgets used" panel appears when there are any).
    provider_budgets_usd: tuple[tuple[str, float], ...] = ()
    #: The month-end forecast is shown only this far into the month (seconds), like LLMBudgetForecastExceeded.
    forecast_min_elapsed: float = 3 * 86400.0
    #: Share of the budget at which budget panels turn orange (LLMBudgetBurnHigh).
    budget_warning_ratio: float = 0.8
    #: Error ratio at which error panels turn red (LLMAPIHighErrorRate).
    error_ratio: float = 0.05
    #: Latency percentile the latency alert watches, and its threshold (LLMAPIHighLatencyP99).
    latency_quantile: float = 0.99
    latency_seconds: float = 2.0
    #: A call slower than this is "slow" (LLMAPISlowCalls); a bucket bound of the duration histogram.
    slow_call_seconds: float = 10.0
    #: Share of slow calls at which the slow-call panels turn red.
    slow_call_ratio: float = 0.10
    #: Share of 429 answers at which the 429 panels turn red (LLMAPIRateLimited).
    rate_limited_ratio: float = 0.01
    #: Days of balance left at which runway panels turn red (LLMBalanceRunwayShort).
    runway_days: float = 7.0
    #: Window of the balance burn rate (deriv), in seconds: the alert's window, so both agree.
    burn_window_seconds: float = 86400.0
    #: Share of a plan quota left at which plan-quota panels turn red (LLMPlanQuotaLow).
    plan_quota_low_ratio: float = 0.1
    #: Share of a rate limit left at which headroom panels turn red (LLMRateLimitHeadroomLow).
    ratelimit_headroom_ratio: float = 0.1
    #: Days before a TLS certificate expires at which the panel turns orange / red (LLMTLSCertExpiringSoon).
    cert_warning_days: float = 14.0
    cert_critical_days: float = 3.0
    #: Age of a source's last good data at which the data-age panels turn red (LLMPulseSourceStale).
    stale_seconds: float = 3600.0
    #: Prometheus' scrape interval: Grafana computes $__rate_interval from it (datasource timeInterval).
    scrape_interval: str = "15s"
    prometheus_url: str = "http://prometheus:9090"
    alertmanager_url: str = "http://alertmanager:9093"
    #: Where Grafana reads the dashboard files (the compose stack mounts ./grafana/dashboards there).
    dashboards_path: str = "/var/lib/grafana/dashboards"

    @classmethod
    def from_settings(cls, settings: Any | None, topology: Topology = COMPOSE) -> Ctx:
        """Read a ``BundleConfig`` (None = the built-in defaults); service URLs and paths come from ``topology``."""
        from exporter.durations import format_duration

        if settings is None:
            from exporter.bundle.settings import BundleConfig

            settings = BundleConfig()
        d = cls()
        budget = _setting(settings, "budget.monthly_budget_usd", None)
        provider_budgets = _setting(settings, "budget.provider_budgets_usd", {}) or {}
        return cls(
            monthly_budget_usd=float(budget) if budget else None,
            provider_budgets_usd=tuple(sorted((str(k), float(v)) for k, v in provider_budgets.items())),
            budget_warning_ratio=float(_setting(settings, "budget.burn_high_ratio", d.budget_warning_ratio)),
            forecast_min_elapsed=float(_setting(settings, "budget.forecast_min_elapsed", d.forecast_min_elapsed)),
            error_ratio=float(_setting(settings, "api.error_ratio", d.error_ratio)),
            latency_quantile=float(_setting(settings, "api.latency_quantile", d.latency_quantile)),
            latency_seconds=float(_setting(settings, "api.latency_threshold_seconds", d.latency_seconds)),
            slow_call_seconds=float(_setting(settings, "api.slow_call_seconds", d.slow_call_seconds)),
            slow_call_ratio=float(_setting(settings, "api.slow_call_ratio", d.slow_call_ratio)),
            rate_limited_ratio=float(_setting(settings, "api.rate_limited_ratio", d.rate_limited_ratio)),
            runway_days=float(_setting(settings, "balance.runway_days", d.runway_days)),
            burn_window_seconds=float(_setting(settings, "balance.burn_window", d.burn_window_seconds)),
            plan_quota_low_ratio=float(_setting(settings, "plan.quota_low_ratio", d.plan_quota_low_ratio)),
            ratelimit_headroom_ratio=float(
                _setting(settings, "api.ratelimit_headroom_ratio", d.ratelimit_headroom_ratio)
            ),
            cert_warning_days=float(_setting(settings, "api.tls_expiry_warning", d.cert_warning_days * 86400)) / 86400,
            cert_critical_days=float(_setting(settings, "api.tls_expiry_critical", d.cert_critical_days * 86400))
            / 86400,
            stale_seconds=float(_setting(settings, "exporter.stale_after", d.stale_seconds)),
            scrape_interval=format_duration(float(_setting(settings, "prometheus.scrape_interval", 15.0))),
            prometheus_url=topology.url("prometheus"),
            alertmanager_url=topology.url("alertmanager"),
            dashboards_path=topology.mount("grafana/dashboards"),
        )

    @property
    def burn_window(self) -> str:
        from exporter.durations import format_duration

        return format_duration(self.burn_window_seconds)


@dataclass(frozen=True)
class Board:
    """A dashboard before it becomes JSON."""

    uid: str
    slug: str  # file name without .json
    title: str
    summary: str  # first line of the description
    tags: tuple[str, ...]
    rows: Sequence[Row]
    time_from: str = "now-24h"
    refresh: str = "1m"
    timezone: str = "browser"
    #: Domain variables this board defines (datasource is always there).
    variables: tuple[str, ...] = ("provider", "source", "model", "project")
