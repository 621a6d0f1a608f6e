"""Against a known latency distribution and error mix, what the real exporter exports matches what the simulator
served: histogram bucket counts, error counts per code and error type, and the success/error split.

Each probe here runs exactly once during the test (interval 20 s, first runs spread over the first 2 s), so once
every probe has reported, nothing is in flight and the exported numbers can be compared exactly with the
simulator's served counts and its list of served latencies.
"""

from __future__ import annotations

import time
from typing import Any

from helpers import Metrics, exporter

OPENAI_PROBES = 24
ANTHROPIC_PROBES = 12
FAST, SLOW = 0.05, 1.55  # server latencies: far from the 0.5 s and 2 s bucket bounds compared below


def _bucket(metrics: Metrics, name: str, le: float, **labels: str) -> float:
    return sum(
        v for lab, v in metrics.find(f"{name}_bucket", **labels) if float(lab["le"].replace("+Inf", "inf")) == le
    )


def _probes(sim_url: str) -> list[dict[str, Any]]:
    common = {"base_url": sim_url, "api_key_env": "LLMPULSE_DEMO_KEY", "interval": "20s", "timeout": "2s"}
    probes = [
        {"name": f"oa-{i:02d}", "type": "openai_compatible", "provider": "openai", "model": "gpt-4o-mini", **common}
        for i in range(OPENAI_PROBES)
    ]
    probes += [
        {"name": f"an-{i:02d}", "type": "anthropic", "model": "claude-3-5-haiku-latest", "stream": True, **common}
        for i in range(ANTHROPIC_PROBES)
    ]
    return probes


def test_exported_counts_match_what_the_simulator_served(simulator, tmp_path) -> None:
    simulator.faults(
        {
            "openai_chat": {
                "latency": FAST,
                "slow_rate": 0.35,
                "slow_latency": SLOW,
                "error_rate": 0.25,
                "error_status": 503,
                "burst_429": 3,
            },
            "anthropic_messages": {
                "latency": FAST,
                "slow_rate": 0.3,
                "slow_latency": SLOW,
                "error_rate": 0.3,
                "error_status": 529,
                "burst_429": 2,
            },
        }
    )
    total = OPENAI_PROBES + ANTHROPIC_PROBES
    started = time.monotonic()
    with exporter({"probes": _probes(simulator.url)}, tmp_path) as exp:
        m = exp.wait_for(lambda m: m.total("llmpulse_api_calls_total") == total, timeout=25, what="one call each")
        print(f"{total} probe calls recorded {time.monotonic() - started:.1f}s after start")
        state: Any = simulator.state()

    for key, provider, error_status, error_type, bursts, burst_type in (
        ("openai_chat", "openai", "503", "server_error", 3, "rate_limit_exceeded"),
        ("anthropic_messages", "anthropic", "529", "overloaded_error", 2, "rate_limit_error"),
    ):
        served = state["served"][key]
        delays = state["state"]["inference"]["delays"][key]
        calls = sum(served.values())
        print(key, "served", served, "fast", sum(d < 0.5 for d in delays), "slow", sum(d >= 0.5 for d in delays))
        assert calls == len(delays) == m.total("llmpulse_api_calls_total", provider=provider)
        # the error mix, per code and provider error type
        assert served.get("429") == bursts
        assert (
            m.total("llmpulse_error_code_counter_total", provider=provider, code="429", error_type=burst_type)
            == served["429"]
        )
        assert m.total(
            "llmpulse_error_code_counter_total", provider=provider, code=error_status, error_type=error_type
        ) == served.get(error_status, 0)
        assert m.total("llmpulse_error_code_counter_total", provider=provider) == calls - served.get("200", 0)
        # success/error ratio
        assert m.total("llmpulse_api_calls_total", provider=provider, outcome="success") == served.get("200", 0)
        assert m.total("llmpulse_api_calls_total", provider=provider, outcome="error") == calls - served.get("200", 0)
        assert m.total("llmpulse_probe_success", provider=provider) == served.get("200", 0)
        # the latency distribution: every call (errors included) lands in the bucket of its served latency
        name = "llmpulse_api_call_duration_seconds"
        fast = sum(d < 0.5 for d in delays)
        assert 0 < fast < calls, "the seeded mix should contain both fast and slow calls"
        assert _bucket(m, name, 0.5, provider=provider) == fast
        assert _bucket(m, name, 1.5, provider=provider) == fast  # slow calls take more than 1.55 s
        assert _bucket(m, name, 2.0, provider=provider) == calls
        assert _bucket(m, name, float("inf"), provider=provider) == calls
        assert m.total(f"{name}_count", provider=provider) == calls
        assert m.total(f"{name}_sum", provider=provider) >= sum(delays)

    # streaming: one time-to-first-token per successful stream, each at least the served latency
    ok_streams = state["served"]["anthropic_messages"].get("200", 0)
    ttft = "llmpulse_time_to_first_token_seconds"
    assert m.total(f"{ttft}_count", provider="anthropic") == ok_streams
    assert _bucket(m, ttft, FAST, provider="anthropic") == 0  # TTFT includes the latency before the first token
    # tokens the probes spent: what the successful answers reported (simulator: 1 output token per answer)
    assert m.total("llmpulse_probe_tokens_total", provider="openai", token_type="output") == state["served"][
        "openai_chat"
    ].get("200", 0)
