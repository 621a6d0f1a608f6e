"""The scrape path copies nothing and renders nothing: a publish renders (gzip included) in the publisher's thread,
concurrent scrapes get the same cached body object with the process-metrics tail as a second part, and a live
owner is redrawn only for the families written since the last scrape."""

from __future__ import annotations

import gzip
import threading
from typing import Any

import pytest

from exporter import contract, exposition
from exporter.exposition import Exposition, render_metricset
from exporter.samples import LiveMetrics, MetricSet

BASE = {"provider": "openai", "source": "s"}


def _poll(value: float) -> dict[contract.Family, bytes]:
    ms = MetricSet()
    ms.set(contract.COST_USD, value, project="p", line_item="x")
    return render_metricset(ms, BASE)


def test_a_publish_renders_plain_and_gzip_before_any_scrape() -> None:
    exp = Exposition()
    exp.publish("source:s", _poll(1.0))
    exp.chunks()  # the first scrape may add the process-wide render-failure counter
    exp.publish("source:s", _poll(3.0))
    renders = exp.renders
    (body,) = exp.chunks(compressed=True)  # no process metrics configured: no tail
    assert exp.renders == renders  # the scrape found both bodies ready
    assert b"} 3.0\n" in gzip.decompress(body)


def test_scrapes_share_the_cached_parts_and_get_the_tail_as_the_last_part() -> None:
    exp = Exposition()
    exp.extra = lambda: b"process_cpu_seconds_total 1.5\n"
    chunk = _poll(2.0)[contract.COST_USD]
    exp.publish("source:s", {contract.COST_USD: chunk})
    first, second = exp.chunks(), exp.chunks()
    assert all(a is b for a, b in zip(first[:-1], second[:-1], strict=True))  # the same objects, no copy
    assert any(part is chunk for part in first)  # the published chunk itself is sent: the text is held once
    assert first[-1] == b"process_cpu_seconds_total 1.5\n"
    assert exp.body() == b"".join(first)
    gz_body, gz_tail = exp.chunks(compressed=True)
    assert gzip.decompress(gz_body + gz_tail) == b"".join(first)  # two gzip members read as one stream


def test_only_the_live_families_written_since_the_last_scrape_are_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    live = LiveMetrics()
    labels = {**BASE, "model": "m"}
    live.inc(contract.API_CALLS, {**labels, "outcome": "success"})
    live.observe(contract.API_CALL_DURATION, labels, 0.4)
    exp = Exposition()
    exp.attach_live("events", live)
    exp.body()
    drawn: list[set[contract.Family] | None] = []
    original = exposition.render_live

    def spy(live: LiveMetrics, families: Any = None) -> dict[contract.Family, bytes]:
        drawn.append(None if families is None else set(families))
        return original(live, families)

    monkeypatch.setattr(exposition, "render_live", spy)
    live.inc(contract.API_CALLS, {**labels, "outcome": "error"})
    text = exp.body().decode()
    assert drawn == [{contract.API_CALLS}]
    assert 'outcome="error"' in text and "llmpulse_api_call_duration_seconds_count" in text  # the rest is kept
    exp.body()
    assert drawn == [{contract.API_CALLS}]  # nothing written: nothing drawn


def _many_costs(n: int, value: float) -> dict[contract.Family, bytes]:
    ms = MetricSet()
    for i in range(n):
        ms.set(contract.COST_USD, value + i, project=f"p{i}", line_item="x")
    return render_metricset(ms, BASE)


