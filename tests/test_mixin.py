"""The monitoring mixin (mixin/): evaluated by the ``jsonnet`` module, it renders exactly the generated rules and
dashboards, and its ``_config.llmpulseSelector`` reaches every rule expression that selects the job."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import _jsonnet
import pytest
import yaml
from helpers import ROOT

from exporter.bundle.rules import ALERTS_FILE, RULES_FILE

MIXIN = ROOT / "mixin" / "mixin.libsonnet"


def render(field: str, config: dict[str, Any] | None = None) -> Any:
    """``(import 'mixin.libsonnet' + {_config+:: config}).field`` as data."""
    override = json.dumps(config or {})
    snippet = f"((import {json.dumps(str(MIXIN))}) + {{ _config+:: {override} }}).{field}"
    return json.loads(_jsonnet.evaluate_snippet("test", snippet))


def _groups(path: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((ROOT / path).read_text())["groups"]
    return groups


def test_mixin_has_the_monitoring_mixins_fields() -> None:
    fields = json.loads(_jsonnet.evaluate_snippet("t", f"std.objectFieldsAll(import {json.dumps(str(MIXIN))})"))
    assert {"_config", "prometheusAlerts", "prometheusRules", "grafanaDashboards"} <= set(fields)


def test_alerts_and_rules_equal_the_generated_rule_files() -> None:
    assert render("prometheusAlerts") == {"groups": _groups(ALERTS_FILE)}
    assert render("prometheusRules") == {"groups": _groups(RULES_FILE)}


def test_dashboards_equal_the_generated_dashboards() -> None:
    boards = {p.name: json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards" / "llmpulse").glob("*.json")}
    assert boards
    assert render("grafanaDashboards") == boards


def test_the_selector_setting_reaches_every_job_selector() -> None:
    selector = 'job="llmpulse",cluster="prod"'
    alerts = render("prometheusAlerts", {"llmpulseSelector": selector})
    exprs = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    assert any(f"up{{{selector}}}" in expr for expr in exprs)
    assert not any('job="llmpulse"}' in expr for expr in exprs)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_rendered_groups_pass_promtool(tmp_path: Path) -> None:
    path = tmp_path / "mixin.yml"
    path.write_text(
        yaml.safe_dump({"groups": render("prometheusRules")["groups"] + render("prometheusAlerts")["groups"]})
    )
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
