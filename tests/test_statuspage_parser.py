"""Unit tests of the status-page parser: Atlassian and incident.io-compatible summary.json, groups, filters,
vocabulary drift and the "unreadable page" state."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exporter import contract
from exporter.config import StatuspageSource
from exporter.http import ApiError
from exporter.providers import statuspage
from exporter.samples import MetricSet

# The official Statuspage doc sample (GitHub status), as reproduced in provider-apis.md 5.1: offsets in timestamps.
ATLASSIAN: dict[str, Any] = {
    "page": {
        "id": "kctbh9vrtdwd",
        "name": "GitHub",
        "url": "https://www.githubstatus.com",
        "time_zone": "Etc/UTC",
        "updated_at": "2024-02-05T08:31:08.006Z",
    },
    "status": {"indicator": "major", "description": "Partial System Outage"},
    "components": [
        {
            "id": "b13yz5g2cw10",
            "name": "API",
            "status": "partial_outage",
            "created_at": "2014-05-03T01:22:07.274Z",
            "updated_at": "2014-05-14T20:34:43.340Z",
            "position": 1,
            "description": None,
            "showcase": True,
            "start_date": None,
            "group_id": None,
            "page_id": "kctbh9vrtdwd",
            "group": False,
            "only_show_if_degraded": False,
        },
        {"id": "a13yz5g2cw11", "name": "Git Operations", "status": "operational", "group": False, "group_id": None},
    ],
    "incidents": [
        {
            "id": "cp306tmzcl0y",
            "name": "Unplanned Database Outage",
            "status": "identified",
            "impact": "critical",
            "created_at": "2014-05-14T14:22:39.441-06:00",
            "updated_at": "2014-05-14T14:35:21.711-06:00",
            "monitoring_at": None,
            "resolved_at": None,
            "shortlink": "http://stspg.co:5000/Q0E",
            "page_id": "kctbh9vrtdwd",
            "started_at": "2014-05-14T14:22:39.441-06:00",
            "incident_updates": [
                {
                    "id": "jdy3tw5mt5r5",
                    "incident_id": "cp306tmzcl0y",
                    "status": "identified",
                    "body": "Our master database...",
                    "created_at": "2014-05-14T14:22:40.301-06:00",
                    "affected_components": [
                        {
                            "code": "b13yz5g2cw10",
                            "name": "API",
                            "old_status": "operational",
                            "new_status": "partial_outage",
                        }
                    ],
                }
            ],
            "components": [{"id": "b13yz5g2cw10", "name": "API", "status": "partial_outage"}],
        },
    ],
    "scheduled_maintenances": [
        {
            "id": "w1zdr745wmfy",
            "name": "Network Maintenance (No Interruption Expected)",
            "status": "scheduled",
            "impact": "none",
            "scheduled_for": "2014-05-17T22:00:00.000-06:00",
            "scheduled_until": "2014-05-17T23:30:00.000-06:00",
            "incident_updates": [],
        }
    ],
}

# incident.io compat shape (status.openai.com): ULIDs, groups, a child name used in two groups, null update bodies.
INCIDENT_IO: dict[str, Any] = {
    "page": {"id": "01JMXB0000", "name": "OpenAI", "url": "https://status.openai.com"},
    "status": {"indicator": "minor", "description": "Minor Service Outage"},
    "components": [
        {
            "id": "01K5H8S53SY1KMS4GQMNMQM1K5",
            "name": "APIs",
            "status": "degraded_performance",
            "group": True,
            "group_id": None,
            "components": ["01JMXBAAAA", "01JMXBBBBB"],
        },
        {
            "id": "01JMXBAAAA",
            "name": "Chat Completions",
            "status": "degraded_performance",
            "group": False,
            "group_id": "01K5H8S53SY1KMS4GQMNMQM1K5",
        },
        {
            "id": "01JMXBBBBB",
            "name": "Responses",
            "status": "operational",
            "group": False,
            "group_id": "01K5H8S53SY1KMS4GQMNMQM1K5",
        },
        {
            "id": "01JMXBGRP2",
            "name": "ChatGPT",
            "status": "operational",
            "group": True,
            "components": ["01JMXBNJXGV1T5GT2M9XA83XNG", "01JMXBLOG1"],
        },
        {
            "id": "01JMXBNJXGV1T5GT2M9XA83XNG",
            "name": "Conversations",
            "status": "operational",
            "group": False,
            "group_id": "01JMXBGRP2",
        },
        {"id": "01JMXBLOG1", "name": "Login", "status": "operational", "group": False, "group_id": "01JMXBGRP2"},
        {"id": "01JMXBGRP3", "name": "Sora", "status": "major_outage", "group": True, "components": ["01JMXBLOG2"]},
        {"id": "01JMXBLOG2", "name": "Login", "status": "major_outage", "group": False, "group_id": "01JMXBGRP3"},
    ],
    "incidents": [
        {
            "id": "01JZZZ",
            "name": "Elevated errors",
            "status": "investigating",
            "impact": "minor",
            "created_at": "2025-06-10T08:00:00.000Z",
            "resolved_at": None,
            "incident_updates": [{"id": "u1", "status": "investigating", "body": None}],
        },
        {
            "id": "01JZZY",
            "name": "Earlier one",
            "status": "resolved",
            "impact": "major",
            "resolved_at": "2025-06-09T08:00:00Z",
            "incident_updates": [],
        },
        {
            "id": "01JZZX",
            "name": "Resolved, status lagging",
            "status": "monitoring",
            "impact": "critical",
            "resolved_at": "2025-06-09T09:00:00+00:00",
            "incident_updates": [],
        },
    ],
}


def one_hot(ms: MetricSet, family: contract.Family, label: str, **where: str) -> dict[str, float]:
    out = {}
    for key, value in ms.series(family).items():
        labels = dict(key)
        if all(labels.get(k) == v for k, v in where.items()):
            out[labels[label]] = value
    return out


def components(ms: MetricSet) -> dict[str, str]:
    """component -> the status whose one-hot value is 1 (checks every component has exactly one)."""
    states: dict[str, list[str]] = {}
    for key, value in ms.series(contract.STATUS_COMPONENT).items():
        labels = dict(key)
        states.setdefault(labels["component"], [])
        if value == 1.0:
            states[labels["component"]].append(labels["status"])
    assert all(len(v) == 1 for v in states.values()), states
    return {name: v[0] for name, v in states.items()}


def test_atlassian_summary() -> None:
    summary = statuspage.parse_summary(ATLASSIAN)
    assert summary.indicator == "major"
    assert summary.components == {"API": "partial_outage", "Git Operations": "operational"}
    assert summary.incidents == {"none": 0, "minor": 0, "major": 0, "critical": 1}
    ms = statuspage.summary_metrics(summary)
    assert one_hot(ms, contract.STATUS_INDICATOR, "indicator") == {
        "none": 0,
        "minor": 0,
        "major": 1,
        "critical": 0,
        "maintenance": 0,
        "unknown": 0,
    }
    assert components(ms) == summary.components
    assert len(one_hot(ms, contract.STATUS_COMPONENT, "status", component="API")) == 6  # full one-hot
    incidents = {dict(k)["impact"]: v for k, v in ms.series(contract.STATUS_INCIDENTS_OPEN).items()}
    assert incidents == {"none": 0, "minor": 0, "major": 0, "critical": 1}


def test_incident_io_groups_duplicates_and_null_bodies() -> None:
    summary = statuspage.parse_summary(INCIDENT_IO)
    # groups are containers, not components; a name used in two groups is qualified by its group
    assert summary.components == {
        "Chat Completions": "degraded_performance",
        "Responses": "operational",
        "Conversations": "operational",
        "ChatGPT / Login": "operational",
        "Sora / Login": "major_outage",
    }
    # resolved incidents (by status or by resolved_at) are not open
    assert summary.incidents == {"none": 0, "minor": 1, "major": 0, "critical": 0}


@pytest.mark.parametrize(
    "wanted, expected",
    [
        (["Chat Completions"], {"Chat Completions"}),
        (["chat completions"], {"Chat Completions"}),  # case does not matter
        (["APIs"], {"Chat Completions", "Responses"}),  # a group selects its children
        (["Sora / Login"], {"Sora / Login"}),
        (["Login"], {"ChatGPT / Login", "Sora / Login"}),
        (["01JMXBNJXGV1T5GT2M9XA83XNG"], {"Conversations"}),  # by id
    ],
)
def test_components_filter(wanted: list[str], expected: set[str]) -> None:
    summary = statuspage.parse_summary(INCIDENT_IO, wanted)
    assert set(summary.components) == expected
    assert summary.unmatched == []


def test_components_filter_reports_entries_that_match_nothing() -> None:
    summary = statuspage.parse_summary(INCIDENT_IO, ["Responses", "Chat Complitions"])
    assert set(summary.components) == {"Responses"}
    assert summary.unmatched == ["Chat Complitions"]


def test_new_vocabulary_reads_as_unknown_not_as_an_outage() -> None:
    data = copy.deepcopy(ATLASSIAN)
    data["status"]["indicator"] = "elevated"
    data["components"][0]["status"] = "full_outage"
    data["incidents"][0]["impact"] = "severe"
    summary = statuspage.parse_summary(data)
    assert summary.indicator == "unknown"
    assert summary.components["API"] == "unknown"
    assert summary.incidents["unknown"] == 1
    ms = statuspage.summary_metrics(summary)
    assert ms.get(contract.STATUS_INCIDENTS_OPEN, impact="unknown") == 1


def test_indicator_and_incident_baseline_when_all_is_well() -> None:
    data = copy.deepcopy(ATLASSIAN)
    data["status"] = {"indicator": "none", "description": "All Systems Operational"}
    data["incidents"] = []
    ms = statuspage.summary_metrics(statuspage.parse_summary(data))
    incidents = {dict(k)["impact"]: v for k, v in ms.series(contract.STATUS_INCIDENTS_OPEN).items()}
    assert incidents == {"none": 0, "minor": 0, "major": 0, "critical": 0}  # a baseline, not absent series


P = {"id": "p", "name": "Page"}


@pytest.mark.parametrize(
    "answer, match",
    [
        ("<!DOCTYPE html><html>", "answer is a str"),
        ([], "answer is a list"),
        ({"success": True, "result": {}}, "missing field 'page'"),
        ({"page": P, "result": {}}, "missing field 'status'"),
        ({"page": P, "status": {"indicator": "none"}, "incidents": []}, "missing field 'components'"),
        ({"page": P, "status": {"indicator": "none"}, "components": None}, "'components' has type NoneType"),
        ({"page": P, "status": {"indicator": 1}, "components": [], "incidents": []}, "'indicator' has type int"),
        ({"page": P, "status": {"indicator": "none"}, "components": [{"id": "x"}]}, "missing field 'name'"),
        ({"page": P, "status": {"indicator": "none"}, "components": [{"name": "x"}]}, "missing field 'status'"),
        (
            {"page": P, "status": {"indicator": "none"}, "components": [], "incidents": ["x"]},
            r"incidents\[0\] is a str",
        ),
        ({"page": P, "status": {"indicator": "none"}, "components": [], "incidents": {}}, "'incidents' has type dict"),
    ],
)
def test_pages_of_another_shape_are_invalid(answer: Any, match: str) -> None:
    with pytest.raises(ApiError, match=match) as info:
        statuspage.parse_summary(answer)
    assert info.value.reason == "invalid_response"


def test_unknown_state_has_no_outage() -> None:
    ms = statuspage.unknown_metrics(["API", "Git Operations"])
    assert one_hot(ms, contract.STATUS_INDICATOR, "indicator") == {
        "none": 0,
        "minor": 0,
        "major": 0,
        "critical": 0,
        "maintenance": 0,
        "unknown": 1,
    }
    assert components(ms) == {"API": "unknown", "Git Operations": "unknown"}
    assert not ms.series(contract.STATUS_INCIDENTS_OPEN)  # no claim either way about incidents


class _Response:
    def __init__(self, status: int, text: str, content_type: str) -> None:
        self.status_code = status
        self.text = text
        self.headers = {"Content-Type": content_type}


class _Client:
    """Stands in for ApiClient: ``answer`` is a JSON value, an exception, or a ``_Response`` (raw answer)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.paths: list[str] = []

    def request(self, method: str, path: str) -> Any:
        self.paths.append(path)
        if isinstance(self.answer, Exception):
            raise self.answer
        if isinstance(self.answer, _Response):
            return self.answer
        return _Response(200, "{}", "application/json")

    def decode(self, resp: Any, path: str) -> Any:
        if isinstance(self.answer, _Response):
            raise ApiError("invalid_response", f"{path}: response is not valid JSON")
        return self.answer


