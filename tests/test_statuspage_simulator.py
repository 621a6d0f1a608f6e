"""The simulated status pages: Atlassian and incident.io shapes, the admin knobs and the broken modes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exporter.providers import statuspage
from exporter.simulator import Simulator


@pytest.fixture(scope="module")
def running() -> Iterator[str]:
    server = Simulator(seed=42).serve()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def url(running: str) -> str:
    requests.post(f"{running}/_sim/reset", timeout=5).raise_for_status()
    return running


def page(url: str, name: str) -> Any:
    resp = requests.get(f"{url}/status/{name}/api/v2/summary.json", timeout=5)
    resp.raise_for_status()
    return resp.json()


def admin(url: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/_sim/status", json=body, timeout=5)


def leaves(data: dict[str, Any]) -> dict[str, str]:
    return {
        c["name"] + ("@" + c["group_id"] if c.get("group_id") else "") + ("#" + c["id"]): c["status"]
        for c in data["components"]
        if not c.get("group")
    }


def test_openai_page_is_incident_io_compat_by_default() -> None:
    running = Simulator(seed=1).serve()
    try:
        data = page(running.url, "openai")
    finally:
        running.stop()
    # what status.openai.com served on 2026-09-04: page, status and components only
    assert set(data) == {"page", "status", "components"}
    assert "time_zone" not in data["page"] and data["page"]["url"].endswith("/")
    ulid = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
    assert ulid.match(data["page"]["id"]) and all(ulid.match(c["id"]) for c in data["components"])
    assert all("group" not in c and "group_id" not in c for c in data["components"])
    names = [c["name"] for c in data["components"]]
    assert {"Chat Completions", "Conversations"} <= set(names) and "APIs" not in names
    assert names.count("Login") == 2
    summary = statuspage.parse_summary(data)
    assert summary.indicator == "none" and summary.incidents is None


def test_openai_legacy_shape_has_groups_and_incidents(url: str) -> None:
    admin(url, {"openai": {"shape": "legacy"}})
    data = page(url, "openai")
    names = {c["name"] for c in data["components"]}
    assert {"APIs", "Chat Completions", "Conversations"} <= names
    groups = [c for c in data["components"] if c["group"]]
    assert groups and all(set(g["components"]) for g in groups)
    children = {c["id"] for c in data["components"] if c["group_id"]}
    assert {cid for g in groups for cid in g["components"]} == children
    assert [c["name"] for c in data["components"] if not c["group"]].count("Login") == 2
    assert all(c["created_at"].endswith("Z") for c in data["components"])
    assert data["incidents"] == [] and data["page"]["time_zone"] == "Etc/UTC"


def test_claude_page_as_it_is_and_its_legacy_shape(url: str) -> None:
    claude = page(url, "anthropic")
    assert claude["page"]["name"] == "Claude"
    names = {c["name"]: c["id"] for c in claude["components"]}
    assert names["Claude API (api.anthropic.com)"] == "k8w3r06qmzrp"
    assert {"Claude Console (platform.claude.com)", "Claude Code", "Claude Cowork", "Claude for Government"} <= set(
        names
    )
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", claude["components"][0]["updated_at"])
    admin(url, {"anthropic": {"shape": "legacy"}})
    legacy = page(url, "anthropic")
    assert legacy["page"]["name"] == "Anthropic"
    assert {c["name"]: c["id"] for c in legacy["components"]} == {
        "Claude API": "k8w3r06qmzrp",
        "claude.ai": "rwppv331jlwc",
        "Claude Code": "yyzkbfz2thpt",
    }
    assert legacy["components"][0]["updated_at"].endswith("-07:00")  # offsets, not Z


def test_anthropic_and_deepseek_pages_are_atlassian_style(url: str) -> None:
    anthropic = page(url, "anthropic")
    deepseek = page(url, "deepseek")
    assert "API 服务" in {c["name"] for c in deepseek["components"]}
    assert deepseek["scheduled_maintenances"][0]["status"] == "scheduled"
    for data in (anthropic, deepseek):
        assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}
        assert data["incidents"] == []
        statuspage.parse_summary(data)  # the exporter's parser takes every simulated page


def test_incident_opens_and_resolves(url: str) -> None:
    admin(url, {"openai": {"shape": "legacy"}})  # the current compat page lists no incidents
    resp = admin(
        url,
        {
            "openai": {
                "incident": {
                    "impact": "major",
                    "name": "Elevated errors on Chat Completions",
                    "components": ["Chat Completions"],
                }
            }
        },
    )
    assert resp.status_code == 200, resp.text
    data = page(url, "openai")
    assert len(data["incidents"]) == 1
    incident = data["incidents"][0]
    assert (incident["impact"], incident["status"], incident["resolved_at"]) == ("major", "investigating", None)
    assert incident["incident_updates"][0]["body"] is None  # incident.io compat: no update text
    assert "partial_outage" in leaves(data).values()
    assert data["status"]["indicator"] == "major"  # derived from the incident and the component
    admin(url, {"openai": {"resolve": True}})
    data = page(url, "openai")
    assert data["incidents"] == [] and set(leaves(data).values()) == {"operational"}
    assert data["status"]["indicator"] == "none"


def test_explicit_indicator_and_components(url: str) -> None:
    admin(
        url,
        {
            "anthropic": {
                "indicator": "critical",
                "components": {"Claude API": "major_outage", "yyzkbfz2thpt": "degraded_performance"},
            }
        },
    )
    data = page(url, "anthropic")
    assert data["status"] == {"indicator": "critical", "description": "Major Service Outage"}
    assert {c["name"]: c["status"] for c in data["components"]} == {
        "Claude API (api.anthropic.com)": "major_outage",
        "claude.ai": "operational",
        "Claude Console (platform.claude.com)": "operational",
        "Claude Code": "degraded_performance",
        "Claude Cowork": "operational",
        "Claude for Government": "operational",
    }
    admin(url, {"anthropic": {"operational": True}})
    assert page(url, "anthropic")["status"]["indicator"] == "none"


def test_incident_on_the_compat_page_shows_in_indicator_and_components_only(url: str) -> None:
    admin(url, {"openai": {"incident": {"impact": "major", "components": ["Chat Completions"]}}})
    data = page(url, "openai")
    assert "incidents" not in data and data["status"]["indicator"] == "major"
    assert {c["status"] for c in data["components"] if c["name"] == "Chat Completions"} == {"partial_outage"}


def test_challenge_mode_is_a_cloudfront_405(url: str) -> None:
    admin(url, {"anthropic": {"broken": "challenge"}})
    resp = requests.get(f"{url}/status/anthropic/api/v2/summary.json", timeout=5)
    assert resp.status_code == 405 and resp.headers["Content-Type"].startswith("text/html")
    assert "cloudfront" in resp.text.lower()


def test_group_status_follows_children(url: str) -> None:
    admin(url, {"openai": {"shape": "legacy", "components": {"Sora / Login": "major_outage"}}})
    data = page(url, "openai")
    by_name = {c["name"]: c for c in data["components"] if c["group"]}
    assert by_name["Sora"]["status"] == "major_outage" and by_name["ChatGPT"]["status"] == "operational"


@pytest.mark.parametrize(
    "mode, check",
    [
        (True, lambda r: r.headers["Content-Type"].startswith("text/html") and r.text.startswith("<!DOCTYPE html>")),
        ("shape", lambda r: "status" not in r.json()),
        ("empty", lambda r: r.content == b""),
    ],
)
def test_broken_modes(url: str, mode: Any, check: Any) -> None:
    admin(url, {"openai": {"broken": mode}})
    resp = requests.get(f"{url}/status/openai/api/v2/summary.json", timeout=5)
    assert resp.status_code == 200 and check(resp)
    assert page(url, "anthropic")["status"]["indicator"] == "none"  # only that page is broken
    admin(url, {"openai": {"broken": False}})
    assert page(url, "openai")["status"]["indicator"] == "none"


def test_faults_answer_html_error_pages(url: str) -> None:
    requests.post(f"{url}/_sim/faults", json={"statuspage": {"down": True}}, timeout=5).raise_for_status()
    resp = requests.get(f"{url}/status/deepseek/api/v2/summary.json", timeout=5)
    assert resp.status_code == 503 and resp.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "body",
    [
        {"nope": {}},
        {"openai": {"indicator": "purple"}},
        {"openai": {"components": {"No Such Thing": "major_outage"}}},
        {"openai": {"components": {"Responses": "on_fire"}}},
        {"openai": {"incident": {"impact": "apocalyptic"}}},
        {"openai": {"incident": {"status": "resolved"}}},
        {"openai": {"broken": "sometimes"}},
        {"openai": {"shape": "2019"}},
        {"openai": {"indicator": "major"}, "anthropic": {"colour": "red"}},
        [],
    ],
)
def test_bad_admin_requests_change_nothing(url: str, body: Any) -> None:
    before = {name: page(url, name) for name in ("openai", "anthropic")}
    resp = admin(url, body)
    assert resp.status_code == 400 and resp.json()["error"]
    for name, data in before.items():
        after = page(url, name)
        assert after["status"] == data["status"] and leaves(after) == leaves(data)
        assert after.get("incidents") == data.get("incidents")


def test_reset_restores_every_page(url: str) -> None:
    admin(url, {"openai": {"broken": True}, "deepseek": {"incident": {"impact": "critical"}}})
    requests.post(f"{url}/_sim/reset", timeout=5).raise_for_status()
    assert page(url, "openai")["status"]["indicator"] == "none"
    assert page(url, "deepseek")["incidents"] == []
