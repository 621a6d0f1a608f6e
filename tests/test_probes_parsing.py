"""Unit tests of the probes' pure parsing: rate-limit headers, error bodies, SSE, stream readers, error
classification, path joining, the probe config, and the recorder's rate-limit/label rules."""

from __future__ import annotations

import http.client
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter import contract
from exporter.config import ConfigError, parse_config
from exporter.probes.anthropic import AnthropicStream
from exporter.probes.base import Outcome, api_path
from exporter.probes.coze import CozeStream, envelope_error
from exporter.probes.errors import decode_error
from exporter.probes.openai_compatible import OpenAIStream
from exporter.probes.ratelimit import parse_go_duration, parse_ratelimit_headers, parse_reset
from exporter.probes.recorder import MAX_ERROR_SERIES, ProbeRecorder
from exporter.probes.sse import iter_events
from exporter.probes.transport import ProbeError, classify
from exporter.samples import LiveMetrics
from exporter.simulator.inference import go_duration

NOW = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


# --- rate-limit headers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("1h2m3.5s", 3723.5),
        ("0", 0.0),
        ("500µs", 0.0005),
        ("250us", 0.00025),
        ("2m59.56s", 179.56),
        ("0s", 0.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "6 m", "1x", "-1s", "s", "2025-01-01T00:00:00Z"])
def test_not_go_durations(text: str) -> None:
    assert parse_go_duration(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),  # OpenAI
        ("2025-01-01T00:01:00Z", 60.0),  # Anthropic RFC 3339
        ("2025-01-01T08:00:30+08:00", 30.0),  # with an offset
        ("2024-12-31T23:59:00Z", 0.0),  # in the past: never negative
        ("30", 30.0),  # plain seconds
        (str(int(NOW) + 90), 90.0),  # Unix seconds
        (str(int(NOW * 1000) + 1500), 1.5),  # Unix milliseconds
    ],
)
def test_reset_values(text: str, seconds: float) -> None:
    assert parse_reset(text, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "nan", "-5", "inf"])
def test_unreadable_reset_is_none(text: str) -> None:
    assert parse_reset(text, NOW) is None


def test_openai_headers_from_the_reference_table() -> None:
    headers = {
        "X-RateLimit-Limit-Requests": "60",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-remaining-tokens": "149984",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
        "openai-version": "2020-10-01",
    }
    assert parse_ratelimit_headers(headers, NOW) == {
        ("limit", "requests"): 60,
        ("limit", "tokens"): 150000,
        ("remaining", "requests"): 59,
        ("remaining", "tokens"): 149984,
        ("reset", "requests"): 1.0,
        ("reset", "tokens"): 360.0,
    }


def test_anthropic_headers_all_resources() -> None:
    headers = {}
    for i, name in enumerate(("requests", "tokens", "input-tokens", "output-tokens")):
        headers[f"anthropic-ratelimit-{name}-limit"] = str(1000 * (i + 1))
        headers[f"anthropic-ratelimit-{name}-remaining"] = str(900 * (i + 1))
        headers[f"anthropic-ratelimit-{name}-reset"] = f"2025-01-01T00:00:{10 * (i + 1):02d}Z"
    parsed = parse_ratelimit_headers(headers, NOW)
    for i, resource in enumerate(("requests", "tokens", "input_tokens", "output_tokens")):
        assert parsed[("limit", resource)] == 1000 * (i + 1)
        assert parsed[("remaining", resource)] == 900 * (i + 1)
        assert parsed[("reset", resource)] == pytest.approx(10.0 * (i + 1))
    assert len(parsed) == 12


def test_absent_or_unreadable_headers_give_no_entry_never_zero() -> None:
    assert parse_ratelimit_headers({"content-type": "application/json"}, NOW) == {}
    parsed = parse_ratelimit_headers(
        {
            "x-ratelimit-limit-requests": "abc",
            "x-ratelimit-remaining-requests": "5",
            "x-ratelimit-reset-requests": "later",
        },
        NOW,
    )
    assert parsed == {("remaining", "requests"): 5}


@pytest.mark.parametrize("seconds", [0.012, 0.12, 1.0, 1.5, 59.99, 60.0, 360.0, 3723.5])
def test_simulator_formats_go_durations_the_parser_reads(seconds: float) -> None:
    text = go_duration(seconds)
    assert parse_go_duration(text) == pytest.approx(seconds, abs=1e-3), text


def test_simulator_go_duration_matches_go_examples() -> None:
    assert [go_duration(s) for s in (0.012, 1.0, 360.0, 0.0)] == ["12ms", "1s", "6m0s", "0s"]