def _source(**kw: Any) -> StatuspageSource:
    return StatuspageSource(
        type="statuspage", name="st", base_url=kw.pop("base_url", "https://status.openai.com"), **kw
    )


def test_provider_reports_last_seen_components_as_unknown_on_failure() -> None:
    provider = statuspage.StatuspageProvider(_source())
    assert components(provider.on_failure(ApiError("timeout", "t"))) == {}  # nothing known yet: indicator only
    provider.poll(_Client(INCIDENT_IO), None)  # type: ignore[arg-type]
    failed = provider.on_failure(ApiError("invalid_response", "not JSON"))
    assert set(components(failed)) == set(statuspage.parse_summary(INCIDENT_IO).components)
    assert set(components(failed).values()) == {"unknown"}


def test_provider_with_filter_knows_its_components_before_the_first_read() -> None:
    provider = statuspage.StatuspageProvider(_source(components=["Claude API"]))
    assert components(provider.on_failure(ApiError("timeout", "t"))) == {"Claude API": "unknown"}


def test_provider_notes_filter_typos_once() -> None:
    provider = statuspage.StatuspageProvider(_source(components=["Responses", "Nope"]))
    provider.poll(_Client(INCIDENT_IO), None)  # type: ignore[arg-type]
    assert "Nope" in provider.note
    provider.config = _source(components=["Responses"])
    provider.poll(_Client(INCIDENT_IO), None)  # type: ignore[arg-type]
    assert provider.note == ""


