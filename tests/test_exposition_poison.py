"""Nothing can poison the exposition: text that is not valid Unicode (a lone surrogate, what a string cut inside an
emoji becomes) is refused at /events with a 400 naming the field and repaired (U+FFFD) and counted when a provider
sends it; a family that cannot be rendered is dropped and counted while the rest of /metrics is served; a loop
that catches an unexpected error marks its source down with reason ``internal`` and goes on.

The behaviour runs the real ``llmpulse`` process against a tiny upstream on loopback that answers raw bytes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter, free_port
from prometheus_client.parser import text_string_to_metric_families

from exporter import contract
from exporter.exposition import RENDER_FAILURES, Exposition, render_live, render_metricset
from exporter.samples import REPLACEMENT, LiveMetrics, MetricSet, repair_text

TOKEN = "poison-test-token-0123456789"
LONE = "\ud83d"  # the first half of an emoji, alone


@contextmanager
def raw_upstream(answers: dict[str, bytes]) -> Iterator[str]:
    """An HTTP server on loopback answering ``answers[path]`` (JSON bytes, sent as they are)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path.split("?")[0], b"{}")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# A JSON text with "\ud83d" escapes: valid JSON that json.loads turns into a lone surrogate.
POISON_JSON = (
    b'{"items": [{"name": "bot-\\ud83d", "value": 3}, {"name": "fine", "value": 4}],'
    b' "page": {"id": "x", "name": "P", "url": "https://status.example.com", "updated_at": "2026-01-01T00:00:00Z"},'
    b' "status": {"indicator": "none", "description": "ok"},'
    b' "components": [{"id": "c1", "name": "API \\udc80", "status": "operational", "group": false,'
    b' "group_id": null}], "incidents": [], "scheduled_maintenances": []}'
)


def _poison_config(url: str) -> dict[str, Any]:
    return {
        "sources": [
            {
                "type": "http_json",
                "name": "poisoned",
                "base_url": url,
                "path": "/items",
                "auth": {"type": "none"},
                "interval": "1s",
                "timeout": "1s",
                "metrics": [
                    {
                        "name": "llmpulse_poison_items",
                        "help": f"Items by name {LONE}",
                        "path": "items[*].value",
                        "labels": {"item": "name"},
                    }
                ],
            },
            {"type": "statuspage", "name": "status_poisoned", "base_url": url, "interval": "1s", "timeout": "1s"},
        ],
        "events": {"name": "ev", "token_env": "LLMPULSE_POISON_TOKEN"},
    }


def test_lone_surrogates_from_providers_are_repaired_counted_and_polling_goes_on(tmp_path: Path) -> None:
    with (
        raw_upstream({"/items": POISON_JSON, "/api/v2/summary.json": POISON_JSON}) as url,
        exporter(_poison_config(url), tmp_path, env={"LLMPULSE_POISON_TOKEN": TOKEN}) as proc,
    ):

        def repaired_twice(m: Metrics) -> bool:
            return all(
                m.value("llmpulse_label_values_repaired_total", source=s) >= 2 for s in ("poisoned", "status_poisoned")
            )

        m = proc.wait_for(repaired_twice, what="both sources polled twice with a repaired label")
        assert m.value("llmpulse_poison_items", source="poisoned", item=f"bot-{REPLACEMENT}") == 3
        assert m.value("llmpulse_poison_items", source="poisoned", item="fine") == 4
        assert m.value("llmpulse_source_up", source="poisoned") == 1
        assert m.value("llmpulse_source_up", source="status_poisoned") == 1
        assert m.find("llmpulse_status_component", source="status_poisoned", component=f"API {REPLACEMENT}")
        assert m.helps["llmpulse_poison_items"] == f"Items by name {REPLACEMENT}"
        assert requests.get(f"{proc.url}/-/healthy", timeout=5).status_code == 200


def test_an_event_with_a_lone_surrogate_is_refused_naming_the_field_and_metrics_keep_working(tmp_path: Path) -> None:
    cfg = {"events": {"name": "ev", "token_env": "LLMPULSE_POISON_TOKEN"}}
    with exporter(cfg, tmp_path, env={"LLMPULSE_POISON_TOKEN": TOKEN}) as proc:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        # What JSON.stringify of a string cut in the middle of an emoji sends.
        for field, body in (
            ("app", b'{"app": "bot-\\ud83d"}'),
            ("user_id", b'[{"app": "a"}, {"app": "b", "user_id": "u\\udc00x"}]'),
        ):
            resp = requests.post(f"{proc.url}/events", data=body, headers=headers, timeout=5)
            assert resp.status_code == 400, resp.text
            answer = resp.json()
            assert answer["field"] == field and "not valid Unicode" in answer["message"], answer
        resp = requests.get(f"{proc.url}/metrics", timeout=5)
        assert resp.status_code == 200
        m = Metrics(resp.text)
        assert m.value("llmpulse_events_rejected_total", reason="invalid_event") == 2
        assert m.total("llmpulse_events_received_total") == 0  # nothing of the refused posts was applied
        ok = requests.post(f"{proc.url}/events", json={"app": "bot-😀"}, headers=headers, timeout=5)
        assert ok.status_code == 200
        assert proc.metrics().find("llmpulse_events_calls_total", app="bot-😀")


