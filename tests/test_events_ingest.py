"""POST /events against the REAL exporter process over loopback: accepted batches show up in /metrics exactly
(distinct users within the sketch's documented error), refused posts (400/401/413) say why, are counted by reason
and change nothing else, and the token never leaks."""

from __future__ import annotations

import http.client
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import ExporterProcess, Metrics, exporter

from exporter import contract
from exporter.config import parse_config
from exporter.hll import standard_error

TOKEN = "it-events-token-5f1c9a7e"
TOKEN_ENV = "LLMPULSE_IT_EVENTS_TOKEN"
MAX_EVENTS = 500
MAX_BODY = 262_144
CONFIG: dict[str, Any] = {
    "events": {
        "name": "app-events",
        "provider": "coze",
        "token_env": TOKEN_ENV,
        "max_events": MAX_EVENTS,
        "max_body_bytes": MAX_BODY,
        "labels": {"team": "bots"},
    },
}
BASE = {"provider": "coze", "source": "app-events", "team": "bots"}
SIGMA = standard_error()


@pytest.fixture(scope="module")
def exp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExporterProcess]:
    with exporter(CONFIG, tmp_path_factory.mktemp("events"), env={TOKEN_ENV: TOKEN}) as proc:
        yield proc


def post(
    exp: ExporterProcess,
    body: Any,
    *,
    token: str | None = TOKEN,
    content_type: str = "application/json",
    raw: bytes | None = None,
    url_suffix: str = "",
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(f"{exp.url}/events{url_suffix}", data=data, headers=headers, timeout=10)


def post_all(exp: ExporterProcess, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), MAX_EVENTS):
        resp = post(exp, events[start : start + MAX_EVENTS])
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"accepted": len(events[start : start + MAX_EVENTS])}


def llmpulse_samples(m: Metrics, *, skip: tuple[str, ...] = ()) -> list[tuple[str, dict[str, str], float]]:
    """Every llmpulse_* sample except the families in ``skip`` (process metrics change on their own)."""
    return sorted(
        ((n, lab, v) for n, lab, v in m.samples if n.startswith("llmpulse_") and n not in skip),
        key=lambda s: (s[0], sorted(s[1].items())),
    )


def rejected(m: Metrics) -> dict[str, float]:
    return {lab["reason"]: v for lab, v in m.find(contract.EVENTS_REJECTED.name, **BASE)}


# --- an accepted batch -------------------------------------------------------------------------------------------
def _batch(rng: random.Random, now: float) -> list[dict[str, Any]]:
    """A realistic mixed batch with its own app names so it does not overlap other tests."""
    events: list[dict[str, Any]] = []
    pairs = [("it-support", "web"), ("it-support", "feishu"), ("it-sales", "dingtalk"), ("it-wf", "api")]
    models = ["it-model-a", "it-model-b"]
    for i in range(40):  # sessions with start and end timestamps (length from the start) ...
        app, channel = rng.choice(pairs)
        started = now - rng.uniform(100, 3000)
        events.append(
            {
                "event": "session_start",
                "app": app,
                "channel": channel,
                "session_id": f"s{i}",
                "user_id": f"user-{rng.randrange(150)}",
                "timestamp": started,
            }
        )
        end: dict[str, Any] = {
            "event": "session_end",
            "app": app,
            "channel": channel,
            "session_id": f"s{i}",
            "timestamp": datetime.fromtimestamp(started + rng.uniform(5, 90), UTC).isoformat(),
        }
        if i % 4 == 0:  # ... or from duration_ms, which wins
            end["duration_ms"] = rng.randrange(1000, 600_000)
        events.append(end)
    for _ in range(700):
        app, channel = rng.choice(pairs)
        event: dict[str, Any] = {
            "app": app,
            "channel": channel,
            "model": rng.choice(models),
            "user_id": f"user-{rng.randrange(150)}",
            "timestamp": now - rng.uniform(0, 600),
            "duration_ms": round(rng.lognormvariate(0, 0.8) * 1000, 1),
            "input_tokens": rng.randrange(0, 2000),
            "output_tokens": rng.randrange(0, 500),
        }
        if rng.random() < 0.2:
            code, error_type = rng.choice([(429, "rate_limit"), ("4013", "rate_limit"), (502, ""), (500, "x")])
            event.update(status="error", code=code)
            if error_type:
                event["error_type"] = error_type
        events.append(event)
    for i in range(2500):  # one busy pair: distinct users far into the sketch's dense range
        events.append(
            {"app": "it-busy", "channel": "web", "model": "it-model-a", "user_id": f"busy-{i}", "duration_ms": 800}
        )
    rng.shuffle(events)
    # a session's end must follow its start in the stream; put all starts first
    return sorted(events, key=lambda e: e.get("event") != "session_start")


