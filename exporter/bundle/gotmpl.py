"""Expand the small subset of Prometheus alert templates the generated rules use, exactly as Prometheus does.

Why: ``promtool test rules`` compares the annotations of a firing alert character for character, so the generated
unit tests must carry the text Prometheus will produce. The humanize functions are ports of Prometheus'
``template/template.go``; only ``{{ $labels.NAME }}`` and ``{{ $value }}`` piped through one of them (or through
``printf "%.Nf"``) are supported, and anything else in a template is an error rather than a silent mismatch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

_SI_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def _g4(v: float) -> str:
    """Go's ``%.4g`` (same rules as C's for finite numbers; Go spells infinities ``+Inf``/``-Inf``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def _scale_down(v: float) -> tuple[float, str]:
    """A magnitude below 1 multiplied by 1000 until it is at least 1, with the SI prefix that undoes it (m, u...)."""
    prefix = ""
    for p in _SI_SMALL:
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return v, prefix


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in _SI_BIG:
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return f"{_g4(v)}{prefix}"
    v, prefix = _scale_down(v)
    return f"{_g4(v)}{prefix}"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return f"{_g4(v)}s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        whole = int(v)
        seconds, minutes, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    v, prefix = _scale_down(v)
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(v: float) -> str:
    return f"{_g4(v * 100)}%"


def _go_float(v: float) -> str:
    """``{{ $value }}``: Go's %v of a float64 (shortest representation, exponent from 1e21)."""
    if math.isinf(v) or math.isnan(v):
        return _g4(v)
    text = repr(float(v))
    if text.endswith(".0"):
        text = text[:-2]
    return text


FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PRINTF = re.compile(r'^printf\s+"%\.(\d)f"$')


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """The text Prometheus renders for ``template`` with these labels and value."""

    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("$labels."):
            name = body[len("$labels.") :]
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
                raise ValueError(f"unsupported template action {{{{ {body} }}}}")
            return str(labels.get(name, ""))
        parts = [p.strip() for p in body.split("|")]
        if parts[0] != "$value" or len(parts) > 2:
            raise ValueError(f"unsupported template action {{{{ {body} }}}}")
        if len(parts) == 1:
            return _go_float(value)
        fn = parts[1]
        if fn in FUNCTIONS:
            return FUNCTIONS[fn](value)
        printf = _PRINTF.match(fn)
        if printf:
            return f"{value:.{int(printf.group(1))}f}"
        raise ValueError(f"unsupported template function {fn!r}")

    return _ACTION.sub(action, template)
