"""``openai_compatible``: ``POST /v1/chat/completions`` (OpenAI, DeepSeek, Moonshot/Kimi, Qwen compatible mode,
OpenRouter, SiliconFlow, vLLM, Ollama...).

Non-streaming: success is a 2xx JSON body with a ``choices`` list; ``usage.prompt_tokens`` and
``completion_tokens`` are what the probe spent. Streaming (``stream: true``) asks for
``stream_options.include_usage`` so the last chunk carries the usage; the time to first token is taken at the
first chunk whose delta has text (``content``, ``reasoning_content`` of reasoning models, ``refusal`` or a tool
call), not at the first byte: the first chunk of an OpenAI stream is a role-only delta sent before the model has
produced anything. A stream must end with ``data: [DONE]`` or a ``finish_reason``; one that stops earlier is an
``invalid_response``. An ``error`` object inside a 200 answer or stream is an error with the status OpenAI
documents for its code (``rate_limit_exceeded`` -> 429), else the status received.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exporter.config import OpenAICompatibleProbeConfig
from exporter.probes.base import Call, ChatProbe, follow_stream, merge_body, parse_event_json
from exporter.probes.errors import OPENAI_STATUS, error_fields
from exporter.probes.transport import ProbeError


def body_error(data: dict[str, Any], status: int) -> ProbeError:
    kind, message = error_fields(data)
    err = data.get("error")
    numeric = err.get("code") if isinstance(err, dict) else None
    # OpenRouter puts the HTTP status into error.code; OpenAI a string code we map to its documented status.
    known = isinstance(numeric, int) and not isinstance(numeric, bool) and 400 <= numeric <= 599
    code = str(numeric) if known else OPENAI_STATUS.get(kind, str(status))
    return ProbeError(code, f"error in a {status} answer: {message}", kind)


def add_usage(call: Call, usage: Any) -> None:
    if isinstance(usage, dict):
        call.add_tokens("input", usage.get("prompt_tokens"))
        call.add_tokens("output", usage.get("completion_tokens"))


class OpenAIStream:
    """Reads the chunks of a chat completion stream. :meth:`feed` returns True for a chunk carrying text."""

    def __init__(self) -> None:
        self.finished = False  # [DONE] seen
        self.finish_reason = False
        self.chunks = 0
        self.usage: dict[str, Any] | None = None

    def feed(self, event: str, data: str) -> bool:
        if data.strip() == "[DONE]":
            self.finished = True
            return False
        chunk = parse_event_json(data, "chat completion chunk")
        if not isinstance(chunk, dict):
            raise ProbeError("invalid_response", "chat completion chunk is not an object")
        if "error" in chunk:
            raise body_error(chunk, 200)
        self.chunks += 1
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        content = False
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict) and any(
                delta.get(k) for k in ("content", "reasoning_content", "refusal", "tool_calls", "reasoning")
            ):
                content = True
            if choice.get("finish_reason"):
                self.finish_reason = True
        return content

    @property
    def complete(self) -> bool:
        """[DONE] arrived, or at least a finish_reason (a server that omits [DONE] but finished the answer)."""
        return self.finished or self.finish_reason


class OpenAICompatibleProbe(ChatProbe[OpenAICompatibleProbeConfig]):
    kind = "openai_compatible"

    def default_path(self) -> str:
        return "/v1/chat/completions"

    def body(self) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": [{"role": "user", "content": cfg.prompt}],
            cfg.max_tokens_param: cfg.max_tokens,
            "stream": cfg.stream,
        }
        if cfg.stream:
            body["stream_options"] = {"include_usage": True}
        return merge_body(body, cfg.extra_body)

    def answer_error(self, data: dict[str, Any], status: int) -> ProbeError | None:
        return body_error(data, status) if "error" in data else None

    def record_answer(self, call: Call, data: dict[str, Any]) -> None:
        if not isinstance(data.get("choices"), list):
            raise ProbeError("invalid_response", "answer has no choices list")
        add_usage(call, data.get("usage"))

    def read_stream(self, call: Call, lines: Iterator[bytes]) -> None:
        stream = OpenAIStream()
        follow_stream(call, lines, stream.feed, lambda: stream.finished)
        add_usage(call, stream.usage)
        if not stream.complete:
            raise ProbeError("invalid_response", f"stream ended after {stream.chunks} chunks without [DONE]")
