"""The real exporter against the simulated OpenAI Admin API: exported month-to-date numbers equal the sums of
what the simulator serves (fetched independently by the test), across pagination, with opt-in breakdowns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter
from usage_sums import OPENAI_AUTH, FrozenSimulator, exported, frozen_simulator, openai_expected, wait_equal

KEY_ENV = {"api_key_env": "LLMPULSE_DEMO_KEY"}


#: Overrides the shared fixture: a frozen clock, so the data cannot move while the test compares.
simulator = pytest.fixture(frozen_simulator, name="simulator")


def _source(sim_url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "openai", "name": "oa", "base_url": sim_url, "interval": "2s", "timeout": "2s", **KEY_ENV, **extra}


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_month_to_date_sums_match_the_simulated_pages_across_pagination(
    simulator: FrozenSimulator, tmp_path: Path, shape: str
) -> None:
    # current: what real organizations got in 2026 (sparse fields, absent keys, string amounts, last bucket ending
    # now); legacy: the spec's shapes. The sums must be exact in both.
    requests.post(f"{simulator.url}/_sim/usage", json={"shape": shape}, timeout=5).raise_for_status()
    # page_size 3 forces several pages per endpoint (the month so far has up to 31 daily buckets).
    cfg = {"sources": [_source(simulator.url, page_size=3)]}
    with exporter(cfg, tmp_path) as proc:
        wait_equal(proc, "oa", lambda: openai_expected(simulator.url, limit=5))
        m = proc.metrics()
        series = exported(m, "oa")
        families = {name for name, _ in series}
        assert families == {
            "llmpulse_usage_requests_total",
            "llmpulse_usage_tokens_total",
            "llmpulse_usage_units_total",
            "llmpulse_cost_usd_total",
        }
        assert m.total("llmpulse_cost_usd_total", source="oa") > 0
        # default breakdown: project and model only, never api_key/user labels
        assert all(not ({"api_key", "user"} & {k for k, _ in labels}) for _, labels in series)
        assert {lab["unit"] for lab, _ in m.find("llmpulse_usage_units_total", source="oa")} == {
            "images",
            "characters",
            "seconds",
        }
        # the exporter really paginated: the simulator served page numbers beyond 1
        log = requests.get(f"{simulator.url}/_sim/usage", timeout=5).json()["requests"]
        assert max(e["page"] for e in log if e["path"].endswith("/costs")) > 1
        assert m.value("llmpulse_source_up", source="oa") == 1


def test_group_by_api_key_and_user_adds_those_labels(simulator: FrozenSimulator, tmp_path: Path) -> None:
    group_by = ["project", "model", "api_key", "user"]
    # base_url with a trailing /v1, as users copy it from SDK settings
    cfg = {"sources": [_source(f"{simulator.url}/v1", group_by=group_by)]}
    with exporter(cfg, tmp_path) as proc:
        wait_equal(proc, "oa", lambda: openai_expected(simulator.url, group_by=group_by, limit=31))
        m = proc.metrics()
        tokens = m.find("llmpulse_usage_tokens_total", source="oa")
        assert tokens and all(
            lab["api_key"].startswith("key_") and lab["user"].startswith("user-") for lab, _ in tokens
        )
        costs = m.find("llmpulse_cost_usd_total", source="oa")
        assert costs and all("api_key" in lab and "user" not in lab for lab, _ in costs)
        # storage is billed to the project, not to a key: the null key_id is labelled "unknown"
        assert any(lab["api_key"] == "unknown" for lab, _ in costs)


def test_without_project_and_model_the_series_say_all(simulator: FrozenSimulator, tmp_path: Path) -> None:
    cfg = {"sources": [_source(simulator.url, group_by=[])]}
    with exporter(cfg, tmp_path) as proc:
        wait_equal(proc, "oa", lambda: openai_expected(simulator.url, group_by=[], limit=31))
        m = proc.metrics()
        requests_series = m.find("llmpulse_usage_requests_total", source="oa")
        assert [lab["project"] for lab, _ in requests_series] == ["all"]
        assert [lab["model"] for lab, _ in requests_series] == ["all"]


def test_project_names_are_an_opt_in_info_metric(simulator: FrozenSimulator, tmp_path: Path) -> None:
    listed = requests.get(
        f"{simulator.url}/v1/organization/projects",
        params={"include_archived": "true", "limit": 100},
        headers=OPENAI_AUTH,
        timeout=5,
    ).json()
    want = {p["id"]: p["name"] for p in listed["data"]}
    assert any(p["status"] == "archived" for p in listed["data"])
    cfg = {"sources": [_source(simulator.url, project_names=True), {**_source(simulator.url), "name": "plain"}]}
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(lambda m: m.find("llmpulse_project_info", source="oa"), what="project info")
        got = {lab["project"]: lab["project_name"] for lab, v in m.find("llmpulse_project_info", source="oa")}
        assert got == want
        assert all(v == 1 for _, v in m.find("llmpulse_project_info"))
        assert not m.find("llmpulse_project_info", source="plain")
        # names never ride on the usage series
        assert all("project_name" not in lab for lab, _ in m.find("llmpulse_usage_tokens_total"))
