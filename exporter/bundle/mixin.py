"""``mixin/``: the bundle as a monitoring mixin (jsonnet), for people who assemble their monitoring with jsonnet
(kube-prometheus, grafana-operator, jsonnet-bundler).

The monitoring-mixins layout: ``mixin.libsonnet`` is an object with ``_config``, ``prometheusAlerts``,
``prometheusRules`` and ``grafanaDashboards``. The rules and dashboards are the generated ones, carried as JSON
data (``mixin/generated/*.json``, ``mixin/dashboards/*.json``), so with the default ``_config`` the mixin renders
exactly ``prometheus/rules/*.yml`` and ``grafana/dashboards/llmpulse/*.json``; the tests evaluate it with the
``jsonnet`` module and compare. ``_config.llmpulseSelector`` replaces the job selector in every rule expression.
Thresholds, windows and routes are not jsonnet parameters: they are the ``bundle:`` config, so change them there
and regenerate, and the mixin follows with its unit-tested rules.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

from exporter.bundle.dashboards import DASHBOARDS_DIR, FOLDER
from exporter.bundle.rules import alert_groups, recording_groups
from exporter.bundle.settings import BundleConfig
from exporter.yamlio import GENERATED, dump_rule_groups, load

MIXIN_DIR = "mixin"


def as_in_rule_files(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups exactly as the rule files hold them (notes gone, multi-line expressions ending in a newline)."""
    groups_read: list[dict[str, Any]] = load(dump_rule_groups(groups))["groups"]
    return groups_read


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _libsonnet(s: BundleConfig, boards: list[str]) -> str:
    selector = f'job="{s.prometheus.job}"'
    imports = "".join(f"    {json.dumps(name)}: import 'dashboards/{name}',\n" for name in boards)
    return f"""// {GENERATED}
// Built by exporter/bundle/mixin.py from the metric contract and the bundle: config; regenerate instead of
// editing. Render with e.g.:
//   jsonnet -e "std.manifestYamlDoc((import 'mixin.libsonnet').prometheusAlerts)"
local defaultSelector = {json.dumps(selector)};

{{
  _config+:: {{
    // The selector of the exporter's scrape job in every rule expression (e.g. 'job="llmpulse",cluster="prod"').
    llmpulseSelector: defaultSelector,
    // The Grafana folder the dashboards belong in.
    grafanaDashboardFolder: {json.dumps(FOLDER)},
  }},

  local withSelector(groups) = [
    group {{
      rules: [
        rule {{ expr: std.strReplace(rule.expr, defaultSelector, $._config.llmpulseSelector) }}
        for rule in group.rules
      ],
    }}
    for group in groups
  ],

  prometheusAlerts+:: {{
    groups+: withSelector((import 'generated/alerts.json').groups),
  }},

  prometheusRules+:: {{
    groups+: withSelector((import 'generated/rules.json').groups),
  }},

  grafanaDashboards+:: {{
{imports}  }},
}}
"""


def mixin_files(s: BundleConfig, grafana: Mapping[str, str]) -> dict[str, str]:
    """Every file of mixin/ (repository-relative path -> text)."""
    note = f"{GENERATED} Built by exporter/bundle/mixin.py; mixin.libsonnet reads .groups."
    boards = sorted(
        posixpath.basename(p) for p in grafana if p.startswith(DASHBOARDS_DIR + "/") and p.endswith(".json")
    )
    files = {
        f"{MIXIN_DIR}/mixin.libsonnet": _libsonnet(s, boards),
        f"{MIXIN_DIR}/generated/rules.json": _json({"_comment": note, "groups": as_in_rule_files(recording_groups(s))}),
        f"{MIXIN_DIR}/generated/alerts.json": _json({"_comment": note, "groups": as_in_rule_files(alert_groups(s))}),
        f"{MIXIN_DIR}/jsonnetfile.json": _json({"version": 1, "dependencies": [], "legacyImports": True}),
    }
    for name in boards:
        files[f"{MIXIN_DIR}/dashboards/{name}"] = grafana[f"{DASHBOARDS_DIR}/{name}"]
    return files
