"""The traffic generator: realistic, valid, deterministic batches that follow the simulator's fault switches, posted
over real HTTP to a real exporter by the library, by ``llmpulse simulate --events-url`` and by ``serve --demo``."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, Metrics, exporter, free_port, run_cli, stop_process

from exporter import contract
from exporter.bundle.settings import ApiSettings, SloSettings
from exporter.ingest import validate_batch
from exporter.simulator.faults import FaultRegistry
from exporter.simulator.traffic import TrafficGenerator, TrafficModel, events_endpoint

TOKEN = "traffic-test-token-81c2"
TOKEN_ENV = "LLMPULSE_TRAFFIC_TEST_TOKEN"
CONFIG = {"events": {"name": "app-events", "token_env": TOKEN_ENV}}
T0 = 1_800_000_000.0


def _run(model: TrafficModel, minutes: float, step: float = 2.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(1, int(minutes * 60 / step) + 1):
        events += model.step(T0 + i * step, step)
    return events


def _calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event", "call") == "call"]


def test_batches_are_valid_realistic_and_deterministic() -> None:
    events = _run(TrafficModel(seed=3), minutes=30)
    assert events == _run(TrafficModel(seed=3), minutes=30)
    assert events != _run(TrafficModel(seed=4), minutes=30)
    validate_batch(events)  # raises if any event breaks the schema
    calls = _calls(events)
    kinds = Counter(e.get("event", "call") for e in events)
    assert kinds["call"] > 500 and kinds["session_start"] > 200 and kinds["session_end"] > 100
    assert len({(e["app"], e["channel"]) for e in calls}) >= 5
    assert len({e["model"] for e in calls}) >= 5
    assert 100 < len({e["user_id"] for e in events if "user_id" in e}) <= 400
    # every session_end follows its own session_start (same app, channel, user)
    starts = {e["session_id"]: e for e in events if e.get("event") == "session_start"}
    for end in (e for e in events if e.get("event") == "session_end"):
        start = starts[end["session_id"]]
        assert (start["app"], start["channel"], start["user_id"]) == (end["app"], end["channel"], end["user_id"])
        assert end["timestamp"] >= start["timestamp"]
    # normal traffic stays under the bundle's default alert thresholds: error ratio under the error budget of the
    # default objective (else the slowest burn-rate alert pages a healthy demo) and under the 5 % ratio alert, 429s
    # under the rate-limited ratio, P99 < 2 s
    errors = [e for e in calls if e["status"] == "error"]
    assert 0 < len(errors) / len(calls) < 1 - SloSettings().objective
    rate_limited = [e for e in errors if e["error_type"] == "rate_limit"]
    assert len(rate_limited) / len(calls) < ApiSettings().rate_limited_ratio / 2
    assert {e["code"] for e in errors} <= {"429", "500", "502", "504", "4013", "5000"}
    durations = sorted(e["duration_ms"] for e in calls)
    assert durations[math.ceil(0.99 * len(durations)) - 1] < 2000
    assert all(e["input_tokens"] >= 0 for e in calls) and any(e.get("output_tokens") for e in calls)


def test_timestamps_are_rfc3339_and_within_the_step() -> None:
    model = TrafficModel(seed=5)
    _run(model, minutes=2)
    now = T0 + 3600
    for e in model.step(now, 2.0):
        ts = datetime.fromisoformat(e["timestamp"]).timestamp()
        assert e["timestamp"].endswith("Z")
        assert ts <= now + 1e-3


def test_follows_the_simulators_fault_switches() -> None:
    faults = FaultRegistry(seed=1)
    faults.set("events", {"error_rate": 0.5, "error_status": 503, "latency": 3.0})
    calls = _calls(_run(TrafficModel(seed=1, faults=faults), minutes=20))
    errors = [e for e in calls if e["status"] == "error"]
    assert 0.4 < len(errors) / len(calls) < 0.6
    assert {e["code"] for e in errors} == {"503"}
    assert min(e["duration_ms"] for e in calls) >= 3000
    faults.set("events", {"error_rate": 0.0, "latency": 0.0, "down": True})
    assert {e["status"] for e in _calls(_run(TrafficModel(seed=1, faults=faults), minutes=5))} == {"error"}
    faults.reset()
    faults.set("*", {"slow_rate": 1.0, "slow_latency": 12.0})  # the all-providers key applies too
    assert min(e["duration_ms"] for e in _calls(_run(TrafficModel(seed=1, faults=faults), minutes=5))) >= 12_000


def test_events_endpoint() -> None:
    assert events_endpoint("http://127.0.0.1:9877") == "http://127.0.0.1:9877/events"
    assert events_endpoint("http://127.0.0.1:9877/") == "http://127.0.0.1:9877/events"
    assert events_endpoint("https://x.example/custom/events") == "https://x.example/custom/events"
    with pytest.raises(ValueError):
        events_endpoint("127.0.0.1:9877")


def _received(m: Metrics) -> float:
    return m.total(contract.EVENTS_RECEIVED.name)


def test_generator_posts_to_a_real_exporter(tmp_path: Path) -> None:
    with exporter(CONFIG, tmp_path, env={TOKEN_ENV: TOKEN}) as exp:
        gen = TrafficGenerator(
            exp.url, TOKEN, interval=0.3, model=TrafficModel(seed=9, sessions_per_minute=600, api_calls_per_minute=600)
        )
        gen.start()
        try:
            exp.wait_for(
                lambda m: m.total(contract.EVENTS_SESSIONS.name) > 0 and m.total(contract.EVENTS_CALLS.name) > 20,
                what="generated traffic arrives",
            )
        finally:
            gen.stop()
        m = exp.metrics()
        assert gen.failed == 0 and gen.posted == _received(m)
        assert m.total(contract.EVENTS_REJECTED.name) == 0
        assert m.find(contract.EVENTS_DISTINCT_USERS.name, window="1h")


def test_generator_with_a_wrong_token_is_refused_and_keeps_going(tmp_path: Path) -> None:
    with exporter(CONFIG, tmp_path, env={TOKEN_ENV: TOKEN}) as exp:
        gen = TrafficGenerator(exp.url, "not-the-token")
        assert not gen.post([{"app": "x"}])
        assert gen.failed == 1 and gen.posted == 0
        assert gen.post([]) and gen.failed == 1  # nothing to send is not a failure
        assert exp.metrics().value(contract.EVENTS_REJECTED.name, reason="unauthorized") == 1


def test_simulate_command_posts_traffic_to_the_exporter(tmp_path: Path) -> None:
    with exporter(CONFIG, tmp_path, env={TOKEN_ENV: TOKEN}) as exp:
        port = free_port()
        log = (tmp_path / "simulate.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "simulate",
                "--listen",
                f"127.0.0.1:{port}",
                "--events-url",
                exp.url,
                "--events-token-env",
                TOKEN_ENV,
                "--events-interval",
                "1s",
            ],
            cwd=ROOT,
            env={**os.environ, TOKEN_ENV: TOKEN},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            exp.wait_for(
                lambda m: m.total(contract.EVENTS_CALLS.name) > 0, timeout=30, what="simulate --events-url posts calls"
            )
        finally:
            stop_process(proc)
            log.close()
        assert exp.metrics().total(contract.EVENTS_REJECTED.name) == 0
        assert TOKEN not in (tmp_path / "simulate.log").read_text()


def test_simulate_refuses_bad_events_options() -> None:
    result = run_cli(
        "simulate",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--events-url",
        "http://127.0.0.1:1",
        "--events-token-env",
        "LLMPULSE_SURELY_UNSET_VAR",
        timeout=30,
    )
    assert result.returncode == 2 and "LLMPULSE_SURELY_UNSET_VAR is not set" in result.stderr
    result = run_cli("simulate", "--events-url", "localhost:9877", timeout=30)
    assert result.returncode == 2 and "--events-url" in result.stderr
    result = run_cli("simulate", "--events-url", "http://127.0.0.1:1", "--events-interval", "2", timeout=30)
    assert result.returncode == 2 and "--events-interval" in result.stderr


def test_serve_demo_shows_traffic(tmp_path: Path) -> None:
    with exporter(None, tmp_path, args=["--demo", "--simulator-listen", "127.0.0.1:0"]) as exp:
        m = exp.wait_for(
            lambda m: m.total(contract.EVENTS_CALLS.name) > 0 and m.total(contract.EVENTS_SESSIONS.name) > 0,
            timeout=40,
            what="demo traffic",
        )
        assert m.find(contract.EVENTS_DISTINCT_USERS.name, window="1d")
        assert m.total(contract.EVENTS_REJECTED.name) == 0
