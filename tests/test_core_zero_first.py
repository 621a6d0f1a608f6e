"""Zero-first counter series and OpenMetrics negotiation of the exposition.

A counter series that appears with its first increment is read by ``rate()``/``increase()`` as starting there, so
the exposition exports every new counter and histogram series at 0 until a scrape has read it (or one hold period
passed), then its value. Both exposition formats are checked with promtool and prometheus_client's parsers.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from exporter import contract
from exporter.exposition import OPENMETRICS, TEXT, Exposition, negotiate, render_metricset
from exporter.samples import LiveMetrics, MetricSet

BASE = {"provider": "openai", "source": "prod"}
CALL = {**BASE, "model": "m"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exposition(hold: float = 15.0) -> tuple[Exposition, Clock]:
    exp = Exposition(zero_first_hold=hold)
    clock = Clock()
    exp.zero_first._mono = clock
    return exp, clock


def _value(body: bytes, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_a_new_counter_series_reads_zero_for_one_scrape_then_its_value() -> None:
    exp, _ = _exposition()
    live = LiveMetrics()
    exp.attach_live("probes", live)
    live.inc(contract.ERROR_CODES, {**CALL, "code": "401", "error_type": ""})
    name = contract.ERROR_CODES.name
    assert _value(exp.body(), name, code="401") == 0  # the scrape that gives Prometheus its baseline
    assert _value(exp.body(), name, code="401") == 1
    # an existing series updates at once
    live.inc(contract.ERROR_CODES, {**CALL, "code": "401", "error_type": ""})
    assert _value(exp.body(), name, code="401") == 2
    # a second new code mid-run is held again, the known one is not
    live.inc(contract.ERROR_CODES, {**CALL, "code": "529", "error_type": "overloaded_error"})
    live.inc(contract.ERROR_CODES, {**CALL, "code": "401", "error_type": ""})
    body = exp.body()
    assert _value(body, name, code="529") == 0 and _value(body, name, code="401") == 3
    assert _value(exp.body(), name, code="529") == 1


def test_a_series_added_after_a_scrape_read_older_zeros_still_gets_its_own_zero() -> None:
    exp, _ = _exposition()
    live = LiveMetrics()
    exp.attach_live("probes", live)
    live.inc(contract.ERROR_CODES, {**CALL, "code": "500", "error_type": ""})
    exp.body()  # reads the zero of 500
    live.inc(contract.ERROR_CODES, {**CALL, "code": "503", "error_type": ""})
    body = exp.body()
    assert _value(body, contract.ERROR_CODES.name, code="503") == 0
    assert _value(exp.body(), contract.ERROR_CODES.name, code="503") == 1


def test_without_scrapes_the_value_is_released_after_the_hold() -> None:
    exp, clock = _exposition(hold=15.0)
    live = LiveMetrics()
    exp.attach_live("probes", live)
    live.inc(contract.API_CALLS, {**CALL, "outcome": "error"})
    exp._refresh_live()  # the probe published; nobody scraped
    clock.now += 14.0
    assert exp.zero_first.holding() == 1
    clock.now += 1.0
    assert _value(exp.body(), contract.API_CALLS.name, outcome="error") == 1


def test_a_series_that_disappears_and_comes_back_starts_at_zero_again() -> None:
    exp, _ = _exposition()
    ms = MetricSet()
    ms.set(contract.COST_USD, 4.0, project="p", line_item="gpt-4o, input")
    exp.publish("source:a", render_metricset(ms, BASE))
    exp.body()
    assert _value(exp.body(), contract.COST_USD.name) == 4
    exp.publish("source:a", {})
    assert _value(exp.body(), contract.COST_USD.name) is None
    exp.publish("source:a", render_metricset(ms, BASE))
    assert _value(exp.body(), contract.COST_USD.name) == 0
    assert _value(exp.body(), contract.COST_USD.name) == 4


def test_adopted_series_are_exported_at_their_value_at_once() -> None:
    exp, _ = _exposition()
    ms = MetricSet()
    ms.set(contract.COST_USD, 120.0, project="p", line_item="gpt-4o, input")
    chunks = render_metricset(ms, BASE)
    exp.publish("source:a", chunks, adopt=dict.fromkeys(chunks, 1_700_000_000.0))
    assert _value(exp.body(), contract.COST_USD.name) == 120
    body = exp.body(fmt=OPENMETRICS).decode()
    assert (
        'llmpulse_cost_usd_created{provider="openai",source="prod",project="p",line_item="gpt-4o, input"} 1.7e+09'
        in body
    )


def test_zero_first_off_exports_values_at_once() -> None:
    exp = Exposition()
    live = LiveMetrics()
    exp.attach_live("probes", live)
    live.inc(contract.API_CALLS, {**CALL, "outcome": "error"})
    assert _value(exp.body(), contract.API_CALLS.name, outcome="error") == 1


def _full_exposition() -> Exposition:
    exp, _ = _exposition()
    ms = MetricSet()
    ms.set(contract.COST_USD, 1.25, project="p1", line_item='gpt-4o, "input"\\')
    ms.set(contract.BALANCE, 3.5, currency="USD", kind="total")
    exp.publish("a", render_metricset(ms, BASE))
    live = LiveMetrics()
    live.observe(contract.API_CALL_DURATION, CALL, 0.5)
    live.inc(contract.ERROR_CODES, {**CALL, "code": "429", "error_type": "rate_limit_error"})
    live.inc(contract.API_CALLS, {**CALL, "outcome": "error"})
    live.set(contract.PROBE_SUCCESS, CALL, 0)
    exp.attach_live("live", live)
    exp.body()
    return exp


def test_openmetrics_body_has_created_samples_eof_and_parses() -> None:
    exp = _full_exposition()
    text = exp.body(fmt=OPENMETRICS).decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert "# TYPE llmpulse_api_calls counter\n" in text
    families = {f.name: f for f in openmetrics_families(text)}
    calls = families["llmpulse_api_calls"]
    assert calls.type == "counter"
    names = {s.name for s in calls.samples}
    assert names == {"llmpulse_api_calls_total", "llmpulse_api_calls_created"}
    hist = families["llmpulse_api_call_duration_seconds"]
    assert "llmpulse_api_call_duration_seconds_created" in {s.name for s in hist.samples}
    assert families["llmpulse_cost_usd"].samples[0].labels["line_item"] == 'gpt-4o, "input"\\'
    assert families["llmpulse_balance"].type == "gauge"
    # same values as the text format
    plain = exp.body(fmt=TEXT)
    assert _value(plain, "llmpulse_api_calls_total", outcome="error") == 1
    (om_calls,) = [s for s in calls.samples if s.name.endswith("_total") and s.labels["outcome"] == "error"]
    assert om_calls.value == 1


def test_each_format_is_rendered_once_per_change() -> None:
    exp = _full_exposition()
    exp.body(fmt=OPENMETRICS)  # the zeros were read: this scrape released the values (a change)
    exp.body(fmt=TEXT)
    renders = exp.renders
    for _ in range(3):
        exp.body(fmt=OPENMETRICS)
        exp.body(fmt=TEXT)
        exp.body(fmt=OPENMETRICS, compressed=True)
    assert exp.renders == renders


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("fmt", [TEXT, OPENMETRICS])
def test_promtool_check_metrics_accepts_both_formats(fmt: str) -> None:
    body = _full_exposition().body(fmt=fmt)
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    findings = {line for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()}
    assert not [f for f in findings if "error" in f.lower() and "error_code_counter" not in f], findings
    # The contract spells this name; promtool's lint only dislikes the word "counter" in it.
    lint = {"metric name should not include type 'counter'"}
    if fmt == OPENMETRICS:
        # promtool 2.42 lints with the text-format parser: it parses the OpenMetrics body (no error), but reads a
        # counter's _total and _created samples as families of their own that have no HELP.
        lint.add("no help text")
    assert all(any(f.endswith(reason) for reason in lint) for f in findings), findings
    if fmt == OPENMETRICS:
        assert all(f.split()[0].endswith(("_total", "_created")) for f in findings if f.endswith("no help text"))
    assert result.returncode in (0, 3)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        # Prometheus 2.42's default scrape Accept header
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS,
        ),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", OPENMETRICS),
        ("application/openmetrics-text;version=0.0.1", TEXT),
        ("text/plain;version=0.0.4", TEXT),
        ("text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0;q=0.5", TEXT),
        ("*/*", TEXT),
        ("", TEXT),
        ("application/openmetrics-text;version=1.0.0;q=0", TEXT),
    ],
)
def test_negotiation(accept: str, fmt: str) -> None:
    assert negotiate(accept) == fmt


def _costs(values: dict[str, float]) -> dict[contract.Family, bytes]:
    ms = MetricSet()
    for item, value in values.items():
        ms.set(contract.COST_USD, value, project="p q", line_item=item)  # a space in a label value
    return render_metricset(ms, BASE)


def _created(exp: Exposition) -> dict[str, float]:
    out = {}
    for family in openmetrics_families(exp.body(fmt=OPENMETRICS).decode()):
        for sample in family.samples:
            if sample.name == "llmpulse_cost_usd_created":
                out[sample.labels["line_item"]] = sample.value
    return out


@pytest.mark.parametrize("series_change", [False, True], ids=["same series", "a series added too"])
def test_a_counter_that_goes_down_restarts_its_created_time(series_change: bool) -> None:
    """A month-to-date counter that drops (the month rolled over) restarted: its ``_created`` moves to then, the
    others keep theirs, whether the update kept the same series (compared chunk to chunk) or not (per series)."""
    exp, _ = _exposition()
    wall = Clock()
    exp.zero_first._wall = wall
    exp.publish("source:s", _costs({"a x": 5.0, "b": 7.0}), adopt={contract.COST_USD: 500.0})
    assert _created(exp) == {"a x": 500.0, "b": 500.0}
    wall.now = 2000.0
    later = {"a x": 2.0, "b": 8.0, **({"c": 1.0} if series_change else {})}
    exp.publish("source:s", _costs(later), adopt={contract.COST_USD: 500.0})
    created = _created(exp)
    assert created["a x"] == 2000.0 and created["b"] == 500.0
    body = exp.body()
    assert _value(body, contract.COST_USD.name, line_item="a x") == 2.0
    assert _value(body, contract.COST_USD.name, line_item="b") == 8.0


def test_series_added_while_the_first_lines_are_held_are_held_too() -> None:
    exp, _ = _exposition()
    exp.publish("source:s", _costs({"a": 5.0}))
    exp.publish("source:s", _costs({"a": 6.0, "b": 7.0}))  # before any scrape read the first zeros
    body = exp.body()
    assert _value(body, contract.COST_USD.name, line_item="a") == 0
    assert _value(body, contract.COST_USD.name, line_item="b") == 0
    body = exp.body()
    assert _value(body, contract.COST_USD.name, line_item="a") == 6.0
    assert _value(body, contract.COST_USD.name, line_item="b") == 7.0
    exp.publish("source:s", _costs({"a": 6.5, "b": 7.5, "c": 1.0}))  # only the new one is held now
    body = exp.body()
    assert [_value(body, contract.COST_USD.name, line_item=i) for i in "abc"] == [6.5, 7.5, 0]
