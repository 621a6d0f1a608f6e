"""Unit tests of the http_json path mapper: path syntax, missing vs empty, value conversion, reductions, labels,
time placeholders. The behaviour against a real answer over HTTP is in test_http_json_exporter.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exporter import json_mapping as jm

DOC: dict[str, Any] = {
    "code": 0,
    "data": {
        "bot_id": "bot-7",
        "metrics": [
            {
                "date": "2026-11-19",
                "total_messages": 10,
                "success_rate": "98.5%",
                "avg_response_time_ms": "850.5",
                "channel": "web",
                "ok": True,
            },
            {
                "date": "2026-11-20",
                "total_messages": 12,
                "success_rate": 0.9,
                "avg_response_time_ms": 900,
                "channel": "api",
                "ok": False,
            },
            {
                "date": "2026-11-21",
                "total_messages": 7,
                "success_rate": None,
                "avg_response_time_ms": 700,
                "channel": "web",
                "ok": True,
            },
        ],
        "models": {"gpt-4o": {"tokens": 100}, "deepseek-chat": {"tokens": 40}},
        "empty": [],
        "weird.key": 5,
    },
}


def m(path: str, select: str = "all", labels: dict[str, str] | None = None, doc: Any = DOC, **kw: Any) -> jm.Mapped:
    compiled = {k: jm.compile_path(v, label=True) for k, v in (labels or {}).items()}
    return jm.map_metric(doc, jm.compile_path(path), compiled, select=select, **kw)


# --- path syntax -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, expected",
    [
        ("code", [0]),
        ("$.code", [0]),
        ("data.metrics[0].total_messages", [10]),
        ("data.metrics[-1].total_messages", [7]),
        ("data.metrics[*].total_messages", [10, 12, 7]),
        ("data.metrics.*.total_messages", [10, 12, 7]),
        ("data.models.*.tokens", [100, 40]),
        ("data['weird.key']", [5]),
        ('data["weird.key"]', [5]),
        ("data.metrics[?channel==web].total_messages", [10, 7]),
        ("data.metrics[?channel!=web].total_messages", [12]),
        ("data.metrics[?(@.channel=='api')].total_messages", [12]),
        ("data.metrics[?ok==true].total_messages", [10, 7]),
        ("data.metrics[?total_messages==12].date", ["2026-11-20"]),
        ("data.metrics[?success_rate==null].date", ["2026-11-21"]),
        ("data.metrics[?nosuchfield==1].date", []),
    ],
)
def test_paths_select_the_values_they_name(path: str, expected: list[Any]) -> None:
    result = jm.evaluate(jm.compile_path(path), DOC)
    assert [x.value for x in result.matches] == expected
    assert result.missing == []


@pytest.mark.parametrize(
    "path", ["", "data..x", "data[", "data[x]", "data[?x]", "data[?x==]", "a b", "data[?(@.a==1)", "data[*", "$"]
)
def test_malformed_paths_are_rejected_with_the_position(path: str) -> None:
    with pytest.raises(jm.PathError) as err:
        jm.compile_path(path)
    assert "path" in str(err.value)


def test_label_paths_read_one_value_and_refuse_wildcards() -> None:
    assert jm.compile_path("@key", label=True).special == "@key"
    assert jm.compile_path("$.data.bot_id", label=True).rooted
    with pytest.raises(jm.PathError):
        jm.compile_path("items[*].name", label=True)


# --- missing versus empty --------------------------------------------------------------------------------------------
def test_an_absent_field_is_missing_but_an_empty_list_is_not() -> None:
    absent = jm.evaluate(jm.compile_path("data.metricz[*].total_messages"), DOC)
    assert absent.matches == [] and absent.missing and "metricz" in absent.missing[0]
    empty = jm.evaluate(jm.compile_path("data.empty[*].total_messages"), DOC)
    assert empty.matches == [] and empty.missing == []


def test_a_field_missing_in_some_items_is_reported_and_the_others_still_count() -> None:
    doc = {"rows": [{"n": 1}, {"x": 2}, {"n": 3}]}
    out = m("rows[*].n", "sum", doc=doc)
    assert out.series == {(): 4.0}
    assert out.matched and len(out.problems) == 1 and "no field 'n'" in out.problems[0]


def test_out_of_range_index_and_wrong_types_are_missing() -> None:
    assert jm.evaluate(jm.compile_path("data.empty[0]"), DOC).missing
    assert jm.evaluate(jm.compile_path("code.x"), DOC).missing
    assert jm.evaluate(jm.compile_path("code[*]"), DOC).missing


# --- value conversion ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, expected",
    [
        (3, 3.0),
        (2.5, 2.5),
        (True, 1.0),
        (False, 0.0),
        ("12.5", 12.5),
        (" 7 ", 7.0),
        ("98.5%", 0.985),
        ("true", 1.0),
        ("FALSE", 0.0),
        ("1e3", 1000.0),
        ("-4", -4.0),
    ],
)
def test_values_become_numbers(raw: Any, expected: float) -> None:
    assert jm.to_number(raw) == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["abc", "", "12 apples", {"a": 1}, [1]])
def test_values_that_are_not_numbers_are_refused(raw: Any) -> None:
    with pytest.raises(ValueError):
        jm.to_number(raw)


def test_null_is_no_value_and_value_map_turns_words_into_numbers() -> None:
    assert jm.to_number(None) is None
    assert jm.to_number("ACTIVE", {"ACTIVE": 1, "DOWN": 0}) == 1.0
    out = m("data.metrics[*].success_rate", "all", {"channel": "channel", "n": "total_messages"})
    assert out.series == {("web", "10"): 0.985, ("api", "12"): 0.9}
    assert any("null" in p for p in out.problems)


# --- reductions and labels -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "select, expected",
    [
        ("first", 10.0),
        ("last", 7.0),
        ("sum", 29.0),
        ("max", 12.0),
        ("min", 7.0),
        ("count", 3.0),
    ],
)
def test_select_reduces_several_matches(select: str, expected: float) -> None:
    assert m("data.metrics[*].total_messages", select).series == {(): expected}


def test_reductions_apply_per_label_group_and_scale_after() -> None:
    out = m("data.metrics[*].avg_response_time_ms", "max", {"channel": "channel"}, scale=0.001)
    assert out.series == {("web",): pytest.approx(0.8505), ("api",): pytest.approx(0.9)}


def test_select_all_with_duplicate_label_sets_drops_the_metric_and_says_why() -> None:
    out = m("data.metrics[*].total_messages", "all", {"channel": "channel"})
    assert out.series == {}
    assert "share the labels" in out.problems[0]


def test_a_date_label_value_drops_the_metric() -> None:
    out = m("data.metrics[*].total_messages", "all", {"when": "date"})
    assert out.series == {} and "date" in out.problems[0]


def test_sum_and_count_of_nothing_are_zero_but_other_reductions_export_nothing() -> None:
    assert m("data.empty[*].n", "sum").series == {(): 0.0}
    assert m("data.metrics[?channel==sms].total_messages", "count").series == {(): 0.0}
    assert m("data.empty[*].n", "last").series == {}
    assert m("data.metricz[*].n", "sum").series == {}  # absent: nothing, and a problem
    assert not m("data.metricz[*].n", "sum").matched


def test_labels_read_from_the_item_the_key_or_the_root() -> None:
    out = m("data.models.*.tokens", "all", {"model": "@key", "bot": "$.data.bot_id"})
    assert out.series == {("gpt-4o", "bot-7"): 100.0, ("deepseek-chat", "bot-7"): 40.0}
    nested = {
        "data": [{"usage": [{"model": None, "n": 1}, {"model": "a", "n": 2}]}, {"usage": [{"model": "a", "n": 5}]}]
    }
    out = m("data[*].usage[*].n", "sum", {"model": "model"}, doc=nested)
    assert out.series == {("",): 1.0, ("a",): 7.0}  # null model -> empty label value, like Langfuse
    missing_label = m("data.metrics[*].total_messages", "sum", {"region": "region"})
    assert missing_label.series == {("",): 29.0} and "region" in missing_label.problems[0]


# --- placeholders ----------------------------------------------------------------------------------------------------
NOW = datetime(2026, 11, 20, 18, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, tz, expected",
    [
        ("${today}", "UTC", "2026-11-20"),
        ("${today}", "Asia/Shanghai", "2026-11-21"),  # 02:30 the next day in UTC+8
        ("${yesterday}", "UTC", "2026-11-19"),
        ("${month_start}", "UTC", "2026-11-01"),
        ("${month_start:iso}", "UTC", "2026-11-01T00:00:00Z"),
        ("${month_start:iso}", "Asia/Shanghai", "2026-11-01T00:00:00+08:00"),
        ("${today-7d}", "UTC", "2026-11-13"),
        ("${now}", "UTC", "2026-11-20T18:30:15Z"),
        ("${now-2h:unix}", "UTC", str(int(NOW.timestamp()) - 7200)),
        ("${today:unix_ms}", "UTC", str(int(datetime(2026, 11, 20, tzinfo=UTC).timestamp()) * 1000)),
        ("from=${today}&to=${now:date}", "UTC", "from=2026-11-20&to=2026-11-20"),
        ("no placeholder", "UTC", "no placeholder"),
    ],
)
def test_placeholders_expand_in_the_source_time_zone(text: str, tz: str, expected: str) -> None:
    assert jm.expand(text, jm.now_in(tz, NOW)) == expected


def test_unknown_placeholders_are_rejected_and_bodies_are_expanded_deeply() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        jm.check_placeholders({"a": ["${tomorrow}"]})
    body = {"range": {"from": "${month_start}", "days": 3}, "ids": ["${today}"]}
    assert jm.expand_all(body, NOW) == {"range": {"from": "2026-11-01", "days": 3}, "ids": ["2026-11-20"]}
    filtered = jm.compile_path(jm.expand("data.metrics[?date==${today}].total_messages", NOW))
    assert [x.value for x in jm.evaluate(filtered, DOC).matches] == [12]
