"""Simulated inference endpoints for llmpulse's active probes: OpenAI chat completions, Anthropic messages, Coze
chat and a model list, each with its provider's real answer shapes, streaming format, rate-limit headers and
error envelopes.

Routes and their fault keys (``POST /_sim/faults {"<key>": {...}}``):

=========================================  ======================
``POST /v1/chat/completions``              ``openai_chat``
``POST /v1/messages``                      ``anthropic_messages``
``POST /v3/chat``, ``GET /v3/chat/retrieve``  ``coze_chat`` (faults apply to ``/v3/chat``; retrieve is not counted)
``GET /v1/models``                         ``models`` (OpenAI list; Anthropic's shape when called with x-api-key)
=========================================  ======================

What the shared switches (:class:`exporter.simulator.faults.FaultSpec`) do here:

- ``latency``, ``latency_jitter``, ``slow_rate``/``slow_latency``: the server time of each call, drawn per call.
  Non-streaming answers (and errors) come after it. Streams send their headers and first, content-free event at
  once (OpenAI's role chunk, Anthropic's ``message_start``, Coze's ``conversation.chat.created``) and the first
  token after the latency, so time to first token >= latency while the first byte is quick, as with real models.
- ``error_rate`` + ``error_status``: that share of calls answers ``error_status`` with the provider's own error
  body (OpenAI 429 ``rate_limit_exceeded``, 503 ``server_error``, 502 as an HTML gateway page; Anthropic 529
  ``overloaded_error``, 429 ``rate_limit_error``...). ``error_type`` overrides the body's type/code (e.g.
  ``insufficient_quota`` on an OpenAI 429). For ``coze_chat`` a status >= 1000 is a Coze code sent with HTTP 200
  (``4013`` rate limit, ``4100`` auth), as Coze does.
- ``burst_429`` (+ ``retry_after``): the next N calls answer 429 with ``Retry-After`` (Coze: HTTP 200, code 4013).
- ``malformed``: the next N successful answers are broken (truncated JSON body, or a truncated stream event).
- ``stall`` (+ ``stall_rate``): streams stop for ``stall`` seconds after their first event.
- ``down``: every call answers 503.

Served outcomes (``GET /_sim/state`` -> ``served[key]``): ``"200"`` for answers a client should count as
successes; the error status or Coze code (``"429"``, ``"503"``, ``"529"``, ``"4013"``, ``"4100"``); ``"401"`` /
``"400"`` for auth and request errors; ``"malformed"``; ``"stalled"`` (a stream that stalled: a client whose
timeout is shorter than ``stall`` sees a timeout). ``state.inference.delays[key]`` lists the server latency of the
last 1000 calls and ``state.inference.last_headers[key]`` the rate-limit headers of the last answer, so tests
compare exported histograms and gauges with what was served.

Rate limits are token buckets per key (refilled continuously over a minute, like OpenAI's and Anthropic's):
OpenAI sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with Go-duration resets (``120ms``,
``6m0s``), Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-*`` with RFC 3339 resets.
``POST /_sim/inference {"ratelimit_headers": false}`` stops sending them (as some models and proxies do);
``{"limits": {"openai_chat": {"requests": 10}}}`` changes a limit. ``POST /_sim/reset`` restores the defaults.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, PositiveFloat, StrictBool, field_validator

from exporter.httpserver import Request, Response, sleep_chunks
from exporter.simulator.admin import AdminModel, BadBody, read_body
from exporter.simulator.anthropic import ERROR_TYPES as ANTHROPIC_TYPES  # one table for every Anthropic API
from exporter.simulator.common import dumps, malformed_body, stable_random

KEYS = ("openai_chat", "anthropic_messages", "coze_chat", "models")
ANSWER = ["Pong", "!", " How", " can", " I", " help", " you", " today", "?"]
TOKEN_GAP = 0.005  # seconds between streamed tokens
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "openai_chat": {"requests": 500, "tokens": 200_000},
    "anthropic_messages": {"requests": 50, "input_tokens": 40_000, "output_tokens": 8_000},
}
MODELS = [
    ("gpt-4o-mini", 1721172741),
    ("gpt-4o", 1715367049),
    ("deepseek-chat", 1735689600),
    ("claude-3-5-haiku-latest", 1729555200),
    ("claude-sonnet-4-5", 1759104000),
]

OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("request_forbidden", "unsupported_country_region_territory", "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM). Please try again in "
        "1s. Visit https://platform.openai.com/account/rate-limits to learn more.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}
OPENAI_BY_TYPE = {
    "insufficient_quota": (
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "rate_limit_exceeded": ("tokens", "rate_limit_exceeded", "Rate limit reached on tokens per min (TPM)."),
}
ANTHROPIC_MESSAGES = {
    "overloaded_error": "Overloaded",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "authentication_error": "invalid x-api-key",
}
COZE_MESSAGES = {
    4000: "Request parameter error",
    4013: "The requests exceed the limit, please try again later",
    4100: "authentication is invalid",
    4101: "The token you entered is incorrect",
    4200: "The requested resource does not exist",
    5000: "Internal server error",
}
CLOUDFLARE_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    b"</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


# --- rate limits ----------------------------------------------------------------------------------------------------
class Bucket:
    """A token bucket of ``limit`` per minute, refilled continuously."""

    def __init__(self, limit: float) -> None:
        self.limit = float(limit)
        self.level = float(limit)
        self.at = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.limit, self.level + (now - self.at) * self.limit / 60.0)
        self.at = now

    def take(self, amount: float) -> None:
        self._refill()
        self.level = max(0.0, self.level - amount)

    def remaining(self) -> int:
        self._refill()
        return int(self.level)

    def reset_seconds(self) -> float:
        self._refill()
        return (self.limit - self.level) * 60.0 / self.limit


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()`` (``12ms``, ``1.5s``, ``6m0s``), as OpenAI's reset headers."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = round(seconds * 1000, 3)
        return f"{ms:g}ms" if ms >= 1 else f"{round(seconds * 1e6):g}µs"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 3):g}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(math.ceil(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Inference:
    """State of the inference endpoints (rate-limit buckets, Coze chats, served delays) and their handlers."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.headers_on = True
            self.limits = {k: dict(v) for k, v in DEFAULT_LIMITS.items()}
            self.buckets: dict[tuple[str, str], Bucket] = {}
            self.chats: dict[str, dict[str, Any]] = {}
            self.seq = 0
            self.delays: dict[str, list[float]] = {k: [] for k in KEYS}
            self.last_headers: dict[str, dict[str, str]] = {k: {} for k in KEYS}  # fixed keys: read concurrently
            self.sim.state["inference"] = {
                "delays": self.delays,
                "last_headers": self.last_headers,
                "ratelimit_headers": True,
                "limits": self.limits,
            }

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self.seq += 1
            return f"{prefix}{int(stable_random(self.sim.seed, prefix, self.seq) * 1e16):016d}"

    # -- rate-limit headers ------------------------------------------------------------------------------------------
    def _bucket(self, key: str, resource: str) -> Bucket:
        bucket = self.buckets.get((key, resource))
        limit = self.limits[key][resource]
        if bucket is None or bucket.limit != limit:
            bucket = self.buckets[(key, resource)] = Bucket(limit)
        return bucket

    def ratelimit_headers(self, key: str, used: dict[str, float], exhausted: bool = False) -> dict[str, str]:
        """Consume ``used`` and return the provider's headers (none when switched off)."""
        with self.lock:
            if not self.headers_on or key not in self.limits:
                self.last_headers[key] = {}
                return {}
            headers: dict[str, str] = {}
            now = self.sim.clock()
            for resource, limit in self.limits[key].items():
                bucket = self._bucket(key, resource)
                bucket.take(used.get(resource, 0.0))
                remaining = 0 if exhausted else bucket.remaining()
                reset = 60.0 if exhausted else bucket.reset_seconds()
                if key == "openai_chat":
                    headers[f"x-ratelimit-limit-{resource}"] = str(int(limit))
                    headers[f"x-ratelimit-remaining-{resource}"] = str(remaining)
                    headers[f"x-ratelimit-reset-{resource}"] = go_duration(reset)
                else:
                    name = resource.replace("_", "-")
                    headers[f"anthropic-ratelimit-{name}-limit"] = str(int(limit))
                    headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
                    headers[f"anthropic-ratelimit-{name}-reset"] = rfc3339(now + reset)
            if key == "anthropic_messages":  # "tokens": the most restrictive limit in effect
                out_limit = self.limits[key].get("output_tokens")
                if out_limit is not None:
                    for kind in ("limit", "remaining", "reset"):
                        headers[f"anthropic-ratelimit-tokens-{kind}"] = headers[
                            f"anthropic-ratelimit-output-tokens-{kind}"
                        ]
            self.last_headers[key] = dict(headers)
            return headers

    # -- faults ------------------------------------------------------------------------------------------------------
    def draw(self, key: str) -> tuple[float, int | None]:
        """The server latency of this call and the injected status (or None)."""
        delay = self.sim.faults.delay(key)
        with self.lock:
            delays = self.delays[key]
            delays.append(round(delay, 6))
            del delays[:-1000]
        return delay, self.sim.faults.pick_error(key)

    def stalls(self, key: str) -> float:
        spec = self.sim.faults.spec(key)
        if spec.stall > 0 and self.sim.faults.rng(key).random() < spec.stall_rate:
            return spec.stall
        return 0.0

    def served(self, key: str, outcome: str) -> None:
        self.sim.faults.count(key, outcome)


