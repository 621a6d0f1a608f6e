"""Rate-limit headroom from response headers: OpenAI ``x-ratelimit-*`` and Anthropic ``anthropic-ratelimit-*``.

OpenAI sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with resets as Go duration strings
(``6m0s``, ``12ms``, ``1.5s``); Anthropic sends ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
{limit,remaining,reset}`` with resets as RFC 3339 timestamps. OpenAI-compatible providers copy either style, and
some send a plain number of seconds or a Unix time, so :func:`parse_reset` accepts all of them. Headers are often
absent (some models, some endpoints, error answers): a missing or unreadable header yields no entry, never 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

RESOURCES = ("requests", "tokens", "input_tokens", "output_tokens")
KINDS = ("limit", "remaining", "reset")

_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_WHOLE = re.compile(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds from a Go ``time.Duration`` string (``6m0s``, ``12ms``, ``1h2m3.5s``, ``0``); None if not one."""
    value = text.strip()
    if value == "0":
        return 0.0
    if not _GO_WHOLE.match(value):
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(value))


def parse_reset(text: str, now: float) -> float | None:
    """Seconds from ``now`` until a rate limit resets, from a Go duration, an RFC 3339 timestamp, a number of
    seconds, or a Unix time in seconds or milliseconds. Never negative; None if unreadable."""
    value = text.strip()
    if not value:
        return None
    seconds = parse_go_duration(value)
    if seconds is not None:
        return seconds
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            return None
        if number > 1e12:  # Unix milliseconds
            return max(0.0, number / 1000 - now)
        if number > 1e9:  # Unix seconds
            return max(0.0, number - now)
        return number
    try:
        when = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_ratelimit_headers(headers: Mapping[str, str], now: float) -> dict[tuple[str, str], float]:
    """``{(kind, resource): value}`` for every readable rate-limit header; kind is limit, remaining or reset
    (seconds from ``now``). Header names are matched case-insensitively."""
    lower = {k.lower(): v for k, v in headers.items()}
    out: dict[tuple[str, str], float] = {}
    for resource in RESOURCES:
        for kind in KINDS:
            names = (f"x-ratelimit-{kind}-{resource}", f"anthropic-ratelimit-{resource.replace('_', '-')}-{kind}")
            for name in names:
                raw = lower.get(name)
                if raw is None:
                    continue
                value = parse_reset(raw, now) if kind == "reset" else _number(raw)
                if value is not None:
                    out[(kind, resource)] = value
                    break
    return out
