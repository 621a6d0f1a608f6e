"""Property-based tests: the events validator, the exposition renderer and provider parsers fed arbitrary Unicode
(lone surrogates included) and arbitrary numbers (huge integers, infinities, NaN). Whatever comes in, the result is
either a clean refusal (EventError / ApiError) or data that renders to valid UTF-8 the Prometheus parser reads.
The zero-first tracker is checked against a plain per-series model of its rule.
Bounded example counts keep them to seconds.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter import contract
from exporter.events_schema import FIELDS, Event, EventError, parse_event
from exporter.exposition import render_metricset
from exporter.http import ApiError
from exporter.poller import check_values
from exporter.providers.openai import parse_costs_page
from exporter.providers.statuspage import parse_summary, summary_metrics
from exporter.providers.usage_common import Totals
from exporter.samples import MetricSet, repair_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, surrogates included (hypothesis leaves them out of text() by default).
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)
any_number = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalar = st.one_of(st.none(), st.booleans(), any_number, any_text)
json_value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3), max_leaves=8
)
field_value = st.one_of(scalar, st.lists(scalar, max_size=2), st.sampled_from(["call", "session_start", "error"]))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@SETTINGS
@given(
    fields=st.dictionaries(st.sampled_from(sorted(FIELDS)), field_value, max_size=8),
    extra=st.dictionaries(st.one_of(any_text, st.just("\ud83d")), scalar, max_size=1),
)
def test_events_validator_accepts_only_clean_events_and_refuses_everything_else_cleanly(
    fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    obj = {**fields, **extra}
    try:
        ev = parse_event(obj)
    except EventError as err:
        assert err.field in obj or err.field in FIELDS or err.field == ""
        assert _encodes(err.message)  # what the client is told and what is logged is always valid text
        return
    assert isinstance(ev, Event)
    for value in (ev.app, ev.channel, ev.model, ev.code, ev.error_type, ev.user_id or "", ev.session_id or ""):
        assert _encodes(value) and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    for number in (ev.duration_ms, ev.timestamp):
        assert number is None or (math.isfinite(number) and number >= 0)
    assert 0 <= ev.input_tokens <= 10**9 and 0 <= ev.output_tokens <= 10**9


@SETTINGS
@given(
    series=st.lists(
        st.tuples(any_text, any_text, st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=6
    ),
    base=any_text,
)
def test_the_renderer_always_produces_utf8_that_prometheus_parses(
    series: list[tuple[str, str, float]], base: str
) -> None:
    ms = MetricSet()
    for project, model, value in series:
        ms.set(contract.USAGE_REQUESTS, value, project=project, model=model)
    chunks = render_metricset(ms, {"provider": "openai", "source": base})
    text = b"".join(chunks.values()).decode("utf-8")  # never raises
    parsed = list(text_string_to_metric_families("# TYPE llmpulse_usage_requests_total counter\n" + text))
    exported = {(s.labels["project"], s.labels["model"]) for f in parsed for s in f.samples}
    assert exported == {(repair_text(p), repair_text(m)) for p, m, _ in series}
    assert all(s.labels["source"] == repair_text(base) for f in parsed for s in f.samples)


@SETTINGS
@given(data=json_value, components=st.lists(st.fixed_dictionaries({"name": any_text, "status": any_text}), max_size=4))
def test_statuspage_parser_gives_renderable_samples_or_an_api_error(
    data: Any, components: list[dict[str, Any]]
) -> None:
    for answer in (data, {"status": {"indicator": "none"}, "components": components, "incidents": []}):
        try:
            ms = summary_metrics(parse_summary(answer))
        except ApiError as err:
            assert err.reason == "invalid_response"
            continue
        text = b"".join(render_metricset(ms, {"provider": "statuspage", "source": "s"}).values()).decode("utf-8")
        list(text_string_to_metric_families(text))


@SETTINGS
@given(
    results=st.lists(
        st.fixed_dictionaries(
            {"amount": st.fixed_dictionaries({"value": any_number, "currency": st.just("usd")}), "line_item": any_text}
        ),
        max_size=4,
    )
)
def test_openai_cost_parser_never_exports_a_non_finite_or_negative_cost(results: list[dict[str, Any]]) -> None:
    page = {
        "data": [{"start_time": 1_800_000_000, "end_time": 1_800_086_400, "results": results}],
        "has_more": False,
    }
    totals = Totals()
    try:
        parse_costs_page(page, ["project"], totals)
        ms = totals.metricset()
        check_values(ms)
    except ApiError as err:
        assert err.reason == "invalid_response"
        return
    for family, _, value in ms.items():
        assert math.isfinite(value) and (family.type != "counter" or value >= 0)
    b"".join(render_metricset(ms, {"provider": "openai", "source": "o"}).values()).decode("utf-8")


def test_check_values_refuses_sums_past_the_largest_float_and_negative_counters() -> None:
    ms = MetricSet()
    ms.add(contract.COST_USD, 1e308, project="p", line_item="x")
    check_values(ms)  # 1e308 itself is a number a counter can carry
    ms.add(contract.COST_USD, 1e308, project="p", line_item="x")
    for bad in (ms, _one(contract.COST_USD, -0.5), _one(contract.BALANCE, math.nan)):
        try:
            check_values(bad)
        except ApiError as err:
            assert err.reason == "invalid_response"
        else:
            raise AssertionError(f"accepted {list(bad.items())}")
    check_values(_one(contract.BALANCE, -12.5))  # a balance may be negative (arrears); a cost may not


def _one(family: contract.Family, value: float) -> MetricSet:
    ms = MetricSet()
    labels = {name: "x" for name in family.labels if name not in contract.BASE_LABELS}
    ms.set(family, value, **labels)
    return ms


class _TrackerModel:
    """The zero-first rule written plainly, one map per series (how the tracker worked before it kept no per-series
    objects): the oracle for :class:`exporter.zero_first.SeriesTracker`."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.held: set[str] = set()
        self.created: dict[str, float] = {}
        self.base = 0.0

    def update(self, lines: list[tuple[str, str]], adopt: bool, now: float, created: float | None) -> None:
        when = created if (adopt and created is not None) else now
        old = dict(self.lines)
        values = dict(lines)
        if not self.lines:
            self.base, self.created = when, {}
            self.held = set() if adopt else set(values)
        else:
            new = values.keys() - old.keys()
            self.created = {k: c for k, c in self.created.items() if k in values}
            if when != self.base:
                self.created.update(dict.fromkeys(new, when))
            self.held = {k for k in self.held if k in values} | (set() if adopt else new)
            for key in values.keys() & old.keys():
                if float(values[key]) < float(old[key]):
                    self.created[key] = now
        self.lines = lines

    def exposed(self) -> str:
        return "".join(f"{k} {'0' if k in self.held else v}\n" for k, v in self.lines)

    def created_at(self) -> dict[str, float]:
        return {k: self.created.get(k, self.base) for k, _ in self.lines}


