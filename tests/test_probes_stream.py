"""Streaming probes and rate-limit headroom, with the real exporter against the simulator.

- Time to first token is measured to the first content token: the simulator sends headers and a content-free
  first event at once and the first token after its latency, so TTFT >= latency while TTFT < total duration.
- Rate-limit gauges follow the headers the simulator served (OpenAI Go durations, Anthropic RFC 3339 resets),
  and are absent (never 0) for endpoints that send no rate-limit headers.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import requests
from helpers import Metrics, exporter

LATENCY = 0.3


def _bucket(metrics: Metrics, name: str, le: float, **labels: str) -> float:
    return sum(
        v for lab, v in metrics.find(f"{name}_bucket", **labels) if float(lab["le"].replace("+Inf", "inf")) == le
    )


def _go(text: str) -> float:
    """Independent reading of the Go durations the simulator sends (``59.5s``, ``120ms``, ``1m0s``)."""
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
        else:
            unit = "ms" if text.startswith("ms", i) else ch
            total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
            number = ""
            i += len(unit) - 1
        i += 1
    return total


def _config(url: str) -> dict[str, Any]:
    common = {"base_url": url, "api_key_env": "LLMPULSE_DEMO_KEY", "interval": "1s", "timeout": "1s", "stream": True}
    return {
        "probes": [
            {"name": "oa-stream", "type": "openai_compatible", "provider": "openai", "model": "gpt-4o-mini", **common},
            {"name": "an-stream", "type": "anthropic", "model": "claude-3-5-haiku-latest", **common},
            {"name": "coze-stream", "type": "coze", "bot_id": "7493066380997000000", **common},
            {
                "name": "models",
                "type": "http",
                "provider": "openai",
                "base_url": url,
                "api_key_env": "LLMPULSE_DEMO_KEY",
                "interval": "1s",
                "timeout": "1s",
                "labels": {"team": "platform"},
            },
        ]
    }


def test_streaming_probes_record_ttft_below_total_duration(simulator, tmp_path) -> None:
    simulator.faults({key: {"latency": LATENCY} for key in ("openai_chat", "anthropic_messages", "coze_chat")})
    with exporter(_config(simulator.url), tmp_path) as exp:
        sources = ("oa-stream", "an-stream", "coze-stream")
        m = exp.wait_for(
            lambda m: all(m.value("llmpulse_api_calls_total", source=s, outcome="success") >= 3 for s in sources),
            timeout=30,
            what="3 successful streams each",
        )
    ttft, duration = "llmpulse_time_to_first_token_seconds", "llmpulse_api_call_duration_seconds"
    for source in sources:
        ok = m.value("llmpulse_api_calls_total", source=source, outcome="success")
        assert m.value("llmpulse_api_calls_total", source=source, outcome="error") == 0
        # one TTFT per successful stream; the first byte came before the latency, the first token after it
        assert m.value(f"{ttft}_count", source=source) == ok
        assert _bucket(m, ttft, LATENCY, source=source) == 0, "TTFT must be measured to the first token"
        assert m.value(f"{ttft}_sum", source=source) < m.value(f"{duration}_sum", source=source)
        first_byte = m.value("llmpulse_probe_phase_duration_seconds", source=source, phase="first_byte")
        print(
            f"{source}: mean TTFT {m.value(f'{ttft}_sum', source=source) / ok:.3f}s, mean duration "
            f"{m.value(f'{duration}_sum', source=source) / ok:.3f}s, last first_byte phase {first_byte:.4f}s"
        )
        assert m.value("llmpulse_probe_success", source=source) == 1
        assert m.value("llmpulse_probe_tokens_total", source=source, token_type="output") == ok
        assert m.value("llmpulse_probe_tokens_total", source=source, token_type="input") > 0
        phases = {lab["phase"] for lab, _ in m.find("llmpulse_probe_phase_duration_seconds", source=source)}
        assert phases == {"dns", "connect", "tls", "first_byte", "transfer"}
    # the http probe has no stream: no TTFT series; its static label is on its series
    assert m.find(f"{ttft}_count", source="models") == []
    assert m.value("llmpulse_probe_success", source="models", team="platform") == 1
    # Coze and the model list send no rate-limit headers: no series at all (never a 0)
    for source in ("coze-stream", "models"):
        assert m.find("llmpulse_ratelimit_remaining", source=source) == []
        assert m.find("llmpulse_ratelimit_limit", source=source) == []


def test_ratelimit_gauges_follow_the_headers(simulator, tmp_path) -> None:
    requests.post(
        f"{simulator.url}/_sim/inference",
        json={"limits": {"openai_chat": {"requests": 20}, "anthropic_messages": {"requests": 30}}},
        timeout=5,
    ).raise_for_status()
    seen: set[float] = set()

    def openai_matches(m: Metrics) -> bool:
        headers = simulator.state()["state"]["inference"]["last_headers"]["openai_chat"]
        exported = {
            r: (
                m.get("llmpulse_ratelimit_limit", source="oa-stream", resource=r),
                m.get("llmpulse_ratelimit_remaining", source="oa-stream", resource=r),
                m.get("llmpulse_ratelimit_reset_seconds", source="oa-stream", resource=r),
            )
            for r in ("requests", "tokens")
        }
        for r, (limit, remaining, reset) in exported.items():
            if (limit, remaining) != (
                float(headers[f"x-ratelimit-limit-{r}"]),
                float(headers[f"x-ratelimit-remaining-{r}"]),
            ):
                return False
            if abs(reset - _go(headers[f"x-ratelimit-reset-{r}"])) > 1e-6:
                return False
        seen.add(exported["requests"][1])
        return len(seen) >= 2  # matched at two different remaining values: the gauge follows the header

    with exporter(_config(simulator.url), tmp_path) as exp:
        m = exp.wait_for(openai_matches, timeout=30, what="OpenAI gauges equal the served headers, twice")
        print("remaining requests seen:", sorted(seen))
        assert m.value("llmpulse_ratelimit_limit", source="oa-stream", resource="requests") == 20
        assert m.find("llmpulse_ratelimit_limit", source="oa-stream", resource="input_tokens") == []

        def anthropic_matches(m: Metrics) -> bool:
            headers = simulator.state()["state"]["inference"]["last_headers"]["anthropic_messages"]
            for r in ("requests", "tokens", "input_tokens", "output_tokens"):
                name = r.replace("_", "-")
                if m.get("llmpulse_ratelimit_limit", source="an-stream", resource=r) != float(
                    headers[f"anthropic-ratelimit-{name}-limit"]
                ):
                    return False
                if m.get("llmpulse_ratelimit_remaining", source="an-stream", resource=r) != float(
                    headers[f"anthropic-ratelimit-{name}-remaining"]
                ):
                    return False
                reset_at = datetime.fromisoformat(headers[f"anthropic-ratelimit-{name}-reset"]).timestamp()
                exported = m.get("llmpulse_ratelimit_reset_seconds", source="an-stream", resource=r)
                if exported is None or abs(exported - (reset_at - time.time())) > 3:  # 1 s header precision
                    return False
            return True

        exp.wait_for(anthropic_matches, timeout=20, what="Anthropic gauges equal the served headers")

        # the provider stops sending headers: the last known values stay, nothing drops to 0
        before = exp.metrics().value("llmpulse_ratelimit_limit", source="oa-stream", resource="requests")
        requests.post(
            f"{simulator.url}/_sim/inference", json={"ratelimit_headers": False}, timeout=5
        ).raise_for_status()
        calls = exp.metrics().value("llmpulse_api_calls_total", source="oa-stream", outcome="success")
        m = exp.wait_for(
            lambda m: m.value("llmpulse_api_calls_total", source="oa-stream", outcome="success") >= calls + 2,
            timeout=20,
            what="two calls without headers",
        )
        assert m.value("llmpulse_ratelimit_limit", source="oa-stream", resource="requests") == before
