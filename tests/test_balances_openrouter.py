"""OpenRouter against the real exporter: an ordinary key's headroom comes from /key (never the zero /credits gives
it), a management key reads the account, an older /key answer falls back on /credits' own refusal (403 or zeros),
the legacy /auth/key path, unlimited keys, and credits: false."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from helpers import Metrics, exporter

from exporter.simulator import DEMO_KEY

KEY = {"Authorization": f"Bearer {DEMO_KEY}"}


def source(url: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "openrouter",
        "name": name,
        "base_url": url,
        "interval": "1s",
        "timeout": "1s",
        "retries": 0,
        "api_key_env": "LLMPULSE_DEMO_KEY",
        **extra,
    }


def sim_state(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/_sim/balances", timeout=5).json()


def polls(m: Metrics, name: str) -> float:
    return m.total("llmpulse_source_api_requests_total", source=name)


def test_ordinary_funded_key_is_available_with_its_real_headroom(simulator: Any, tmp_path: Path) -> None:
    # what real ordinary keys got in 2026: /credits answers 200 with zeros, /key shows the key's limit
    requests.post(
        f"{simulator.url}/_sim/balances", json={"openrouter": {"burn_per_hour": 0, "limit": 30}}, timeout=5
    ).raise_for_status()
    zeros = requests.get(f"{simulator.url}/api/v1/credits", headers=KEY, timeout=5).json()
    assert zeros == {"data": {"total_credits": 0, "total_usage": 0}}
    with exporter({"sources": [source(simulator.url, "or")]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: polls(m, "or") >= 3, what="several polls")
        assert m.value("llmpulse_source_up", source="or") == 1
        assert m.total("llmpulse_source_poll_errors_total", source="or") == 0
        assert m.find("llmpulse_balance", source="or") == []  # never the zero /credits gives an ordinary key
        key = requests.get(f"{simulator.url}/api/v1/key", headers=KEY, timeout=5).json()["data"]
        assert key["is_management_key"] is False and key["limit_remaining"] > 0
        assert m.value("llmpulse_key_limit_usd", source="or") == key["limit"] == 30
        assert m.value("llmpulse_key_limit_remaining_usd", source="or") == key["limit_remaining"]
        assert m.value("llmpulse_key_usage_usd", source="or", window="monthly") == key["usage_monthly"]
        assert m.value("llmpulse_balance_available", source="or") == 1
        # /key said what the key can see, so /credits was never asked
        assert sim_state(simulator.url)["hits"].get("/api/v1/credits", 0) == 1  # the one request above
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "ordinary (non-management) key" in page and "management key" in page
        assert proc.log().count("ordinary (non-management) key") == 1

        # the key's limit spent: now, and only now, available reads 0
        requests.post(f"{simulator.url}/_sim/balances", json={"openrouter": {"limit": 0}}, timeout=5)
        m = proc.wait_for(lambda m: m.value("llmpulse_balance_available", source="or") == 0, what="limit spent")
        assert m.value("llmpulse_key_limit_remaining_usd", source="or") == 0


def test_older_key_answer_decides_from_the_credits_refusal(simulator: Any, tmp_path: Path) -> None:
    """An older /key that does not say what the key can see: /credits is asked once; its 403 or its all-zero
    answer both mean "this key cannot see the account", never "the account is empty"."""
    requests.post(
        f"{simulator.url}/_sim/balances",
        json={"openrouter": {"burn_per_hour": 0, "key_shape": "legacy", "limit": None}},
        timeout=5,
    ).raise_for_status()
    with exporter({"sources": [source(simulator.url, "or-zeros")]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: polls(m, "or-zeros") >= 4, what="polls")
        assert m.value("llmpulse_source_up", source="or-zeros") == 1
        assert m.find("llmpulse_balance", source="or-zeros") == []
        assert m.value("llmpulse_balance_available", source="or-zeros") == 1  # unlimited key: headroom
        assert sim_state(simulator.url)["hits"]["/api/v1/credits"] == 1  # asked once, then left alone
        assert "answered 0 credits and 0 usage" in requests.get(f"{proc.url}/", timeout=5).text
    requests.post(f"{simulator.url}/_sim/reset", timeout=5).raise_for_status()
    requests.post(
        f"{simulator.url}/_sim/balances",
        json={"openrouter": {"burn_per_hour": 0, "key_shape": "legacy", "credits_refusal": "403"}},
        timeout=5,
    ).raise_for_status()
    with exporter({"sources": [source(simulator.url, "or-403")]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: polls(m, "or-403") >= 4, what="polls")
        assert m.value("llmpulse_source_up", source="or-403") == 1
        assert m.total("llmpulse_source_poll_errors_total", source="or-403") == 0
        assert m.value("llmpulse_source_api_requests_total", source="or-403", code="403") == 1
        key = requests.get(f"{simulator.url}/api/v1/key", headers=KEY, timeout=5).json()["data"]
        assert m.value("llmpulse_balance_available", source="or-403") == float(key["limit_remaining"] > 0)
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "Only management keys can perform this operation" in page
        assert proc.log().count("Only management keys") == 1


def test_legacy_key_path_unlimited_key_and_credits_off(simulator: Any, tmp_path: Path) -> None:
    requests.post(
        f"{simulator.url}/_sim/balances",
        json={"openrouter": {"legacy_only": True, "limit": None, "burn_per_hour": 0}},
        timeout=5,
    ).raise_for_status()
    cfg = {"sources": [source(simulator.url, "or-legacy"), source(simulator.url, "or-nocredits", credits=False)]}
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(lambda m: polls(m, "or-legacy") >= 4 and polls(m, "or-nocredits") >= 3, what="polls")
        key = requests.get(f"{simulator.url}/api/v1/auth/key", headers=KEY, timeout=5).json()["data"]
        for name in ("or-legacy", "or-nocredits"):
            assert m.value("llmpulse_source_up", source=name) == 1
            assert m.value("llmpulse_key_usage_usd", source=name, window="total") == key["usage"]
            # unlimited: no limit series at all (neither 0 nor +Inf); an unlimited ordinary key can spend
            for family in ("llmpulse_key_limit_usd", "llmpulse_key_limit_remaining_usd", "llmpulse_balance"):
                assert m.find(family, source=name) == [], family
            assert m.value("llmpulse_balance_available", source=name) == 1
        hits = sim_state(simulator.url)["hits"]
        assert hits["/api/v1/key"] == 2  # one 404 per source, then the legacy path is remembered
        assert hits["/api/v1/auth/key"] >= 4  # at least two polls of each source
        assert hits.get("/api/v1/credits", 0) == 0  # /key says these are ordinary keys: nobody asks /credits
