"""The ``http`` probe (a plain GET such as /v1/models) and the error classes that have no HTTP status."""

from __future__ import annotations

import socket
from typing import Any

from helpers import exporter


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connecting is refused


def test_http_probes(simulator, tmp_path) -> None:
    simulator.faults({"models": {"error_rate": 0.3, "error_status": 502}})
    key = {"api_key_env": "LLMPULSE_DEMO_KEY"}
    common = {"type": "http", "base_url": simulator.url, "interval": "20s", "timeout": "2s"}
    probes: list[dict[str, Any]] = [{"name": f"models-{i}", "provider": "openai", **common, **key} for i in range(8)]
    probes += [
        {"name": "anthropic-models", "auth": "x-api-key", "provider": "anthropic", **common, **key},
        {"name": "expects-404", "path": "/v1/nothing-here", "expected_status": [404], **common},
        {"name": "wrong-path", "path": "/v1/nothing-here", **common},
        {"name": "no-key", "provider": "openai", **common},
        {"name": "refused", **common, "base_url": f"http://127.0.0.1:{_unused_port()}"},
        {"name": "no-dns", **common, "base_url": "http://llmpulse-test.invalid"},
    ]
    with exporter({"probes": probes}, tmp_path) as exp:
        # every call counted, and every failed call's error code read past its zero-first scrape (a call that
        # lands between the two scrapes of one read shows its new error series at 0 in that read)
        m = exp.wait_for(
            lambda m: (
                m.total("llmpulse_api_calls_total") == len(probes)
                and m.total("llmpulse_error_code_counter_total") == m.total("llmpulse_api_calls_total", outcome="error")
            ),
            timeout=25,
            what="one call per probe, each error's code counted",
        )
    served: Any = simulator.state()["served"]["models"]
    print("served /v1/models:", served)
    # the error mix on /v1/models (a 502 gateway page has no error type)
    assert served.get("502", 0) > 0
    assert m.total("llmpulse_error_code_counter_total", code="502", error_type="") == served["502"]
    assert m.total("llmpulse_api_calls_total", outcome="success") == served.get("200", 0) + 1  # + expects-404
    assert m.value("llmpulse_error_code_counter_total", source="no-key", code="401", error_type="invalid_api_key") == 1
    assert m.value("llmpulse_probe_success", source="expects-404") == 1
    assert m.value("llmpulse_error_code_counter_total", source="wrong-path", code="404", error_type="") == 1
    assert m.value("llmpulse_error_code_counter_total", source="refused", code="connection", error_type="") == 1
    assert m.value("llmpulse_error_code_counter_total", source="no-dns", code="connection", error_type="") == 1
    # a liveness probe spends no tokens and has no TTFT
    assert m.find("llmpulse_probe_tokens_total", source="models-0") == []
    assert m.find("llmpulse_time_to_first_token_seconds_count", source="models-0") == []
    # phases: a refused connection spends nothing after connect
    assert m.value("llmpulse_probe_phase_duration_seconds", source="refused", phase="first_byte") == 0
    assert m.value("llmpulse_probe_phase_duration_seconds", source="wrong-path", phase="first_byte") > 0
    # plain http: no TLS, no certificate gauge
    assert m.value("llmpulse_probe_phase_duration_seconds", source="models-0", phase="tls") == 0
    assert m.find("llmpulse_tls_cert_expiry_timestamp_seconds") == []
