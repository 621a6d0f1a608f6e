"""``prometheus/prometheus.yml``: scrape the exporter, Prometheus itself and Alertmanager; send alerts; load rules.

Targets come from the settings; the defaults' compose addresses are written as the topology names them
(:mod:`exporter.bundle.topology`), and targets of services the topology does not run are left out. Rule files are
relative to this file, so they need no translation.
"""

from __future__ import annotations

from typing import Any

from exporter.bundle.rules import dur
from exporter.bundle.settings import BundleConfig
from exporter.bundle.topology import COMPOSE, Topology


def prometheus_config(s: BundleConfig, topology: Topology = COMPOSE) -> dict[str, Any]:
    p = s.prometheus
    exporters = topology.targets(p.exporter_targets)
    alertmanagers = topology.targets(p.alertmanager_targets)
    global_: dict[str, Any] = {
        "scrape_interval": dur(p.scrape_interval),
        "scrape_timeout": dur(p.scrape_timeout),
        "evaluation_interval": dur(p.evaluation_interval),
    }
    if p.external_labels:
        global_["external_labels"] = dict(sorted(p.external_labels.items()))
    config: dict[str, Any] = {"global": global_}
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
    config["rule_files"] = list(p.rule_files)
    scrape = []
    if exporters:
        scrape.append({"job_name": p.job, "static_configs": [{"targets": exporters}]})
    scrape.append({"job_name": "prometheus", "static_configs": [{"targets": [topology.localize(p.self_target)]}]})
    if alertmanagers:
        scrape.append({"job_name": "alertmanager", "static_configs": [{"targets": alertmanagers}]})
    config["scrape_configs"] = scrape
    return config
