"""Faults mid-poll, against the real exporter process: the last good values stay, llmpulse_source_up drops to 0,
every call is counted by status; 429 is retried after Retry-After (capped), 401 is never retried; a downward
revision by the provider keeps the counters and is counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter
from usage_sums import FrozenSimulator, exported, frozen_simulator, openai_expected

sim = pytest.fixture(frozen_simulator, name="sim")


def source(sim_url: str, provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "type": provider,
        "name": "src",
        "base_url": sim_url,
        "api_key_env": "LLMPULSE_DEMO_KEY",
        "interval": "1s",
        "timeout": "1s",
        "retries": 1,
        "page_size": 3,
        # every poll fetches the whole month (the window of a steady poll fits one page), so page 2 is always asked
        "full_refetch_interval": "1s",
        **extra,
    }


def up(m: Metrics) -> float | None:
    return m.get("llmpulse_source_up", source="src")


def calls(m: Metrics, code: str) -> float:
    return m.total("llmpulse_source_api_requests_total", source="src", code=code)


def errors(m: Metrics, reason: str) -> float:
    return m.total("llmpulse_source_poll_errors_total", source="src", reason=reason)


FAULTS = [
    pytest.param(
        {"fail_page": 2, "fail_page_status": 0, "fail_page_count": 10_000},
        "invalid_response",
        "200",
        id="malformed-page-2-of-pagination",
    ),
    pytest.param(
        {"fail_page": 2, "fail_page_status": 500, "fail_page_count": 10_000}, "http_5xx", "500", id="page-2-answers-500"
    ),
    pytest.param({"error_rate": 1.0, "error_status": 503}, "http_5xx", "503", id="all-503"),
    pytest.param({"malformed": 10_000}, "invalid_response", "200", id="malformed-bodies"),
    pytest.param({"latency": 1.3}, "timeout", "timeout", id="latency-over-timeout"),
]


@pytest.mark.parametrize(("fault", "reason", "code"), FAULTS)
def test_a_fault_mid_poll_keeps_the_last_good_values_and_marks_the_source_down(
    sim: FrozenSimulator, tmp_path: Path, fault: dict[str, Any], reason: str, code: str
) -> None:
    with exporter({"sources": [source(sim.url)]}, tmp_path) as proc:
        good = proc.wait_for(lambda m: up(m) == 1, what="first good poll")
        before = exported(good, "src")
        assert before
        calls_before = calls(good, code)
        sim.faults({"openai": fault})
        bad = proc.wait_for(lambda m: up(m) == 0 and errors(m, reason) >= 1, what=f"source down ({reason})")
        assert exported(bad, "src") == before  # nothing partial, nothing lost
        assert calls(bad, code) > calls_before
        # Failed polls never move the last-success time (a good poll may still have finished after `good` was read,
        # before the fault was set: so compare across failed polls, and against `good` only as a lower bound).
        last_ok = bad.value("llmpulse_source_last_success_timestamp_seconds", source="src")
        assert last_ok >= good.value("llmpulse_source_last_success_timestamp_seconds", source="src")
        failures = errors(bad, reason)
        later = proc.wait_for(lambda m: errors(m, reason) > failures, what="another failed poll")
        assert later.value("llmpulse_source_last_success_timestamp_seconds", source="src") == last_ok
        sim.clear_faults()
        recovered = proc.wait_for(lambda m: up(m) == 1, what="recovery")
        assert exported(recovered, "src") == before  # the frozen simulator's data did not change


def test_anthropic_529_is_retried_then_the_source_is_down(sim: FrozenSimulator, tmp_path: Path) -> None:
    with exporter({"sources": [source(sim.url, "anthropic")]}, tmp_path) as proc:
        good = proc.wait_for(lambda m: up(m) == 1, what="first good poll")
        before = exported(good, "src")
        sim.faults({"anthropic": {"error_rate": 1.0, "error_status": 529}})
        bad = proc.wait_for(lambda m: up(m) == 0 and calls(m, "529") >= 2, what="529s retried")
        assert exported(bad, "src") == before
        assert errors(bad, "http_5xx") >= 1


def test_429_is_retried_after_retry_after(sim: FrozenSimulator, tmp_path: Path) -> None:
    sim.faults({"openai": {"burst_429": 1, "retry_after": 1}})
    cfg = {"sources": [source(sim.url, interval="60s", timeout="10s", retries=2)]}
    with exporter(cfg, tmp_path) as proc:  # ready = the first poll finished
        m = proc.metrics()
        assert up(m) == 1
        assert calls(m, "429") == 1
        log = sim.requests_log()
        first, retry = log[0], log[1]
        assert first["status"] == 429 and retry["status"] == 200 and retry["path"] == first["path"]
        assert retry["t"] - first["t"] >= 1.0  # the server saw the retry no earlier than Retry-After allowed


def test_a_retry_after_beyond_the_cap_fails_the_poll_as_rate_limited(sim: FrozenSimulator, tmp_path: Path) -> None:
    """The provider asks for an hour, we may wait a second: no early retry (it would be refused too), no waiting,
    and the failure is counted as rate_limited, not timeout."""
    sim.faults({"openai": {"burst_429": 1, "retry_after": 3600}})
    cfg = {"sources": [source(sim.url, interval="60s", timeout="10s", max_retry_after="1s")]}
    with exporter(cfg, tmp_path) as proc:
        m = proc.metrics()
        assert up(m) == 0 and calls(m, "429") == 1
        assert errors(m, "rate_limited") == 1 and errors(m, "timeout") == 0
        assert len(sim.requests_log()) == 1
        assert m.get("llmpulse_source_poll_duration_seconds", source="src") < 5


def test_401_is_not_retried(sim: FrozenSimulator, tmp_path: Path) -> None:
    cfg = {"sources": [source(sim.url, interval="60s", timeout="10s", retries=3, api_key_env="WRONG_KEY")]}
    with exporter(cfg, tmp_path, env={"WRONG_KEY": "sk-admin-not-the-right-key-0000"}) as proc:
        m = proc.metrics()
        assert up(m) == 0
        assert calls(m, "401") == 1
        assert errors(m, "http_4xx") == 1
        assert [e["status"] for e in sim.requests_log()] == [401]
        assert not exported(m, "src")


def test_a_downward_revision_keeps_the_counters_and_is_counted(sim: FrozenSimulator, tmp_path: Path) -> None:
    with exporter({"sources": [source(sim.url)]}, tmp_path) as proc:
        good = proc.wait_for(lambda m: up(m) == 1, what="first good poll")
        before = exported(good, "src")
        requests.post(f"{sim.url}/_sim/usage", json={"revise": 0.9}, timeout=5).raise_for_status()
        revised = proc.wait_for(
            lambda m: (
                m.total("llmpulse_source_revisions_total", source="src", metric="llmpulse_cost_usd_total") >= 1
                and m.total("llmpulse_source_revisions_total", source="src", metric="llmpulse_usage_tokens_total") >= 1
            ),
            what="revisions counted",
        )
        assert up(revised) == 1
        assert exported(revised, "src") == before  # counters never go down within the month
        served = openai_expected(sim.url)
        assert any(float(v) < before[k] for k, v in served.items())  # the provider really revised downward

        def cost(series: dict[Any, Any]) -> float:
            return sum(float(v) for (name, _), v in series.items() if name == "llmpulse_cost_usd_total")

        assert cost(served) < cost(before) == cost(exported(revised, "src"))
        # and growth after the revision is followed again
        requests.post(f"{sim.url}/_sim/usage", json={"revise": 1, "multiplier": 2}, timeout=5).raise_for_status()
        grown = proc.wait_for(
            lambda m: (
                m.total("llmpulse_cost_usd_total", source="src")
                > 1.5 * sum(v for (n, _), v in before.items() if n == "llmpulse_cost_usd_total")
            ),
            what="growth followed",
        )
        assert up(grown) == 1
