"""``coze``: a bot chat, ``POST /v3/chat`` on ``api.coze.cn`` or ``api.coze.com``.

Coze answers business errors as HTTP 200 with a non-zero ``code`` (4100 bad token, 4101 no permission, 4013
rate limited...): those are errors with that code. An HTTP error status (a gateway 502, a 429) is an error with
the status, as for every other provider.

Streaming (recommended): one call whose events are ``conversation.chat.created`` -> ``...in_progress`` ->
``conversation.message.delta``... -> ``conversation.message.completed`` -> ``conversation.chat.completed``
(with ``usage``) -> ``done``. The time to first token is the first ``conversation.message.delta`` with text. An
``error`` event or ``conversation.chat.failed`` is an error with the body code (``last_error.code``). The probe
sends ``auto_save_history: false`` so probes do not fill the bot's conversation history.

Non-streaming: Coze returns at once with ``status: in_progress`` and the answer has to be fetched with
``GET /v3/chat/retrieve`` (Coze requires ``auto_save_history: true`` here, so each probe leaves a conversation).
The probe polls right away and then once a second (as coze-py's ``create_and_poll`` does, staying under the
free tier's QPS) until ``completed``; the duration covers the whole answer, the connection phases the first call.
``usage`` is informational per Coze's docs (the Volcano Engine bill is authoritative).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from exporter.config import CozeProbeConfig
from exporter.probes.base import Call, ChatProbe, follow_stream, http_error, merge_body, parse_event_json, read_json
from exporter.probes.transport import ProbeError, remaining

POLL_INTERVAL = 1.0
DONE_STATUSES = ("completed", "failed", "requires_action", "canceled")


def envelope_error(data: Any) -> ProbeError | None:
    """The error a Coze envelope reports (non-zero ``code``), or None for ``code: 0``."""
    if not isinstance(data, dict) or not isinstance(data.get("code"), int) or isinstance(data.get("code"), bool):
        return ProbeError("invalid_response", "answer is not a Coze envelope with an integer code")
    if data["code"] != 0:
        return ProbeError(str(data["code"]), f"Coze code {data['code']}: {str(data.get('msg') or '')[:200]}")
    return None


def chat_failure(chat: dict[str, Any]) -> ProbeError:
    last = chat.get("last_error") if isinstance(chat.get("last_error"), dict) else {}
    code = last.get("code") if isinstance(last, dict) else None
    label = str(code) if isinstance(code, int) and code != 0 else "invalid_response"
    return ProbeError(label, f"chat {chat.get('status')}: {str((last or {}).get('msg') or '')[:200]}")


def add_usage(call: Call, usage: Any) -> None:
    if isinstance(usage, dict):
        call.add_tokens("input", usage.get("input_count"))
        call.add_tokens("output", usage.get("output_count"))


class CozeStream:
    """Reads Coze chat stream events. :meth:`feed` returns True for a message delta carrying text."""

    def __init__(self) -> None:
        self.completed = False
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.events = 0

    def feed(self, event: str, data: str) -> bool:
        self.events += 1
        if event == "done":
            self.done = True
            return False
        payload = parse_event_json(data, event)
        if event == "error":
            err = envelope_error(payload)
            raise err or ProbeError("invalid_response", "error event without a code")
        if not isinstance(payload, dict):
            raise ProbeError("invalid_response", f"{event} event is not an object")
        if event == "conversation.chat.failed":
            raise chat_failure(payload)
        if event == "conversation.chat.completed":
            self.completed = True
            self.usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None
        if event == "conversation.message.delta":
            return payload.get("type", "answer") == "answer" and bool(
                payload.get("content") or payload.get("reasoning_content")
            )
        return False


class CozeProbe(ChatProbe[CozeProbeConfig]):
    kind = "coze"

    def default_path(self) -> str:
        return "/v3/chat"

    def body(self) -> dict[str, Any]:
        cfg = self.config
        body = {
            "bot_id": cfg.bot_id,
            "user_id": cfg.user_id,
            "stream": cfg.stream,
            "auto_save_history": not cfg.stream,
            "additional_messages": [{"role": "user", "content": cfg.prompt, "content_type": "text"}],
        }
        return merge_body(body, cfg.extra_body)

    def answer_error(self, data: dict[str, Any], status: int) -> ProbeError | None:
        return envelope_error(data)

    def record_answer(self, call: Call, data: dict[str, Any]) -> None:
        """The first answer of a non-streaming chat only starts it: poll until the chat is done."""
        self._poll(call, self._chat(data))

    @staticmethod
    def _chat(envelope: dict[str, Any]) -> dict[str, Any]:
        chat = envelope.get("data")
        if not isinstance(chat, dict) or not chat.get("status"):
            raise ProbeError("invalid_response", "Coze answer has no chat object")
        return chat

    @classmethod
    def _data(cls, envelope: Any) -> dict[str, Any]:
        err = envelope_error(envelope)
        if err is not None:
            raise err
        return cls._chat(envelope)

    def _poll(self, call: Call, chat: dict[str, Any]) -> None:
        polls = 0
        while chat.get("status") not in DONE_STATUSES:
            if polls:
                time.sleep(min(POLL_INTERVAL, remaining(call.deadline)))
            polls += 1
            query = urlencode({"conversation_id": chat.get("conversation_id", ""), "chat_id": chat.get("id", "")})
            exchange = call.request("GET", f"{self.path}/retrieve?{query}")
            try:
                if not 200 <= exchange.status < 300:
                    raise http_error(exchange)
                chat = self._data(read_json(exchange))
            finally:
                exchange.close()
        if chat["status"] in ("failed", "canceled"):
            raise chat_failure(chat)
        add_usage(call, chat.get("usage"))

    def read_stream(self, call: Call, lines: Iterator[bytes]) -> None:
        stream = CozeStream()
        follow_stream(call, lines, stream.feed, lambda: stream.done)
        add_usage(call, stream.usage)
        if not stream.completed:
            raise ProbeError(
                "invalid_response", f"stream ended after {stream.events} events without conversation.chat.completed"
            )