_series_names = st.sampled_from(
    [
        'llmpulse_cost_usd_total{project="a"}',
        'llmpulse_cost_usd_total{project="b c"}',
        'llmpulse_cost_usd_total{x="1 2"}',
    ]
)
_updates = st.lists(
    st.tuples(
        st.dictionaries(_series_names, st.sampled_from(["0.0", "1.0", "2.5", "3.0"]), max_size=3),
        st.booleans(),  # adopt
        st.sampled_from([None, 500.0]),  # the creation time an adopter gives
        st.booleans(),  # a scrape reads and releases the held zeros before the next update
    ),
    min_size=1,
    max_size=8,
)


@SETTINGS
@given(updates=_updates)
def test_the_zero_first_tracker_follows_the_plain_rule_through_any_updates(updates: list[Any]) -> None:
    """Same series or not, values up or down, adopted or not: what the tracker exposes (text, and the creation time
    of each series in OpenMetrics) is what the plain per-series rule gives."""
    from exporter.zero_first import SeriesTracker

    tracker, model = SeriesTracker(contract.COST_USD), _TrackerModel()
    for step, (series, adopt, created, release) in enumerate(updates):
        lines = sorted(series.items())
        chunk = "".join(f"{k} {v}\n" for k, v in lines).encode()
        now = 1000.0 + step
        tracker.update(chunk, adopt=adopt, now_wall=now, now_mono=now, created=created)
        model.update(lines, adopt, now, created)
        assert tracker.exposed().decode() == model.exposed()
        om = tracker.exposed_openmetrics().decode().splitlines()
        got = {
            line.rsplit(" ", 1)[0].replace("_created", "_total", 1): float(line.rsplit(" ", 1)[1])
            for line in om
            if "_created" in line
        }
        assert got == model.created_at()
        if release:
            tracker.served = True
            tracker.release_due(now, 60.0)
            model.held = set()
