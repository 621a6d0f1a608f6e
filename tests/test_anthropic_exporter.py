"""The real exporter against the simulated Anthropic Admin API: month-to-date tokens and costs equal the sums of
the simulator's pages (cost cents converted to dollars), across pagination; no invented request counter."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter
from usage_sums import (
    ANTHROPIC_AUTH,
    FrozenSimulator,
    anthropic_expected,
    frozen_simulator,
    month_start,
    pages,
    wait_equal,
)

#: Overrides the shared fixture: a frozen clock, so the data cannot move while the test compares.
simulator = pytest.fixture(frozen_simulator, name="simulator")


def _source(sim_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "anthropic",
        "name": "an",
        "base_url": sim_url,
        "interval": "2s",
        "timeout": "2s",
        "api_key_env": "LLMPULSE_DEMO_KEY",
        **extra,
    }


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_month_to_date_tokens_and_dollar_costs_match_the_simulated_pages(
    simulator: FrozenSimulator, tmp_path: Path, shape: str
) -> None:
    # current: timestamp-like next_page tokens and session_usage cost lines (2026); legacy: page_... cursors
    requests.post(f"{simulator.url}/_sim/usage", json={"shape": shape}, timeout=5).raise_for_status()
    cfg = {"sources": [_source(simulator.url, page_size=4)]}
    with exporter(cfg, tmp_path) as proc:
        wait_equal(proc, "an", lambda: anthropic_expected(simulator.url, limit=6))
        m = proc.metrics()
        # the default workspace (workspace_id null) is project="default"
        assert m.find("llmpulse_cost_usd_total", source="an", project="default")
        assert m.find("llmpulse_usage_units_total", source="an", unit="web_search_requests")
        assert not m.find("llmpulse_usage_requests_total", source="an")  # the API has no request count
        log = requests.get(f"{simulator.url}/_sim/usage", timeout=5).json()["requests"]
        assert max(e["page"] for e in log if e["path"].endswith("/cost_report")) > 1
        if shape == "current":
            assert m.find("llmpulse_cost_usd_total", source="an", line_item="Claude Code Session Usage")


def test_costs_are_the_cents_strings_divided_by_100(simulator: FrozenSimulator, tmp_path: Path) -> None:
    """An explicit check of the unit trap, on the grand total (independent of any label mapping)."""
    params = [("starting_at", month_start().strftime("%Y-%m-%dT%H:%M:%SZ")), ("limit", 31)]
    cents = sum(
        (
            Decimal(r["amount"])
            for page in pages(f"{simulator.url}/v1/organizations/cost_report", params, ANTHROPIC_AUTH)
            for bucket in page["data"]
            for r in bucket["results"]
        ),
        Decimal(0),
    )
    assert cents > 0
    with exporter({"sources": [_source(simulator.url)]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: m.find("llmpulse_cost_usd_total", source="an"), what="costs")
        total = m.total("llmpulse_cost_usd_total", source="an")
        assert abs(total - float(cents / 100)) <= 1e-6 * float(cents / 100)


def test_group_by_api_key_labels_console_usage(simulator: FrozenSimulator, tmp_path: Path) -> None:
    group_by = ["project", "model", "api_key"]
    cfg = {"sources": [_source(f"{simulator.url}/v1", group_by=group_by, project_names=True)]}
    with exporter(cfg, tmp_path) as proc:
        wait_equal(proc, "an", lambda: anthropic_expected(simulator.url, group_by=group_by, limit=31))
        m = proc.metrics()
        keys = {lab["api_key"] for lab, _ in m.find("llmpulse_usage_tokens_total", source="an")}
        assert "console" in keys and any(k.startswith("apikey_") for k in keys)
        names = {lab["project"]: lab["project_name"] for lab, _ in m.find("llmpulse_project_info", source="an")}
        listed = requests.get(
            f"{simulator.url}/v1/organizations/workspaces",
            params={"include_archived": "true"},
            headers=ANTHROPIC_AUTH,
            timeout=5,
        ).json()["data"]
        assert names == {"default": "Default Workspace", **{w["id"]: w["name"] for w in listed}}