# --- error bodies ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        (
            b'{"error":{"message":"Incorrect API key provided: sk-abc***.","type":"invalid_request_error","param":null,'
            b'"code":"invalid_api_key"}}',
            "invalid_api_key",
        ),
        (
            b'{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
            "rate_limit_exceeded",
        ),
        (
            b'{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,'
            b'"code":"insufficient_quota"}}',
            "insufficient_quota",
        ),
        (b'{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}', "server_error"),
        (b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded_error"),
        (
            b'{"type":"error","error":{"type":"rate_limit_error","message":"...","details":{"error_code":'
            b'"enforced_spend_limit_reached"}},"request_id":"req_1"}',
            "rate_limit_error",
        ),
        (b'{"error":{"code":429,"message":"Rate limit exceeded"}}', ""),  # OpenRouter: numeric code, no type
        (b'{"code":4100,"msg":"authentication is invalid"}', ""),  # Coze has codes, no types
        (b'{"error":{"type":"Something went wrong, please retry later","message":"x"}}', ""),  # prose is no label
        (b"<html><title>502 Bad Gateway</title></html>", ""),
        (b"", ""),
    ],
)
def test_error_type_from_bodies(body: bytes, error_type: str) -> None:
    assert decode_error(body)[0] == error_type


def test_error_message_of_an_html_page_is_its_text() -> None:
    assert decode_error(b"<html><head><title>502 Bad Gateway</title></head></html>")[1] == "502 Bad Gateway"


# --- server-sent events ---------------------------------------------------------------------------------------------
def test_sse_parsing_follows_the_spec() -> None:
    raw = (
        b": keep-alive comment\n"
        b'event:conversation.message.delta\ndata:{"a":1}\n\n'  # Coze: no space after the colon
        b'event: message_start\r\ndata: {"b":\r\ndata: 2}\r\n\r\n'  # CRLF and multi-line data
        b"data: [DONE]\n\n"
        b"data: trailing without blank line\n"
    )
    lines = [line + b"\n" for line in raw.split(b"\n")][:-1]
    assert list(iter_events(lines)) == [
        ("conversation.message.delta", '{"a":1}'),
        ("message_start", '{"b":\n2}'),
        ("message", "[DONE]"),
        ("message", "trailing without blank line"),
    ]


# --- stream readers -------------------------------------------------------------------------------------------------
def test_openai_stream_first_token_is_the_first_text_not_the_role_chunk() -> None:
    stream = OpenAIStream()
    role = '{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}'
    assert stream.feed("message", role) is False
    assert stream.feed("message", '{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}')
    assert stream.feed("message", '{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}') is False
    assert stream.feed("message", '{"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1}}') is False
    assert not stream.finished
    stream.feed("message", "[DONE]")
    assert stream.finished and stream.complete and stream.usage == {"prompt_tokens": 8, "completion_tokens": 1}


def test_openai_stream_reasoning_tokens_count_as_first_token() -> None:
    assert OpenAIStream().feed("message", '{"choices":[{"delta":{"content":null,"reasoning_content":"Hm"}}]}')


def test_openai_error_inside_a_stream_gets_the_documented_status() -> None:
    with pytest.raises(ProbeError) as err:
        OpenAIStream().feed("message", '{"error":{"message":"slow down","type":"tokens","code":"rate_limit_exceeded"}}')
    assert (err.value.code, err.value.error_type) == ("429", "rate_limit_exceeded")


def test_openai_stream_garbage_is_invalid_response() -> None:
    with pytest.raises(ProbeError) as err:
        OpenAIStream().feed("message", '{"id":"chatcmpl-1","object":"chat.comp')
    assert err.value.code == "invalid_response"


def test_anthropic_stream_sequence_and_usage() -> None:
    stream = AnthropicStream()
    events = [
        ("message_start", '{"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1}}}', False),
        (
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
            False,
        ),
        ("ping", '{"type":"ping"}', False),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
            True,
        ),
        ("content_block_stop", '{"type":"content_block_stop","index":0}', False),
        (
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}',
            False,
        ),
    ]
    for event, data, is_token in events:
        assert stream.feed(event, data) is is_token, event
    assert not stream.stopped
    stream.feed("message_stop", '{"type":"message_stop"}')
    assert stream.stopped and stream.input_usage == {"input_tokens": 12, "output_tokens": 1}
    assert stream.output_tokens == 3


