"""Durations written the way Prometheus writes them (``30s``, ``5m``, ``1h30m``, ``500ms``)."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


def parse_duration(text: object) -> float:
    """Parse a Prometheus duration into seconds; raise ValueError with a helpful message otherwise."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"expected a duration such as 30s or 5m, got {text!r} (a unit is required)")
    value = text.strip()
    if not value or not _WHOLE.match(value):
        raise ValueError(f"invalid duration {text!r}: use Prometheus durations such as 500ms, 30s, 5m, 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds back into the shortest Prometheus duration (used by generators and the landing page)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out or "0s"
