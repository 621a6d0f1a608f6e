"""``anthropic``: ``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version``.

Non-streaming: success is a 2xx ``{"type": "message", "content": [...]}``. Streaming follows the documented event
sequence ``message_start`` (input token usage) -> ``content_block_start`` -> ``content_block_delta``... ->
``content_block_stop`` -> ``message_delta`` (cumulative output tokens) -> ``message_stop``, with ``ping`` events
anywhere. The time to first token is taken at the first ``content_block_delta`` carrying text or thinking. A
stream that ends before ``message_stop`` is an ``invalid_response``; an ``error`` event (Anthropic sends
``overloaded_error`` this way after a 200) is an error whose code is the status Anthropic documents for that
type (529 for ``overloaded_error``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exporter.config import AnthropicProbeConfig
from exporter.probes.base import Call, ChatProbe, follow_stream, merge_body, parse_event_json
from exporter.probes.errors import ANTHROPIC_STATUS, error_fields
from exporter.probes.transport import ProbeError


def event_error(data: dict[str, Any], status: int) -> ProbeError:
    kind, message = error_fields(data)
    return ProbeError(ANTHROPIC_STATUS.get(kind, str(status)), f"error in a {status} answer: {message}", kind)


def add_usage(call: Call, usage: Any, *, output: bool = True, input_: bool = True) -> None:
    if not isinstance(usage, dict):
        return
    if input_:
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            call.add_tokens("input", usage.get(key))
    if output:
        call.add_tokens("output", usage.get("output_tokens"))


class AnthropicStream:
    """Reads Messages API stream events. :meth:`feed` returns True for an event carrying generated text."""

    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.input_usage: dict[str, Any] | None = None
        self.output_tokens: Any = None
        self.events = 0

    def feed(self, event: str, data: str) -> bool:
        payload = parse_event_json(data, event or "message event")
        if not isinstance(payload, dict):
            raise ProbeError("invalid_response", f"{event} event is not an object")
        kind = payload.get("type") or event
        self.events += 1
        if kind == "error":
            raise event_error(payload, 200)
        if kind == "message_start":
            self.started = True
            message = payload.get("message") or {}
            self.input_usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(self.input_usage, dict):
                self.output_tokens = self.input_usage.get("output_tokens")
        elif kind == "message_delta":
            usage = payload.get("usage")
            if isinstance(usage, dict) and usage.get("output_tokens") is not None:
                self.output_tokens = usage["output_tokens"]  # cumulative
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            return isinstance(delta, dict) and bool(
                delta.get("text") or delta.get("thinking") or delta.get("partial_json")
            )
        return False


class AnthropicProbe(ChatProbe[AnthropicProbeConfig]):
    kind = "anthropic"

    def default_path(self) -> str:
        return "/v1/messages"

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.api_key, "anthropic-version": self.config.anthropic_version}

    def body(self) -> dict[str, Any]:
        cfg = self.config
        body = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "stream": cfg.stream,
            "messages": [{"role": "user", "content": cfg.prompt}],
        }
        return merge_body(body, cfg.extra_body)

    def answer_error(self, data: dict[str, Any], status: int) -> ProbeError | None:
        return event_error(data, status) if data.get("type") == "error" or "error" in data else None

    def record_answer(self, call: Call, data: dict[str, Any]) -> None:
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            raise ProbeError("invalid_response", "answer is not a message with content")
        add_usage(call, data.get("usage"))

    def read_stream(self, call: Call, lines: Iterator[bytes]) -> None:
        stream = AnthropicStream()
        try:
            follow_stream(call, lines, stream.feed, lambda: stream.stopped)
        finally:
            add_usage(call, stream.input_usage, output=False)
            call.add_tokens("output", stream.output_tokens)
        if not stream.stopped:
            raise ProbeError("invalid_response", f"stream ended after {stream.events} events without message_stop")