@pytest.mark.parametrize(
    "base_url, path",
    [
        ("https://status.openai.com", "/api/v2/summary.json"),
        ("https://status.openai.com/api/v2/summary.json", ""),  # a pasted full URL works too
    ],
)
def test_provider_path(base_url: str, path: str) -> None:
    client = _Client(ATLASSIAN)
    statuspage.StatuspageProvider(_source(base_url=base_url)).poll(client, None)  # type: ignore[arg-type]
    assert client.paths == [path]


@pytest.mark.parametrize(
    "base_url, provider",
    [
        ("https://status.openai.com", "openai"),
        ("https://status.claude.com", "anthropic"),
        ("https://anthropic.statuspage.io", "anthropic"),  # the Claude page's host that answers every client
        ("https://status.deepseek.com", "deepseek"),
        ("https://groqstatus.com", "groq"),
        ("http://127.0.0.1:9878/status/anthropic", "anthropic"),
        ("http://127.0.0.1:9878/", "statuspage"),
        ("https://status.example.co.uk", "example"),
    ],
)
def test_provider_label_from_url(base_url: str, provider: str) -> None:
    assert _source(base_url=base_url).provider == provider


# incident.io's Atlassian-compatible summary as status.openai.com served it (provider-apis.md, Corrections): only
# page, status and components; no incidents, maintenances, groups or time zone; ULID ids; trailing-slash URL.
INCIDENT_IO_COMPAT: dict[str, Any] = {
    "page": {"id": "01JMDK9XYNY6RXSED6SDWW50WY", "name": "OpenAI", "url": "https://status.openai.com/"},
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [
        {"id": "01JMXBRMFE6N2NNT7DG6XZQ6PX", "name": "Responses", "status": "operational"},
        {"id": "01JMXBNJXGV1T5GT2M9XA83XNG", "name": "Conversations", "status": "operational"},
        {"id": "01JMXBNJXGV1T5GT2M9XA83XNH", "name": "Login", "status": "operational"},
    ],
}

