"""Pure parsing of Anthropic usage_report/cost_report/workspaces answers (shapes from provider-apis.md §2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exporter import contract
from exporter.http import ApiError
from exporter.providers.anthropic import (
    parse_cost_page,
    parse_usage_page,
    parse_workspaces_page,
    project_info,
)
from exporter.providers.usage_common import Totals
from exporter.samples import MetricSet

DEFAULT = ["project", "model"]
USAGE = {  # the documented example result
    "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
    "model": "claude-sonnet-4-20250514",
    "service_tier": "standard",
    "context_window": "0-200k",
    "uncached_input_tokens": 1500,
    "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
    "cache_read_input_tokens": 200,
    "output_tokens": 500,
    "server_tool_use": {"web_search_requests": 10},
}
LABELS = {"project": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ", "model": "claude-sonnet-4-20250514"}
COST = {
    "amount": "123.78912",
    "currency": "USD",
    "cost_type": "tokens",
    "description": "Claude Sonnet 4 Usage - Input Tokens",
    "model": "claude-sonnet-4-20250514",
    "service_tier": "standard",
    "token_type": "uncached_input_tokens",
    "context_window": "0-200k",
    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
}


def page(
    *results: dict[str, Any], start: str = "2025-08-01T00:00:00Z", end: str = "2025-08-02T00:00:00Z"
) -> dict[str, Any]:
    return {
        "data": [{"starting_at": start, "ending_at": end, "results": list(results)}],
        "has_more": False,
        "next_page": None,
    }


def usage(pg: dict[str, Any], group_by: list[str] = DEFAULT, not_before: float = 0) -> Totals:
    t = Totals()
    parse_usage_page(pg, group_by, t, not_before)
    return t


def tok(t: Totals, token_type: str, **labels: str) -> Decimal | None:
    return t.get(contract.USAGE_TOKENS, token_type=token_type, **(labels or LABELS))


def test_total_input_is_uncached_plus_cache_writes_plus_cache_reads() -> None:
    t = usage(page(USAGE))
    assert tok(t, "input") == 1500 + 1000 + 500 + 200
    assert tok(t, "cached_input") == 200
    assert tok(t, "cache_write_input") == 1500
    assert tok(t, "output") == 500
    assert t.get(contract.USAGE_UNITS, unit="web_search_requests", **LABELS) == 10
    # no request count in this API: nothing is invented
    assert t.get(contract.USAGE_REQUESTS, **LABELS) is None
    assert len(t) == 5


def test_optional_parts_missing_or_null_and_unknown_fields() -> None:
    minimal = {
        "workspace_id": None,
        "model": "claude-3-5-haiku-20241022",
        "uncached_input_tokens": 10,
        "output_tokens": 3,
        "cache_creation": None,
        "inference_geo": "us",
        "speed": "fast",
        "brand_new": {"nested": [1, 2]},
        "server_tool_use": {"web_search_requests": 2, "future_breakdown": {"x": 1}, "flag": True},
    }
    t = usage(page(minimal))
    labels = {"project": "default", "model": "claude-3-5-haiku-20241022"}
    assert tok(t, "input", **labels) == 10
    assert tok(t, "cached_input", **labels) == 0
    assert tok(t, "cache_write_input", **labels) == 0
    assert t.get(contract.USAGE_UNITS, unit="web_search_requests", **labels) == 2
    assert len(t) == 5  # 4 token types + 1 unit; the nested and boolean extras were ignored
    assert tok(usage(page({**minimal, "server_tool_use": None})), "output", **labels) == 3


def test_breakdowns_and_null_dimensions() -> None:
    t = usage(page(USAGE, {**USAGE, "api_key_id": None, "workspace_id": None}), ["project", "model", "api_key"])
    assert tok(t, "output", **LABELS, api_key="apikey_01Rj2N8SVvo6BePZj99NhmiT") == 500
    assert tok(t, "output", project="default", model=LABELS["model"], api_key="console") == 500
    flat = usage(page({**USAGE, "workspace_id": None, "model": None}), [])
    assert tok(flat, "output", project="all", model="all") == 500


def test_buckets_sum_and_buckets_before_the_month_are_skipped() -> None:
    pg = page(USAGE)
    pg["data"].insert(
        0, {"starting_at": "2025-07-31T00:00:00Z", "ending_at": "2025-08-01T00:00:00Z", "results": [USAGE]}
    )
    pg["data"].append(
        {"starting_at": "2025-08-02T00:00:00+00:00", "ending_at": "2025-08-03T00:00:00Z", "results": [USAGE]}
    )
    aug1 = 1754006400  # 2025-08-01T00:00:00Z
    assert tok(usage(pg, not_before=aug1), "output") == 1000
    assert tok(usage(pg), "output") == 1500


def test_cost_amounts_are_cent_strings_converted_to_dollars_exactly() -> None:
    t = Totals()
    parse_cost_page(page(COST, {**COST, "amount": "0.00088"}), t)
    line = t.get(contract.COST_USD, project=LABELS["project"], line_item=COST["description"])
    assert line == Decimal("123.79000") / 100 == Decimal("1.2379")
    t2 = Totals()
    parse_cost_page(page({**COST, "workspace_id": None, "description": None, "amount": "50"}), t2)
    assert t2.get(contract.COST_USD, project="default", line_item="unknown") == Decimal("0.5")


@pytest.mark.parametrize(
    "bad",
    [
        {**COST, "amount": "12,5"},
        {**COST, "amount": None},
        {**COST, "amount": "NaN"},
        {**COST, "currency": "EUR"},
    ],
)
def test_bad_cost_results_are_invalid_responses(bad: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        parse_cost_page(page(bad), Totals())
    assert err.value.reason == "invalid_response"


@pytest.mark.parametrize(
    "bad",
    [
        {"data": [{"starting_at": "not a time", "results": []}]},
        {"data": [{"ending_at": "2025-08-02T00:00:00Z", "results": []}]},
        {"has_more": False},
        page({**USAGE, "uncached_input_tokens": None}),
        page({**USAGE, "cache_creation": [1, 2]}),
    ],
)
def test_malformed_usage_pages_are_invalid_responses(bad: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        usage(bad)
    assert err.value.reason == "invalid_response"


def test_workspaces_and_the_default_workspace_name() -> None:
    pg = {
        "data": [
            {
                "id": "wrkspc_1",
                "type": "workspace",
                "name": "Production",
                "created_at": "2024-10-30T23:58:27Z",
                "archived_at": None,
                "display_color": "#6C5BB9",
            }
        ],
        "has_more": False,
        "first_id": "wrkspc_1",
        "last_id": "wrkspc_1",
    }
    ms = MetricSet()
    project_info(parse_workspaces_page(pg), ms)
    assert ms.get(contract.PROJECT_INFO, project="wrkspc_1", project_name="Production") == 1
    assert ms.get(contract.PROJECT_INFO, project="default", project_name="Default Workspace") == 1