def _usage_tokens(prompt: Any, max_tokens: Any) -> tuple[int, int, list[str]]:
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    input_tokens = 7 + max(1, math.ceil(len(text) / 4))
    n = max(1, min(int(max_tokens) if isinstance(max_tokens, int) else 16, len(ANSWER)))
    return input_tokens, n, ANSWER[:n]


def _sse(data: Any, event: str | None = None, *, space: bool = True) -> bytes:
    sep = ": " if space else ":"
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event{sep}{event}\n" if event else ""
    return f"{head}data{sep}{payload}\n\n".encode()


def _stream(
    first: list[bytes], rest: list[bytes], delay: float, stall: float, malformed: bytes | None
) -> Iterator[bytes]:
    """First events at once; then (a stall and) the latency; then the rest with a small gap per token."""
    plan: list[tuple[float, bytes]] = [(0.0, b"".join(first))]
    if malformed is not None:
        plan.append((delay, malformed))
        return sleep_chunks(plan)
    plan.append((stall + delay, rest[0]))
    plan.extend((TOKEN_GAP, chunk) for chunk in rest[1:])
    return sleep_chunks(plan)


SSE = "text/event-stream; charset=utf-8"


# --- OpenAI ---------------------------------------------------------------------------------------------------------
def _openai_error(status: int, error_type: str = "", model: str = "", key: str = "") -> Response:
    if status == 502:
        return Response(502, CLOUDFLARE_502, {}, "text/html")
    kind, code, message = OPENAI_BY_TYPE.get(error_type) or OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    if error_type and error_type not in OPENAI_BY_TYPE:
        kind, code = error_type, error_type
    if status == 401 and key:
        message = (
            f"Incorrect API key provided: {key[:3]}{'*' * 8}{key[-4:]}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
    if status == 404 and model:
        message = f"The model `{model}` does not exist or you do not have access to it."
    return Response.json(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status, {"x-request-id": "req_sim"}
    )


def _openai_chat(inf: Inference, req: Request) -> Response:
    sim, key = inf.sim, "openai_chat"
    token = sim.bearer(req)
    if not sim.key_ok(token):
        inf.served(key, "401")
        return _openai_error(401, key=token)
    try:
        body = req.json()
        if not isinstance(body, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        inf.served(key, "400")
        return Response.json(
            {
                "error": {
                    "message": "We could not parse the JSON body of your request.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            400,
        )
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model or not isinstance(messages, list) or not messages:
        inf.served(key, "400")
        return Response.json(
            {
                "error": {
                    "message": "Missing required parameter: 'model' or 'messages'.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "missing_required_parameter",
                }
            },
            400,
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    prompt_tokens, n, words = _usage_tokens(messages, max_tokens)
    delay, status = inf.draw(key)
    spec = sim.faults.spec(key)
    if status is not None:
        time.sleep(delay)
        resp = _openai_error(status, spec.error_type, model)
        resp.headers.update(inf.ratelimit_headers(key, {}, exhausted=status == 429))
        if status == 429:
            resp.headers["Retry-After"] = str(spec.retry_after)
        inf.served(key, str(status))
        return resp
    headers = {
        "x-request-id": inf.next_id("req_"),
        "openai-version": "2020-10-01",
        "openai-processing-ms": str(int(delay * 1000)),
        "openai-organization": "org-sim",
    }
    headers.update(inf.ratelimit_headers(key, {"requests": 1, "tokens": prompt_tokens + n}))
    cid, created = inf.next_id("chatcmpl-"), int(sim.clock())
    finish = "length" if n < len(ANSWER) else "stop"
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": n,
        "total_tokens": prompt_tokens + n,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    malformed = sim.faults.take(key, "malformed")
    if not body.get("stream"):
        time.sleep(delay)
        inf.served(key, "malformed" if malformed else "200")
        if malformed:
            return Response(200, malformed_body(), headers)
        return Response(
            200,
            dumps(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(words), "refusal": None},
                            "logprobs": None,
                            "finish_reason": finish,
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": "fp_sim",
                }
            ),
            headers,
        )

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            **extra,
        }
        return _sse(data)

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}
    first = [chunk({"role": "assistant", "content": "", "refusal": None}, **extra)]
    rest = [chunk({"content": w}, **extra) for w in words] + [chunk({}, finish, **extra)]
    if include_usage:
        rest.append(
            _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_sim",
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    rest.append(_sse("[DONE]"))
    stall = 0.0 if malformed else inf.stalls(key)
    inf.served(key, "malformed" if malformed else "stalled" if stall else "200")
    broken = b'data: {"id":"' + cid.encode() + b'","object":"chat.completion.chu\n\n' if malformed else None
    return Response(200, _stream(first, rest, delay, stall, broken), headers, SSE)


# --- Anthropic ------------------------------------------------------------------------------------------------------
def _anthropic_error(status: int, error_type: str = "", message: str = "") -> Response:
    if status == 502:
        return Response(502, CLOUDFLARE_502, {}, "text/html")
    kind = error_type or ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    text = message or ANTHROPIC_MESSAGES.get(kind, f"HTTP {status}")
    return Response.json(
        {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_sim"},
        status,
        {"request-id": "req_sim"},
    )


def _anthropic_messages(inf: Inference, req: Request) -> Response:
    sim, key = inf.sim, "anthropic_messages"
    if not sim.key_ok(req.header("x-api-key")):
        inf.served(key, "401")
        return _anthropic_error(401)
    if not req.header("anthropic-version"):
        inf.served(key, "400")
        return _anthropic_error(400, message="anthropic-version: header is required")
    try:
        body = req.json()
        if not isinstance(body, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        inf.served(key, "400")
        return _anthropic_error(400, message="There was an issue with the format of your JSON request.")
    model, messages, max_tokens = body.get("model"), body.get("messages"), body.get("max_tokens")
    for name, ok in (
        ("model", isinstance(model, str) and model),
        ("messages", isinstance(messages, list)),
        ("max_tokens", isinstance(max_tokens, int) and max_tokens >= 1),
    ):
        if not ok:
            inf.served(key, "400")
            return _anthropic_error(400, message=f"{name}: Field required")
    input_tokens, n, words = _usage_tokens(messages, max_tokens)
    delay, status = inf.draw(key)
    spec = sim.faults.spec(key)
    if status is not None:
        time.sleep(delay)
        resp = _anthropic_error(status, spec.error_type)
        resp.headers.update(inf.ratelimit_headers(key, {}, exhausted=status == 429))
        if status == 429:
            resp.headers["retry-after"] = str(spec.retry_after)
        inf.served(key, str(status))
        return resp
    headers = {"request-id": inf.next_id("req_"), "anthropic-organization-id": "org-sim"}
    headers.update(inf.ratelimit_headers(key, {"requests": 1, "input_tokens": input_tokens, "output_tokens": n}))
    mid = inf.next_id("msg_")
    stop = "max_tokens" if n < len(ANSWER) else "end_turn"
    usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": n,
    }
    malformed = sim.faults.take(key, "malformed")
    if not body.get("stream"):
        time.sleep(delay)
        inf.served(key, "malformed" if malformed else "200")
        if malformed:
            return Response(200, malformed_body(), headers)
        return Response(
            200,
            dumps(
                {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": "".join(words)}],
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage,
                }
            ),
            headers,
        )
    start_usage = {**usage, "output_tokens": 1}
    first = [
        _sse(
            {
                "type": "message_start",
                "message": {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
            "message_start",
        ),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    rest = [
        _sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
            "content_block_delta",
        )
        for w in words
    ]
    rest += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    stall = 0.0 if malformed else inf.stalls(key)
    inf.served(key, "malformed" if malformed else "stalled" if stall else "200")
    broken = b'event: content_block_delta\ndata: {"type":"content_block_del\n\n' if malformed else None
    return Response(200, _stream(first, rest, delay, stall, broken), headers, SSE)


# --- Coze -----------------------------------------------------------------------------------------------------------
def _coze_error(code: int, logid: str, message: str = "") -> Response:
    """Coze business errors: HTTP 200 with a non-zero code (HTTP errors for codes below 1000)."""
    status = 200 if code >= 1000 else code
    body = {"code": code, "msg": message or COZE_MESSAGES.get(code, "error"), "detail": {"logid": logid}}
    return Response.json(body, status, {"x-tt-logid": logid})


def _coze_chat(inf: Inference, req: Request) -> Response:
    sim, key = inf.sim, "coze_chat"
    logid = inf.next_id("2025")
    if not sim.key_ok(sim.bearer(req)):
        inf.served(key, "4100")
        return _coze_error(4100, logid)
    try:
        body = req.json()
        if not isinstance(body, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        inf.served(key, "4000")
        return _coze_error(4000, logid, "json fail")
    stream = bool(body.get("stream"))
    if not body.get("bot_id") or not body.get("user_id"):
        inf.served(key, "4000")
        return _coze_error(4000, logid, "invalid parameter: bot_id and user_id are required")
    if not stream and body.get("auto_save_history") is False:
        inf.served(key, "4000")
        return _coze_error(4000, logid, "auto_save_history must be true when stream is false")
    input_tokens, n, words = _usage_tokens(body.get("additional_messages") or [], 1)
    delay, status = inf.draw(key)
    if status is not None:
        code = 4013 if status == 429 else status
        time.sleep(delay)
        inf.served(key, str(code))
        return _coze_error(code, logid)
    now = int(sim.clock())
    chat = {
        "id": inf.next_id("7"),
        "conversation_id": inf.next_id("7"),
        "bot_id": str(body["bot_id"]),
        "created_at": now,
        "last_error": {"code": 0, "msg": ""},
        "status": "in_progress",
    }
    usage = {"token_count": input_tokens + n, "output_count": n, "input_count": input_tokens}
    malformed = sim.faults.take(key, "malformed")
    headers = {"x-tt-logid": logid}
    if not stream:
        time.sleep(delay)
        inf.served(key, "malformed" if malformed else "200")
        if malformed:
            return Response(200, malformed_body(), headers)
        with inf.lock:
            if len(inf.chats) > 1000:
                inf.chats.pop(next(iter(inf.chats)))
            inf.chats[str(chat["id"])] = {
                **chat,
                "status": "completed",
                "completed_at": int(sim.clock()),
                "usage": usage,
            }
        return Response.json({"code": 0, "msg": "", "data": chat, "detail": {"logid": logid}}, 200, headers)
    message = {
        "id": inf.next_id("7"),
        "conversation_id": chat["conversation_id"],
        "bot_id": chat["bot_id"],
        "chat_id": chat["id"],
        "role": "assistant",
        "type": "answer",
        "content_type": "text",
    }
    first = [
        _sse({**chat, "status": "created"}, "conversation.chat.created", space=False),
        _sse(chat, "conversation.chat.in_progress", space=False),
    ]
    rest = [_sse({**message, "content": w}, "conversation.message.delta", space=False) for w in words]
    rest += [
        _sse({**message, "content": "".join(words)}, "conversation.message.completed", space=False),
        _sse(
            {**chat, "status": "completed", "completed_at": now, "usage": usage},
            "conversation.chat.completed",
            space=False,
        ),
        _sse('"[DONE]"', "done", space=False),
    ]
    stall = 0.0 if malformed else inf.stalls(key)
    inf.served(key, "malformed" if malformed else "stalled" if stall else "200")
    broken = b'event:conversation.message.delta\ndata:{"id":"7\n\n' if malformed else None
    return Response(200, _stream(first, rest, delay, stall, broken), headers, SSE)


def _coze_retrieve(inf: Inference, req: Request) -> Response:
    logid = inf.next_id("2025")
    if not inf.sim.key_ok(inf.sim.bearer(req)):
        return _coze_error(4100, logid)
    with inf.lock:
        chat = inf.chats.get(req.arg("chat_id") or "")
    if chat is None or chat["conversation_id"] != req.arg("conversation_id"):
        return _coze_error(4200, logid, "chat not found")
    return Response.json({"code": 0, "msg": "", "data": chat, "detail": {"logid": logid}}, 200, {"x-tt-logid": logid})


# --- model list -----------------------------------------------------------------------------------------------------
def _models(inf: Inference, req: Request) -> Response:
    sim, key = inf.sim, "models"
    anthropic = bool(req.header("x-api-key"))
    if not sim.key_ok(req.header("x-api-key") if anthropic else sim.bearer(req)):
        inf.served(key, "401")
        return _anthropic_error(401) if anthropic else _openai_error(401, key=sim.bearer(req))
    delay, status = inf.draw(key)
    time.sleep(delay)
    if status is not None:
        inf.served(key, str(status))
        resp = _anthropic_error(status) if anthropic else _openai_error(status, sim.faults.spec(key).error_type)
        if status == 429:
            resp.headers["Retry-After"] = str(sim.faults.spec(key).retry_after)
        return resp
    if sim.faults.take(key, "malformed"):
        inf.served(key, "malformed")
        return Response(200, malformed_body())
    inf.served(key, "200")
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": rfc3339(ts)}
            for m, ts in MODELS
            if m.startswith("claude")
        ]
        return Response.json({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})
    return Response.json(
        {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": ts, "owned_by": "system"} for m, ts in MODELS],
        }
    )


class InferenceKnobs(AdminModel):
    """``/_sim/inference``: rate-limit headers on or off, and the simulated limits per key and resource."""

    ratelimit_headers: StrictBool | None = None
    limits: dict[str, dict[str, PositiveFloat]] = Field(default_factory=dict)

    @field_validator("limits")
    @classmethod
    def _known(cls, limits: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for key, values in limits.items():
            if key not in DEFAULT_LIMITS:
                raise ValueError(f"unknown key {key!r}; expected one of {', '.join(DEFAULT_LIMITS)}")
            unknown = set(values) - set(DEFAULT_LIMITS[key])
            if unknown:
                raise ValueError(f"{key}: unknown resource(s) {sorted(unknown)}; expected {list(DEFAULT_LIMITS[key])}")
        return limits


def _admin(inf: Inference, req: Request) -> Response:
    try:
        body = read_body(req, InferenceKnobs)
    except BadBody as exc:
        return exc.response()
    with inf.lock:
        if body.ratelimit_headers is not None:
            inf.headers_on = body.ratelimit_headers
            inf.sim.state["inference"]["ratelimit_headers"] = inf.headers_on
        for key, values in body.limits.items():
            inf.limits[key].update(values)
    return Response.json({"ratelimit_headers": inf.headers_on, "limits": inf.limits})


def register(sim: Any) -> None:
    inf = Inference(sim)
    sim.resetters.append(inf.reset)

    def bind(fn: Callable[[Inference, Request], Response]) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            return fn(inf, req)

        handler.__name__ = fn.__name__
        return handler

    sim.router.add("POST", "/v1/chat/completions", bind(_openai_chat))
    sim.router.add("POST", "/v1/messages", bind(_anthropic_messages))
    sim.router.add("POST", "/v3/chat", bind(_coze_chat))
    sim.router.add("GET", "/v3/chat/retrieve", bind(_coze_retrieve))
    sim.router.add("GET", "/v1/models", bind(_models))
    sim.router.add("POST", "/_sim/inference", bind(_admin))
