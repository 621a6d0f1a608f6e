"""One ConfigMap per dashboard, in the Grafana sidecar's convention (kube-prometheus-stack, the grafana chart):
label ``grafana_dashboard: "1"`` makes the sidecar load it, annotation ``grafana_folder`` names its folder (the
chart's ``sidecar.dashboards.folderAnnotation``). The JSON is the very text of ``grafana/dashboards/llmpulse``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from exporter.bundle.dashboards import DASHBOARDS_DIR
from exporter.bundle.kubernetes.meta import metadata
from exporter.bundle.kubernetes.settings import KubernetesSettings

SIDECAR_LABEL = {"grafana_dashboard": "1"}
FOLDER_ANNOTATION = "grafana_folder"


def dashboard_config_maps(k: KubernetesSettings, grafana: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Dashboard slug -> its ConfigMap, from the Grafana files of the bundle (path -> text)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(grafana):
        if not (path.startswith(DASHBOARDS_DIR + "/") and path.endswith(".json")):
            continue
        file_name = posixpath.basename(path)
        slug = file_name.removesuffix(".json")
        out[slug] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(
                k,
                f"{k.name}-dashboard-{slug}",
                component="dashboards",
                extra_labels=SIDECAR_LABEL,
                annotations={FOLDER_ANNOTATION: k.dashboard_folder},
            ),
            "data": {file_name: grafana[path]},
        }
    return out
