"""Names, labels and metadata shared by every generated Kubernetes object, so selectors and labels agree."""

from __future__ import annotations

from typing import Any

from exporter.bundle.kubernetes.settings import KubernetesSettings
from exporter.bundle.stackfiles import SERVICES

#: The container and Service port's name; the ServiceMonitor and NetworkPolicy refer to it by name.
PORT_NAME = "http"
PORT = SERVICES["exporter"].port


def selector_labels(k: KubernetesSettings) -> dict[str, str]:
    """The labels that pick the exporter's pods (Deployment selector, Service, PDB, NetworkPolicy). Never change
    them on a running Deployment: its selector is immutable."""
    return {"app.kubernetes.io/name": "llmpulse", "app.kubernetes.io/instance": k.name}


def labels(k: KubernetesSettings, component: str = "exporter", extra: dict[str, str] | None = None) -> dict[str, str]:
    """Recommended labels of every object: the selector labels, the part it plays, the user's labels."""
    return {
        **selector_labels(k),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "llmpulse",
        **k.labels,
        **(extra or {}),
    }


def metadata(
    k: KubernetesSettings,
    name: str,
    component: str = "exporter",
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": k.namespace, "labels": labels(k, component, extra_labels)}
    if annotations:
        meta["annotations"] = annotations
    return meta
