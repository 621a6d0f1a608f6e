"""The files of ``deploy/kubernetes/``: each object in its own YAML file, and the kustomizations that tie them up.

Objects carry their namespace explicitly (readable on their own, and ``kubectl apply -f`` of one file works); the
kustomizations set it too, so an overlay's ``namespace:`` moves everything at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.bundle.kubernetes import amconfig, operator, workload
from exporter.bundle.kubernetes.dashboards import dashboard_config_maps
from exporter.bundle.kubernetes.meta import labels
from exporter.bundle.settings import BundleConfig
from exporter.yamlio import dump, header

BASE_DIR = "deploy/kubernetes"
COMPONENT_DIR = f"{BASE_DIR}/components/prometheus-operator"
#: Outside the base's directory: kustomize refuses a base whose directory contains the overlay (a cycle).
OVERLAY_DIR = "deploy/kube-prometheus-stack"
CONFIG_FILE = f"{BASE_DIR}/config.yml"

_SOURCE = "exporter/bundle/kubernetes/"

#: The starter config: provider status pages need no key, so a fresh install is ready and scraped at once.
#: Replace it with your own (an overlay's configMapGenerator, docs/kubernetes.md); keys come from the Secret.
STARTER_CONFIG: dict[str, Any] = {
    "sources": [
        {
            "type": "statuspage",
            "name": "openai-status",
            "base_url": "https://status.openai.com",
            "provider_label": "openai",
        },
        {
            "type": "statuspage",
            "name": "anthropic-status",
            "base_url": "https://status.claude.com",
            "provider_label": "anthropic",
        },
    ]
}


def _file(module: str, note: str, data: Any) -> str:
    comments = "".join(f"# {line}".rstrip() + "\n" for line in note.strip().splitlines())
    return header(_SOURCE + module) + comments + dump(data)


def _kustomization(kind: str, namespace: str | None, **fields: Any) -> dict[str, Any]:
    api = "kustomize.config.k8s.io/v1alpha1" if kind == "Component" else "kustomize.config.k8s.io/v1beta1"
    data: dict[str, Any] = {"apiVersion": api, "kind": kind}
    if namespace:
        data["namespace"] = namespace
    data.update(fields)
    return data


def kubernetes_files(s: BundleConfig, grafana: Mapping[str, str]) -> dict[str, str]:
    """Every file of deploy/kubernetes (repository-relative path -> text); ``grafana`` is the bundle's Grafana
    files, whose dashboards the ConfigMaps carry verbatim."""
    k = s.kubernetes
    core = {
        "deployment.yaml": (
            "workload.py",
            "The exporter: non-root, read-only root filesystem.",
            workload.deployment(k),
        ),
        "service.yaml": ("workload.py", "Scrapes, /events and the relay.", workload.service(k)),
        "poddisruptionbudget.yaml": (
            "workload.py",
            "Drains take one replica at a time.",
            workload.pod_disruption_budget(k),
        ),
        "networkpolicy.yaml": ("workload.py", "Ingress to the exporter's port only.", workload.network_policy(k)),
    }
    files: dict[str, str] = {f"{BASE_DIR}/{name}": _file(*spec) for name, spec in core.items()}
    boards = dashboard_config_maps(k, grafana)
    for slug, config_map in boards.items():
        files[f"{BASE_DIR}/dashboards/{slug}.yaml"] = _file(
            "dashboards.py", f"grafana/dashboards/llmpulse/{slug}.json for the Grafana sidecar.", config_map
        )
    files[CONFIG_FILE] = _file(
        "kustomize.py",
        "The exporter's starter config (keyless: provider status pages). Replace it with your own through an\n"
        "overlay's configMapGenerator (docs/kubernetes.md); API keys come from the Secret as environment variables.",
        STARTER_CONFIG,
    )
    files[f"{BASE_DIR}/kustomization.yaml"] = _file(
        "kustomize.py",
        "The base: core objects only, for any cluster. With the Prometheus Operator, apply\n"
        f"{OVERLAY_DIR} (or add components/prometheus-operator to your own overlay).",
        _kustomization(
            "Kustomization",
            k.namespace,
            resources=[*core, *(f"dashboards/{slug}.yaml" for slug in boards)],
            configMapGenerator=[
                {
                    "name": workload.CONFIG_MAP,
                    "files": ["config.yml"],
                    "options": {"labels": labels(k, "config")},
                }
            ],
        ),
    )
    crds = {
        "servicemonitor.yaml": ("operator.py", "Scrapes every replica.", operator.service_monitor(s)),
        "prometheusrule.yaml": (
            "operator.py",
            "Exactly the rules of prometheus/rules/*.yml.",
            operator.prometheus_rule(s),
        ),
        "alertmanagerconfig.yaml": (
            "amconfig.py",
            "Routes, inhibitions and the receivers that need no llmpulse templates"
            + (f" (left out: {', '.join(amconfig.left_out(s))})." if amconfig.left_out(s) else "."),
            amconfig.alertmanager_config(s),
        ),
    }
    files.update({f"{COMPONENT_DIR}/{name}": _file(*spec) for name, spec in crds.items()})
    files[f"{COMPONENT_DIR}/kustomization.yaml"] = _file(
        "kustomize.py",
        "The Prometheus Operator's custom resources, as a component: a cluster without the Operator applies the\n"
        "base alone.",
        _kustomization("Component", None, resources=list(crds)),
    )
    files[f"{OVERLAY_DIR}/kustomization.yaml"] = _file(
        "kustomize.py",
        "kube-prometheus-stack: the base plus the Operator's resources. kubectl apply -k " + OVERLAY_DIR,
        _kustomization(
            "Kustomization",
            k.namespace,
            resources=["../kubernetes"],
            components=["../kubernetes/components/prometheus-operator"],
        ),
    )
    return files
