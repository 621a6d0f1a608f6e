"""Prometheus Operator objects: the ServiceMonitor that scrapes the exporter and the PrometheusRule that holds the
bundle's recording and alert rules, exactly as ``prometheus/rules/*.yml`` holds them.

The rules select ``job="<prometheus.job>"``; the ServiceMonitor sets that job label (the Operator's default would be
the Service name), so the same rules work in compose, natively and in a cluster.
"""

from __future__ import annotations

from typing import Any

from exporter.bundle.kubernetes.meta import PORT_NAME, metadata, selector_labels
from exporter.bundle.rules import alert_groups, dur, recording_groups
from exporter.bundle.settings import BundleConfig
from exporter.yamlio import without_notes

API_VERSION = "monitoring.coreos.com/v1"


def service_monitor(s: BundleConfig) -> dict[str, Any]:
    k = s.kubernetes
    p = s.prometheus
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": metadata(k, k.name, extra_labels=k.monitor_labels),
        "spec": {
            "selector": {"matchLabels": selector_labels(k)},
            "namespaceSelector": {"matchNames": [k.namespace]},
            "endpoints": [
                {
                    "port": PORT_NAME,
                    "path": "/metrics",
                    "scheme": "http",
                    "interval": dur(p.scrape_interval),
                    "scrapeTimeout": dur(p.scrape_timeout),
                    # The rules' job label, whatever the Service is called.
                    "relabelings": [{"action": "replace", "targetLabel": "job", "replacement": p.job}],
                }
            ],
        },
    }


def rule_groups(s: BundleConfig) -> list[dict[str, Any]]:
    """The recording groups, then the alert groups: the two generated rule files, in that order, without the
    ``"#"`` notes that become comments there (a PrometheusRule has no comments, and no such field)."""
    return without_notes([*recording_groups(s), *alert_groups(s)])


def prometheus_rule(s: BundleConfig) -> dict[str, Any]:
    k = s.kubernetes
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": metadata(k, k.name, component="rules", extra_labels=k.monitor_labels),
        "spec": {"groups": rule_groups(s)},
    }
