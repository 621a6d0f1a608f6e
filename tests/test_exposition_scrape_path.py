"""The scrape path copies nothing and renders nothing: a publish renders (gzip included) in the publisher's thread,
concurrent scrapes get the same cached body object with the process-metrics tail as a second part, and a live
owner is redrawn only for the families written since the last scrape."""

from __future__ import annotations

import gzip
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
