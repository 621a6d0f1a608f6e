"""A probe hanging past its timeout (a stalled stream, an answer slower than the timeout) is recorded as
code="timeout", while /metrics, the landing page and the other probes carry on unaffected."""

from __future__ import annotations

import time

import requests
from helpers import exporter

HANG_TIMEOUT = 6  # seconds a hanging probe waits; /metrics must answer far sooner


def test_hanging_probes_time_out_and_block_nothing(simulator, tmp_path) -> None:
    simulator.faults(
        {
            "openai_chat": {"stall": 60},  # streams stop after their first event
            "anthropic_messages": {"latency": 60},
        }
    )  # answers come after a minute
    common = {"base_url": simulator.url, "api_key_env": "LLMPULSE_DEMO_KEY"}
    slow = {"interval": f"{HANG_TIMEOUT}s", "timeout": f"{HANG_TIMEOUT}s", **common}
    config = {
        "probes": [
            {
                "name": "stalled-stream",
                "type": "openai_compatible",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "stream": True,
                **slow,
            },
            {"name": "slow-answer", "type": "anthropic", "model": "claude-3-5-haiku-latest", **slow},
            {
                "name": "healthy",
                "type": "coze",
                "bot_id": "7493066380997000000",
                "stream": True,
                "interval": "1s",
                "timeout": "1s",
                **common,
            },
        ]
    }
    with exporter(config, tmp_path) as exp:
        # while both slow probes hang, scrape repeatedly and time each scrape
        timings = []
        started = time.monotonic()
        while time.monotonic() - started < HANG_TIMEOUT - 1.5:
            t0 = time.monotonic()
            resp = requests.get(f"{exp.url}/metrics", timeout=HANG_TIMEOUT)
            timings.append(time.monotonic() - t0)
            assert resp.status_code == 200
            time.sleep(0.25)
        page = requests.get(exp.url, timeout=HANG_TIMEOUT)
        assert page.status_code == 200 and "stalled-stream" in page.text
        print(
            f"/metrics during the hang: {len(timings)} scrapes, max {max(timings) * 1000:.1f} ms, "
            f"mean {sum(timings) / len(timings) * 1000:.1f} ms"
        )
        assert max(timings) < HANG_TIMEOUT / 2, "a scrape waited for a hanging probe"
        during = exp.metrics()
        assert during.value("llmpulse_api_calls_total", source="stalled-stream", outcome="error") == 0  # still hanging
        assert during.value("llmpulse_api_calls_total", source="healthy", outcome="success") >= 2  # not blocked

        m = exp.wait_for(
            lambda m: all(
                m.value("llmpulse_error_code_counter_total", source=s, code="timeout", error_type="") >= 1
                for s in ("stalled-stream", "slow-answer")
            ),
            timeout=HANG_TIMEOUT + 10,
            what="both hanging probes recorded as timeouts",
        )
        page = requests.get(exp.url, timeout=5).text
        t0 = time.monotonic()
    stop_seconds = time.monotonic() - t0
    print(f"exporter stopped in {stop_seconds:.2f}s with probes mid-call")

    for source in ("stalled-stream", "slow-answer"):
        assert m.value("llmpulse_probe_success", source=source) == 0
        assert m.value("llmpulse_api_calls_total", source=source, outcome="success") == 0
        duration = m.value("llmpulse_probe_duration_seconds", source=source)
        assert HANG_TIMEOUT <= duration < HANG_TIMEOUT + 2, duration  # the timeout bounds the whole call
    # where the time went: the stalled stream hung in transfer, the slow answer before its first byte
    phase = "llmpulse_probe_phase_duration_seconds"
    assert m.value(phase, source="stalled-stream", phase="transfer") > HANG_TIMEOUT - 1
    assert m.value(phase, source="slow-answer", phase="first_byte") > HANG_TIMEOUT - 1
    # a stream that stalled before its first token has no TTFT
    assert m.value("llmpulse_time_to_first_token_seconds_count", source="stalled-stream") == 0
    served = simulator.state()["served"]
    assert (
        m.value("llmpulse_error_code_counter_total", source="stalled-stream", code="timeout", error_type="")
        <= served["openai_chat"]["stalled"]
    )
    assert m.value("llmpulse_probe_success", source="healthy") == 1
    assert "failing" in page and "timeout: timed out during transfer" in page
