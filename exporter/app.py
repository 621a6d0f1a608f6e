"""Wires a validated config into running parts: pollers, probes, event ingest, relay, and the HTTP server."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from exporter import __version__, contract
from exporter.budget import SeriesBudget
from exporter.config import Config
from exporter.exposition import Exposition, render_metricset
from exporter.httpserver import Router, Server
from exporter.ingest import EventIngest
from exporter.poller import Enricher, SourcePoller
from exporter.pricing import build_enricher
from exporter.probes import ProbeScheduler
from exporter.providers.balance import balance_usd_enricher
from exporter.providers.http_json import families_for
from exporter.relay import Relay
from exporter.samples import LiveMetrics, MetricSet
from exporter.server import Endpoints, add_routes

log = logging.getLogger(__name__)


def _process_metrics_openmetrics() -> bytes:
    """The process metrics in OpenMetrics, without the ``# EOF`` the exposition adds after everything."""
    body = openmetrics_latest(REGISTRY)
    return body[: -len(b"# EOF\n")] if body.endswith(b"# EOF\n") else body


class App:
    """Everything one ``llmpulse serve`` runs. Build, :meth:`start`, then :meth:`stop`."""

    def __init__(
        self,
        config: Config,
        host: str = "0.0.0.0",
        port: int = 9877,
        *,
        process_metrics: bool = True,
        state_dir: Path | None = None,
        simulator_url: str | None = None,
    ) -> None:
        """``state_dir`` (else the config's ``state_dir``) keeps month-to-date marks across restarts; it must
        exist and be writable (see :func:`exporter.state.prepare_dir`)."""
        self.config = config
        self.state_dir = state_dir or config.state_path
        self.started_at = time.time()
        # Zero-first: a new counter series is held at 0 until a scrape read it. Without scrapes, the value is released
        # after two scrape intervals: Prometheus scrapes within one, the second is a margin for its jitter (a zero
        # released just before a late scrape would be lost).
        self.exposition = Exposition(zero_first_hold=2 * config.bundle.prometheus.scrape_interval)
        if process_metrics:
            self.exposition.extra = lambda: generate_latest(REGISTRY)
            self.exposition.extra_openmetrics = _process_metrics_openmetrics
        build = MetricSet()
        build.set(contract.BUILD_INFO, 1.0, version=__version__)
        self.exposition.publish("build", render_metricset(build, {}))

        # After each successful poll: estimated cost from the price table, USD-normalised balances.
        self.pricing = build_enricher(config)
        enrichers: list[Enricher] = [self.pricing] if self.pricing is not None else []
        enrichers.append(balance_usd_enricher(config.exchange_rates))

        for source in config.sources:
            if source.type == "http_json":  # families named by the config, not by the contract
                for fam in families_for(source):
                    self.exposition.add_family(fam)
        self.pollers = [
            SourcePoller(s, self.exposition, enrichers=enrichers, state_dir=self.state_dir) for s in config.sources
        ]

        self.probe_live = LiveMetrics()
        self.probes: ProbeScheduler | None = None
        if config.probes:
            self.probes = ProbeScheduler(config.probes, self.probe_live)
            self.exposition.attach_live("probes", self.probe_live)

        self.router = Router()
        self.ingest: EventIngest | None = None
        if config.events is not None:
            budget = SeriesBudget(config.events.max_series_per_family, config.events.max_series)
            self.events_live = LiveMetrics(budget)
            self.ingest = EventIngest(config.events, self.events_live, pricing=self.pricing)
            self.exposition.attach_live("events", self.events_live)
            self.router.add(
                "POST",
                "/events",
                self.ingest.handle,
                max_body=config.events.max_body_bytes,
                on_too_large=self.ingest.too_large,
            )

        self.relay_live = LiveMetrics()
        self.relay = Relay(config, self.relay_live)  # registers nothing without a relay: section
        self.exposition.attach_live("relay", self.relay_live)
        self.relay.register(self.router)

        add_routes(
            self.router,
            Endpoints(
                metrics_body=lambda compressed, fmt: self.exposition.chunks(compressed=compressed, fmt=fmt),
                ready=self.ready,
                sources=lambda: [poller.status() for poller in self.pollers],
                probes=self.probes.statuses if self.probes is not None else list,
                started_at=self.started_at,
                config_path=config.path or None,
                events_source=config.events.name if config.events is not None else None,
                simulator_url=simulator_url,
                health_problems=self.health_problems,
                waiting_sources=self.waiting_sources,
            ),
        )
        self.server = Server(self.router, host, port)
        self.daily_report = None
        if config.report is not None and config.report.enabled:
            from exporter.report_send import DailyReport

            self.daily_report = DailyReport(config)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> App:
        self.server.start()
        for poller in self.pollers:
            poller.start()
        if self.probes is not None:
            self.probes.start()
        if self.daily_report is not None:
            self.daily_report.start()
        log.info(
            "llmpulse %s listening on %s with %d sources, %d probes, events %s",
            __version__,
            self.url,
            len(self.pollers),
            len(self.config.probes),
            "on" if self.ingest else "off",
        )
        return self

    def stop(self) -> None:
        for poller in self.pollers:  # all of them at once, then wait for each
            poller.request_stop()
        if self.probes is not None:
            self.probes.stop()
        if self.ingest is not None:
            self.ingest.close()
        if self.daily_report is not None:
            self.daily_report.stop()
        for poller in self.pollers:
            poller.stop(timeout=2.0)
        self.server.stop()

    def ready(self) -> bool:
        """Ready once every source has finished its first poll (successful or not)."""
        return all(p.status().polls > 0 for p in self.pollers)

    def waiting_sources(self) -> list[str]:
        """Sources that have not finished their first poll yet."""
        return [p.config.name for p in self.pollers if p.status().polls == 0]

    def health_problems(self) -> list[str]:
        """Why this process should be restarted: a background loop that stopped, or /metrics that cannot render.
        Empty when healthy."""
        problems = [f"source {p.config.name}: poll loop stopped" for p in self.pollers if not p.alive()]
        if self.probes is not None:
            problems += [f"probe {name}: probe loop stopped" for name in self.probes.stopped()]
        if self.ingest is not None and not self.ingest.alive():
            problems.append("events: window timer stopped")
        try:
            self.exposition.body()
        except Exception as exc:
            log.exception("/metrics cannot render")
            problems.append(f"/metrics cannot render: {type(exc).__name__}")
        return problems
