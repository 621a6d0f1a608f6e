"""Unit tests of the /events route's pure parts (event schema, timestamps, body checks, token) and of the ingest's
bookkeeping run in-process with a controlled clock (label folding, sessions, pricing, sliding user windows).

The behaviour over real HTTP against the real exporter process is in test_events_ingest.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter import contract
from exporter.config import ConfigError, EventsConfig, parse_config
from exporter.httpserver import Request
from exporter.ingest import (
    EventIngest,
    Refused,
    bearer_token,
    decode_body,
    parse_event,
    parse_timestamp,
    validate_batch,
)
from exporter.samples import LiveMetrics

TOKEN = "unit-test-token-0123456789"


@pytest.fixture(autouse=True)
def _token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_TEST_EVENTS_TOKEN", TOKEN)


def _config(**events: Any) -> EventsConfig:
    cfg = parse_config({"events": {"name": "unit", "token_env": "LLMPULSE_TEST_EVENTS_TOKEN", **events}})
    assert cfg.events is not None
    return cfg.events


def _request(
    body: Any,
    *,
    token: str | None = TOKEN,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Content-Type": content_type, **(headers or {})}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    return Request("POST", "/events", {}, hdrs, raw)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ingest(clock: Clock | None = None, pricing: Any = None, **events: Any) -> tuple[EventIngest, LiveMetrics]:
    live = LiveMetrics()
    ingest = EventIngest(_config(**events), live, pricing=pricing, clock=clock or Clock(), refresh_interval=None)
    return ingest, live


def _series(live: LiveMetrics, family: contract.Family) -> dict[tuple[tuple[str, str], ...], float]:
    """Series of a family without provider/source (counters, gauges) or the observation count (histograms)."""
    _, values, hists = live.snapshot()
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for key, value in values.get(family, []):
        out[tuple(kv for kv in key if kv[0] not in ("provider", "source"))] = value
    for key, hist in hists.get(family, []):
        out[tuple(kv for kv in key if kv[0] not in ("provider", "source"))] = hist.count
    return out


def _value(live: LiveMetrics, family: contract.Family, **labels: str) -> float | None:
    return _series(live, family).get(tuple(labels.items()))


# --- event schema ---------------------------------------------------------------------------------------------------
def test_minimal_event_is_a_successful_call_with_unknown_channel_and_model() -> None:
    ev = parse_event({"app": "bot-1"})
    assert (ev.kind, ev.app, ev.channel, ev.model, ev.status) == ("call", "bot-1", "unknown", "unknown", "success")
    assert ev.duration_ms is None and ev.timestamp is None and ev.user_id is None
    assert (ev.input_tokens, ev.output_tokens) == (0, 0)


def test_numeric_ids_are_accepted_as_strings() -> None:
    ev = parse_event(
        {
            "app": 7493066380997000000,
            "user_id": 42,
            "code": 4013,
            "status": "error",
            "session_id": 9,
            "event": "session_end",
        }
    )
    assert (ev.app, ev.user_id, ev.code, ev.session_id) == ("7493066380997000000", "42", "4013", "9")


@pytest.mark.parametrize(
    ("event", "field", "fragment"),
    [
        ({}, "app", "app is required"),
        ({"app": ""}, "app", "must not be empty"),
        ({"app": 1.5}, "app", "must be a string or an integer, got number"),
        ({"app": "a", "model": 3}, "model", "must be a string, got integer"),
        ({"app": "a", "event": "login"}, "event", "unknown event kind 'login'"),
        ({"app": "a", "status": "ok"}, "status", "status must be 'success' or 'error'"),
        ({"app": "a", "duration_ms": "12"}, "duration_ms", "must be a number, got string"),
        ({"app": "a", "duration_ms": True}, "duration_ms", "got boolean"),
        ({"app": "a", "duration_ms": -1}, "duration_ms", ">= 0"),
        ({"app": "a", "duration_ms": 1e12}, "duration_ms", "must not exceed"),
        ({"app": "a", "input_tokens": 1.5}, "input_tokens", "whole number"),
        ({"app": "a", "output_tokens": [1]}, "output_tokens", "got list"),
        ({"app": "a", "event": "session_start"}, "session_id", "session_id is required"),
        ({"app": "a", "event": "session_end", "session_id": ""}, "session_id", "must not be empty"),
        ({"app": "a", "timestamp": "2025-05-01T10:00:00"}, "timestamp", "time zone"),
        ({"app": "a", "timestamp": "yesterday"}, "timestamp", "RFC 3339"),
        ({"app": "a", "timestamp": "2025-02-30T10:00:00Z"}, "timestamp", "not a valid date"),
        ({"app": "a", "timestamp": 1.7e12}, "timestamp", "milliseconds"),
        ({"app": "a", "timestamp": -5}, "timestamp", ">= 0"),
        ({"app": "a", "timestamp": {"s": 1}}, "timestamp", "got object"),
        ({"app": "a", "colour": "red"}, "colour", "unknown field 'colour'"),
        ({"app": "a" * 129}, "app", "longer than 128"),
        ({"app": "a", "user_id": "x" * 257}, "user_id", "longer than 256"),
        ({"app": "line\nbreak"}, "app", "control characters"),
    ],
)
def test_invalid_events_name_the_field_and_the_reason(event: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(Refused) as info:
        validate_batch([{"app": "fine"}, event])
    refused = info.value
    assert (refused.status, refused.reason, refused.index, refused.field) == (400, "invalid_event", 1, field)
    assert fragment in refused.message and refused.message.startswith("events[1]: ")


def test_an_event_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(Refused) as info:
        validate_batch([{"app": "a"}, {"app": "b"}, ["app", "c"]])
    assert info.value.index == 2 and "JSON object, got list" in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-01T08:30:00Z", datetime(2025, 5, 1, 8, 30, tzinfo=UTC)),
        ("2025-05-01T16:30:00+08:00", datetime(2025, 5, 1, 8, 30, tzinfo=UTC)),
        ("2025-05-01t08:30:00.250z", datetime(2025, 5, 1, 8, 30, 0, 250_000, tzinfo=UTC)),
        ("2025-05-01 08:30:00.123456789-02:00", datetime(2025, 5, 1, 10, 30, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == pytest.approx(expected.timestamp())


def test_unix_second_timestamps() -> None:
    assert parse_timestamp(1_746_088_200) == 1_746_088_200.0
    assert parse_timestamp(1_746_088_200.5) == 1_746_088_200.5


# --- body checks ----------------------------------------------------------------------------------------------------
def _decode(req: Request, max_body: int = 10_000, max_events: int = 3) -> list[Any]:
    return decode_body(req, max_body, max_events)


def test_one_object_or_a_list_is_accepted() -> None:
    assert _decode(_request({"app": "a"})) == [{"app": "a"}]
    assert _decode(_request([{"app": "a"}, {"app": "b"}])) == [{"app": "a"}, {"app": "b"}]
    assert _decode(_request([{"app": "a"}], content_type="Application/JSON; charset=utf-8")) == [{"app": "a"}]
    assert _decode(_request(b'\xef\xbb\xbf{"app": "bom"}')) == [{"app": "bom"}]
    assert _decode(_request([])) == []


@pytest.mark.parametrize(
    ("req", "status", "reason", "fragment"),
    [
        (
            _request({"app": "a"}, content_type="text/plain"),
            400,
            "invalid_json",
            "Content-Type must be application/json",
        ),
        (_request({"app": "a"}, content_type=""), 400, "invalid_json", "got 'none'"),
        (_request({"app": "a"}, headers={"Content-Encoding": "gzip"}), 400, "invalid_json", "not supported"),
        (_request(b""), 400, "invalid_json", "empty body"),
        (_request(b'{"app": '), 400, "invalid_json", "not valid JSON"),
        (_request(b'{"duration_ms": NaN, "app": "a"}'), 400, "invalid_json", "NaN is not valid JSON"),
        (_request(b'{"app": "a", "app": "b"}'), 400, "invalid_json", "duplicate key 'app'"),
        (_request(b"\xff\xfe{}"), 400, "invalid_json", "not UTF-8"),
        (_request(b"42"), 400, "invalid_json", "got integer"),
        (_request(b"[" * 50_000 + b"]" * 50_000), 400, "invalid_json", "not valid JSON"),  # too deep
        (_request([{"app": "a"}] * 4), 413, "too_many_events", "4 events in one post; the limit is 3"),
        (_request({"app": "x" * 20_000}), 413, "too_large", "larger than 10000 bytes"),
    ],
)
def test_bad_bodies_are_refused_with_status_and_reason(req: Request, status: int, reason: str, fragment: str) -> None:
    with pytest.raises(Refused) as info:
        _decode(req, max_body=10_000 if reason == "too_large" else 1_000_000)
    assert (info.value.status, info.value.reason) == (status, reason)
    assert fragment in info.value.message


def test_bearer_token_parsing() -> None:
    def header(value: str) -> Request:
        return Request("POST", "/events", {}, {"authorization": value}, b"")

    assert bearer_token(header("Bearer abc")) == "abc"
    assert bearer_token(header("bearer   abc ")) == "abc"
    assert bearer_token(header("Basic abc")) == ""
    assert bearer_token(Request("POST", "/events", {}, {}, b"")) == ""


def test_events_config_requires_a_token_and_checks_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="token_env"):
        parse_config({"events": {}})
    with pytest.raises(ConfigError, match=r"events\.token_env: the environment variable it names is not set") as err:
        parse_config({"events": {"token_env": "NOPE_TOKEN"}})
    assert "NOPE_TOKEN" not in str(err.value)  # a *_env value may be a pasted credential: never echoed
    with pytest.raises(ConfigError, match="max_body_bytes"):
        _config(max_body_bytes=10)
    assert _config(session_ttl="2h").session_ttl == 7200.0
    assert TOKEN not in repr(_config())


# --- the handler in-process ------------------------------------------------------------------------------------------
def test_wrong_or_missing_token_is_401_and_counted() -> None:
    ingest, live = _ingest()
    for req in (
        _request({"app": "a"}, token=None),
        _request({"app": "a"}, token="wrong"),
        _request({"app": "a"}, token=TOKEN + "x"),
        _request({"app": "a"}, token=TOKEN[:-1]),
        _request({"app": "a"}, token=None, headers={"Authorization": f"Basic {TOKEN}"}),
    ):
        resp = ingest.handle(req)
        assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in bytes(resp.body).decode()  # type: ignore[arg-type]
    assert _value(live, contract.EVENTS_REJECTED, reason="unauthorized") == 5
    assert _value(live, contract.EVENTS_RECEIVED, event="call") == 0


def test_a_bad_event_anywhere_in_the_batch_changes_nothing_but_the_rejected_counter() -> None:
    ingest, live = _ingest()
    good = [{"app": "a", "user_id": f"u{i}", "duration_ms": 100, "event": "call"} for i in range(5)]
    _, before, before_h = live.snapshot()
    resp = ingest.handle(_request([*good[:2], {"app": "a", "duration_ms": "slow"}, *good[2:]]))
    assert resp.status == 400
    body = json.loads(resp.body)  # type: ignore[arg-type]
    assert body == {
        "error": "invalid_event",
        "index": 2,
        "field": "duration_ms",
        "message": "events[2]: duration_ms must be a number, got string",
    }
    _, after, after_h = live.snapshot()
    rejected = contract.EVENTS_REJECTED
    assert {f: v for f, v in after.items() if f is not rejected} == {
        f: v for f, v in before.items() if f is not rejected
    }
    assert after_h == before_h
    assert _value(live, rejected, reason="invalid_event") == 1
    assert ingest.stats()["user_pairs"] == 0


def test_labels_beyond_max_label_values_fold_into_other() -> None:
    ingest, live = _ingest(max_label_values=2)
    events = [
        {
            "app": f"app{i}",
            "channel": f"ch{i}",
            "model": f"m{i}",
            "status": "error",
            "code": 500 + i,
            "error_type": f"t{i}",
            "user_id": f"u{i}",
        }
        for i in range(4)
    ]
    assert ingest.handle(_request(events)).status == 200
    calls = _series(live, contract.EVENTS_CALLS)
    assert calls == {
        (("app", "app0"), ("channel", "ch0"), ("outcome", "error")): 1,
        (("app", "app1"), ("channel", "ch1"), ("outcome", "error")): 1,
        (("app", "other"), ("channel", "other"), ("outcome", "error")): 2,
    }
    codes = _series(live, contract.ERROR_CODES)
    assert codes[(("model", "other"), ("code", "other"), ("error_type", "other"))] == 2
    # distinct-user sketches are kept for at most max_label_values (app, channel) pairs as well
    users = _series(live, contract.EVENTS_DISTINCT_USERS)
    assert {(k[0][1], k[1][1]) for k in users} == {("app0", "ch0"), ("app1", "ch1"), ("other", "other")}
    assert users[(("app", "other"), ("channel", "other"), ("window", "1h"))] == 2
    assert ingest.stats()["folded_app"] == 2


def test_session_length_from_start_and_end_timestamps_or_from_duration_ms() -> None:
    clock = Clock()
    ingest, live = _ingest(clock)
    t = clock.now
    batch = [
        {"event": "session_start", "app": "a", "channel": "web", "session_id": "s1", "timestamp": t - 600},
        {"event": "session_start", "app": "a", "channel": "web", "session_id": "s2", "timestamp": t - 600},
        {"event": "session_end", "app": "a", "channel": "web", "session_id": "s1", "timestamp": t - 150},
        # duration_ms on session_end wins over the start time
        {
            "event": "session_end",
            "app": "a",
            "channel": "web",
            "session_id": "s2",
            "duration_ms": 42_000,
            "timestamp": t,
        },
        # no start seen (e.g. before a restart) and no duration_ms: counted as received, no length
        {"event": "session_end", "app": "a", "channel": "web", "session_id": "never-started"},
        # a start in another app with the same session id is another session
        {"event": "session_start", "app": "b", "session_id": "s1", "timestamp": t - 100},
        {"event": "session_end", "app": "b", "session_id": "s1", "timestamp": t - 130},  # ends before it began
    ]
    assert ingest.handle(_request(batch)).status == 200
    _, _, hists = live.snapshot()
    ((key, hist),) = [(k, h) for k, h in hists[contract.EVENTS_SESSION_DURATION] if h.count]
    assert ("app", "a") in key and ("channel", "web") in key
    # b's session started (so its series exists at zero) but ended before it began: no length recorded
    (b_hist,) = [h for k, h in hists[contract.EVENTS_SESSION_DURATION] if ("app", "b") in k]
    assert b_hist.count == 0
    assert hist.count == 2 and hist.total == pytest.approx(450 + 42)
    assert _value(live, contract.EVENTS_SESSIONS, app="a", channel="web") == 2
    assert _value(live, contract.EVENTS_SESSIONS, app="b", channel="unknown") == 1
    assert _value(live, contract.EVENTS_RECEIVED, event="session_end") == 4
    assert ingest.stats()["open_sessions"] == 0


def test_session_end_uses_the_labels_of_its_start() -> None:
    ingest, live = _ingest()
    ingest.handle(
        _request(
            [
                {"event": "session_start", "app": "a", "channel": "feishu", "session_id": "s"},
                {"event": "session_end", "app": "a", "session_id": "s", "duration_ms": 5000},
            ]
        )
    )
    assert _value(live, contract.EVENTS_SESSION_DURATION, app="a", channel="feishu") == 1
    assert _value(live, contract.EVENTS_SESSION_DURATION, app="a", channel="unknown") is None


def test_open_sessions_are_bounded_and_expire() -> None:
    clock = Clock()
    ingest, live = _ingest(clock, max_open_sessions=2, session_ttl="1h")
    starts = [{"event": "session_start", "app": "a", "session_id": f"s{i}"} for i in range(3)]
    ingest.handle(_request(starts))
    stats = ingest.stats()
    assert (stats["open_sessions"], stats["sessions_dropped"]) == (2, 1)
    ingest.handle(_request({"event": "session_end", "app": "a", "session_id": "s0"}))  # dropped: no length
    assert _value(live, contract.EVENTS_SESSION_DURATION, app="a", channel="unknown") == 0  # created at start
    clock.now += 3601
    ingest.tick()
    assert ingest.stats()["open_sessions"] == 0
    ingest.handle(_request({"event": "session_end", "app": "a", "session_id": "s1"}))  # expired: no length
    assert _value(live, contract.EVENTS_SESSION_DURATION, app="a", channel="unknown") == 0


class FakePricing:
    """USD 1 per 1000 input tokens and 2 per 1000 output tokens for 'priced', nothing for other models."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, int]]] = []

    def estimate(self, model: str, tokens: dict[str, int]) -> float | None:
        self.calls.append((model, dict(tokens)))
        if model == "broken":
            raise RuntimeError("price table bug")
        return tokens["input"] / 1000 + 2 * tokens["output"] / 1000 if model == "priced" else None