# --- units: repair, rendering guard -----------------------------------------------------------------------------
def test_repair_text_replaces_lone_surrogates_and_joins_split_pairs() -> None:
    assert repair_text("plain") == "plain"
    assert repair_text(f"a{LONE}b") == f"a{REPLACEMENT}b"
    assert repair_text("\ud83d\ude00") == "😀"  # a pair held as two code points is one character
    assert repair_text("\udc80\ud800") == REPLACEMENT * 2


def test_metricset_counts_repaired_values_and_renders_valid_utf8() -> None:
    ms = MetricSet()
    ms.set(contract.USAGE_REQUESTS, 1.0, project=f"p{LONE}", model="m")
    ms.add(contract.USAGE_REQUESTS, 2.0, project="p2", model=f"\udc80{LONE}")
    assert ms.repaired == 2
    chunks = render_metricset(ms, {"provider": "openai", "source": "o"})
    text = b"".join(chunks.values()).decode("utf-8")
    assert f'project="p{REPLACEMENT}"' in text


class _Unrenderable:
    """A value whose formatting fails, standing in for any bug in rendering one family."""

    def __float__(self) -> float:
        raise RuntimeError("cannot format")


def test_a_family_that_cannot_render_is_dropped_and_counted_and_the_rest_is_served() -> None:
    live = LiveMetrics()
    base = {"provider": "p", "source": "s"}
    live.set(contract.PROBE_SUCCESS, {**base, "model": "m"}, 1.0)
    live.set(contract.PROBE_DURATION, {**base, "model": "m"}, 0.5)
    live._values[contract.PROBE_DURATION][next(iter(live._values[contract.PROBE_DURATION]))] = _Unrenderable()  # type: ignore[assignment]
    before = RENDER_FAILURES.counts.get(contract.PROBE_DURATION.name, 0)
    chunks = render_live(live)
    assert contract.PROBE_SUCCESS in chunks and contract.PROBE_DURATION not in chunks
    expo = Exposition()
    expo.attach_live("probes", live)
    text = expo.body().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "llmpulse_probe_success" in families and "llmpulse_probe_duration_seconds" not in families
    failures = families["llmpulse_exposition_render_failures"]
    counted = {s.labels["metric"]: s.value for s in failures.samples if s.name.endswith("_total")}
    assert counted[contract.PROBE_DURATION.name] >= before + 1


# --- loops that cannot die unseen -------------------------------------------------------------------------------
def _app(tmp_path: Path, url: str) -> Any:
    from exporter.app import App
    from exporter.config import parse_config

    cfg = parse_config(
        {
            "sources": [
                {
                    "type": "http_json",
                    "name": "loop",
                    "base_url": url,
                    "path": "/items",
                    "auth": {"type": "none"},
                    "interval": "1s",
                    "timeout": "1s",
                    "metrics": [{"name": "llmpulse_loop_items", "path": "items[*].value", "labels": {"n": "name"}}],
                }
            ]
        }
    )
    return App(cfg, "127.0.0.1", free_port(), process_metrics=False)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_an_exception_escaping_a_poll_marks_the_source_down_internal_and_the_loop_goes_on(tmp_path: Path) -> None:
    with raw_upstream({"/items": json.dumps({"items": [{"name": "a", "value": 1}]}).encode()}) as url:
        app = _app(tmp_path, url)
        poller = app.pollers[0]
        real = poller.poll_once
        calls = {"n": 0}

        def flaky() -> bool:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("boom outside the poll's own error handling")
            return real()

        poller.poll_once = flaky  # type: ignore[method-assign]
        app.start()
        try:
            _wait(lambda: calls["n"] >= 2 and poller.status().up is False, 15, "the failing poll marks the source down")
            requests.get(f"{app.url}/metrics", timeout=5)  # the zero-first read of series nobody scraped yet
            m = Metrics(requests.get(f"{app.url}/metrics", timeout=5).text)
            assert m.value("llmpulse_source_poll_errors_total", source="loop", reason="internal") == 1
            assert m.value("llmpulse_loop_items", source="loop", n="a") == 1  # last good data kept
            _wait(lambda: poller.status().up is True, 15, "the loop goes on and the next poll succeeds")
            assert poller.alive()
            assert requests.get(f"{app.url}/-/healthy", timeout=5).status_code == 200
        finally:
            app.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_healthy_and_ready_fail_naming_a_stopped_loop(tmp_path: Path) -> None:
    with raw_upstream({"/items": json.dumps({"items": [{"name": "a", "value": 1}]}).encode()}) as url:
        app = _app(tmp_path, url)
        poller = app.pollers[0]

        def fatal() -> bool:
            raise SystemExit("a thread-ending error")  # not an Exception: ends the thread as a real bug could

        app.start()
        try:
            _wait(lambda: poller.status().polls >= 1, 15, "first poll")
            assert requests.get(f"{app.url}/-/healthy", timeout=5).status_code == 200
            poller.poll_once = fatal  # type: ignore[method-assign]
            _wait(lambda: not poller.alive(), 15, "the loop ended")
            healthy = requests.get(f"{app.url}/-/healthy", timeout=5)
            ready = requests.get(f"{app.url}/-/ready", timeout=5)
            assert healthy.status_code == 503 and "source loop: poll loop stopped" in healthy.text
            assert ready.status_code == 503 and "source loop: poll loop stopped" in ready.text
            assert requests.get(f"{app.url}/metrics", timeout=5).status_code == 200
        finally:
            app.stop()


