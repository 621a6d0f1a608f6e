"""Unit tests of the balance parsers with each provider's recorded answers (provider-apis.md section 4) and traps."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exporter import contract
from exporter.http import ApiError
from exporter.providers import deepseek, moonshot, openrouter, siliconflow
from exporter.providers.balance import balance_usd_enricher, currency_for_host
from exporter.samples import MetricSet

# Recorded answers, verbatim from the providers' docs.
DEEPSEEK = {
    "is_available": True,
    "balance_infos": [
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}
    ],
}
DEEPSEEK_OLD = {
    "is_available": True,
    "balance_infos": [
        {"currency": "CNY", "total_balance": 110.00, "granted_balance": 10.00, "topped_up_balance": 100.00}
    ],
}
MOONSHOT = {
    "code": 0,
    "data": {"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001},
    "scode": "0x0",
    "status": True,
}
OPENROUTER_KEY = {
    "data": {
        "label": "sk-or-v1-au7...890",
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "usage": 25.5,
        "usage_daily": 25.5,
        "usage_weekly": 25.5,
        "usage_monthly": 25.5,
        "byok_usage": 17.38,
        "byok_usage_daily": 17.38,
        "byok_usage_weekly": 17.38,
        "byok_usage_monthly": 17.38,
        "is_free_tier": False,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": "user_2dHF",
        "expires_at": "2027-12-31T23:59:59Z",
        "rate_limit": {"requests": 1000, "interval": "1h", "note": "This field is deprecated and safe to ignore."},
    }
}
OPENROUTER_KEY_OLD = {
    "data": {
        "label": "sk-or-v1-abc...def",
        "usage": 3.25,
        "limit": None,
        "is_free_tier": False,
        "rate_limit": {"requests": 50, "interval": "10s"},
    }
}
OPENROUTER_CREDITS = {"data": {"total_credits": 100.5, "total_usage": 25.75}}
SILICONFLOW = {
    "code": 20000,
    "message": "OK",
    "status": True,
    "data": {
        "id": "userid",
        "name": "username",
        "image": "user_avatar_image_url",
        "email": "user_email_address",
        "isAdmin": False,
        "balance": "0.88",
        "status": "normal",
        "introduction": "",
        "role": "",
        "chargeBalance": "88.00",
        "totalBalance": "88.88",
    },
}


def balances(ms: MetricSet) -> dict[tuple[str, str], float]:
    return {(dict(k)["currency"], dict(k)["kind"]): v for k, v in ms.series(contract.BALANCE).items()}


def available(ms: MetricSet) -> float | None:
    return ms.get(contract.BALANCE_AVAILABLE)


def invalid(fn: Any, *args: Any, match: str) -> None:
    with pytest.raises(ApiError, match=match) as info:
        fn(*args)
    assert info.value.reason == "invalid_response"


# --- DeepSeek -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", [DEEPSEEK, DEEPSEEK_OLD], ids=["strings", "numbers"])
def test_deepseek_strings_and_numbers_parse_alike(answer: dict[str, Any]) -> None:
    ms = deepseek.parse_balance(answer)
    assert balances(ms) == {("CNY", "total"): 110.0, ("CNY", "granted"): 10.0, ("CNY", "topped_up"): 100.0}
    assert available(ms) == 1.0


def test_deepseek_one_entry_per_currency() -> None:
    answer = copy.deepcopy(DEEPSEEK)
    answer["balance_infos"].append(
        {"currency": "usd", "total_balance": "5.50", "granted_balance": "0.50", "topped_up_balance": "5.00"}
    )
    got = balances(deepseek.parse_balance(answer))
    assert got[("USD", "total")] == 5.5 and got[("CNY", "total")] == 110.0
    assert len(got) == 6


def test_deepseek_is_available_is_the_providers_word() -> None:
    answer = copy.deepcopy(DEEPSEEK)
    answer["is_available"] = False  # e.g. only expired grants left: DeepSeek says no even with a total
    assert available(deepseek.parse_balance(answer)) == 0.0
    del answer["is_available"]
    assert available(deepseek.parse_balance(answer)) == 1.0  # absent: derived from total > 0


@pytest.mark.parametrize(
    "answer, match",
    [
        ({"is_available": True}, "missing field 'balance_infos'"),
        ({"is_available": True, "balance_infos": {"currency": "CNY"}}, "'balance_infos' has type dict"),
        (
            {"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": "abc"}]},
            r"total_balance.*expected a number, got 'abc'",
        ),
        ({"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": "NaN"}]}, "not a finite number"),
        ({"is_available": True, "balance_infos": [{"currency": "CNY", "total_balance": True}]}, "has type bool"),
        ({"is_available": True, "balance_infos": [{"total_balance": "1.00"}]}, "missing field 'currency'"),
        (
            {"is_available": True, "balance_infos": [{"currency": "人民币", "total_balance": "1"}]},
            "not a 3-letter code",
        ),
        ({"is_available": "yes", "balance_infos": []}, "'is_available' has type str"),
        ({"is_available": True, "balance_infos": ["CNY"]}, r"balance_infos\[0\] is a str"),
        ([], "answer is a list"),
    ],
)
def test_deepseek_type_traps_are_clear_errors(answer: Any, match: str) -> None:
    invalid(deepseek.parse_balance, answer, match=match)


def test_deepseek_duplicate_currency_is_refused() -> None:
    answer = copy.deepcopy(DEEPSEEK)
    answer["balance_infos"] *= 2
    invalid(deepseek.parse_balance, answer, match="listed twice")


# --- Moonshot -------------------------------------------------------------------------------------------------------
def test_moonshot_floats_in_the_wrapper() -> None:
    ms = moonshot.parse_balance(MOONSHOT, "CNY")
    assert balances(ms) == {("CNY", "total"): 49.58894, ("CNY", "voucher"): 46.58893, ("CNY", "cash"): 3.00001}
    assert available(ms) == 1.0


def test_moonshot_negative_cash_is_exported_as_arrears() -> None:
    answer = copy.deepcopy(MOONSHOT)
    answer["data"].update(available_balance=46.58893, cash_balance=-3.00001)
    got = balances(moonshot.parse_balance(answer, "USD"))
    assert got[("USD", "cash")] == -3.00001  # not clamped to 0: a debt must show
    assert got[("USD", "total")] == 46.58893


def test_moonshot_nothing_available_blocks() -> None:
    answer = copy.deepcopy(MOONSHOT)
    answer["data"].update(available_balance=0.0, voucher_balance=0.0, cash_balance=-1.2)
    assert available(moonshot.parse_balance(answer, "CNY")) == 0.0


@pytest.mark.parametrize(
    "answer, match",
    [
        ({"code": 5, "scode": "0x5", "status": False, "error": "auth failed"}, "code 5"),
        ({"code": 0, "status": False, "data": {}}, "code 0"),
        ({"code": 0, "scode": "0x0", "status": True}, "missing field 'data'"),
        (
            {"code": 0, "data": {"available_balance": "x", "voucher_balance": 1, "cash_balance": 1}},
            "expected a number, got 'x'",
        ),
        ({"code": 0, "data": {"available_balance": 1.0, "voucher_balance": 1.0}}, "missing field 'cash_balance'"),
        ("<html>", "answer is a str"),
    ],
)
def test_moonshot_traps(answer: Any, match: str) -> None:
    invalid(moonshot.parse_balance, answer, "CNY", match=match)


# --- OpenRouter -----------------------------------------------------------------------------------------------------
def test_openrouter_key_limit_and_usage_windows() -> None:
    key = openrouter.parse_key(OPENROUTER_KEY)
    ms = key.samples
    assert ms.get(contract.KEY_LIMIT_USD) == 100.0
    assert ms.get(contract.KEY_LIMIT_REMAINING_USD) == 74.5 == key.remaining
    assert key.management is False and key.has_headroom
    windows = {dict(k)["window"]: v for k, v in ms.series(contract.KEY_USAGE_USD).items()}
    assert windows == {"total": 25.5, "daily": 25.5, "weekly": 25.5, "monthly": 25.5}
    assert not ms.series(contract.BALANCE)  # /key says nothing about the account's credits


def test_openrouter_unlimited_key_has_no_limit_series() -> None:
    key = openrouter.parse_key(OPENROUTER_KEY_OLD)
    assert key.remaining is None and key.limit is None and key.has_headroom  # unlimited
    assert key.management is None  # the older answer does not say what the key can see
    ms = key.samples
    assert ms.get(contract.KEY_LIMIT_USD) is None and ms.get(contract.KEY_LIMIT_REMAINING_USD) is None
    # the older answer only had the total usage
    assert {dict(k)["window"]: v for k, v in ms.series(contract.KEY_USAGE_USD).items()} == {"total": 3.25}


def test_openrouter_spent_key_limit_has_no_headroom() -> None:
    spent = {"data": {**OPENROUTER_KEY["data"], "limit_remaining": 0}}
    assert not openrouter.parse_key(spent).has_headroom


def test_openrouter_credits_remaining_is_purchased_minus_used() -> None:
    ms = MetricSet()
    credits = openrouter.parse_credits(OPENROUTER_CREDITS)
    openrouter.credit_samples(credits, ms)
    assert credits.remaining == pytest.approx(100.5 - 25.75) and not credits.all_zero
    assert balances(ms) == {("USD", "total"): pytest.approx(74.75), ("USD", "purchased"): 100.5, ("USD", "used"): 25.75}
    assert ms.get(contract.BALANCE_AVAILABLE) == 1


@pytest.mark.parametrize(
    "answer, match",
    [
        ({"label": "x", "usage": 1}, "missing field 'data'"),
        ({"data": {"limit": 10}}, "missing field 'usage'"),
        ({"data": {"usage": 1, "limit": "lots"}}, "expected a number, got 'lots'"),
        ({"data": {"usage": "NaN"}}, "not a finite number"),
        ({"data": {"usage": 1, "is_management_key": "yes"}}, "'is_management_key' has type str"),
    ],
)
def test_openrouter_key_traps(answer: Any, match: str) -> None:
    invalid(openrouter.parse_key, answer, match=match)


def test_openrouter_credits_traps() -> None:
    invalid(openrouter.parse_credits, {"data": {"total_credits": 1}}, match="total_usage")
    invalid(openrouter.parse_credits, {"data": {"total_credits": 1e999, "total_usage": 0}}, match="finite")


# --- SiliconFlow ----------------------------------------------------------------------------------------------------
def test_siliconflow_strings_and_code_20000() -> None:
    ms = siliconflow.parse_user_info(SILICONFLOW, "CNY")
    assert balances(ms) == {("CNY", "total"): 88.88, ("CNY", "granted"): 0.88, ("CNY", "charged"): 88.0}
    assert available(ms) == 1.0


@pytest.mark.parametrize("code", [0, 200, 20001, 50000, "20000", None])
def test_siliconflow_any_other_code_is_an_error_even_with_http_200(code: Any) -> None:
    answer = {**SILICONFLOW, "code": code, "message": "something went wrong"}
    invalid(siliconflow.parse_user_info, answer, "CNY", match="success is 20000")


def test_siliconflow_missing_total_is_an_error() -> None:
    answer = copy.deepcopy(SILICONFLOW)
    del answer["data"]["totalBalance"]
    invalid(siliconflow.parse_user_info, answer, "CNY", match="totalBalance")


def test_siliconflow_profile_fields_never_reach_metrics() -> None:
    ms = siliconflow.parse_user_info(SILICONFLOW, "CNY")
    values = {v for _, key, _ in ms.items() for _, v in key}
    assert not values & {"username", "user_email_address", "userid"}


# --- shared ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, suffixes, configured, want",
    [
        ("https://api.moonshot.cn", ("moonshot.ai",), None, "CNY"),
        ("https://api.moonshot.ai", ("moonshot.ai",), None, "USD"),
        ("https://api.siliconflow.com:443/v1", ("siliconflow.com",), None, "USD"),
        ("https://api.siliconflow.cn", ("siliconflow.com",), None, "CNY"),
        ("http://127.0.0.1:8080", ("moonshot.ai",), None, "CNY"),
        ("http://127.0.0.1:8080", ("moonshot.ai",), "USD", "USD"),
    ],
)
def test_currency_from_host(url: str, suffixes: tuple[str, ...], configured: str | None, want: str) -> None:
    assert currency_for_host(url, suffixes, configured) == want


def test_usd_enricher_converts_configured_currencies_and_usd_only() -> None:
    ms = MetricSet()
    ms.set(contract.BALANCE, 110.0, currency="CNY", kind="total")
    ms.set(contract.BALANCE, -3.0, currency="CNY", kind="cash")
    ms.set(contract.BALANCE, 5.0, currency="USD", kind="total")
    ms.set(contract.BALANCE, 1000.0, currency="JPY", kind="total")
    balance_usd_enricher({"CNY": 0.14})(ms, None)
    usd = {(dict(k)["currency"], dict(k)["kind"]): v for k, v in ms.series(contract.BALANCE_USD).items()}
    assert usd == {
        ("CNY", "total"): pytest.approx(110 * 0.14),
        ("CNY", "cash"): pytest.approx(-3 * 0.14),
        ("USD", "total"): 5.0,
    }  # JPY has no rate: no made-up conversion


def test_usd_enricher_leaves_other_sources_alone() -> None:
    ms = MetricSet()
    ms.set(contract.SOURCE_UP, 1.0)
    balance_usd_enricher({"CNY": 0.14})(ms, None)
    assert ms.families() == [contract.SOURCE_UP]
