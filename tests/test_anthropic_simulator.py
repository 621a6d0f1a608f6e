"""The simulated Anthropic Admin API behaves like the real one where a client can tell (provider-apis.md §2, §6)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from usage_sums import ANTHROPIC_AUTH, frozen_simulator, month_start, pages

USAGE = "/usage_report/messages"


#: Overrides the shared fixture: a frozen clock at least 3.5 days into the month, so every stream has data.
simulator = pytest.fixture(frozen_simulator, name="simulator")


def get(sim: Any, path: str, params: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(
        f"{sim.url}/v1/organizations{path}",
        params=params,
        headers=ANTHROPIC_AUTH if headers is None else headers,
        timeout=10,
    )


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def start() -> str:
    return iso(month_start())


def test_auth_needs_x_api_key_and_anthropic_version(simulator: Any) -> None:
    params = {"starting_at": start()}
    for headers, status, kind in [
        ({}, 401, "authentication_error"),
        ({"x-api-key": "sk-ant-admin01-wrong", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": ANTHROPIC_AUTH["x-api-key"]}, 400, "invalid_request_error"),
    ]:
        resp = get(simulator, USAGE, params, headers=headers)
        assert resp.status_code == status
        body = resp.json()
        assert body["type"] == "error" and body["error"]["type"] == kind
        assert body["request_id"].startswith("req_") and resp.headers["request-id"] == body["request_id"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (USAGE, {}),
        (USAGE, {"starting_at": "2026-13-01"}),
        (USAGE, {"starting_at": "2026-11-01T00:00:00"}),  # no timezone
        (USAGE, {"starting_at": "2026-11-01T00:00:00Z", "bucket_width": "1w"}),
        (USAGE, {"starting_at": "2026-11-01T00:00:00Z", "limit": 32}),
        (USAGE, {"starting_at": "2026-11-01T00:00:00Z", "bucket_width": "1h", "limit": 169}),
        (USAGE, {"starting_at": "2026-11-01T00:00:00Z", "group_by[]": "user_id"}),
        (USAGE, {"starting_at": "2026-11-01T00:00:00Z", "page": "page_xyz"}),
        ("/cost_report", {"starting_at": "2026-11-01T00:00:00Z", "bucket_width": "1h"}),
        ("/cost_report", {"starting_at": "2026-11-01T00:00:00Z", "limit": 32}),
        ("/cost_report", {"starting_at": "2026-11-01T00:00:00Z", "group_by[]": "model"}),
    ],
)
def test_parameters_are_validated_with_the_real_limits(simulator: Any, path: str, params: dict[str, Any]) -> None:
    resp = get(simulator, path, params)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_limits_and_snapping(simulator: Any) -> None:
    assert get(simulator, USAGE, {"starting_at": start(), "limit": 31}).ok
    assert get(simulator, USAGE, {"starting_at": start(), "bucket_width": "1m", "limit": 1440}).ok
    assert get(simulator, "/cost_report", {"starting_at": start(), "limit": 31}).ok
    mid_day = iso(month_start() + timedelta(hours=7, minutes=13))
    data = get(simulator, USAGE, {"starting_at": mid_day}).json()["data"]
    assert data[0]["starting_at"] == start()  # snapped to the start of the UTC day


def test_buckets_ascending_with_empty_future_days_and_null_dimensions(simulator: Any) -> None:
    first = month_start()
    end = first + timedelta(days=40)
    buckets = [
        b
        for p in pages(
            f"{simulator.url}/v1/organizations{USAGE}",
            [("starting_at", iso(first)), ("ending_at", iso(end)), ("limit", 7)],
            ANTHROPIC_AUTH,
        )
        for b in p["data"]
    ]
    assert [b["starting_at"] for b in buckets] == [iso(first + timedelta(days=i)) for i in range(40)]
    assert all(set(b) == {"starting_at", "ending_at", "results"} for b in buckets)
    assert buckets[-1]["results"] == []
    (only,) = buckets[0]["results"]
    assert all(only[d] is None for d in ("api_key_id", "workspace_id", "model", "service_tier", "context_window"))


def test_group_by_both_forms_default_workspace_and_console_keys(simulator: Any) -> None:
    plain = get(
        simulator, USAGE, [("starting_at", start()), ("group_by", "workspace_id"), ("group_by", "api_key_id")]
    ).json()
    brackets = get(
        simulator, USAGE, [("starting_at", start()), ("group_by[]", "workspace_id"), ("group_by[]", "api_key_id")]
    ).json()
    assert plain == brackets
    results = [r for b in plain["data"] for r in b["results"]]
    assert None in {r["workspace_id"] for r in results}  # the default workspace
    assert any(r["api_key_id"] is None for r in results)  # Console usage has no key
    assert all(r["model"] is None for r in results)


def test_cost_amounts_are_cent_strings_with_descriptions(simulator: Any) -> None:
    resp = get(
        simulator,
        "/cost_report",
        [("starting_at", start()), ("group_by[]", "description"), ("group_by[]", "workspace_id")],
    )
    results = [r for b in resp.json()["data"] for r in b["results"]]
    assert results and all(isinstance(r["amount"], str) and r["currency"] == "USD" for r in results)
    assert all(Decimal(r["amount"]) >= 0 for r in results)
    descriptions = {r["description"] for r in results}
    assert "Web Search Usage" in descriptions and any("Cache Write" in d for d in descriptions)
    assert {r["cost_type"] for r in results} >= {"tokens", "web_search"}
    ungrouped = get(simulator, "/cost_report", {"starting_at": start()}).json()
    (row,) = ungrouped["data"][0]["results"]
    assert row["description"] is None and row["workspace_id"] is None


def test_cursor_and_workspaces(simulator: Any) -> None:
    requests.post(f"{simulator.url}/_sim/usage", json={"shape": "legacy"}, timeout=5).raise_for_status()
    params = [("starting_at", start()), ("ending_at", iso(month_start() + timedelta(days=9))), ("limit", 4)]
    first = get(simulator, "/cost_report", params).json()
    assert first["has_more"] and first["next_page"].startswith("page_")
    second = get(simulator, "/cost_report", [*params, ("page", first["next_page"])]).json()
    assert second["data"][0]["starting_at"] == first["data"][-1]["ending_at"]
    ws = get(simulator, "/workspaces", {"limit": 1}).json()
    assert ws["has_more"] and ws["data"][0]["type"] == "workspace"
    everything = get(simulator, "/workspaces", {"include_archived": "true"}).json()["data"]
    assert any(w["archived_at"] for w in everything)
    assert not any(w["archived_at"] for w in get(simulator, "/workspaces").json()["data"])


def test_injected_529_uses_the_overloaded_envelope(simulator: Any) -> None:
    simulator.faults({"anthropic": {"error_rate": 1.0, "error_status": 529}})
    resp = get(simulator, USAGE, {"starting_at": start()})
    assert resp.status_code == 529 and resp.json()["error"]["type"] == "overloaded_error"
    simulator.faults({"anthropic": {"error_rate": 0.0, "burst_429": 1, "retry_after": 7}})
    limited = get(simulator, USAGE, {"starting_at": start()})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["type"] == "rate_limit_error"


def test_usage_knob_scales_cents_too(simulator: Any) -> None:
    def cents() -> Decimal:
        data = get(simulator, "/cost_report", {"starting_at": start(), "limit": 31}).json()["data"]
        return sum((Decimal(r["amount"]) for b in data for r in b["results"]), Decimal(0))

    before = cents()
    requests.post(f"{simulator.url}/_sim/usage", json={"multiplier": 25}, timeout=5).raise_for_status()
    assert before > 0 and cents() == pytest.approx(before * 25, rel=Decimal("1e-4"))


def test_current_shape_has_timestamp_like_cursors_and_session_usage(simulator: Any) -> None:
    """The default, as real organizations got it in 2026: next_page tokens that look like timestamps, and cost
    lines of cost_type session_usage (provider-apis.md, Corrections)."""
    params = [("starting_at", start()), ("ending_at", iso(month_start() + timedelta(days=9))), ("limit", 4)]
    first = get(simulator, "/cost_report", params).json()
    token = first["next_page"]
    assert first["has_more"] and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", token), token
    second = get(simulator, "/cost_report", [*params, ("page", token)]).json()
    assert second["data"][0]["starting_at"] == first["data"][-1]["ending_at"]
    assert get(simulator, "/cost_report", [*params, ("page", "2019-01-01T00:00:00.002Z")]).status_code == 400
    grouped = get(simulator, "/cost_report", [("starting_at", start()), ("group_by[]", "description")]).json()
    kinds = {r["cost_type"] for b in grouped["data"] for r in b["results"]}
    assert {"tokens", "web_search", "session_usage"} <= kinds
