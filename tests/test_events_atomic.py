"""All or nothing at /events, numbers the contract cannot carry, and bounded series under a flood.

In-process with a controlled clock (the route's bookkeeping), plus the real exporter process for the 400s a client
sees and for the series count after a flood of distinct values in every label at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter

from exporter import contract, ingest
from exporter.budget import SeriesBudget
from exporter.config import parse_config
from exporter.httpserver import Request
from exporter.ingest import EventIngest
from exporter.samples import LiveMetrics

TOKEN = "atomic-test-token-0123456789"


@pytest.fixture(autouse=True)
def _token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_ATOMIC_TOKEN", TOKEN)


def _ingest(**events: Any) -> tuple[EventIngest, LiveMetrics]:
    cfg = parse_config({"events": {"name": "unit", "token_env": "LLMPULSE_ATOMIC_TOKEN", **events}}).events
    assert cfg is not None
    live = LiveMetrics(SeriesBudget(cfg.max_series_per_family, cfg.max_series))
    return EventIngest(cfg, live, clock=lambda: 1_800_000_000.0, refresh_interval=None), live


def _post(ing: EventIngest, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = Request("POST", "/events", {}, {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, raw)
    resp = ing.handle(req)
    assert isinstance(resp.body, bytes)
    return resp.status, json.loads(resp.body)


def _state(ing: EventIngest, live: LiveMetrics) -> tuple[Any, ...]:
    _, values, hists = live.snapshot()
    counts = {f.name: sorted(s) for f, s in values.items()}
    hist_counts = {f.name: sorted((k, h.count) for k, h in s) for f, s in hists.items()}
    return (counts, hist_counts, ing.stats(), {d: sorted(f.known) for d, f in ing._fold.items()})


def test_a_post_that_fails_while_being_applied_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ing, live = _ingest()
    assert _post(ing, [{"app": "a", "event": "session_start", "session_id": "s0", "user_id": "u0"}])[0] == 200
    before = _state(ing, live)
    real_hash = ingest.hash64

    def failing_hash(value: str) -> int:
        if value == "boom":
            raise RuntimeError("a bug met while applying")
        return real_hash(value)

    monkeypatch.setattr(ingest, "hash64", failing_hash)
    batch = [
        {"app": "new-app", "channel": "web", "event": "session_start", "session_id": "s1", "user_id": "u1"},
        {"app": "a", "event": "session_end", "session_id": "s0"},
        {"app": "b", "model": "m", "status": "error", "code": 500, "duration_ms": 10, "input_tokens": 3},
        {"app": "c", "user_id": "boom"},
    ]
    with pytest.raises(RuntimeError):
        ing.handle(
            Request(
                "POST",
                "/events",
                {},
                {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                json.dumps(batch).encode(),
            )
        )
    assert _state(ing, live) == before  # no label learnt, no session opened or closed, no user, no sample
    monkeypatch.setattr(ingest, "hash64", real_hash)
    assert _post(ing, batch[:3])[0] == 200
    assert ing.stats()["open_sessions"] == 1  # s1 opened, s0 closed


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (b'{"app": "a", "duration_ms": 1' + b"0" * 400 + b"}", "duration_ms", "must not exceed"),
        (b'{"app": "a", "input_tokens": 1' + b"0" * 400 + b"}", "input_tokens", "must not exceed"),
        (b'{"app": "a", "timestamp": 1' + b"0" * 400 + b"}", "timestamp", "milliseconds"),
        (b'{"app": "a", "duration_ms": 1e400}', "duration_ms", "finite number"),
        (b'{"app": "a", "output_tokens": -1}', "output_tokens", ">= 0"),
    ],
)
def test_huge_infinite_or_negative_numbers_get_a_clean_400(raw: bytes, field: str, fragment: str) -> None:
    ing, _ = _ingest()
    status, answer = _post(ing, raw)
    assert status == 400 and answer["field"] == field and fragment in answer["message"], answer


def test_huge_numbers_over_http_get_a_400_not_a_500(tmp_path: Path) -> None:
    cfg = {"events": {"name": "ev", "token_env": "LLMPULSE_ATOMIC_TOKEN"}}
    with exporter(cfg, tmp_path, env={"LLMPULSE_ATOMIC_TOKEN": TOKEN}) as proc:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        body = b'{"app": "a", "duration_ms": 1' + b"0" * 400 + b"}"
        resp = requests.post(f"{proc.url}/events", data=body, headers=headers, timeout=5)
        assert resp.status_code == 400 and resp.json()["field"] == "duration_ms"
        assert "Traceback" not in proc.log()


def test_combinations_beyond_the_family_budget_fold_into_other_and_are_counted() -> None:
    ing, live = _ingest(max_label_values=1000, max_series_per_family=50, max_series=100_000)
    events = [{"app": f"app{i}", "channel": f"ch{i}", "status": "success"} for i in range(200)]
    assert _post(ing, events)[0] == 200
    _, values, _ = live.snapshot()
    calls = dict(values[contract.EVENTS_CALLS])
    assert len(calls) <= 50 + 1  # the budget, plus one "other" per closed-label combination (outcome=success)
    assert sum(calls.values()) == 200  # nothing lost: the overflow is in app="other", channel="other"
    other = [v for k, v in calls.items() if dict(k)["app"] == "other" and dict(k)["channel"] == "other"]
    assert other == [200 - 50]
    folded = {dict(k)["metric"]: v for k, v in values[contract.SERIES_FOLDED]}
    assert folded[contract.EVENTS_CALLS.name] == 150


def test_a_flood_of_distinct_values_in_every_label_stays_under_100k_series(tmp_path: Path) -> None:
    cfg = {"events": {"name": "ev", "token_env": "LLMPULSE_ATOMIC_TOKEN", "max_events": 2000}}
    with exporter(cfg, tmp_path, env={"LLMPULSE_ATOMIC_TOKEN": TOKEN}) as proc:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        n = 0
        for _ in range(10):
            batch = []
            for _event in range(2000):
                n += 1
                batch.append(
                    {
                        # every label distinct within the 200 values kept per label, every combination new
                        "app": f"a{n % 199}",
                        "channel": f"c{(n // 199) % 197}",
                        "model": f"m{n % 193}",
                        "status": "error",
                        "code": f"{(n // 193) % 191}",
                        "error_type": f"e{(n // 7) % 181}",
                        "duration_ms": n % 5000,
                        "input_tokens": 1,
                        "user_id": f"u{n}",
                        "session_id": f"s{n}",
                        "event": "call",
                    }
                )
            resp = requests.post(f"{proc.url}/events", json=batch, headers=headers, timeout=30)
            assert resp.status_code == 200, resp.text
        requests.get(f"{proc.url}/metrics", timeout=30)  # new series read 0 first (zero-first), their values next
        text = requests.get(f"{proc.url}/metrics", timeout=30).text
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        m = Metrics(text)
        assert series < 100_000, series
        assert m.total("llmpulse_events_calls_total", app="other", channel="other") > 0
        assert m.total("llmpulse_events_received_total") == 20_000  # every event counted
        assert m.total("llmpulse_events_calls_total") == 20_000
        assert m.total("llmpulse_series_folded_total") > 0