def test_tokens_are_priced_per_event_or_counted_as_unpriced() -> None:
    pricing = FakePricing()
    ingest, live = _ingest(pricing=pricing)
    batch = [
        {"app": "bot", "model": "priced", "input_tokens": 1000, "output_tokens": 500},
        {"app": "bot", "model": "priced", "input_tokens": 2000},
        {"app": "bot", "model": "mystery", "input_tokens": 300, "output_tokens": 7},
        {"app": "bot", "model": "broken", "input_tokens": 11},
        {"app": "bot", "model": "priced"},  # no tokens: not priced at all
    ]
    assert ingest.handle(_request(batch)).status == 200
    assert _value(live, contract.COST_ESTIMATED_USD, project="bot", model="priced") == pytest.approx(2.0 + 2.0)
    assert _value(live, contract.UNPRICED_TOKENS, model="mystery", token_type="input") == 300
    assert _value(live, contract.UNPRICED_TOKENS, model="mystery", token_type="output") == 7
    assert _value(live, contract.UNPRICED_TOKENS, model="broken", token_type="input") == 11
    assert _value(live, contract.EVENTS_TOKENS, model="priced", token_type="input") == 3000
    assert len(pricing.calls) == 4


def test_without_a_price_table_all_tokens_are_unpriced() -> None:
    ingest, live = _ingest(pricing=None)
    ingest.handle(_request({"app": "bot", "model": "gpt-4o", "input_tokens": 5, "output_tokens": 6}))
    assert _value(live, contract.UNPRICED_TOKENS, model="gpt-4o", token_type="output") == 6
    assert contract.COST_ESTIMATED_USD not in live.snapshot()[1]


