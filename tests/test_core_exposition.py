"""The exposition renderer: valid text format, render-once caching, gzip members, contract enforcement."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import contract
from exporter.exposition import Exposition, MetricSetRenderer, family_header, render_live, render_metricset
from exporter.samples import LiveMetrics, MetricSet

BASE = {"provider": "openai", "source": "prod"}


def _usage(value: float = 5.0) -> MetricSet:
    ms = MetricSet()
    ms.add(contract.USAGE_TOKENS, value, project="p1", model="gpt-4o", token_type="input")
    ms.add(contract.USAGE_TOKENS, 2.0, project="p1", model="gpt-4o", token_type="input")
    ms.set(contract.COST_USD, 1.25, project="p1", line_item='gpt-4o, "input"\\')
    return ms


def test_metricset_accumulates_and_checks_labels_against_the_contract() -> None:
    ms = _usage()
    assert ms.get(contract.USAGE_TOKENS, project="p1", model="gpt-4o", token_type="input") == 7.0
    with pytest.raises(ValueError, match="missing"):
        ms.add(contract.USAGE_TOKENS, 1, project="p1", model="m")
    with pytest.raises(ValueError, match="unexpected"):
        ms.add(contract.USAGE_TOKENS, 1, project="p1", model="m", token_type="input", date="2026-11-01")
    # opt-in breakdowns are allowed where the contract says so
    ms.add(contract.USAGE_TOKENS, 1, project="p1", model="m", token_type="input", api_key="key_1")


def test_rendered_text_parses_with_help_type_and_escaped_labels() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(), BASE))
    text = exp.body().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    tokens = families["llmpulse_usage_tokens"]
    assert tokens.type == "counter"
    assert tokens.documentation == contract.USAGE_TOKENS.help
    (sample,) = tokens.samples
    assert sample.labels == {**BASE, "project": "p1", "model": "gpt-4o", "token_type": "input"}
    assert sample.value == 7.0
    cost = families["llmpulse_cost_usd"].samples[0]
    assert cost.labels["line_item"] == 'gpt-4o, "input"\\'


def test_two_owners_share_one_family_block_in_contract_order() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(1), BASE))
    exp.publish("b", render_metricset(_usage(3), {"provider": "openai", "source": "other"}))
    text = exp.body().decode()
    assert text.count("# TYPE llmpulse_usage_tokens_total counter") == 1
    lines = [line for line in text.splitlines() if line.startswith("llmpulse_usage_tokens_total")]
    assert len(lines) == 2
    # all lines of a family are contiguous
    block = text.split("# TYPE llmpulse_usage_tokens_total counter\n", 1)[1]
    assert block.splitlines()[:2] == lines


def test_body_is_rendered_once_per_change_not_per_scrape() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(), BASE))
    first = exp.body()
    renders = exp.renders
    for _ in range(5):
        assert exp.body() is first or exp.body() == first
        exp.body(compressed=True)
    assert exp.renders == renders
    exp.publish("a", render_metricset(_usage(9), BASE))
    assert exp.body() != first
    assert exp.renders == renders + 1


def test_gzip_body_is_multi_member_and_decodes_to_the_plain_body() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(), BASE))
    live = LiveMetrics()
    live.observe(contract.API_CALL_DURATION, {**BASE, "model": "m"}, 0.95)
    exp.attach_live("live", live)
    assert gzip.decompress(exp.body(compressed=True)) == exp.body()


def test_publishing_an_empty_owner_removes_its_series() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(), BASE))
    exp.publish("a", {})
    assert b"llmpulse_usage_tokens_total" not in exp.body()


def test_live_histogram_renders_cumulative_buckets() -> None:
    live = LiveMetrics()
    labels = {**BASE, "model": "m"}
    for value in (0.05, 0.95, 1.05, 2.5, 100.0):
        live.observe(contract.API_CALL_DURATION, labels, value)
    text = b"".join(family_header(f) + chunk for f, chunk in render_live(live).items()).decode()
    hist = next(f for f in text_string_to_metric_families(text) if f.name == "llmpulse_api_call_duration_seconds")
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    assert buckets["0.1"] == 1
    assert buckets["1.0"] == 2
    assert buckets["1.1"] == 3
    assert buckets["3.0"] == 4
    assert buckets["60.0"] == 4
    assert buckets["+Inf"] == 5
    count = next(s.value for s in hist.samples if s.name.endswith("_count"))
    assert count == 5


def test_live_metrics_reject_wrong_types_and_labels() -> None:
    live = LiveMetrics()
    with pytest.raises(ValueError):
        live.inc(contract.PROBE_SUCCESS, {**BASE, "model": "m"})
    with pytest.raises(ValueError):
        live.inc(contract.API_CALLS, {**BASE, "model": "m"})  # outcome missing
    with pytest.raises(ValueError):
        live.inc(contract.API_CALLS, {**BASE, "model": "m", "outcome": "success"}, -1)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_accepts_the_exposition() -> None:
    exp = Exposition()
    exp.publish("a", render_metricset(_usage(), BASE))
    live = LiveMetrics()
    live.observe(contract.API_CALL_DURATION, {**BASE, "model": "m"}, 0.5)
    live.inc(contract.ERROR_CODES, {**BASE, "model": "m", "code": "429", "error_type": "rate_limit_error"})
    exp.attach_live("live", live)
    result = subprocess.run(["promtool", "check", "metrics"], input=exp.body(), capture_output=True)
    findings = [line for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()]
    # The metric contract spells this name; promtool's lint only dislikes the word "counter" in it.
    allowed = {"llmpulse_error_code_counter_total metric name should not include type 'counter'"}
    assert set(findings) <= allowed, findings
    assert result.returncode in (0, 3)


def test_metricset_renderer_renders_what_render_metricset_does_across_polls() -> None:
    """The renderer a poller keeps reuses unchanged families and label prefixes; every poll's bytes must still be
    exactly those of a fresh render: values changed, series added and gone, a family emptied, the set changed after
    the render (the month-to-date guard writes into it)."""
    base = {"provider": "openai", "source": 'we"ird\\src'}
    renderer = MetricSetRenderer(base)

    def poll(values: dict[str, float], requests: float | None) -> MetricSet:
        ms = MetricSet()
        for model, value in values.items():
            ms.set(contract.USAGE_TOKENS, value, project="p", model=model, token_type="input")
        if requests is not None:
            ms.set(contract.USAGE_REQUESTS, requests, project="p", model="m")
        return ms

    polls = [
        poll({"a": 1.0, "b": 2.0}, 5.0),
        poll({"a": 1.0, "b": 2.0}, 5.0),  # unchanged: reused
        poll({"a": 1.5, "b": 2.0}, 5.0),  # one value changed
        poll({"b": 2.0, "c": 1e21}, None),  # a series gone, one new, a family gone
        poll({"b": 2.0, "c": 1e21}, 7.0),  # the family back
    ]
    for ms in polls:
        assert renderer.render(ms) == render_metricset(ms, base)
        ms.set(contract.USAGE_TOKENS, 99.0, project="p", model="b", token_type="input")  # changed after rendering
    again = poll({"b": 2.0, "c": 1e21}, 7.0)
    assert renderer.render(again) == render_metricset(again, base)
    assert b'model="b"' in renderer.render(again)[contract.USAGE_TOKENS]