def test_a_started_session_creates_its_length_series_at_zero(exp: ExporterProcess) -> None:
    """So that increase()/rate() count the first session that ends instead of taking it for the series' birth."""
    labels = {**BASE, "app": "it-zero", "channel": "web"}
    post_all(exp, [{"event": "session_start", "app": "it-zero", "channel": "web", "session_id": "z1"}])
    m = exp.metrics()
    assert m.value("llmpulse_events_session_duration_seconds_count", **labels) == 0
    assert m.value("llmpulse_events_session_duration_seconds_bucket", **labels, le="+Inf") == 0
    post_all(
        exp, [{"event": "session_end", "app": "it-zero", "channel": "web", "session_id": "z1", "duration_ms": 42_000}]
    )
    m = exp.metrics()
    assert m.value("llmpulse_events_session_duration_seconds_count", **labels) == 1
    assert m.value("llmpulse_events_session_duration_seconds_sum", **labels) == 42.0


def test_posted_batch_matches_metrics(exp: ExporterProcess) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC).timestamp()
    events = _batch(rng, now)
    before = exp.metrics()
    post_all(exp, events)
    m = exp.metrics()

    calls = [e for e in events if e.get("event", "call") == "call"]
    # llmpulse_api_call_duration_seconds per model: count, sum and every bucket
    for model in {e["model"] for e in calls}:
        durations = [e["duration_ms"] / 1000 for e in calls if e["model"] == model]
        name = contract.API_CALL_DURATION.name
        assert m.value(f"{name}_count", model=model, **BASE) == len(durations)
        assert m.value(f"{name}_sum", model=model, **BASE) == pytest.approx(sum(durations))
        for lab, value in m.find(f"{name}_bucket", model=model, **BASE):
            le = float(lab["le"])
            assert value == sum(1 for d in durations if d <= le), f"{model} le={lab['le']}"
        assert len(m.find(f"{name}_bucket", model=model, **BASE)) == len(contract.API_CALL_DURATION.buckets) + 1
    # errors by code and error_type; calls by outcome per model and per app/channel
    errors = Counter((e["model"], str(e["code"]), e.get("error_type", "")) for e in calls if e.get("status"))
    assert errors
    for (model, code, error_type), n in errors.items():
        assert m.value(contract.ERROR_CODES.name, model=model, code=code, error_type=error_type, **BASE) == n
    assert len(m.find(contract.ERROR_CODES.name, **BASE)) == len(errors)
    outcomes = Counter((e["model"], e.get("status", "success")) for e in calls)
    for (model, outcome), n in outcomes.items():
        assert m.value(contract.API_CALLS.name, model=model, outcome=outcome, **BASE) == n
    by_app = Counter((e["app"], e["channel"], e.get("status", "success")) for e in calls)
    for (app, channel, outcome), n in by_app.items():
        assert m.value(contract.EVENTS_CALLS.name, app=app, channel=channel, outcome=outcome, **BASE) == n
    # tokens
    for model in {e["model"] for e in calls}:
        for token_type in ("input", "output"):
            want = sum(e.get(f"{token_type}_tokens", 0) for e in calls if e["model"] == model)
            assert m.total(contract.EVENTS_TOKENS.name, model=model, token_type=token_type, **BASE) == want
    # sessions started and session length
    starts = [e for e in events if e.get("event") == "session_start"]
    for (app, channel), n in Counter((e["app"], e["channel"]) for e in starts).items():
        assert m.value(contract.EVENTS_SESSIONS.name, app=app, channel=channel, **BASE) == n
    start_at = {e["session_id"]: e["timestamp"] for e in starts}
    lengths: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in events:
        if e.get("event") == "session_end":
            ended = datetime.fromisoformat(e["timestamp"]).timestamp()
            seconds = e["duration_ms"] / 1000 if "duration_ms" in e else ended - start_at[e["session_id"]]
            lengths[(e["app"], e["channel"])].append(seconds)
    name = contract.EVENTS_SESSION_DURATION.name
    for (app, channel), values in lengths.items():
        assert m.value(f"{name}_count", app=app, channel=channel, **BASE) == len(values)
        assert m.value(f"{name}_sum", app=app, channel=channel, **BASE) == pytest.approx(sum(values), rel=1e-6)
    # distinct users per app/channel and window, within the sketch's documented error (3 sigma, or 1 user)
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in events:
        if "user_id" in e:
            users[(e["app"], e["channel"])].add(e["user_id"])
    assert max(len(u) for u in users.values()) == 2500
    for (app, channel), ids in users.items():
        for window in ("1h", "1d"):
            got = m.value(contract.EVENTS_DISTINCT_USERS.name, app=app, channel=channel, window=window, **BASE)
            assert abs(got - len(ids)) <= max(1.0, 3 * SIGMA * len(ids)), f"{app}/{channel}/{window}: {got}"
    # the all-apps sketch counts a user of several apps or channels once, unlike the sum of per-app estimates
    everyone = set().union(*users.values())
    per_app_sum = sum(len(ids) for ids in users.values())
    assert per_app_sum > len(everyone) * 1.05  # the fixture has users on several apps and channels
    for window in ("1h", "1d"):
        got = m.value(contract.EVENTS_DISTINCT_USERS_ALL.name, window=window, **BASE)
        assert abs(got - len(everyone)) <= max(1.0, 3 * SIGMA * len(everyone)), f"all apps/{window}: {got}"
    # received by kind; nothing refused
    kinds = Counter(e.get("event", "call") for e in events)
    for kind, n in kinds.items():
        delta = m.value(contract.EVENTS_RECEIVED.name, event=kind, **BASE) - before.value(
            contract.EVENTS_RECEIVED.name, event=kind, **BASE
        )
        assert delta == n
    assert rejected(m) == rejected(before)
    # user and session ids are never labels
    assert "user-1" not in m.text and "busy-" not in m.text and 's0"' not in m.text


