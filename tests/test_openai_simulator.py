"""The simulated OpenAI Admin API behaves like the real one where a client can tell (provider-apis.md §1, §6)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from usage_sums import OPENAI_AUTH, FrozenSimulator, frozen_simulator, month_start, pages

DAY = 86400


#: Overrides the shared fixture: a frozen clock at least 3.5 days into the month, so every stream has data.
simulator = pytest.fixture(frozen_simulator, name="simulator")


def get(sim: Any, path: str, params: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(
        f"{sim.url}/v1/organization{path}",
        params=params,
        headers=OPENAI_AUTH if headers is None else headers,
        timeout=10,
    )


def start() -> int:
    return int(month_start().timestamp())


def legacy(sim: Any) -> None:
    """Serve the spec's shapes (the simulator's default is what real organizations got in 2026)."""
    requests.post(f"{sim.url}/_sim/usage", json={"shape": "legacy"}, timeout=5).raise_for_status()


def frozen_now(sim: Any) -> int:
    return int(requests.get(f"{sim.url}/_sim/state", timeout=5).json()["now"])


def test_auth_errors_use_the_openai_envelope(simulator: Any) -> None:
    params = {"start_time": start()}
    missing = get(simulator, "/usage/completions", params, headers={})
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    wrong = get(simulator, "/costs", params, headers={"Authorization": "Bearer sk-admin-0123456789abcdefWXYZ"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert "0123456789abcdef" not in wrong.text  # echoed masked, like the real API
    project_key = get(simulator, "/usage/embeddings", params, headers={"Authorization": "Bearer sk-proj-abcdef1234"})
    assert project_key.status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/usage/completions", {}, "start_time"),
        ("/usage/completions", {"start_time": "yesterday"}, "start_time"),
        ("/usage/completions", {"start_time": 1, "bucket_width": "1w"}, "bucket_width"),
        ("/usage/completions", {"start_time": 1, "limit": 32}, "limit"),
        ("/usage/completions", {"start_time": 1, "bucket_width": "1h", "limit": 169}, "limit"),
        ("/usage/completions", {"start_time": 1, "bucket_width": "1m", "limit": 1441}, "limit"),
        ("/usage/completions", {"start_time": 1, "limit": 0}, "limit"),
        ("/usage/embeddings", {"start_time": 1, "group_by": "batch"}, "group_by"),
        ("/usage/completions", {"start_time": 1, "page": "page_garbage"}, "page"),
        ("/costs", {"start_time": 1, "bucket_width": "1h"}, "bucket_width"),
        ("/costs", {"start_time": 1, "limit": 181}, "limit"),
        ("/costs", {"start_time": 1, "group_by": "model"}, "group_by"),
    ],
)
def test_parameters_are_validated_with_the_real_limits(
    simulator: Any, path: str, params: dict[str, Any], param: str
) -> None:
    resp = get(simulator, path, params)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_the_limits_themselves_are_accepted(simulator: Any) -> None:
    s = start()
    assert get(simulator, "/usage/completions", {"start_time": s, "limit": 31}).status_code == 200
    assert get(simulator, "/usage/completions", {"start_time": s, "bucket_width": "1h", "limit": 168}).ok
    assert get(simulator, "/costs", {"start_time": s - 150 * DAY, "limit": 180}).ok


def test_buckets_cover_start_to_end_ascending_including_empty_future_days(simulator: Any) -> None:
    legacy(simulator)
    s = start()
    end = s + 40 * DAY  # reaches into next month: days with no usage yet
    buckets = [
        b
        for p in pages(
            f"{simulator.url}/v1/organization/usage/completions",
            [("start_time", s), ("end_time", end), ("limit", 7)],
            OPENAI_AUTH,
        )
        for b in p["data"]
    ]
    assert [b["start_time"] for b in buckets] == list(range(s, end, DAY))
    assert all(b["end_time"] - b["start_time"] == DAY and b["object"] == "bucket" for b in buckets)
    assert buckets[0]["results"] and buckets[-1]["results"] == []
    # without group_by: one aggregated result per bucket, every dimension null
    first = buckets[0]["results"]
    assert len(first) == 1
    assert all(first[0][d] is None for d in ("project_id", "user_id", "api_key_id", "model", "batch"))


def test_group_by_plain_and_bracket_forms_are_the_same(simulator: Any) -> None:
    legacy(simulator)
    s = start()
    plain = get(
        simulator, "/usage/completions", [("start_time", s), ("group_by", "model"), ("group_by", "project_id")]
    ).json()
    brackets = get(
        simulator, "/usage/completions", [("start_time", s), ("group_by[]", "model"), ("group_by[]", "project_id")]
    ).json()
    assert plain == brackets
    result = plain["data"][0]["results"][0]
    assert result["model"] and result["project_id"].startswith("proj_") and result["api_key_id"] is None


def test_cursors_are_opaque_and_pages_do_not_overlap(simulator: Any) -> None:
    legacy(simulator)
    s = start()
    params = [("start_time", s), ("end_time", s + 10 * DAY), ("limit", 3)]
    first = get(simulator, "/costs", params).json()
    assert first["has_more"] and first["next_page"].startswith("page_")
    second = get(simulator, "/costs", [*params, ("page", first["next_page"])]).json()
    assert second["data"][0]["start_time"] == first["data"][-1]["end_time"]
    tampered = get(simulator, "/costs", [*params, ("page", first["next_page"][:-4] + "AAA=")])
    assert tampered.status_code == 400


def test_costs_are_dollar_floats_with_line_items(simulator: Any) -> None:
    legacy(simulator)
    resp = get(simulator, "/costs", [("start_time", start()), ("group_by", "line_item"), ("group_by", "project_id")])
    results = [r for b in resp.json()["data"] for r in b["results"]]
    assert results and all(r["object"] == "organization.costs.result" for r in results)
    assert all(isinstance(r["amount"]["value"], float) and r["amount"]["currency"] == "usd" for r in results)
    items = {r["line_item"] for r in results}
    assert len(items) >= 8 and any(i.endswith(", input") for i in items) and "web search tool calls" in items


def test_current_shape_is_what_real_organizations_got(simulator: Any) -> None:
    """The default: first bucket at the requested start, last bucket ending now, 6 token fields, no null keys,
    some amounts as strings, billing-style line items (provider-apis.md, Corrections)."""
    now = frozen_now(simulator)
    s = start() + 3 * 3600 + 1234  # an unaligned start
    buckets = [
        b
        for p in pages(f"{simulator.url}/v1/organization/usage/completions", [("start_time", s)], OPENAI_AUTH)
        for b in p["data"]
    ]
    assert buckets[0]["start_time"] == s and buckets[0]["end_time"] == start() + DAY
    assert buckets[-1]["end_time"] == now and buckets[-1]["start_time"] == now // DAY * DAY
    results = [r for b in buckets for r in b["results"]]
    assert results and all(
        set(r)
        == {
            "object",
            "input_tokens",
            "output_tokens",
            "input_cached_tokens",
            "input_audio_tokens",
            "output_audio_tokens",
            "num_model_requests",
        }
        for r in results
    )  # ungrouped: every dimension would be null, so no dimension key at all
    grouped = get(simulator, "/usage/completions", [("start_time", start()), ("group_by", "project_id")]).json()
    assert all("service_tier" not in r and "model" not in r for b in grouped["data"] for r in b["results"])
    costs = get(simulator, "/costs", [("start_time", start()), ("group_by", "line_item"), ("group_by", "project_id")])
    items = [r for b in costs.json()["data"] for r in b["results"]]
    values = [r["amount"]["value"] for r in items]
    assert any(isinstance(v, str) for v in values) and any(isinstance(v, float) for v in values)
    assert {"Text tokens", "Web search tool calls"} <= {r["line_item"] for r in items}
    assert not any(", input" in r["line_item"] for r in items)


def test_filters_and_projects_list(simulator: Any) -> None:
    projects = get(simulator, "/projects", {"limit": 2}).json()
    assert projects["object"] == "list" and projects["has_more"] and len(projects["data"]) == 2
    rest = get(simulator, "/projects", {"after": projects["last_id"], "include_archived": "true"}).json()
    assert any(p["status"] == "archived" for p in rest["data"])
    only = projects["data"][0]["id"]
    filtered = get(
        simulator, "/usage/completions", [("start_time", start()), ("group_by", "project_id"), ("project_ids", only)]
    ).json()
    assert {r["project_id"] for b in filtered["data"] for r in b["results"]} == {only}


def test_usage_knobs_multiply_and_revise_everything_served(simulator: Any) -> None:
    params = [("start_time", start()), ("limit", 31)]

    def totals() -> tuple[int, float]:
        usage = get(simulator, "/usage/completions", params).json()
        costs = get(simulator, "/costs", params).json()
        return (
            sum(r["input_tokens"] for b in usage["data"] for r in b["results"]),
            sum(r["amount"]["value"] for b in costs["data"] for r in b["results"]),
        )

    tokens, dollars = totals()
    requests.post(f"{simulator.url}/_sim/usage", json={"multiplier": 25}, timeout=5).raise_for_status()
    tokens25, dollars25 = totals()
    assert tokens25 == pytest.approx(25 * tokens, rel=1e-3) and dollars25 == pytest.approx(25 * dollars, rel=1e-6)
    requests.post(f"{simulator.url}/_sim/usage", json={"multiplier": 1, "revise": 0.9}, timeout=5).raise_for_status()
    tokens_rev, _ = totals()
    assert tokens_rev < tokens
    bad = requests.post(f"{simulator.url}/_sim/usage", json={"multiplier": -1}, timeout=5)
    assert bad.status_code == 400
    requests.post(f"{simulator.url}/_sim/reset", timeout=5).raise_for_status()
    assert totals()[0] == tokens


def test_data_is_deterministic_per_seed(simulator: Any) -> None:
    other = FrozenSimulator()  # a second, independent simulator with the same seed and time
    try:
        params = {"start_time": start(), "limit": 31, "group_by": "model"}
        a = get(simulator, "/usage/completions", params).json()
        b = get(other, "/usage/completions", params).json()
        assert a == b and a["data"][0]["results"]
    finally:
        other.stop()


def test_fail_page_breaks_exactly_the_configured_page(simulator: Any) -> None:
    simulator.faults({"openai": {"fail_page": 2, "fail_page_status": 502, "fail_page_count": 1}})
    params = [("start_time", start()), ("end_time", start() + 9 * DAY), ("limit", 3)]
    first = get(simulator, "/costs", params)
    assert first.status_code == 200
    broken = get(simulator, "/costs", [*params, ("page", first.json()["next_page"])])
    assert broken.status_code == 502 and "error" in broken.json()
    again = get(simulator, "/costs", [*params, ("page", first.json()["next_page"])])
    assert again.status_code == 200