@pytest.mark.parametrize(
    ("error_type", "code"),
    [("overloaded_error", "529"), ("rate_limit_error", "429"), ("api_error", "500"), ("brand_new_error", "200")],
)
def test_anthropic_error_event_maps_to_documented_status(error_type: str, code: str) -> None:
    with pytest.raises(ProbeError) as err:
        AnthropicStream().feed("error", f'{{"type":"error","error":{{"type":"{error_type}","message":"x"}}}}')
    assert (err.value.code, err.value.error_type) == (code, error_type)


def test_coze_stream_events_and_errors() -> None:
    stream = CozeStream()
    assert stream.feed("conversation.chat.created", '{"id":"1","status":"created"}') is False
    assert stream.feed("conversation.message.delta", '{"type":"answer","content":""}') is False
    assert stream.feed("conversation.message.delta", '{"type":"answer","content":"Hi"}') is True
    assert stream.feed("conversation.message.delta", '{"type":"follow_up","content":"More?"}') is False
    stream.feed("conversation.chat.completed", '{"status":"completed","usage":{"input_count":5,"output_count":1}}')
    stream.feed("done", '"[DONE]"')
    assert stream.completed and stream.done and stream.usage == {"input_count": 5, "output_count": 1}
    with pytest.raises(ProbeError) as err:
        CozeStream().feed("error", '{"code":4013,"msg":"too many requests"}')
    assert err.value.code == "4013"
    with pytest.raises(ProbeError) as err:
        CozeStream().feed("conversation.chat.failed", '{"status":"failed","last_error":{"code":5000,"msg":"x"}}')
    assert err.value.code == "5000"


def test_coze_envelope() -> None:
    assert envelope_error({"code": 0, "msg": "", "data": {}}) is None
    assert envelope_error({"code": 4100, "msg": "authentication is invalid"}).code == "4100"
    assert envelope_error({"data": {}}).code == "invalid_response"
    assert envelope_error({"code": "0"}).code == "invalid_response"
    assert envelope_error([1, 2]).code == "invalid_response"


# --- error classification -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "phase", "code"),
    [
        (TimeoutError("timed out"), "transfer", "timeout"),
        (TimeoutError("timed out"), "connect", "timeout"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls", "tls"),
        (ssl.SSLError(1, "handshake failure"), "tls", "tls"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "transfer", "connection"),
        (socket.gaierror(-2, "Name or service not known"), "dns", "connection"),
        (ConnectionRefusedError(111, "Connection refused"), "connect", "connection"),
        (http.client.RemoteDisconnected("closed"), "first_byte", "connection"),
        (http.client.IncompleteRead(b"", 10), "transfer", "connection"),
        (http.client.BadStatusLine("garbage"), "first_byte", "invalid_response"),
        (http.client.LineTooLong("header line"), "first_byte", "invalid_response"),
    ],
)
def test_exception_classification(exc: BaseException, phase: str, code: str) -> None:
    assert classify(exc, phase).code == code


# --- paths ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("https://api.openai.com", "/v1/chat/completions"),
        ("https://api.deepseek.com", "/v1/chat/completions"),
        ("https://api.deepseek.com/v1", "/chat/completions"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "/chat/completions"),
        ("https://openrouter.ai/api/v1", "/chat/completions"),
        ("https://ark.cn-beijing.volces.com/api/v3", "/chat/completions"),
        ("https://open.bigmodel.cn/api/paas/v4", "/chat/completions"),
        ("http://localhost:11434", "/v1/chat/completions"),
        ("http://127.0.0.1:8000/proxy", "/v1/chat/completions"),
    ],
)
def test_api_path_joins_versioned_base_urls(base: str, path: str) -> None:
    assert api_path(base, "/v1/chat/completions") == path


# --- config ---------------------------------------------------------------------------------------------------------
def _probe(**kw: object) -> dict[str, object]:
    return {
        "probes": [
            {
                "name": "p",
                "type": "openai_compatible",
                "base_url": "https://api.openai.com",
                "api_key_env": "LLMPULSE_DEMO_KEY",
                "model": "gpt-4o-mini",
                **kw,
            }
        ]
    }