# The Claude page (Atlassian): page name "Claude", hosts in parentheses, UTC timestamps with milliseconds.
CLAUDE: dict[str, Any] = {
    "page": {"id": "tymt9n04zgry", "name": "Claude", "url": "https://status.claude.com", "time_zone": "Etc/UTC"},
    "status": {"indicator": "minor", "description": "Minor Service Outage"},
    "components": [
        {
            "id": "k8w3r06qmzrp",
            "name": "Claude API (api.anthropic.com)",
            "status": "degraded_performance",
            "updated_at": "2026-09-04T10:12:33.123Z",
            "group": False,
            "group_id": None,
        },
        {
            "id": "0qbwn08sd68x",
            "name": "Claude Console (platform.claude.com)",
            "status": "operational",
            "updated_at": "2026-09-04T10:12:33.123Z",
            "group": False,
            "group_id": None,
        },
        {"id": "yyzkbfz2thpt", "name": "Claude Code", "status": "operational", "group": False, "group_id": None},
    ],
    "incidents": [],
    "scheduled_maintenances": [],
}


def test_incident_io_compat_summary_needs_only_page_status_components() -> None:
    summary = statuspage.parse_summary(INCIDENT_IO_COMPAT)
    assert summary.indicator == "none"
    assert summary.components == {"Responses": "operational", "Conversations": "operational", "Login": "operational"}
    assert summary.incidents is None  # the page says nothing about incidents...
    ms = statuspage.summary_metrics(summary)
    assert not ms.series(contract.STATUS_INCIDENTS_OPEN)  # ...so no incident series, rather than a false 0
    assert one_hot(ms, contract.STATUS_INDICATOR, "indicator")["none"] == 1


