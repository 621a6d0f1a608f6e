"""The demo: every source, probe and the event route pointed at the built-in simulator, with no real keys.

Used by ``llmpulse serve --demo`` (simulator in-process), by the native stack and by docker compose (through the
generated ``examples/demo.yml``), so all three show the same thing.
"""

from __future__ import annotations

import os
from typing import Any

from exporter.simulator import DEMO_KEY, DEMO_MANAGEMENT_KEY

#: The simulator's "demo" latency profile: answers take a realistic few hundred milliseconds with an occasional slow
#: call and a rare error, so latency and error panels show a living system. Every figure stays under the bundle's
#: default alert thresholds (P99 < 2 s, errors < 5 %), so the demo alerts only when someone breaks it on purpose.
DEMO_FAULTS: dict[str, dict[str, object]] = {
    "openai_chat": {
        "latency": 0.45,
        "latency_jitter": 0.3,
        "slow_rate": 0.02,
        "slow_latency": 1.4,
        "error_rate": 0.005,
    },
    "anthropic_messages": {
        "latency": 0.6,
        "latency_jitter": 0.35,
        "slow_rate": 0.02,
        "slow_latency": 1.5,
        "error_rate": 0.005,
    },
    "coze_chat": {"latency": 0.7, "latency_jitter": 0.3, "slow_rate": 0.02, "slow_latency": 1.5},
    "models": {"latency": 0.08, "latency_jitter": 0.05},
}

DEMO_ENV = {
    "LLMPULSE_DEMO_KEY": DEMO_KEY,
    "LLMPULSE_DEMO_MANAGEMENT_KEY": DEMO_MANAGEMENT_KEY,
    "LLMPULSE_DEMO_EVENTS_TOKEN": "llmpulse-demo-events-token",
}


def set_demo_env() -> None:
    """Put the simulator's demo credentials into the environment (never overriding what a user set)."""
    for key, value in DEMO_ENV.items():
        os.environ.setdefault(key, value)


def demo_config(sim_url: str, *, interval: str = "15s", probe_interval: str = "10s") -> dict[str, Any]:
    """A config (as YAML data) that polls and probes the simulator at ``sim_url``."""
    key = {"api_key_env": "LLMPULSE_DEMO_KEY"}
    common = {"base_url": sim_url, "interval": interval, "timeout": "10s", **key}
    sources: list[dict[str, Any]] = [
        {"type": "openai", "name": "openai-demo", **common, "project_names": True},
        {"type": "anthropic", "name": "anthropic-demo", **common, "project_names": True},
        {"type": "deepseek", "name": "deepseek-demo", **common},
        {"type": "moonshot", "name": "moonshot-demo", **common},
        {"type": "openrouter", "name": "openrouter-demo", **common, "api_key_env": "LLMPULSE_DEMO_MANAGEMENT_KEY"},
        {"type": "siliconflow", "name": "siliconflow-demo", **common},
        {"type": "stepfun", "name": "stepfun-demo", **common},
        {"type": "minimax", "name": "minimax-demo", **common},
        {"type": "zhipu", "name": "zhipu-demo", **common},
        {"type": "coze", "name": "coze-demo", **common},
        {
            "type": "statuspage",
            "name": "openai-status",
            "base_url": f"{sim_url}/status/openai",
            "interval": interval,
            "timeout": "10s",
            "provider_label": "openai",
        },
        {
            "type": "statuspage",
            "name": "anthropic-status",
            "base_url": f"{sim_url}/status/anthropic",
            "interval": interval,
            "timeout": "10s",
            "provider_label": "anthropic",
        },
        {
            "type": "http_json",
            "name": "bot-analytics-demo",
            "provider_label": "bot_platform",
            **common,
            "path": "/analytics/bots/demo-bot/metrics",
            "metrics": [
                {
                    "name": "llmpulse_bot_messages",
                    "help": "Messages of the bot on the newest day in the answer.",
                    "path": "data.metrics[*].total_messages",
                    "select": "last",
                },
                {
                    "name": "llmpulse_bot_success_ratio",
                    "help": "Success ratio of the bot on the newest day.",
                    "path": "data.metrics[*].success_rate",
                    "select": "last",
                },
                {
                    "name": "llmpulse_bot_response_time_seconds",
                    "help": "Average response time of the bot on the newest day.",
                    "path": "data.metrics[*].avg_response_time_ms",
                    "select": "last",
                    "scale": 0.001,
                },
            ],
        },
    ]
    probe_common = {"base_url": sim_url, "interval": probe_interval, "timeout": "8s", **key}
    probes: list[dict[str, Any]] = [
        {
            "name": "openai-probe",
            "type": "openai_compatible",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "stream": True,
            **probe_common,
        },
        {
            "name": "deepseek-probe",
            "type": "openai_compatible",
            "provider": "deepseek",
            "model": "deepseek-chat",
            "stream": False,
            **probe_common,
        },
        {
            "name": "anthropic-probe",
            "type": "anthropic",
            "model": "claude-3-5-haiku-latest",
            "stream": True,
            **probe_common,
        },
        {"name": "coze-probe", "type": "coze", "bot_id": "7493066380997000000", "stream": False, **probe_common},
        {"name": "models-liveness", "type": "http", "provider": "openai", "path": "/v1/models", **probe_common},
    ]
    return {
        "sources": sources,
        "probes": probes,
        "events": {"name": "app-events", "provider": "coze", "token_env": "LLMPULSE_DEMO_EVENTS_TOKEN"},
        "exchange_rates": {"CNY": 0.14},
    }