def test_probe_defaults() -> None:
    probe = parse_config(_probe()).probes[0]
    assert (probe.interval, probe.timeout, probe.max_tokens, probe.stream, probe.prompt) == (
        60.0,
        30.0,
        1,
        False,
        "ping",
    )
    assert probe.provider_label == "openai" and probe.path is None and probe.ca_path is None


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"headers": {"Authorization": "Bearer sk-inline"}},
            "probes[0].headers: header 'Authorization' carries a credential",
        ),
        ({"headers": {"bad header": "x"}}, "invalid header name"),
        ({"tls_ca_file": "/nonexistent/ca.pem"}, "cannot read tls_ca_file"),
        ({"tls_ca_file": "/etc/hostname", "tls_insecure_skip_verify": True}, "set only one of tls_ca_file"),
        ({"type": "http", "stream": True, "model": ""}, "probes[0].stream: unknown key for type 'http'"),
        (
            {"type": "http", "bot_id": "7493066380997000000", "model": ""},
            "probes[0].bot_id: unknown key for type 'http'",
        ),
        ({"type": "coze", "bot_id": "", "model": ""}, "probes[0].bot_id: String should have at least 1 character"),
        ({"model": ""}, "probes[0].model: String should have at least 1 character"),
        ({"path": "v1/chat"}, "path must start with /"),
        ({"max_tokens_param": "max_new_tokens"}, "max_tokens_param"),
        ({"timeout": "2m"}, "must not exceed interval"),
        ({"api_key": "sk-inline"}, "probes[0].api_key: inline keys are not accepted: use api_key_env or api_key_file"),
    ],
)
def test_probe_config_errors_name_the_key(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_probe(**kw), "cfg.yml")
    text = str(err.value)
    assert message in text and text.startswith("cfg.yml: probes[0]")
    assert "sk-inline" not in text


def test_tls_ca_file_is_relative_to_the_config(tmp_path) -> None:
    ca = ssl.get_default_verify_paths().cafile
    if not ca:
        pytest.skip("no system CA bundle to copy")
    (tmp_path / "ca.pem").write_bytes(Path(ca).read_bytes())
    probe = parse_config(_probe(tls_ca_file="ca.pem"), "cfg.yml", tmp_path).probes[0]
    assert probe.ca_path == str(tmp_path / "ca.pem")


# --- recorder -------------------------------------------------------------------------------------------------------
def _recorder() -> tuple[ProbeRecorder, LiveMetrics, dict[str, str]]:
    cfg = parse_config(_probe(labels={"team": "search"})).probes[0]
    live = LiveMetrics()
    return (
        ProbeRecorder(cfg, live, streams=True, spends_tokens=True),
        live,
        {"provider": "openai", "source": "p", "model": "gpt-4o-mini"},
    )


def test_recorder_preinitialises_counters_and_follows_ratelimit_headers() -> None:
    rec, live, labels = _recorder()
    extra = {"team": "search"}
    for outcome in ("success", "error"):
        assert live.value(contract.API_CALLS, {**labels, "outcome": outcome}, extra) == 0.0
    rl = {
        ("limit", "requests"): 60.0,
        ("remaining", "requests"): 59.0,
        ("reset", "requests"): 1.0,
        ("limit", "tokens"): 1000.0,
    }
    rec.record(Outcome(success=True, duration=0.5, ratelimits=rl))
    assert live.value(contract.RATELIMIT_REMAINING, {**labels, "resource": "requests"}, extra) == 59.0
    rec.record(Outcome(success=False, duration=1.0, code="timeout", ratelimits=None))  # no headers: keep
    assert live.value(contract.RATELIMIT_LIMIT, {**labels, "resource": "tokens"}, extra) == 1000.0
    rec.record(Outcome(success=True, duration=0.5, ratelimits={("remaining", "requests"): 40.0}))
    assert live.value(contract.RATELIMIT_REMAINING, {**labels, "resource": "requests"}, extra) == 40.0
    assert live.value(contract.RATELIMIT_LIMIT, {**labels, "resource": "tokens"}, extra) is None  # replaced set
    assert live.value(contract.API_CALLS, {**labels, "outcome": "success"}, extra) == 2.0
    assert live.value(contract.ERROR_CODES, {**labels, "code": "timeout", "error_type": ""}, extra) == 1.0
    assert live.value(contract.PROBE_SUCCESS, labels, extra) == 1.0


def test_recorder_bounds_error_type_cardinality() -> None:
    rec, live, _ = _recorder()
    for i in range(MAX_ERROR_SERIES + 5):
        rec.record(Outcome(success=False, duration=0.1, code="400", error_type=f"type_{i}"))
    _, values, _ = live.snapshot()
    series = dict(values[contract.ERROR_CODES])
    assert len(series) == MAX_ERROR_SERIES + 1
    other = [v for k, v in series.items() if ("error_type", "other") in k]
    assert other == [5.0]
