"""Broken balance endpoints against the real exporter: a 5xx, a malformed body, an error code under HTTP 200 and a
dead key each take the source down with the reason counted, keep its last values, and leak no secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from helpers import Metrics, exporter

WRONG_KEY = "sk-wrong-secret-0123456789abcdef"


def config(url: str) -> dict[str, Any]:
    common = {"base_url": url, "interval": "1s", "timeout": "1s", "retries": 0, "api_key_env": "LLMPULSE_DEMO_KEY"}
    return {
        "sources": [
            {"type": "deepseek", "name": "ds", **common},
            {"type": "moonshot", "name": "kimi", **common},
            {"type": "siliconflow", "name": "sf", **common},
        ]
    }


def balances(m: Metrics, source: str) -> dict[tuple[str, str], float]:
    return {(labels["currency"], labels["kind"]): v for labels, v in m.find("llmpulse_balance", source=source)}


def errors(m: Metrics, source: str, reason: str) -> float:
    return m.value("llmpulse_source_poll_errors_total", source=source, reason=reason)


def test_broken_endpoints_take_the_source_down_and_keep_last_values(simulator: Any, tmp_path: Path) -> None:
    requests.post(f"{simulator.url}/_sim/balances", json={"*": {"burn_per_hour": 0}}, timeout=5).raise_for_status()
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(
            lambda m: all(m.value("llmpulse_source_up", source=s) == 1 for s in ("ds", "kimi", "sf")), what="up"
        )
        before = {s: balances(m, s) for s in ("ds", "kimi", "sf")}
        assert all(before.values())

        simulator.faults(
            {
                "deepseek": {"error_rate": 1.0, "error_status": 500},  # a 5xx
                "moonshot": {"malformed": 1000},
            }
        )  # truncated JSON under HTTP 200
        # SiliconFlow's trap: HTTP 200 with a body code other than 20000 is an error, not a balance
        requests.post(
            f"{simulator.url}/_sim/balances", json={"siliconflow": {"code": 50001, "message": "busy"}}, timeout=5
        ).raise_for_status()

        m = proc.wait_for(
            lambda m: (
                errors(m, "ds", "http_5xx") >= 2
                and errors(m, "kimi", "invalid_response") >= 2
                and errors(m, "sf", "invalid_response") >= 2
            ),
            what="failures counted",
        )
        for source in ("ds", "kimi", "sf"):
            assert m.value("llmpulse_source_up", source=source) == 0
            assert balances(m, source) == before[source]  # last good values kept, nothing half-updated
        assert m.value("llmpulse_balance_available", source="ds") == 1  # an outage says nothing about the money

        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "HTTP 500" in page and "code 50001" in page and "not valid JSON" in page

        simulator.clear_faults()
        requests.post(
            f"{simulator.url}/_sim/balances", json={"siliconflow": {"code": 20000}}, timeout=5
        ).raise_for_status()
        proc.wait_for(
            lambda m: all(m.value("llmpulse_source_up", source=s) == 1 for s in ("ds", "kimi", "sf")), what="recovered"
        )


def test_dead_key_and_insufficient_balance_errors_leak_no_secret(simulator: Any, tmp_path: Path) -> None:
    cfg = config(simulator.url)
    for source in cfg["sources"]:
        source["api_key_env"] = "LLMPULSE_TEST_WRONG_KEY"
    with exporter(cfg, tmp_path, env={"LLMPULSE_TEST_WRONG_KEY": WRONG_KEY}) as proc:
        m = proc.wait_for(lambda m: all(errors(m, s, "http_4xx") >= 1 for s in ("ds", "kimi", "sf")), what="401s")
        for source in ("ds", "kimi", "sf"):
            assert m.value("llmpulse_source_up", source=source) == 0
            assert m.find("llmpulse_balance", source=source) == []  # never a made-up 0
            assert m.value("llmpulse_source_api_requests_total", source=source, code="401") >= 1
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "Authentication Fails" in page and "Invalid token" in page
        for text in (page, m.text, proc.log()):
            assert WRONG_KEY not in text and WRONG_KEY[8:] not in text


def test_deepseek_402_is_reported_with_its_message(simulator: Any, tmp_path: Path) -> None:
    simulator.faults({"deepseek": {"error_rate": 1.0, "error_status": 402}})
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: errors(m, "ds", "http_4xx") >= 1, what="402 counted")
        assert m.value("llmpulse_source_up", source="ds") == 0
        assert m.value("llmpulse_source_api_requests_total", source="ds", code="402") >= 1
        assert "Insufficient Balance" in requests.get(f"{proc.url}/", timeout=5).text


def test_siliconflow_410_is_reported_as_endpoint_retired_and_no_number_stays(simulator: Any, tmp_path: Path) -> None:
    requests.post(f"{simulator.url}/_sim/balances", json={"*": {"burn_per_hour": 0}}, timeout=5).raise_for_status()
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: m.value("llmpulse_source_up", source="sf") == 1, what="up")
        assert balances(m, "sf")  # the endpoint still answers on the simulator's (international-like) host
        requests.post(
            f"{simulator.url}/_sim/balances", json={"siliconflow": {"retired": True}}, timeout=5
        ).raise_for_status()
        m = proc.wait_for(lambda m: errors(m, "sf", "endpoint_retired") >= 1, what="410 seen")
        assert m.value("llmpulse_source_up", source="sf") == 0
        assert errors(m, "sf", "http_4xx") == 0  # its own reason, not a generic 4xx
        m = proc.wait_for(lambda m: balances(m, "sf") == {}, what="stale balance dropped")
        assert m.find("llmpulse_balance_available", source="sf") == []  # no number is invented
        assert m.value("llmpulse_source_up", source="ds") == 1  # the others are untouched
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "retired this endpoint" in page and "docs.siliconflow.cn/docs/release-notes/overview" in page
        assert proc.log().count("SiliconFlow retired this endpoint") >= 1
