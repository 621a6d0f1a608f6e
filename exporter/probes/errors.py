"""What a provider's error body says: the ``error_type`` label and a short message.

Shapes handled: OpenAI ``{"error": {"type", "code", "message"}}`` (``code`` is the more specific one:
``rate_limit_exceeded`` where ``type`` is just ``tokens``, ``invalid_api_key`` where ``type`` is
``invalid_request_error``), Anthropic ``{"type": "error", "error": {"type", "message"}}``, OpenRouter's numeric
``error.code``, and Coze ``{"code", "msg"}``. Label values are checked so a provider putting prose into a type
field cannot create unbounded or unreadable series.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

#: HTTP status Anthropic documents for each error type (errors.md); used for errors sent inside a 200 stream.
ANTHROPIC_STATUS = {
    "invalid_request_error": "400",
    "authentication_error": "401",
    "billing_error": "402",
    "permission_error": "403",
    "not_found_error": "404",
    "conflict_error": "409",
    "request_too_large": "413",
    "rate_limit_error": "429",
    "api_error": "500",
    "timeout_error": "504",
    "overloaded_error": "529",
}
#: The same for OpenAI error codes/types that can arrive inside a 200 stream.
OPENAI_STATUS = {
    "invalid_api_key": "401",
    "rate_limit_exceeded": "429",
    "insufficient_quota": "429",
    "server_error": "500",
    "model_not_found": "404",
    "invalid_request_error": "400",
}


def clean_type(value: Any) -> str:
    """A provider error type usable as a label value, or empty."""
    if isinstance(value, str) and _TYPE_RE.match(value):
        return value
    return ""


def error_fields(data: Any) -> tuple[str, str]:
    """(error_type, message) from a decoded error body of any supported shape."""
    if not isinstance(data, dict):
        return "", ""
    err = data.get("error")
    if isinstance(err, dict):
        kind = clean_type(err.get("code")) or clean_type(err.get("type"))
        message = err.get("message") or err.get("msg") or ""
        return kind, str(message)[:200]
    if isinstance(err, str):
        return clean_type(data.get("type")) if data.get("type") != "error" else "", err[:200]
    message = data.get("msg") or data.get("message") or ""
    return "", str(message)[:200]


def decode_error(body: bytes) -> tuple[str, str]:
    """(error_type, message) from a raw error body; a non-JSON body (an HTML gateway page) gives no type."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = re.sub(r"<[^>]+>", " ", body[:2000].decode("utf-8", "replace"))
        return "", " ".join(text.split())[:200]
    return error_fields(data)
