"""Wires a validated config into running parts: pollers, probes, event ingest, relay, and the HTTP server."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import REGISTRY, generate_latest

from exporter import __version__, contract
from exporter.config import Config
from exporter.exposition import Exposition, render_metricset
from exporter.httpserver import Router, Server
from exporter.poller import SourcePoller
from exporter.providers.balance import balance_usd_enricher
from exporter.samples import LiveMetrics, MetricSet

log = logging.getLogger(__name__)


class App:
    """Everything one ``llmpulse serve`` runs. Build, :meth:`start`, then :meth:`stop`."""

    def __init__(self, config: Config, host: str = "0.0.0.0", port: int = 9877, *,
                 process_metrics: bool = True) -> None:
        self.config = config
        self.started_at = time.time()
        self.exposition = Exposition()
        if process_metrics:
            self.exposition.extra = lambda: generate_latest(REGISTRY)
        build = MetricSet()
        build.set(contract.BUILD_INFO, 1.0, version=__version__)
        self.exposition.publish("build", render_metricset(build, {}))

        enrichers: list[Any] = []
        self.pricing = None
        try:
            from exporter.pricing import build_enricher
        except ImportError:
            build_enricher = None  # type: ignore[assignment]
        if build_enricher is not None:
            enricher = build_enricher(config)
            if enricher is not None:
                enrichers.append(enricher)
                self.pricing = enricher

        enrichers.append(balance_usd_enricher(config.exchange_rates))  # llmpulse_balance_usd from exchange_rates

        for fam in _custom_families(config):
            self.exposition.add_family(fam)
        self.pollers = [SourcePoller(s, self.exposition, enrichers=enrichers) for s in config.sources]

        self.probe_live = LiveMetrics()
        self.probes: Any = None
        if config.probes:
            from exporter.probes import ProbeScheduler

            self.probes = ProbeScheduler(config.probes, self.probe_live)
            self.exposition.attach_live("probes", self.probe_live)

        self.router = Router()
        self.ingest: Any = None
        if config.events is not None:
            from exporter.ingest import EventIngest

            self.events_live = LiveMetrics()
            self.ingest = EventIngest(config.events, self.events_live, pricing=self.pricing)
            self.exposition.attach_live("events", self.events_live)
            self.router.add("POST", "/events", self.ingest.handle, max_body=config.events.max_body_bytes,
                            on_too_large=self.ingest.too_large)

        self.relay: Any = None
        try:
            from exporter.relay import Relay
        except ImportError:
            Relay = None  # type: ignore[assignment,misc]
        if Relay is not None:
            self.relay_live = LiveMetrics()
            self.relay = Relay(config, self.relay_live)
            self.exposition.attach_live("relay", self.relay_live)
            self.relay.register(self.router)

        from exporter.server import add_routes

        add_routes(self.router, self)
        self.server = Server(self.router, host, port)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> App:
        self.server.start()
        for poller in self.pollers:
            poller.start()
        if self.probes is not None:
            self.probes.start()
        log.info("llmpulse %s listening on %s with %d sources, %d probes, events %s", __version__, self.url,
                 len(self.pollers), len(self.config.probes), "on" if self.ingest else "off")
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller._stop.set()
        if self.probes is not None:
            self.probes.stop()
        if self.ingest is not None:
            self.ingest.close()
        for poller in self.pollers:
            poller.stop(timeout=2.0)
        self.server.stop()

    def ready(self) -> bool:
        """Ready once every source has finished its first poll (successful or not)."""
        return all(p.status().polls > 0 for p in self.pollers)


def _custom_families(config: Config) -> list[contract.Family]:
    try:
        from exporter.providers.http_json import families_for
    except ImportError:
        return []
    out: list[contract.Family] = []
    for source in config.sources:
        if source.type == "http_json":
            out.extend(families_for(source))
    return out