def test_distinct_user_windows_slide_with_the_timer_tick() -> None:
    clock = Clock(1_800_000_000.0)
    ingest, live = _ingest(clock)
    ingest.handle(_request([{"app": "a", "channel": "web", "user_id": f"u{i}"} for i in range(30)]))
    ingest.handle(_request([{"app": "a", "channel": "web", "user_id": f"u{i}"} for i in range(20, 40)]))

    def users(window: str) -> float | None:
        return _value(live, contract.EVENTS_DISTINCT_USERS, app="a", channel="web", window=window)

    assert users("1h") == 40 and users("1d") == 40
    clock.now += 3600
    ingest.tick()
    assert users("1h") == 0 and users("1d") == 40
    clock.now += 86400
    ingest.tick()
    assert users("1d") == 0
    assert ingest.stats()["sketch_bytes"] == 0


def test_late_and_future_timestamps() -> None:
    clock = Clock(1_800_000_000.0)
    ingest, live = _ingest(clock)
    now = clock.now
    batch = [
        {"app": "a", "user_id": "two-hours-late", "timestamp": now - 7200, "duration_ms": 1000},
        {"app": "a", "user_id": "two-days-late", "timestamp": now - 2 * 86400, "duration_ms": 1000},
        {"app": "a", "user_id": "from-the-future", "timestamp": now + 86400, "duration_ms": 1000},
    ]
    ingest.handle(_request(batch))
    # counters and histograms count every accepted event when it arrives (Prometheus cannot backdate)
    assert _value(live, contract.API_CALL_DURATION, model="unknown") == 3
    assert _value(live, contract.EVENTS_CALLS, app="a", channel="unknown", outcome="success") == 3
    # distinct users: by event time; too old for both windows is not counted, the future counts as now
    assert _value(live, contract.EVENTS_DISTINCT_USERS, app="a", channel="unknown", window="1h") == 1
    assert _value(live, contract.EVENTS_DISTINCT_USERS, app="a", channel="unknown", window="1d") == 2