def test_healthy_fails_when_metrics_cannot_render(tmp_path: Path) -> None:
    with raw_upstream({"/items": b'{"items": []}'}) as url:
        app = _app(tmp_path, url)

        def broken(*, compressed: bool = False) -> bytes:
            raise MemoryError("no memory for the page")

        app.start()
        try:
            app.exposition.body = broken  # type: ignore[method-assign]
            resp = requests.get(f"{app.url}/-/healthy", timeout=5)
            assert resp.status_code == 503 and "/metrics cannot render: MemoryError" in resp.text
        finally:
            app.stop()


def test_an_exception_while_recording_a_probe_marks_it_failing_internal_and_its_loop_goes_on() -> None:
    from exporter.config import parse_config
    from exporter.probes.scheduler import ProbeRunner

    cfg = parse_config(
        {
            "probes": [
                {"name": "hp", "type": "http", "base_url": "http://127.0.0.1:9/", "interval": "1s", "timeout": "1s"}
            ]
        }
    )
    live = LiveMetrics()
    runner = ProbeRunner(cfg.probes[0], live)
    calls = {"n": 0}

    def broken_record(outcome: Any) -> None:
        calls["n"] += 1
        raise RuntimeError("a bug while recording")

    runner.recorder.record = broken_record  # type: ignore[method-assign]
    runner.start()
    try:
        _wait(lambda: calls["n"] >= 2, 15, "the loop runs again after a failing run")
        assert runner.alive()
        status = runner.describe()
        assert status["success"] is False and status["last_error"].startswith("internal error: RuntimeError")
        labels = {"provider": runner.recorder.labels["provider"], "source": "hp", "model": runner.config.model}
        assert live.value(contract.PROBE_SUCCESS, labels) == 0.0
    finally:
        runner.stop()
        runner.join(2)


def test_a_cost_that_sums_past_the_largest_float_fails_the_poll_instead_of_exporting_inf(tmp_path: Path) -> None:
    from exporter.config import parse_config
    from exporter.poller import SourcePoller

    answer = json.dumps({"items": [{"name": "a", "value": 1e308}, {"name": "a2", "value": 1e308}]}).encode()
    with raw_upstream({"/items": answer}) as url:
        cfg = parse_config(
            {
                "sources": [
                    {
                        "type": "http_json",
                        "name": "huge",
                        "base_url": url,
                        "path": "/items",
                        "auth": {"type": "none"},
                        "metrics": [
                            {
                                "name": "llmpulse_huge_usd_total",
                                "type": "counter",
                                "path": "items[*].value",
                                "select": "sum",
                            },
                        ],
                    }
                ]
            }
        )
        expo = Exposition()
        poller = SourcePoller(cfg.sources[0], expo)
        assert poller.poll_once() is False
        status = poller.status()
        assert status.up is False and "is not a finite number" in status.last_error
        text = expo.body().decode()
        assert "+Inf" not in text and 'reason="invalid_response"} 1.0' in text


def test_series_that_share_a_label_value_share_its_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory at scale: a value many series carry is one object, and the sharing table stays bounded."""
    from exporter import samples

    ms = MetricSet()
    for i in range(3):
        ms.set(contract.COST_USD, 1.0, project="shared-project", line_item=f"item-{i}")
    keys = list(ms.series(contract.COST_USD))
    assert keys[0][0] == ("project", "shared-project")
    assert keys[0][0] is keys[1][0] is keys[2][0]
    assert keys[0][1] is not keys[1][1]
    monkeypatch.setattr(samples, "_PAIRS_LIMIT", 4)
    for i in range(10):
        samples.label_key(contract.COST_USD, {"project": f"p{i}", "line_item": "x"})
    assert len(samples._PAIRS) <= 6  # started over instead of growing
    assert samples.label_key(contract.COST_USD, {"project": "p", "line_item": "x"}) == (
        ("project", "p"),
        ("line_item", "x"),
    )
