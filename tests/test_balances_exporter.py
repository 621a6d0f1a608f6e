"""The real exporter process against the simulated balance APIs: exported values equal what was served, the
USD-normalised series, an exhausted balance, and a balance that burns down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter

from exporter.simulator import DEMO_KEY, DEMO_MANAGEMENT_KEY

RATES = {"CNY": 0.14}
KEY = {"Authorization": f"Bearer {DEMO_KEY}"}
MGMT = {"Authorization": f"Bearer {DEMO_MANAGEMENT_KEY}"}


def config(url: str) -> dict[str, Any]:
    common = {"base_url": url, "interval": "1s", "timeout": "1s", "retries": 0, "api_key_env": "LLMPULSE_DEMO_KEY"}
    return {
        "sources": [
            {"type": "deepseek", "name": "ds", **common},
            {"type": "moonshot", "name": "kimi", **common},
            {"type": "openrouter", "name": "or", **common, "api_key_env": "LLMPULSE_DEMO_MANAGEMENT_KEY"},
            {"type": "siliconflow", "name": "sf", **common},
            {"type": "siliconflow", "name": "sf-intl", **common, "currency": "USD"},
        ],
        "exchange_rates": RATES,
    }


SOURCES = ("ds", "kimi", "or", "sf", "sf-intl")


def admin(url: str, body: dict[str, Any]) -> None:
    resp = requests.post(f"{url}/_sim/balances", json=body, timeout=5)
    assert resp.status_code == 200, resp.text


def served(url: str, path: str, headers: dict[str, str] = KEY) -> Any:
    resp = requests.get(url + path, headers=headers, timeout=5)
    resp.raise_for_status()
    return resp.json()


def all_up(m: Metrics) -> bool:
    return all(m.value("llmpulse_source_up", source=s) == 1 for s in SOURCES) and bool(m.find("llmpulse_balance"))


def balance(m: Metrics, source: str, currency: str, kind: str) -> float:
    return m.value("llmpulse_balance", source=source, currency=currency, kind=kind)


def test_exported_balances_equal_what_was_served(simulator: Any, tmp_path: Path) -> None:
    # Freeze the burn so the simulator serves the same numbers to the exporter and to this test; put Moonshot's
    # cash into arrears to check a negative balance is exported as such.
    admin(simulator.url, {"*": {"burn_per_hour": 0}, "moonshot": {"voucher": 20.5, "cash": -3.25}})
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(all_up, what="all balance sources up")

        ds = served(simulator.url, "/user/balance")
        for info in ds["balance_infos"]:
            for field, kind in (
                ("total_balance", "total"),
                ("granted_balance", "granted"),
                ("topped_up_balance", "topped_up"),
            ):
                assert balance(m, "ds", info["currency"], kind) == float(info[field])
        assert m.value("llmpulse_balance_available", source="ds") == float(ds["is_available"])
        assert len(m.find("llmpulse_balance", source="ds")) == 3 * len(ds["balance_infos"])

        kimi = served(simulator.url, "/v1/users/me/balance")["data"]
        assert balance(m, "kimi", "CNY", "total") == kimi["available_balance"]
        assert balance(m, "kimi", "CNY", "voucher") == kimi["voucher_balance"]
        assert balance(m, "kimi", "CNY", "cash") == kimi["cash_balance"] == -3.25

        credits = served(simulator.url, "/api/v1/credits", MGMT)["data"]
        assert balance(m, "or", "USD", "purchased") == credits["total_credits"]
        assert balance(m, "or", "USD", "used") == credits["total_usage"]
        assert balance(m, "or", "USD", "total") == pytest.approx(credits["total_credits"] - credits["total_usage"])
        key = served(simulator.url, "/api/v1/key", MGMT)["data"]
        assert m.value("llmpulse_key_limit_usd", source="or") == key["limit"]
        assert m.value("llmpulse_key_limit_remaining_usd", source="or") == key["limit_remaining"]
        for field, window in (
            ("usage", "total"),
            ("usage_daily", "daily"),
            ("usage_weekly", "weekly"),
            ("usage_monthly", "monthly"),
        ):
            assert m.value("llmpulse_key_usage_usd", source="or", window=window) == key[field]

        sf = served(simulator.url, "/v1/user/info")["data"]
        for source, currency in (("sf", "CNY"), ("sf-intl", "USD")):
            assert balance(m, source, currency, "total") == float(sf["totalBalance"])
            assert balance(m, source, currency, "granted") == float(sf["balance"])
            assert balance(m, source, currency, "charged") == float(sf["chargeBalance"])

        for source in ("kimi", "or", "sf"):
            total = m.value("llmpulse_balance", source=source, kind="total")
            assert m.value("llmpulse_balance_available", source=source) == float(total > 0)


def test_usd_series_from_exchange_rates(simulator: Any, tmp_path: Path) -> None:
    # a third DeepSeek currency with no configured rate must get no made-up USD series
    admin(simulator.url, {"*": {"burn_per_hour": 0}, "deepseek": {"currency": "HKD", "total": 30.0}})
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: all_up(m) and bool(m.find("llmpulse_balance", currency="HKD")), what="up")
        converted = 0
        for labels, value in m.find("llmpulse_balance"):
            rate = {"USD": 1.0, **RATES}.get(labels["currency"])
            usd = m.find(
                "llmpulse_balance_usd", source=labels["source"], currency=labels["currency"], kind=labels["kind"]
            )
            if rate is None:
                assert usd == []
                continue
            assert len(usd) == 1 and usd[0][1] == pytest.approx(value * rate)
            converted += 1
        assert converted == len(m.find("llmpulse_balance")) - len(m.find("llmpulse_balance", currency="HKD"))
        assert {labels["source"] for labels, _ in m.find("llmpulse_balance_usd")} == set(SOURCES)
        assert m.find("llmpulse_balance_usd", currency="CNY")  # the configured rate was used, not only USD's 1


def test_exhausting_balances_reads_zero_and_unavailable(simulator: Any, tmp_path: Path) -> None:
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(all_up, what="all balance sources up")
        assert all(m.value("llmpulse_balance_available", source=s) == 1 for s in SOURCES)
        admin(simulator.url, {"*": {"total": 0}})

        def exhausted(m: Metrics) -> bool:
            totals = m.find("llmpulse_balance", kind="total")
            return (
                len(totals) == 5  # DeepSeek CNY (one currency, as real accounts), Moonshot, OpenRouter, 2 x SiliconFlow
                and all(v == 0 for _, v in totals)
                and all(m.value("llmpulse_balance_available", source=s) == 0 for s in SOURCES)
            )

        m = proc.wait_for(exhausted, what="every total 0 and unavailable")
        assert all(v == 0 for _, v in m.find("llmpulse_balance_usd", kind="total"))
        assert all(m.value("llmpulse_source_up", source=s) == 1 for s in SOURCES)  # empty is data, not an outage


def test_balance_burns_down_between_polls(simulator: Any, tmp_path: Path) -> None:
    admin(simulator.url, {"moonshot": {"burn_per_hour": 3600.0}})  # 1 CNY per second
    with exporter(config(simulator.url), tmp_path) as proc:
        first = balance(proc.wait_for(all_up, what="up"), "kimi", "CNY", "total")
        m = proc.wait_for(lambda m: balance(m, "kimi", "CNY", "total") <= first - 1.0, what="moonshot burns")
        later = balance(m, "kimi", "CNY", "total")
        assert later < first
        assert balance(m, "kimi", "CNY", "voucher") < 146.58893  # vouchers are spent first