@pytest.mark.parametrize(
    "wanted, expected",
    [
        (["Claude API", "Claude Code"], {"Claude API (api.anthropic.com)", "Claude Code"}),  # the docs' filter
        (["claude api"], {"Claude API (api.anthropic.com)"}),  # case-insensitive prefix before " ("
        (["Claude API (api.anthropic.com)"], {"Claude API (api.anthropic.com)"}),  # the full name works too
        (["CLAUDE CONSOLE"], {"Claude Console (platform.claude.com)"}),
    ],
)
def test_claude_filter_matches_names_before_the_host(wanted: list[str], expected: set[str]) -> None:
    summary = statuspage.parse_summary(CLAUDE, wanted)
    assert set(summary.components) == expected
    assert summary.unmatched == []


def test_prefix_match_does_not_match_a_mere_start_of_a_name() -> None:
    summary = statuspage.parse_summary(CLAUDE, ["Claude", "Claude API (api"])
    assert summary.components == {}
    assert summary.unmatched == ["Claude", "Claude API (api"]


@pytest.mark.parametrize(
    "answer",
    [
        ApiError("http_4xx", "GET /api/v2/summary.json: HTTP 405: <html>", status=405, content_type="text/html"),
        ApiError("http_4xx", "GET /api/v2/summary.json: HTTP 403: Forbidden", status=403, content_type="text/plain"),
        _Response(202, "<html><title>Human Verification</title><script>awsWafChallenge()</script></html>", "text/html"),
    ],
)
def test_blocked_page_is_its_own_reason(answer: Any) -> None:
    with pytest.raises(ApiError) as info:
        statuspage.StatuspageProvider(_source()).poll(_Client(answer), None)  # type: ignore[arg-type]
    assert info.value.reason == "blocked"
    assert "another host" in str(info.value)


@pytest.mark.parametrize(
    "answer, reason",
    [
        (ApiError("http_4xx", "HTTP 403", status=403, content_type="application/json"), "http_4xx"),  # a real refusal
        (ApiError("http_5xx", "HTTP 503", status=503, content_type="text/html"), "http_5xx"),
        (_Response(200, "<html><body>Loading status...</body></html>", "text/html"), "invalid_response"),
    ],
)
def test_other_failures_are_not_called_blocked(answer: Any, reason: str) -> None:
    with pytest.raises(ApiError) as info:
        statuspage.StatuspageProvider(_source()).poll(_Client(answer), None)  # type: ignore[arg-type]
    assert info.value.reason == reason
