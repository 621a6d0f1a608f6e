"""Unit tests of the plan and account parsers: shapes as documented (or, for Zhipu, as the tools that read it
record it), units (percent, milliseconds), and the traps: error codes under HTTP 200, out-of-range or non-finite
numbers, unlimited items that are not quotas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exporter import contract
from exporter.http import ApiError
from exporter.providers import coze, minimax, stepfun, zhipu
from exporter.samples import MetricSet

MINIMAX = {
    "model_remains": [
        {
            "model_name": "MiniMax-M2",
            "current_interval_remaining_percent": 35,
            "end_time": 1765094400000,
            "current_weekly_remaining_percent": 80.5,
            "weekly_end_time": 1765152000000,
        }
    ],
    "base_resp": {"status_code": 0, "status_msg": "success"},
}
ZHIPU = {
    "code": 200,
    "msg": "操作成功",
    "success": True,
    "data": {
        "level": "pro",
        "limits": [
            {"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 12, "nextResetTime": 1765094400000},
            {
                "type": "TIME_LIMIT",
                "unit": 5,
                "number": 1,
                "usage": 1000,
                "currentValue": 30,
                "remaining": 970,
                "percentage": 3,
                "nextResetTime": 1767225600000,
            },
        ],
    },
}
COZE_CALL_TOOL = {
    "code": 0,
    "msg": "",
    "data": {
        "basic_info": {"user_level": "team"},
        "benefit_info": [
            {
                "benefit_type": "call_tool_limit",
                "basic": {
                    "item_info": {
                        "strategy": "by_quota",
                        "total": 100,
                        "used": 90,
                        "start_at": 1764547200,
                        "end_at": 1767225600,
                    },
                    "status": "valid",
                },
            }
        ],
    },
}
STEPFUN = {
    "object": "account",
    "type": "prepaid",
    "balance": "0.00",
    "total_cash_balance": "0.00",
    "total_voucher_balance": "0.00",
}


def ratios(ms: MetricSet) -> dict[tuple[str, str], float]:
    return {(dict(k)["quota"], dict(k)["window"]): v for k, v in ms.series(contract.PLAN_QUOTA_REMAINING_RATIO).items()}


def resets(ms: MetricSet) -> dict[tuple[str, str], float]:
    return {(dict(k)["quota"], dict(k)["window"]): v for k, v in ms.series(contract.PLAN_QUOTA_RESET).items()}


def test_minimax_percent_and_milliseconds() -> None:
    ms = minimax.parse_remains(MINIMAX)
    assert ratios(ms) == {("MiniMax-M2", "interval"): 0.35, ("MiniMax-M2", "weekly"): 0.805}
    assert resets(ms) == {("MiniMax-M2", "interval"): 1765094400.0, ("MiniMax-M2", "weekly"): 1765152000.0}


def test_minimax_plan_without_weekly_cap_and_seconds() -> None:
    data = copy.deepcopy(MINIMAX)
    item = data["model_remains"][0]
    del item["current_weekly_remaining_percent"], item["weekly_end_time"]
    item["end_time"] = 1765094400  # seconds are read as seconds
    ms = minimax.parse_remains(data)
    assert ratios(ms) == {("MiniMax-M2", "interval"): 0.35}
    assert resets(ms) == {("MiniMax-M2", "interval"): 1765094400.0}


def test_zhipu_used_percentage_becomes_remaining_ratio() -> None:
    ms = zhipu.parse_quota_limit(ZHIPU)
    assert ratios(ms) == pytest.approx({("tokens", "5h"): 0.88, ("time", "monthly"): 0.97})
    assert resets(ms)[("tokens", "5h")] == 1765094400.0
    assert ms.get(contract.PLAN_INFO, plan="pro") == 1


def test_zhipu_same_window_twice_keeps_the_one_with_less_left() -> None:
    data = copy.deepcopy(ZHIPU)
    data["data"]["limits"].append({"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 70})
    assert ratios(zhipu.parse_quota_limit(data))[("tokens", "5h")] == pytest.approx(0.30)


def test_coze_call_tool_quota_and_plan() -> None:
    ms = MetricSet()
    coze.parse_call_tool(COZE_CALL_TOOL, ms)
    assert ratios(ms) == pytest.approx({("call_tool", "plan"): 0.10})
    assert resets(ms) == {("call_tool", "plan"): 1767225600.0}
    assert ms.get(contract.PLAN_INFO, plan="team") == 1


@pytest.mark.parametrize("strategy", ["unlimit", "forbidden"])
def test_coze_unlimited_or_forbidden_is_not_a_quota(strategy: str) -> None:
    data = copy.deepcopy(COZE_CALL_TOOL)
    data["data"]["benefit_info"][0]["basic"]["item_info"]["strategy"] = strategy
    ms = MetricSet()
    coze.parse_call_tool(data, ms)
    assert ratios(ms) == {}


def test_stepfun_empty_prepaid_account_is_unavailable() -> None:
    ms = stepfun.parse_account(STEPFUN)
    assert ms.get(contract.BALANCE, currency="CNY", kind="total") == 0
    assert ms.get(contract.BALANCE_AVAILABLE) == 0  # prepaid and empty: the provider's own numbers say so


@pytest.mark.parametrize(
    "parse, answer, reason, match",
    [
        (
            minimax.parse_remains,
            {"base_resp": {"status_code": 1004, "status_msg": "login fail"}},
            "invalid_response",
            "status_code 1004 login fail",
        ),
        (
            minimax.parse_remains,
            {"model_remains": [{"model_name": "m", "current_interval_remaining_percent": 130}]},
            "invalid_response",
            "outside 0-100",
        ),
        (
            minimax.parse_remains,
            {"model_remains": [{"model_name": "m", "current_interval_remaining_percent": "NaN"}]},
            "invalid_response",
            "not a finite number",
        ),
        (
            zhipu.parse_quota_limit,
            {"code": 1001, "msg": "令牌已过期", "success": False},
            "invalid_response",
            "code 1001",
        ),
        (
            zhipu.parse_quota_limit,
            {"code": 200, "data": {"limits": [{"type": "TOKENS_LIMIT"}]}},
            "invalid_response",
            "missing field 'percentage'",
        ),
        (stepfun.parse_account, {**STEPFUN, "balance": "Infinity"}, "invalid_response", "not a finite number"),
        (stepfun.parse_account, {"balance": 1}, "invalid_response", "missing field 'type'"),
    ],
)
def test_traps(parse: Any, answer: Any, reason: str, match: str) -> None:
    with pytest.raises(ApiError, match=match) as info:
        parse(answer)
    assert info.value.reason == reason


def test_coze_auth_code_is_a_4xx_and_other_codes_invalid() -> None:
    with pytest.raises(ApiError) as info:
        coze.parse_call_tool({"code": 4100, "msg": "authentication is invalid"}, MetricSet())
    assert info.value.reason == "http_4xx"
    with pytest.raises(ApiError) as info:
        coze.parse_qps({"code": 4000, "msg": "json fail"}, "chat", MetricSet())
    assert info.value.reason == "invalid_response"