def test_user_and_session_ids_never_become_labels() -> None:
    ingest, live = _ingest()
    ingest.handle(
        _request(
            [
                {"event": "session_start", "app": "a", "session_id": "secret-session", "user_id": "alice@example.com"},
                {"app": "a", "user_id": "alice@example.com", "session_id": "secret-session"},
            ]
        )
    )
    _, values, hists = live.snapshot()
    rendered = repr(values) + repr(hists)
    assert "alice" not in rendered and "secret-session" not in rendered


def test_call_metrics_match_the_batch() -> None:
    ingest, live = _ingest(labels={"team": "bots"})
    batch = [
        {"app": "a", "model": "m1", "duration_ms": 250, "input_tokens": 10, "output_tokens": 3},
        {"app": "a", "model": "m1", "duration_ms": 1750, "status": "error", "code": 429, "error_type": "rate_limit"},
        {"app": "a", "model": "m1", "status": "error", "code": "4013"},
        {"app": "a", "model": "m1", "status": "error"},
    ]
    ingest.handle(_request(batch))
    hists = live.snapshot()[2]
    ((key, hist),) = hists[contract.API_CALL_DURATION]
    assert dict(key) == {"provider": "events", "source": "unit", "model": "m1", "team": "bots"}
    assert hist.count == 2 and hist.total == pytest.approx(2.0)
    assert _value(live, contract.API_CALLS, model="m1", outcome="error", team="bots") == 3
    assert _value(live, contract.ERROR_CODES, model="m1", code="429", error_type="rate_limit", team="bots") == 1
    assert _value(live, contract.ERROR_CODES, model="m1", code="4013", error_type="", team="bots") == 1
    assert _value(live, contract.ERROR_CODES, model="m1", code="unknown", error_type="", team="bots") == 1
