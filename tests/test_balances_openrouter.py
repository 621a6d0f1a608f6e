"""OpenRouter against the real exporter: the management-key 403 on /credits, the legacy /auth/key fallback,
unlimited keys, and credits: false."""

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


def test_ordinary_key_403_on_credits_is_noted_not_an_outage(simulator: Any, tmp_path: Path) -> None:
    requests.post(
        f"{simulator.url}/_sim/balances", json={"openrouter": {"burn_per_hour": 0}}, timeout=5
    ).raise_for_status()
    with exporter({"sources": [source(simulator.url, "or")]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: polls(m, "or") >= 5, what="several polls")
        assert m.value("llmpulse_source_up", source="or") == 1
        assert m.total("llmpulse_source_poll_errors_total", source="or") == 0
        assert m.find("llmpulse_balance", source="or") == []  # no credits without a management key...
        key = requests.get(f"{simulator.url}/api/v1/key", headers=KEY, timeout=5).json()["data"]
        assert m.value("llmpulse_key_limit_usd", source="or") == key["limit"]  # ...but what /key gave
        assert m.value("llmpulse_key_limit_remaining_usd", source="or") == key["limit_remaining"]
        assert m.value("llmpulse_key_usage_usd", source="or", window="monthly") == key["usage_monthly"]
        assert m.value("llmpulse_balance_available", source="or") == float(key["limit_remaining"] > 0)
        # noted once: /credits was asked once, then left alone
        assert sim_state(simulator.url)["hits"]["/api/v1/credits"] == 1
        assert m.value("llmpulse_source_api_requests_total", source="or", code="403") == 1
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "Only management keys can perform this operation" in page and "management key" in page
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
            # unlimited: no limit series at all (neither 0 nor +Inf), and nothing to derive availability from
            for family in (
                "llmpulse_key_limit_usd",
                "llmpulse_key_limit_remaining_usd",
                "llmpulse_balance_available",
                "llmpulse_balance",
            ):
                assert m.find(family, source=name) == [], family
        hits = sim_state(simulator.url)["hits"]
        assert hits["/api/v1/key"] == 2  # one 404 per source, then the legacy path is remembered
        assert hits["/api/v1/auth/key"] >= 4  # at least two polls of each source
        assert hits.get("/api/v1/credits", 0) == 1  # only or-legacy asked (and got its 403); credits: false never
