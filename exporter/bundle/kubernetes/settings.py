"""The ``bundle.kubernetes:`` section: what the generated Kubernetes manifests (``deploy/kubernetes/``) may vary.

The defaults target a stock kube-prometheus-stack install in the namespace ``monitoring`` (``helm install
kube-prometheus-stack prometheus-community/kube-prometheus-stack -n monitoring``): its Prometheus selects
ServiceMonitors and PrometheusRules labelled ``release: <helm release>``, and its Grafana sidecar loads dashboard
ConfigMaps labelled ``grafana_dashboard: "1"`` from its own namespace. Anything else (another namespace, release
name, image) is one key here and ``llmpulse generate --config``; docs/kubernetes.md shows each.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from exporter import __version__

# RFC 1123 labels (namespaces, object names) and Kubernetes label keys/values.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|k|M|G)?$"


def _k8s_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not _LABEL_KEY_RE.match(key):
            raise ValueError(f"{key!r} is not a Kubernetes label key")
        if not _LABEL_VALUE_RE.match(val):
            raise ValueError(f"{val!r} (label {key}) is not a Kubernetes label value")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """CPU and memory of one exporter container (Kubernetes quantities)."""

    # `llmpulse serve --demo` (every source and probe, plus the simulator in the same process) settles at about
    # 67 MiB resident and a few % of a core: requests reserve that much; limits leave room for a burst of /events
    # posts and a large provider answer being parsed.
    cpu_request: str = Field(default="50m", pattern=_QUANTITY)
    memory_request: str = Field(default="96Mi", pattern=_QUANTITY)
    cpu_limit: str = Field(default="500m", pattern=_QUANTITY)
    memory_limit: str = Field(default="256Mi", pattern=_QUANTITY)


class KubernetesSettings(_Strict):
    """Names, image and placement of the exporter in a cluster."""

    # Where every object goes. kube-prometheus-stack's Grafana sidecar looks for dashboard ConfigMaps in its own
    # namespace by default, so the default is the namespace the stack's docs install it into.
    namespace: str = Field(default="monitoring", pattern=_DNS_LABEL)
    # Name of the Deployment, Service and the other objects (and app.kubernetes.io/instance).
    name: str = Field(default="llmpulse", pattern=_DNS_LABEL)
    # The exporter image (built from the repository's Dockerfile). Override per cluster with this key or with
    # `kustomize edit set image`.
    image: str = f"ghcr.io/llmpulse/llmpulse:{__version__}"
    # Two replicas: scraping, polling and alerting survive a node drain or a crash (docs/kubernetes.md, HA).
    replicas: int = Field(default=2, ge=1, le=10)
    # Added to every object (and the pods), e.g. {team: platform}.
    labels: dict[str, str] = Field(default_factory=dict)
    # On the ServiceMonitor and PrometheusRule: kube-prometheus-stack's Prometheus selects `release: <its helm
    # release name>` unless its *SelectorNilUsesHelmValues values are false. Set your release name here.
    monitor_labels: dict[str, str] = Field(default_factory=lambda: {"release": "kube-prometheus-stack"})
    # The Secret (created by you, never generated) whose keys become the exporter's environment: OPENAI_ADMIN_KEY,
    # DEEPSEEK_API_KEY, LLMPULSE_EVENTS_TOKEN... as the config's *_env keys name them.
    keys_secret: str = Field(default="llmpulse-keys", pattern=_DNS_LABEL)
    # The Secret holding Alertmanager credentials that AlertmanagerConfig refers to (webhook bearer tokens): the
    # key is the file name of the `bearer_token_file` setting.
    alertmanager_secret: str = Field(default="llmpulse-alertmanager", pattern=_DNS_LABEL)
    # The Grafana folder of the dashboards (the grafana_folder annotation the sidecar reads).
    dashboard_folder: str = Field(default="llmpulse", min_length=1)
    # Sticky /events: a client's posts go to one replica for this long (Service sessionAffinity ClientIP), so its
    # sessions and distinct users are counted in one place. Kubernetes caps it at 86400.
    events_affinity_seconds: int = Field(default=10800, ge=1, le=86400)
    # Namespaces whose pods may post /events (and reach the relay): the NetworkPolicy's second rule. Empty: pods of
    # every namespace (apps and Alertmanager live anywhere); list your apps' and Alertmanager's to narrow it.
    events_from_namespaces: list[str] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)

    @field_validator("events_from_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(_DNS_LABEL, name):
                raise ValueError(f"{name!r} is not a namespace name")
        return value

    _labels = field_validator("labels", "monitor_labels")(_k8s_labels)
