"""Coze probes: business errors sent as HTTP 200 with a non-zero code are counted with that code; streaming and
non-streaming (create, then poll /v3/chat/retrieve) both measure the whole answer."""

from __future__ import annotations

import time
from typing import Any

import requests
from helpers import exporter

BOT = "7493066380997000000"


def test_coze_code_in_200_errors_are_counted_with_their_code(simulator, tmp_path) -> None:
    simulator.faults({"coze_chat": {"error_rate": 0.4, "error_status": 4013, "latency": 0.05}})
    common = {
        "type": "coze",
        "bot_id": BOT,
        "base_url": simulator.url,
        "api_key_env": "LLMPULSE_DEMO_KEY",
        "interval": "20s",
        "timeout": "5s",
    }
    probes: list[dict[str, Any]] = [{"name": f"coze-{i}", "stream": i % 2 == 0, **common} for i in range(16)]
    probes.append({**common, "name": "coze-bad-key", "api_key_env": "BAD_COZE_TOKEN"})
    token = "pat_" + "x" * 40
    started = time.monotonic()
    with exporter({"probes": probes}, tmp_path, env={"BAD_COZE_TOKEN": token}) as exp:
        m = exp.wait_for(
            lambda m: m.total("llmpulse_api_calls_total") == len(probes), timeout=25, what="one call per probe"
        )
        print(f"{len(probes)} Coze probe calls recorded {time.monotonic() - started:.1f}s after start")
        page = requests.get(exp.url, timeout=5).text
        log = exp.log()
    served: Any = simulator.state()["served"]["coze_chat"]
    print("served", served)
    assert served["4100"] == 1 and served.get("4013", 0) > 0 and served.get("200", 0) > 0
    for code in ("4013", "4100"):
        assert m.total("llmpulse_error_code_counter_total", provider="coze", code=code, error_type="") == served[code]
    assert m.value("llmpulse_error_code_counter_total", source="coze-bad-key", code="4100", error_type="") == 1
    assert m.total("llmpulse_api_calls_total", outcome="success") == served["200"]
    assert m.total("llmpulse_api_calls_total", outcome="error") == served["4013"] + served["4100"]
    # streaming probes: a TTFT per successful stream; non-streaming ones polled until completed and report usage
    stream_ok = sum(m.value("llmpulse_api_calls_total", source=f"coze-{i}", outcome="success") for i in range(0, 16, 2))
    assert m.total("llmpulse_time_to_first_token_seconds_count") == stream_ok
    for i in range(1, 16, 2):
        ok = m.value("llmpulse_api_calls_total", source=f"coze-{i}", outcome="success")
        assert m.value("llmpulse_probe_tokens_total", source=f"coze-{i}", token_type="output") == ok
        assert m.find("llmpulse_time_to_first_token_seconds_count", source=f"coze-{i}") == []
    # the bad token never shows up anywhere
    assert token not in page and token not in log and token not in m.text
    assert "4100: Coze code 4100: authentication is invalid" in page
