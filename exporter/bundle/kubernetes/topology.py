"""The Kubernetes topology: the exporter is the Service ``<name>.<namespace>.svc``; Prometheus, Alertmanager and
Grafana are the cluster's own (kube-prometheus-stack), reached through the Operator's objects, not by address.

So only the exporter runs here, and only its address changes: the relay URL that Alertmanager posts to becomes the
Service's. Addresses of services this topology does not run stay as the settings write them.
"""

from __future__ import annotations

from exporter.bundle.kubernetes.meta import PORT
from exporter.bundle.kubernetes.settings import KubernetesSettings
from exporter.bundle.topology import COMPOSE, Topology


def kubernetes_topology(k: KubernetesSettings) -> Topology:
    return Topology(
        name="kubernetes",
        addresses={**COMPOSE.addresses, "exporter": f"{k.name}.{k.namespace}.svc:{PORT}"},
        mounts=COMPOSE.mounts,
        self_scrape=COMPOSE.self_scrape,
        running=frozenset({"exporter"}),
    )
