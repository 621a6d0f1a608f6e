"""The core objects that run the exporter: Deployment, Service, PodDisruptionBudget, NetworkPolicy.

They need nothing but a plain cluster (no Operator), so ``kubectl apply -k deploy/kubernetes`` works anywhere. The
exporter's config arrives from a ConfigMap that kustomize generates from ``config.yml`` (a new hash in its name on
every change, so a config edit rolls the pods), its keys from a Secret that the user creates (never generated:
the repository holds no secret).
"""

from __future__ import annotations

from typing import Any

from exporter.bundle.kubernetes.meta import PORT, PORT_NAME, labels, metadata, selector_labels
from exporter.bundle.kubernetes.settings import KubernetesSettings

#: The ConfigMap kustomize generates from deploy/kubernetes/config.yml (kustomize appends a content hash).
CONFIG_MAP = "llmpulse-config"
CONFIG_DIR = "/etc/llmpulse"
#: The exporter's own state (kept across restarts of the container, not of the pod): an emptyDir.
STATE_DIR = "/var/lib/llmpulse"
#: The image's non-root user (Dockerfile: uid/gid 10001).
UID = 10001


def _container(k: KubernetesSettings) -> dict[str, Any]:
    r = k.resources
    return {
        "name": "exporter",
        "image": k.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "serve",
            "--config",
            f"{CONFIG_DIR}/config.yml",
            "--listen",
            f"0.0.0.0:{PORT}",
            "--log-format",
            "json",
            "--state-dir",
            STATE_DIR,
        ],
        # Every key of the user's Secret becomes an environment variable (OPENAI_ADMIN_KEY...), which the config
        # names with api_key_env. optional: the keyless starter config runs before the Secret exists.
        "envFrom": [{"secretRef": {"name": k.keys_secret, "optional": True}}],
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        # /-/healthy: the process and its loops are alive (a failure restarts the container). /-/ready: every
        # source has finished its first poll, so a new pod joins the Service only with data to show.
        "livenessProbe": {
            "httpGet": {"path": "/-/healthy", "port": PORT_NAME},
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 4,
        },
        "readinessProbe": {
            "httpGet": {"path": "/-/ready", "port": PORT_NAME},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
            "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def deployment(k: KubernetesSettings) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(k, k.name),
        "spec": {
            "replicas": k.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector_labels(k)},
            # One new pod comes up (and is ready) before an old one goes: never fewer ready replicas than asked.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(k)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # Replicas on different nodes when the cluster has them: one node going away keeps one.
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "topologyKey": "kubernetes.io/hostname",
                                        "labelSelector": {"matchLabels": selector_labels(k)},
                                    },
                                }
                            ]
                        }
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [_container(k)],
                    "volumes": [
                        {"name": "config", "configMap": {"name": CONFIG_MAP}},
                        {"name": "state", "emptyDir": {"sizeLimit": "64Mi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


def service(k: KubernetesSettings) -> dict[str, Any]:
    """One Service for scrapes (Prometheus scrapes each pod through its endpoints) and for /events and the relay.

    ClientIP affinity keeps one client's /events posts on one replica, so sessions and distinct users are counted
    by the replica that saw all of that client's events (docs/kubernetes.md, "Two replicas").
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(k, k.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(k),
            "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": k.events_affinity_seconds}},
        },
    }


def pod_disruption_budget(k: KubernetesSettings) -> dict[str, Any]:
    """A drain takes one replica at a time (maxUnavailable, so a single replica never blocks a drain)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(k, k.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(k)}},
    }


def network_policy(k: KubernetesSettings) -> dict[str, Any]:
    """Ingress to the exporter's one port only: scrapes from Prometheus pods, /events and /relay from pods.

    Two rules so each can be narrowed on its own: Prometheus pods in any namespace (kube-prometheus-stack's carry
    ``app.kubernetes.io/name: prometheus``), and pods of ``events_from_namespaces`` (default: every namespace) for
    /events posts and Alertmanager's relay webhooks. A NetworkPolicy sees ports, not paths; the bearer token guards /events. Egress stays open: the
    exporter calls provider APIs on the internet.
    """
    port = [{"port": PORT_NAME, "protocol": "TCP"}]
    senders: dict[str, Any] = {}  # every namespace
    if k.events_from_namespaces:
        names = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(k.events_from_namespaces)}
        senders = {"matchExpressions": [names]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(k, k.name),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(k)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                        }
                    ],
                    "ports": port,
                },
                {"from": [{"namespaceSelector": senders}], "ports": port},
            ],
        },
    }