def test_openmetrics_is_kept_compressed_until_a_scraper_asks_for_it_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus asks for OpenMetrics with gzip; OpenMetrics' plain body is twice the text's (``_created`` lines),
    so it is not held for nobody: gzip is rendered block by block at publish, the plain form is kept from the
    first uncompressed OpenMetrics scrape on, and both read the same."""
    monkeypatch.setattr(exposition, "RENDER_FAILURES", exposition.RenderFailures())  # none from earlier tests
    exp = Exposition(zero_first_hold=60.0)
    exp.publish("source:s", _many_costs(10_000, 1.0), adopt={contract.COST_USD: None})
    om_gz = b"".join(exp.chunks(compressed=True, fmt=exposition.OPENMETRICS))  # the body, then # EOF
    om_cache = exp._cache[exposition.OPENMETRICS]
    assert om_cache.pieces is None and not om_cache.parts  # nothing plain held for OpenMetrics
    om_text = gzip.decompress(om_gz).decode()
    assert om_text.count("llmpulse_cost_usd_created{") == 10_000
    assert om_text.endswith("# EOF\n")
    exp.publish("source:s", _many_costs(10_000, 2.0))  # rendered at publish, still compressed only
    assert om_cache.pieces is None and not om_cache.parts
    renders = exp.renders
    om_gz = b"".join(exp.chunks(compressed=True, fmt=exposition.OPENMETRICS))  # the body, then # EOF
    assert exp.renders == renders  # the publish had rendered it
    plain = exp.body(fmt=exposition.OPENMETRICS)  # the first uncompressed OpenMetrics scrape
    assert om_cache.pieces is not None
    assert plain == gzip.decompress(om_gz)
    assert b'llmpulse_cost_usd_total{provider="openai",source="s",project="p9999",line_item="x"} 10001.0\n' in plain
    exp.publish("source:s", _many_costs(10_000, 3.0))  # from now on the plain form follows every publish
    renders = exp.renders
    assert exp.body(fmt=exposition.OPENMETRICS) == gzip.decompress(
        exp.body(compressed=True, fmt=exposition.OPENMETRICS)
    )
    assert exp.renders == renders


def test_the_zero_first_tracker_holds_the_owners_chunk_not_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 300,000 series a per-series copy of the exported lines cost about 70 MB: the tracker keeps the chunk."""
    monkeypatch.setattr(exposition, "RENDER_FAILURES", exposition.RenderFailures())  # none from earlier tests
    exp = Exposition(zero_first_hold=60.0)
    chunk = _many_costs(1_000, 1.0)[contract.COST_USD]
    exp.publish("source:s", {contract.COST_USD: chunk})
    tracker = exp.zero_first.tracker("source:s", contract.COST_USD)
    assert tracker is not None
    assert vars(tracker)["_chunk"] is chunk
    assert all(not isinstance(v, dict) or len(v) < 1_000 for v in vars(tracker).values())  # no per-series map
    assert exp.body().count(b"} 0\n") == 1_000  # new series are held at zero, without a set of their names...
    assert all(not isinstance(v, set) or not v for v in vars(tracker).values())
    assert b'project="p999",line_item="x"} 1000.0\n' in exp.body()  # ...and released after a scrape read them


def test_concurrent_scrapes_never_publish_an_older_live_render_over_a_newer_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two Prometheus replicas scrape at once after a post: the slower render (of older data) must not be published
    after the newer one, or a counter would step back, which ``rate()`` reads as a reset and counts again."""
    live = LiveMetrics()
    labels = {**BASE, "model": "m", "outcome": "success"}
    live.inc(contract.API_CALLS, labels)
    exp = Exposition()
    exp.attach_live("events", live)
    exp.body()
    original = exposition.render_live
    first_started, release_first = threading.Event(), threading.Event()
    calls = 0

    def slow_first(live_: LiveMetrics, families: Any = None) -> dict[contract.Family, bytes]:
        nonlocal calls
        calls += 1
        rendered = original(live_, families)
        if calls == 1:  # the first scrape took its snapshot (value 2), then is slow to publish it
            first_started.set()
            release_first.wait(5)
        return rendered

    monkeypatch.setattr(exposition, "render_live", slow_first)
    published: list[bytes] = []
    publish = exp.publish

    def record(owner: str, chunks: Any, **kwargs: Any) -> None:
        if owner == "events":
            published.append(chunks[contract.API_CALLS])
        publish(owner, chunks, **kwargs)

    monkeypatch.setattr(exp, "publish", record)
    live.inc(contract.API_CALLS, labels)  # 2
    bodies: dict[str, bytes] = {}
    slow = threading.Thread(target=lambda: bodies.__setitem__("slow", exp.body()))
    slow.start()
    assert first_started.wait(5)
    live.inc(contract.API_CALLS, labels)  # 3, written while the first render is in flight
    fast = threading.Thread(target=lambda: bodies.__setitem__("fast", exp.body()))
    fast.start()
    fast.join(0.5)  # the second scrape waits for the render in flight instead of racing it
    release_first.set()
    slow.join(5)
    fast.join(5)
    sample = 'llmpulse_api_calls_total{provider="openai",source="s",model="m",outcome="success"} '
    assert f"{sample}3.0\n" in bodies["fast"].decode()
    assert f"{sample}3.0\n" in exp.body().decode()  # what stays published is the newest
    values = [float(chunk.decode().rpartition(" ")[2]) for chunk in published]
    assert values == sorted(values), values  # never an older render published after a newer one
