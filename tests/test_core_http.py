"""The shared HTTP client against a real loopback server: retries, Retry-After cap, no retry on 4xx, timeouts,
classification, redaction and the pagination guard."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from exporter.http import ApiClient, ApiError, describe_exception, paginate, parse_retry_after
from exporter.httpserver import Request, Response, Router, Server

SECRET = "sk-admin-supersecretvalue123"


@pytest.fixture
def server() -> Iterator[tuple[Server, list[str]]]:
    router = Router()
    hits: list[str] = []
    plan: dict[str, list[Response]] = {}

    def scripted(req: Request) -> Response:
        hits.append(req.params["name"])
        queue = plan.get(req.params["name"], [])
        return queue.pop(0) if queue else Response.json({"ok": True})

    def slow(req: Request) -> Response:
        hits.append("slow")
        time.sleep(1.0)
        return Response.json({"ok": True})

    router.add("GET", "/s/{name}", scripted)
    router.add("GET", "/slow", slow)
    srv = Server(router).start()
    srv.plan = plan  # type: ignore[attr-defined]
    try:
        yield srv, hits
    finally:
        srv.stop()


def _client(url: str, codes: list[str], sleeps: list[float], **kw: object) -> ApiClient:
    return ApiClient(
        url,
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=0.3,
        retries=2,
        max_retry_after=2.0,
        secrets=(SECRET,),
        on_response=codes.append,
        sleep=sleeps.append,
        **kw,
    )  # type: ignore[arg-type]


def test_retries_5xx_and_honours_retry_after_within_the_cap(server: tuple[Server, list[str]]) -> None:
    srv, _ = server
    srv.plan["a"] = [  # type: ignore[attr-defined]
        Response.json({"error": "busy"}, 503, {"Retry-After": "2"}),
        Response.json({"error": "limit"}, 429, {"Retry-After": "1"}),
    ]
    codes: list[str] = []
    sleeps: list[float] = []
    assert _client(srv.url, codes, sleeps).get_json("/s/a") == {"ok": True}
    assert codes == ["503", "429", "200"]
    assert sleeps[0] == 2.0  # as asked, at the cap
    assert 1.0 <= sleeps[1] <= 2.0


@pytest.mark.parametrize(("status", "reason"), [(429, "rate_limited"), (503, "http_5xx")])
def test_retry_after_beyond_the_cap_ends_the_call_with_the_status_reason(
    server: tuple[Server, list[str]], status: int, reason: str
) -> None:
    """The provider asks for 1000 s and we may wait 2 s: calling before it allows cannot succeed, so the call
    fails at once, classified by the answer (a 429 is rate_limited, never timeout)."""
    srv, _ = server
    srv.plan["r"] = [Response.json({"error": "slow down"}, status, {"Retry-After": "1000"})]  # type: ignore[attr-defined]
    codes: list[str] = []
    sleeps: list[float] = []
    with pytest.raises(ApiError) as info:
        _client(srv.url, codes, sleeps).get_json("/s/r")
    assert info.value.reason == reason
    assert codes == [str(status)] and sleeps == []
    assert "beyond max_retry_after" in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_client_errors_are_not_retried(server: tuple[Server, list[str]], status: int) -> None:
    srv, _ = server
    srv.plan["b"] = [Response.json({"error": {"message": f"bad key {SECRET}"}}, status)]  # type: ignore[attr-defined]
    codes: list[str] = []
    with pytest.raises(ApiError) as info:
        _client(srv.url, codes, []).get_json("/s/b")
    assert codes == [str(status)]
    assert info.value.reason == "http_4xx"
    assert info.value.status == status
    assert SECRET not in str(info.value)


def test_exhausted_retries_raise_with_reason(server: tuple[Server, list[str]]) -> None:
    srv, _ = server
    srv.plan["c"] = [Response.json({}, 500) for _ in range(5)]  # type: ignore[attr-defined]
    codes: list[str] = []
    with pytest.raises(ApiError) as info:
        _client(srv.url, codes, []).get_json("/s/c")
    assert codes == ["500", "500", "500"]
    assert info.value.reason == "http_5xx"


def test_timeout_is_classified_and_retried(server: tuple[Server, list[str]]) -> None:
    srv, _ = server
    codes: list[str] = []
    with pytest.raises(ApiError) as info:
        _client(srv.url, codes, []).get_json("/slow")
    assert info.value.reason == "timeout"
    assert codes == ["timeout", "timeout", "timeout"]


def test_connection_refused_is_classified() -> None:
    codes: list[str] = []
    with pytest.raises(ApiError) as info:
        ApiClient("http://127.0.0.1:9", retries=0, on_response=codes.append).get_json("/x")
    assert info.value.reason == "connection"
    assert codes == ["connection"]
    # A short reason a person reads on the landing page, not the client library's text.
    assert str(info.value) == "GET /x: connection refused"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "HTTPConnectionPool(host='api.example.invalid', port=80): Max retries exceeded with url: /v1 (Caused by "
            'NameResolutionError("<urllib3.connection.HTTPConnection object at 0x7f>: Failed to resolve '
            "'api.example.invalid' ([Errno -2] Name or service not known)\"))",
            "host name not found",
        ),
        ("HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=10)", "no answer within the timeout"),
        (
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
            "connection closed by the server without an answer",
        ),
        ("something nobody has seen before", "connection failed"),
    ],
)
def test_failures_without_a_status_get_a_short_whole_word_reason(text: str, reason: str) -> None:
    assert describe_exception(requests.ConnectionError(text)) == reason


def test_malformed_json_is_invalid_response(server: tuple[Server, list[str]]) -> None:
    srv, _ = server
    srv.plan["d"] = [Response(200, b'{"data": [', {}, "application/json")]  # type: ignore[attr-defined]
    with pytest.raises(ApiError) as info:
        _client(srv.url, [], []).get_json("/s/d")
    assert info.value.reason == "invalid_response"


def test_deadline_stops_backing_off() -> None:
    client = ApiClient("http://127.0.0.1:9", retries=5, deadline=time.monotonic() + 0.01, backoff_base=1.0)
    with pytest.raises(ApiError) as info:
        client.get_json("/x")
    assert info.value.reason in ("timeout", "connection")


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == pytest.approx(60.0)


def test_paginate_follows_cursors_and_guards_against_loops() -> None:
    pages = {
        None: {"data": [1], "has_more": True, "next_page": "p2"},
        "p2": {"data": [2], "has_more": True, "next_page": "p3"},
        "p3": {"data": [3], "has_more": False, "next_page": None},
    }
    assert [p["data"][0] for p in paginate(lambda c: pages[c])] == [1, 2, 3]

    looping = {None: {"has_more": True, "next_page": "a"}, "a": {"has_more": True, "next_page": "a"}}
    with pytest.raises(ApiError, match="cursor loop"):
        list(paginate(lambda c: looping[c]))
    with pytest.raises(ApiError, match="missing"):
        list(paginate(lambda c: {"has_more": True}))
