"""Unit tests of the http_json provider on parsed answers: auth headers, request parts with placeholders, the
missing-value counter, when a poll fails (nothing readable, expect mismatch, too many series)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from exporter import contract
from exporter.config import parse_config
from exporter.http import ApiError
from exporter.providers.http_json import HttpJsonProvider, families_for

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def provider(env: dict[str, str] | None = None, **over: Any) -> HttpJsonProvider:
    src: dict[str, Any] = {
        "type": "http_json",
        "name": "an",
        "base_url": "http://127.0.0.1:9",
        "api_key_env": "LLMPULSE_DEMO_KEY",
        "metrics": [
            {"name": "llmpulse_t_messages", "path": "data.rows[*].n", "select": "last"},
            {"name": "llmpulse_t_latency_seconds", "path": "data.rows[*].ms", "select": "last", "scale": 0.001},
        ],
    }
    src.update(over)
    return HttpJsonProvider(parse_config({"sources": [src]}).sources[0])


ROWS = {"code": 0, "data": {"rows": [{"n": 5, "ms": 800}, {"n": 9, "ms": 1200}]}}


def test_auth_headers_per_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_DEMO_KEY", "s3cret")
    monkeypatch.setenv("LF_PK", "pk-lf-1")
    assert provider().headers()["Authorization"] == "Bearer s3cret"
    hdr = provider(auth={"type": "header", "header": "X-Api-Key", "prefix": "Key "}, headers={"X-Team": "a"})
    assert hdr.headers() == {"X-Team": "a", "X-Api-Key": "Key s3cret"}
    basic = provider(auth={"type": "basic", "username_env": "LF_PK"}).headers()["Authorization"]
    assert base64.b64decode(basic.removeprefix("Basic ")).decode() == "pk-lf-1:s3cret"
    assert "Authorization" not in provider(auth={"type": "none"}, api_key_env=None).headers()


def test_request_parts_expand_placeholders_in_the_source_time_zone() -> None:
    p = provider(
        path="/a/${today}",
        params={"from": "${month_start:iso}", "limit": 31},
        body={"range": ["${yesterday}", "${today}"]},
        method="POST",
        timezone="Asia/Shanghai",
    )
    path, params, body = p.request_parts(NOW)  # 18:00 UTC = 02:00 on the 21st in Shanghai
    assert path == "/a/2026-11-21"
    assert params == {"from": "2026-11-01T00:00:00+08:00", "limit": "31"}
    assert body == {"range": ["2026-11-20", "2026-11-21"]}


def test_a_good_answer_maps_and_initialises_the_missing_counter() -> None:
    p = provider()
    ms = p.map_answer(ROWS, NOW)
    fams = {f.name: f for f in families_for(p.config)}
    assert ms.get(fams["llmpulse_t_messages"]) == 9
    assert ms.get(fams["llmpulse_t_latency_seconds"]) == pytest.approx(1.2)
    assert ms.get(contract.HTTP_JSON_MISSING, metric="llmpulse_t_messages") == 0


def test_a_missing_metric_is_counted_per_poll_and_the_others_are_kept() -> None:
    p = provider()
    answer = {"data": {"rows": [{"n": 5}, {"n": 9}]}}
    for polls in (1, 2):
        ms = p.map_answer(answer, NOW)
        assert ms.get(contract.HTTP_JSON_MISSING, metric="llmpulse_t_latency_seconds") == polls
        assert ms.get(contract.HTTP_JSON_MISSING, metric="llmpulse_t_messages") == 0
    assert ms.get(families_for(p.config)[0]) == 9


def test_an_answer_where_nothing_can_be_read_fails_the_poll() -> None:
    p = provider()
    with pytest.raises(ApiError) as err:
        p.map_answer({"code": 4100, "msg": "authentication is invalid"}, NOW)
    assert err.value.reason == "invalid_response" and "no configured metric could be read" in str(err.value)
    # an empty list is not an error: nothing happened yet
    ms = p.map_answer({"data": {"rows": []}}, NOW)
    assert ms.get(contract.HTTP_JSON_MISSING, metric="llmpulse_t_messages") == 1  # counted by the failed poll


def test_expect_fails_the_poll_with_the_answers_own_message() -> None:
    p = provider(expect={"code": 0})
    p.check_expect(ROWS, "{}")
    with pytest.raises(ApiError, match=r"answer code is 5000, expected 0: busy"):
        p.check_expect({"code": 5000, "msg": "busy"}, '{"code": 5000, "msg": "busy"}')
    with pytest.raises(ApiError, match="answer code is missing"):
        p.check_expect({"data": {}}, "{}")
    provider(expect={"code": 20000}).check_expect({"code": "20000"}, "{}")  # a number also matches its string
    with pytest.raises(ApiError):
        provider(expect={"status": True}).check_expect({"status": 1}, "{}")  # but a boolean stays a boolean


def test_series_beyond_max_series_fold_into_other_and_are_counted() -> None:
    from exporter.exposition import Exposition
    from exporter.poller import SourcePoller

    p = provider(max_series=4, metrics=[{"name": "llmpulse_t_users", "path": "users[*].n", "labels": {"user": "id"}}])
    poller = SourcePoller(p.config, Exposition())
    answer = {"users": [{"id": str(i), "n": i} for i in range(1, 11)]}
    ms = p.map_answer(answer, NOW)
    folded = poller._apply_budget(ms)
    family = p.families["llmpulse_t_users"]
    series = {dict(k).get("user"): v for k, v in ms.series(family).items()}
    # the four largest users, and "other" on top of the budget holding the other six
    assert series == {"10": 10.0, "9": 9.0, "8": 8.0, "7": 7.0, "other": sum(range(1, 7))}
    assert folded == {"llmpulse_t_users": 6}
    # the next poll keeps the same users in place even when another one grows past them
    answer["users"][0]["n"] = 100
    ms = p.map_answer(answer, NOW)
    poller._apply_budget(ms)
    series = {dict(k).get("user"): v for k, v in ms.series(family).items()}
    assert series == {"10": 10.0, "9": 9.0, "8": 8.0, "7": 7.0, "other": 100 + sum(range(2, 7))}
