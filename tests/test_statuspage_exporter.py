"""Status pages against the real exporter: exported states equal the served pages, incidents move the indicator
and the open-incident count, and an unreadable page reads as unknown, never as an outage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import requests
from helpers import Metrics, exporter

PAGES = ("openai", "anthropic", "deepseek")
INDICATORS = ("none", "minor", "major", "critical", "maintenance", "unknown")
OUTAGES = ("degraded_performance", "partial_outage", "major_outage", "under_maintenance")


def config(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "sources": [
            {
                "type": "statuspage",
                "name": f"{p}-status",
                "base_url": f"{url}/status/{p}",
                "interval": "1s",
                "timeout": "1s",
                "retries": 0,
                **extra,
            }
            for p in PAGES
        ]
    }


def served(url: str, name: str) -> dict[str, Any]:
    resp = requests.get(f"{url}/status/{name}/api/v2/summary.json", timeout=5)
    resp.raise_for_status()
    return resp.json()


def admin(url: str, body: Any) -> None:
    resp = requests.post(f"{url}/_sim/status", json=body, timeout=5)
    assert resp.status_code == 200, resp.text


SEVERITY = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")


def expected_components(data: dict[str, Any]) -> dict[str, str]:
    """The documented labelling: leaf components by name; a name used twice is qualified as "Group / Name" when
    the page has groups, else one label carries the worst of their states."""
    groups = {c["id"]: c["name"] for c in data["components"] if c.get("group")}
    leaves = [c for c in data["components"] if not c.get("group")]
    counts = Counter(c["name"] for c in leaves)
    out: dict[str, str] = {}
    for c in leaves:
        label = f"{groups[c['group_id']]} / {c['name']}" if counts[c["name"]] > 1 and c.get("group_id") else c["name"]
        if label not in out or SEVERITY.index(c["status"]) > SEVERITY.index(out[label]):
            out[label] = c["status"]
    return out


def exported_components(m: Metrics, source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    per_component: Counter[str] = Counter()
    for labels, value in m.find("llmpulse_status_component", source=source):
        per_component[labels["component"]] += 1
        if value == 1:
            assert labels["component"] not in out, f"two states at 1 for {labels['component']}"
            out[labels["component"]] = labels["status"]
    assert set(per_component.values()) <= {6}  # one-hot over all six states
    return out


def indicator(m: Metrics, source: str) -> str:
    hot = [labels["indicator"] for labels, v in m.find("llmpulse_status_indicator", source=source) if v == 1]
    assert len(hot) == 1, hot
    assert len(m.find("llmpulse_status_indicator", source=source)) == len(INDICATORS)
    return hot[0]


def incidents(m: Metrics, source: str) -> dict[str, float]:
    return {labels["impact"]: v for labels, v in m.find("llmpulse_status_incidents_open", source=source)}


def up(m: Metrics, *sources: str) -> bool:
    return all(m.value("llmpulse_source_up", source=s) == 1 for s in sources)


def test_exported_states_equal_the_served_pages(simulator: Any, tmp_path: Path) -> None:
    admin(
        simulator.url,
        {
            "anthropic": {"components": {"Claude Code": "degraded_performance"}},
            "deepseek": {"components": {"API 服务": "partial_outage"}},
        },
    )
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, *(f"{p}-status" for p in PAGES)), what="pages read")
        for name in PAGES:
            data = served(simulator.url, name)
            source = f"{name}-status"
            assert exported_components(m, source) == expected_components(data)
            assert indicator(m, source) == data["status"]["indicator"]
            if "incidents" in data:
                assert incidents(m, source) == {"none": 0, "minor": 0, "major": 0, "critical": 0}  # a baseline
            else:  # incident.io's compat page says nothing about incidents: no series rather than a false 0
                assert incidents(m, source) == {}
        # status.openai.com as it is: up, indicator none, every component operational
        assert m.value("llmpulse_source_up", source="openai-status") == 1
        assert indicator(m, "openai-status") == "none"
        assert set(exported_components(m, "openai-status").values()) == {"operational"}
        assert (
            m.value(
                "llmpulse_status_component",
                source="anthropic-status",
                component="Claude API (api.anthropic.com)",
                status="operational",
            )
            == 1
        )
        assert (
            m.value("llmpulse_status_component", provider="deepseek", component="API 服务", status="partial_outage")
            == 1
        )


def test_legacy_grouped_page_labels_duplicates_by_group(simulator: Any, tmp_path: Path) -> None:
    admin(simulator.url, {"openai": {"shape": "legacy", "components": {"Sora / Login": "partial_outage"}}})
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "openai-status"), what="page read")
        assert exported_components(m, "openai-status") == expected_components(served(simulator.url, "openai"))
        assert m.value("llmpulse_status_component", component="Sora / Login", status="partial_outage") == 1
        assert m.find("llmpulse_status_component", component="APIs") == []  # groups are containers
        assert incidents(m, "openai-status") == {"none": 0, "minor": 0, "major": 0, "critical": 0}


def test_incident_moves_indicator_and_open_count(simulator: Any, tmp_path: Path) -> None:
    admin(simulator.url, {"openai": {"shape": "legacy"}})  # the shape that lists incidents
    with exporter(config(simulator.url), tmp_path) as proc:
        proc.wait_for(lambda m: up(m, "openai-status"), what="up")
        admin(
            simulator.url,
            {
                "openai": {
                    "incident": {"impact": "major", "name": "Elevated errors", "components": ["Chat Completions"]}
                }
            },
        )
        data = served(simulator.url, "openai")
        m = proc.wait_for(lambda m: incidents(m, "openai-status")["major"] == 1, what="incident seen")
        assert indicator(m, "openai-status") == data["status"]["indicator"] == "major"
        assert incidents(m, "openai-status") == {"none": 0, "minor": 0, "major": 1, "critical": 0}
        assert exported_components(m, "openai-status")["Chat Completions"] == "partial_outage"

        admin(
            simulator.url,
            {"openai": {"incident": {"impact": "critical", "name": "Full outage"}, "indicator": "critical"}},
        )
        m = proc.wait_for(lambda m: incidents(m, "openai-status")["critical"] == 1, what="second incident")
        assert indicator(m, "openai-status") == "critical"
        assert sum(incidents(m, "openai-status").values()) == len(served(simulator.url, "openai")["incidents"]) == 2

        admin(simulator.url, {"openai": {"resolve": True, "indicator": None}})
        m = proc.wait_for(lambda m: sum(incidents(m, "openai-status").values()) == 0, what="resolved")
        assert indicator(m, "openai-status") == "none"


def test_unreadable_page_is_unknown_never_an_outage(simulator: Any, tmp_path: Path) -> None:
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "openai-status", "anthropic-status", "deepseek-status"), what="up")
        known = set(exported_components(m, "openai-status"))
        # an incident was open when the page broke: it must not linger as an outage either
        admin(simulator.url, {"anthropic": {"incident": {"impact": "major", "components": ["Claude API"]}}})
        proc.wait_for(lambda m: incidents(m, "anthropic-status")["major"] == 1, what="incident seen")

        # HTML instead of JSON, JSON of another shape, an empty body
        admin(
            simulator.url,
            {"openai": {"broken": True}, "anthropic": {"broken": "shape"}, "deepseek": {"broken": "empty"}},
        )
        sources = ("openai-status", "anthropic-status", "deepseek-status")

        def all_unknown(m: Metrics) -> bool:
            return all(indicator(m, s) == "unknown" for s in sources)

        m = proc.wait_for(all_unknown, what="unknown everywhere")
        for source in sources:
            assert m.value("llmpulse_source_up", source=source) == 0
            assert m.value("llmpulse_source_poll_errors_total", source=source, reason="invalid_response") >= 1
            assert m.value("llmpulse_status_indicator", source=source, indicator="unknown") == 1
            for state in ("minor", "major", "critical", "maintenance", "none"):
                assert m.value("llmpulse_status_indicator", source=source, indicator=state) == 0
            comps = exported_components(m, source)
            assert comps and set(comps.values()) == {"unknown"}
            for status in OUTAGES:
                assert all(v == 0 for _, v in m.find("llmpulse_status_component", source=source, status=status))
            assert m.find("llmpulse_status_incidents_open", source=source) == []  # no stale incident
        assert set(exported_components(m, "openai-status")) == known  # the components last seen
        assert m.value("llmpulse_source_poll_errors_total", source="openai-status", reason="blocked") == 0

        # a 5xx (HTML error page from the CDN) is the same state; then the page comes back
        admin(
            simulator.url, {"openai": {"broken": False}, "anthropic": {"broken": False}, "deepseek": {"broken": False}}
        )
        simulator.faults({"statuspage": {"down": True}})
        m = proc.wait_for(
            lambda m: (
                m.value("llmpulse_source_poll_errors_total", source="deepseek-status", reason="http_5xx") >= 1
                and all_unknown(m)
            ),
            what="5xx is unknown",
        )
        simulator.clear_faults()
        m = proc.wait_for(lambda m: up(m, *sources) and indicator(m, "openai-status") == "none", what="recovered")
        assert set(exported_components(m, "openai-status").values()) == {"operational"}


def test_components_filter(simulator: Any, tmp_path: Path) -> None:
    cfg = {
        "sources": [
            {
                "type": "statuspage",
                "name": "oai",
                "base_url": f"{simulator.url}/status/openai",
                "interval": "1s",
                "timeout": "1s",
                "components": ["Chat Completions", "Sora", "Typo"],
            }
        ]
    }
    admin(simulator.url, {"openai": {"shape": "legacy"}})  # group names select children on a grouped page
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "oai"), what="up")
        assert set(exported_components(m, "oai")) == {"Chat Completions", "Sora / Login", "Video generation"}
        assert "match nothing on the page: Typo" in requests.get(f"{proc.url}/", timeout=5).text


def test_claude_filter_from_the_docs_and_a_blocked_host(simulator: Any, tmp_path: Path) -> None:
    cfg = {
        "sources": [
            {
                "type": "statuspage",
                "name": "claude-status",
                "base_url": f"{simulator.url}/status/anthropic",
                "interval": "1s",
                "timeout": "1s",
                "retries": 0,
                "components": ["Claude API", "Claude Code", "Claude Desktop"],
            }
        ]
    }
    admin(simulator.url, {"anthropic": {"components": {"Claude API": "degraded_performance"}}})
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "claude-status"), what="up")
        assert exported_components(m, "claude-status") == {
            "Claude API (api.anthropic.com)": "degraded_performance",
            "Claude Code": "operational",
        }
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "match nothing on the page: Claude Desktop" in page
        assert "Claude API," not in page.split("match nothing on the page:")[1][:80]  # only the unmatched entry
        assert "match nothing on the page: Claude Desktop" in proc.log()  # and a log line says so

        admin(simulator.url, {"anthropic": {"broken": "challenge"}})
        m = proc.wait_for(
            lambda m: m.value("llmpulse_source_poll_errors_total", source="claude-status", reason="blocked") >= 1,
            what="blocked counted",
        )
        assert m.value("llmpulse_source_up", source="claude-status") == 0
        assert m.value("llmpulse_source_poll_errors_total", source="claude-status", reason="invalid_response") == 0
        assert indicator(m, "claude-status") == "unknown"