def test_cost_estimate_or_unpriced_tokens_per_model(exp: ExporterProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens of a model the price table knows add estimated USD under project=app; others are unpriced."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    try:
        from exporter.pricing import build_enricher
    except ImportError:
        build_enricher = None  # type: ignore[assignment]
    pricing = build_enricher(parse_config(CONFIG, base_dir=Path.cwd())) if build_enricher else None
    events = [
        {"app": "it-cost", "model": "gpt-4o-mini", "input_tokens": 120_000, "output_tokens": 30_000},
        {"app": "it-cost", "model": "gpt-4o-mini", "input_tokens": 80_000},
        {"app": "it-cost", "model": "it-no-such-model-xyz", "input_tokens": 700, "output_tokens": 11},
    ]
    post_all(exp, events)
    m = exp.metrics()
    expected_usd: dict[str, float] = defaultdict(float)
    unpriced: dict[tuple[str, str], int] = defaultdict(int)
    for e in events:
        tokens = {"input": e.get("input_tokens", 0), "output": e.get("output_tokens", 0)}
        usd = pricing.estimate(e["model"], tokens) if pricing is not None else None
        if usd is None:
            for token_type, n in tokens.items():
                if n:
                    unpriced[(e["model"], token_type)] += n
        else:
            expected_usd[e["model"]] += usd
    assert unpriced[("it-no-such-model-xyz", "input")] == 700
    for (model, token_type), n in unpriced.items():
        assert m.value(contract.UNPRICED_TOKENS.name, model=model, token_type=token_type, **BASE) == n
    for model, usd in expected_usd.items():
        got = m.value(contract.COST_ESTIMATED_USD.name, project="it-cost", model=model, **BASE)
        assert got == pytest.approx(usd)
    assert not m.find(contract.COST_ESTIMATED_USD.name, model="it-no-such-model-xyz")


# --- refused posts -------------------------------------------------------------------------------------------------
MALFORMED: list[tuple[str, dict[str, Any], int, str, int | None, str]] = [
    # (name, post kwargs, status, reason, index, fragment of the message)
    (
        "bad field type",
        {"body": [{"app": "it-bad", "duration_ms": "fast"}]},
        400,
        "invalid_event",
        0,
        "duration_ms must be a number, got string",
    ),
    (
        "unknown event kind",
        {"body": {"app": "it-bad", "event": "login"}},
        400,
        "invalid_event",
        0,
        "unknown event kind 'login'",
    ),
    (
        "bad timestamp",
        {"body": [{"app": "it-bad", "timestamp": "2025-13-01T00:00:00Z"}]},
        400,
        "invalid_event",
        0,
        "timestamp is not a valid date/time",
    ),
    (
        "bad event in the middle",
        {
            "body": [{"app": "it-bad", "user_id": f"u{i}", "duration_ms": 5} for i in range(3)]
            + [{"app": "it-bad", "status": "failed"}]
            + [{"app": "it-bad", "user_id": f"v{i}", "event": "session_start", "session_id": f"x{i}"} for i in range(3)]
        },
        400,
        "invalid_event",
        3,
        "status must be 'success' or 'error'",
    ),
    ("not JSON", {"body": None, "raw": b"{app: it-bad}"}, 400, "invalid_json", None, "not valid JSON"),
    (
        "wrong content type",
        {"body": {"app": "it-bad"}, "content_type": "application/x-www-form-urlencoded"},
        400,
        "invalid_json",
        None,
        "Content-Type must be application/json",
    ),
    ("a scalar", {"body": "hello"}, 400, "invalid_json", None, "got string"),
    (
        "too many events",
        {"body": [{"app": "it-bad"}] * (MAX_EVENTS + 1)},
        413,
        "too_many_events",
        None,
        f"the limit is {MAX_EVENTS}",
    ),
    (
        "too large",
        {"body": [{"app": "it-bad", "model": "m" * 100}] * (MAX_BODY // 100)},
        413,
        "too_large",
        None,
        f"larger than {MAX_BODY} bytes",
    ),
    ("no token", {"body": {"app": "it-bad"}, "token": None}, 401, "unauthorized", None, "bearer token"),
    ("wrong token", {"body": {"app": "it-bad"}, "token": TOKEN[:-1] + "x"}, 401, "unauthorized", None, "bearer token"),
    (
        "token in the query string",
        {"body": {"app": "it-bad"}, "token": None, "url_suffix": f"?token={TOKEN}"},
        401,
        "unauthorized",
        None,
        "bearer token",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "status", "reason", "index", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in MALFORMED]
)
def test_refused_post_says_why_is_counted_and_changes_nothing(
    exp: ExporterProcess, kwargs: dict[str, Any], status: int, reason: str, index: int | None, fragment: str
) -> None:
    before = exp.metrics()
    resp = post(exp, **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == reason and fragment in body["message"]
    assert body.get("index") == index
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    after = exp.metrics()
    skip = (contract.EVENTS_REJECTED.name,)
    assert llmpulse_samples(after, skip=skip) == llmpulse_samples(before, skip=skip)
    want = rejected(before)
    want[reason] += 1
    assert rejected(after) == want


def test_body_declared_larger_than_the_server_limit_is_refused_unread(exp: ExporterProcess) -> None:
    before = exp.metrics()
    conn = http.client.HTTPConnection("127.0.0.1", exp.port, timeout=10)
    try:
        conn.putrequest("POST", "/events")
        conn.putheader("Authorization", f"Bearer {TOKEN}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(1 << 30))  # 1 GiB announced, nothing sent
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413
        resp.read()
    finally:
        conn.close()
    after = exp.metrics()
    skip = (contract.EVENTS_REJECTED.name,)
    assert llmpulse_samples(after, skip=skip) == llmpulse_samples(before, skip=skip)
    # refused before a byte of the body was read, and still counted like every other refusal
    assert rejected(after)["too_large"] == rejected(before)["too_large"] + 1


def test_get_is_not_allowed(exp: ExporterProcess) -> None:
    assert requests.get(f"{exp.url}/events", timeout=5).status_code == 405


def test_token_never_appears_in_metrics_pages_errors_or_logs(exp: ExporterProcess) -> None:
    responses = [
        post(exp, {"app": "it-leak", "model": TOKEN[:8]}, token=TOKEN + "-wrong"),
        post(exp, {"app": "it-leak", "event": "nope"}),
        post(exp, {"app": "it-leak"}),
    ]
    assert [r.status_code for r in responses] == [401, 400, 200]
    texts = [r.text for r in responses]
    texts += [requests.get(f"{exp.url}{path}", timeout=5).text for path in ("/metrics", "/", "/-/ready")]
    texts.append(exp.log())
    for text in texts:
        assert TOKEN not in text
    assert "/events" in texts[4]  # the landing page does describe the route
