"""``prometheus/prometheus.yml``: scrape the exporter, Prometheus itself and Alertmanager; send alerts; load rules.

Targets and paths come from the settings and use the compose network's names; the native stack
(:mod:`exporter.stack`) regenerates the same file and rewrites ``exporter:9877`` style targets to loopback.
"""

from __future__ import annotations

from typing import Any

from exporter.bundle.rules import dur
from exporter.bundle.settings import BundleConfig


def prometheus_config(s: BundleConfig) -> dict[str, Any]:
    p = s.prometheus
    global_: dict[str, Any] = {
        "scrape_interval": dur(p.scrape_interval),
        "scrape_timeout": dur(p.scrape_timeout),
        "evaluation_interval": dur(p.evaluation_interval),
    }
    if p.external_labels:
        global_["external_labels"] = dict(sorted(p.external_labels.items()))
    config: dict[str, Any] = {"global": global_}
    if p.alertmanager_targets:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(p.alertmanager_targets)}]}]}
    config["rule_files"] = list(p.rule_files)
    scrape = [
        {"job_name": p.job, "static_configs": [{"targets": list(p.exporter_targets)}]},
        {"job_name": "prometheus", "static_configs": [{"targets": [p.self_target]}]},
    ]
    if p.alertmanager_targets:
        scrape.append({"job_name": "alertmanager", "static_configs": [{"targets": list(p.alertmanager_targets)}]})
    config["scrape_configs"] = scrape
    return config
