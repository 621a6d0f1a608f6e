"""Pure parsing of OpenAI Usage/Costs/Projects answers, fed with the shapes recorded in provider-apis.md §1."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from exporter import contract
from exporter.http import ApiError
from exporter.providers.openai import (
    ENDPOINTS_BY_NAME,
    parse_costs_page,
    parse_projects_page,
    parse_usage_page,
)
from exporter.providers.usage_common import Totals

DEFAULT = ["project", "model"]
# The 2026 completions result (provider-apis.md §1.3), every field present.
FULL = {
    "object": "organization.usage.completions.result",
    "input_tokens": 5000,
    "input_cached_tokens": 1800,
    "input_cache_write_tokens": 200,
    "input_uncached_tokens": 3000,
    "output_tokens": 1000,
    "input_text_tokens": 2500,
    "output_text_tokens": 800,
    "input_cached_text_tokens": 1500,
    "input_audio_tokens": 300,
    "input_cached_audio_tokens": 100,
    "output_audio_tokens": 100,
    "input_image_tokens": 200,
    "input_cached_image_tokens": 200,
    "output_image_tokens": 100,
    "num_model_requests": 5,
    "project_id": "proj_abc",
    "user_id": "user-abc",
    "api_key_id": "key_abc",
    "model": "gpt-4o-mini-2024-07-18",
    "batch": False,
    "service_tier": "default",
}
# The Dec-2024 minimal shape the exporter must still handle.
OLD = {
    "object": "organization.usage.completions.result",
    "input_tokens": 5000,
    "output_tokens": 1000,
    "input_cached_tokens": 4000,
    "num_model_requests": 5,
    "project_id": "proj_abc",
    "user_id": "user-abc",
    "api_key_id": "key_abc",
    "model": "gpt-4o-mini-2024-07-18",
    "batch": False,
}
LABELS = {"project": "proj_abc", "model": "gpt-4o-mini-2024-07-18"}


def page(*results: dict[str, Any], start: int = 1730419200) -> dict[str, Any]:
    return {
        "object": "page",
        "has_more": False,
        "next_page": None,
        "data": [{"object": "bucket", "start_time": start, "end_time": start + 86400, "results": list(results)}],
    }


def usage(endpoint: str, pg: dict[str, Any], group_by: list[str] = DEFAULT, not_before: float = 0) -> Totals:
    totals = Totals()
    parse_usage_page(pg, ENDPOINTS_BY_NAME[endpoint], group_by, totals, not_before)
    return totals


def tokens(t: Totals, token_type: str, **labels: str) -> Decimal | None:
    return t.get(contract.USAGE_TOKENS, token_type=token_type, **(labels or LABELS))


def test_full_2026_completions_result_maps_every_token_type() -> None:
    t = usage("completions", page(FULL))
    assert t.get(contract.USAGE_REQUESTS, **LABELS) == 5
    assert tokens(t, "input") == 5000  # all input, cached and cache-write included (not re-added)
    assert tokens(t, "cached_input") == 1800
    assert tokens(t, "cache_write_input") == 200
    assert tokens(t, "output") == 1000
    assert tokens(t, "input_audio") == 400  # uncached 300 + cached 100
    assert tokens(t, "output_audio") == 100
    assert len(t) == 7  # 1 request series + 6 token types, nothing else


def test_old_minimal_shape_counts_missing_optional_fields_as_zero() -> None:
    t = usage("completions", page(OLD))
    assert tokens(t, "input") == 5000
    assert tokens(t, "cached_input") == 4000
    assert tokens(t, "output") == 1000
    for missing in ("cache_write_input", "input_audio", "output_audio"):
        assert tokens(t, missing) == 0


def test_unknown_fields_are_ignored() -> None:
    future = {**FULL, "input_video_tokens": 99, "reasoning": {"tokens": 7}, "region": "eu", "num_sessions": 3}
    a = usage("completions", page(FULL)).metricset()
    b = usage("completions", page(future)).metricset()
    assert sorted(a.items(), key=repr) == sorted(b.items(), key=repr)


def test_a_missing_required_field_is_an_invalid_response() -> None:
    broken = {k: v for k, v in OLD.items() if k != "output_tokens"}
    with pytest.raises(ApiError) as err:
        usage("completions", page(broken))
    assert err.value.reason == "invalid_response" and "output_tokens" in str(err.value)
    with pytest.raises(ApiError):
        usage("completions", page({**OLD, "input_tokens": "lots"}))


@pytest.mark.parametrize(
    ("endpoint", "result", "expect"),
    [
        (
            "embeddings",
            {
                "object": "organization.usage.embeddings.result",
                "input_tokens": 20,
                "num_model_requests": 2,
                "project_id": "proj_abc",
                "model": "text-embedding-ada-002-v2",
            },
            ("tokens", "input", 20),
        ),
        (
            "moderations",
            {
                "object": "organization.usage.moderations.result",
                "input_tokens": 20,
                "num_model_requests": 2,
                "project_id": "proj_abc",
                "model": "text-moderation",
            },
            ("tokens", "input", 20),
        ),
        (
            "images",
            {
                "object": "organization.usage.images.result",
                "images": 2,
                "num_model_requests": 2,
                "size": "1024x1024",
                "source": "image.generation",
                "project_id": "proj_abc",
                "model": "dall-e-3",
            },
            ("units", "images", 2),
        ),
        (
            "audio_speeches",
            {
                "object": "organization.usage.audio_speeches.result",
                "characters": 45,
                "num_model_requests": 1,
                "project_id": "proj_abc",
                "model": "tts-1",
            },
            ("units", "characters", 45),
        ),
        (
            "audio_transcriptions",
            {
                "object": "organization.usage.audio_transcriptions.result",
                "seconds": 10,
                "num_model_requests": 1,
                "project_id": "proj_abc",
                "model": "whisper-1",
            },
            ("units", "seconds", 10),
        ),
    ],
)
def test_other_usage_endpoints(endpoint: str, result: dict[str, Any], expect: tuple[str, str, int]) -> None:
    t = usage(endpoint, page(result))
    labels = {"project": "proj_abc", "model": result["model"]}
    assert t.get(contract.USAGE_REQUESTS, **labels) == result["num_model_requests"]
    kind, name, value = expect
    if kind == "tokens":
        assert t.get(contract.USAGE_TOKENS, token_type=name, **labels) == value
        assert t.get(contract.USAGE_TOKENS, token_type="output", **labels) is None
    else:
        assert t.get(contract.USAGE_UNITS, unit=name, **labels) == value
        assert t.get(contract.USAGE_TOKENS, token_type="input", **labels) is None


def test_breakdown_labels_only_when_grouped_and_null_dimensions() -> None:
    grouped = usage("completions", page(FULL), ["project", "model", "api_key", "user"])
    assert tokens(grouped, "input", **LABELS, api_key="key_abc", user="user-abc") == 5000
    ungrouped = usage("completions", page({**FULL, "project_id": None, "model": None}), [])
    assert tokens(ungrouped, "input", project="all", model="all") == 5000
    null_project = usage("completions", page({**FULL, "project_id": None}))
    assert tokens(null_project, "input", project="unknown", model=LABELS["model"]) == 5000


def test_buckets_and_pages_sum_and_last_month_is_skipped() -> None:
    pg = page(OLD)
    pg["data"].append({"object": "bucket", "start_time": 1730505600, "end_time": 1730592000, "results": [OLD, OLD]})
    pg["data"].append({"object": "bucket", "start_time": 1730592000, "end_time": 1730678400, "results": []})
    t = usage("completions", pg)
    parse_usage_page(page(OLD, start=1730678400), ENDPOINTS_BY_NAME["completions"], DEFAULT, t)
    assert tokens(t, "input") == 4 * 5000
    before = copy.deepcopy(pg)
    before["data"][0]["start_time"] = 1730419200 - 86400
    assert tokens(usage("completions", before, not_before=1730419200), "input") == 2 * 5000


@pytest.mark.parametrize(
    "bad",
    [
        {"object": "page"},
        {"data": {"oops": 1}},
        {"data": [{"start_time": 1730419200}]},
        {"data": [{"start_time": "yesterday", "results": []}]},
        {"data": [{"start_time": 1730419200, "results": ["x"]}]},
    ],
)
def test_malformed_pages_are_invalid_responses(bad: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        usage("completions", bad)
    assert err.value.reason == "invalid_response"


COST = {
    "object": "organization.costs.result",
    "amount": {"value": 0.06, "currency": "usd"},
    "line_item": "gpt-4o-mini, input",
    "project_id": "proj_abc",
    "api_key_id": None,
    "quantity": None,
    "quantity_unit": None,
}


def test_costs_are_dollars_summed_exactly_by_project_and_line_item() -> None:
    t = Totals()
    tenth = {**COST, "amount": {"value": 0.1, "currency": "usd"}}
    parse_costs_page(page(tenth, {**COST, "amount": {"value": 0.2, "currency": "usd"}}), DEFAULT, t)
    assert t.get(contract.COST_USD, project="proj_abc", line_item="gpt-4o-mini, input") == Decimal("0.3")
    t2 = Totals()
    parse_costs_page(page({**COST, "project_id": None, "line_item": None}), DEFAULT, t2)
    assert t2.get(contract.COST_USD, project="unknown", line_item="unknown") == Decimal("0.06")
    t3 = Totals()
    parse_costs_page(page(COST), ["project", "model", "api_key"], t3)
    assert t3.get(contract.COST_USD, project="proj_abc", line_item="gpt-4o-mini, input", api_key="unknown")


def test_costs_reject_other_currencies_and_tolerate_missing_amounts() -> None:
    with pytest.raises(ApiError, match="eur"):
        parse_costs_page(page({**COST, "amount": {"value": 1, "currency": "eur"}}), DEFAULT, Totals())
    t = Totals()
    parse_costs_page(page({"object": "organization.costs.result"}), DEFAULT, t)
    assert len(t) == 0


def test_projects_page() -> None:
    pg = {
        "object": "list",
        "data": [
            {
                "id": "proj_abc",
                "object": "organization.project",
                "name": "Project example",
                "created_at": 1711471533,
                "archived_at": None,
                "status": "active",
            },
            {"id": "proj_x", "object": "organization.project", "name": None},
        ],
        "first_id": "proj-abc",
        "last_id": "proj-xyz",
        "has_more": False,
    }
    assert parse_projects_page(pg) == [("proj_abc", "Project example"), ("proj_x", "proj_x")]
    with pytest.raises(ApiError):
        parse_projects_page({"data": [{"name": "no id"}]})
