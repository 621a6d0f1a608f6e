"""Map fields of a JSON answer to samples by path: the pure part of the ``http_json`` source.

Why not a JSONPath library (jsonpath-ng): an exporter must tell a field that is *absent* (the upstream API renamed
it; count it in ``llmpulse_http_json_missing_values_total``) from a list that is legitimately *empty* (no traffic
today; export nothing, or 0 for a sum). JSONPath libraries answer "no matches" for both. The syntax here is the
small dotted subset people already write for jq and json_exporter, plus one filter form:

- ``data.metrics[*].total_messages``: dotted keys, ``[*]`` (or ``.*``) over every element of a list or value of an
  object, ``[N]`` index (``[-1]`` = last), ``["odd.key"]`` quoted key, optional leading ``$.``;
- ``data.metrics[?date==${today}].total_messages``: keep the list elements whose (relative, dotted) field equals
  (``==``) or differs from (``!=``) a literal: a quoted string, a number, ``true``/``false``/``null`` or a bare word.

Time placeholders ``${today}``, ``${month_start:iso}``, ``${now-1h:unix}``... may appear in the request's path,
params and body and in filter literals; they are expanded per poll in the source's time zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

# --- time placeholders -----------------------------------------------------------------------------------------------
PLACEHOLDER_RE = re.compile(r"\$\{([^}]*)\}")
_PLACEHOLDER_BODY = re.compile(r"^(now|today|yesterday|month_start)(?:-(\d+)([dhm]))?(?::(date|iso|unix|unix_ms))?$")
_OFFSET_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_MAX_OFFSET = timedelta(days=3660)  # ten years back is far beyond any analytics window


def _placeholder_value(body: str, now: datetime) -> str:
    match = _PLACEHOLDER_BODY.match(body.strip())
    if not match:
        raise ValueError(
            f"unknown placeholder ${{{body}}}: use ${{now}}, ${{today}}, ${{yesterday}} or ${{month_start}}, "
            "optionally with an offset (-7d, -2h, -30m) and a format (:date, :iso, :unix, :unix_ms)"
        )
    anchor, amount, unit, fmt = match.groups()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    base = {
        "now": now,
        "today": midnight,
        "yesterday": midnight - timedelta(days=1),
        "month_start": midnight.replace(day=1),
    }[anchor]
    if amount:
        offset = int(amount) * _OFFSET_UNITS[unit] if len(amount) <= 9 else _MAX_OFFSET * 2
        if offset > _MAX_OFFSET:  # a date before year 1 is an OverflowError, not a config error
            raise ValueError(f"placeholder ${{{body}}}: the offset is more than {_MAX_OFFSET.days} days")
        base -= offset
    fmt = fmt or ("iso" if anchor == "now" else "date")
    if fmt == "date":
        return base.strftime("%Y-%m-%d")
    if fmt == "unix":
        return str(int(base.timestamp()))
    if fmt == "unix_ms":
        return str(int(base.timestamp() * 1000))
    text = base.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def expand(text: str, now: datetime) -> str:
    """Replace every ``${...}`` placeholder in ``text`` with its value at ``now`` (an aware datetime)."""
    if "${" not in text:
        return text
    return PLACEHOLDER_RE.sub(lambda m: _placeholder_value(m.group(1), now), text)


def expand_all(value: Any, now: datetime) -> Any:
    """:func:`expand` applied to every string inside a JSON-like value (a request body)."""
    if isinstance(value, str):
        return expand(value, now)
    if isinstance(value, Mapping):
        return {k: expand_all(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_all(v, now) for v in value]
    return value


_PROBE_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=ZoneInfo("UTC"))


def check_placeholders(value: Any) -> None:
    """Raise ValueError if a string inside ``value`` has an unknown placeholder (config-time check)."""
    expand_all(value, _PROBE_TIME)


def now_in(tz_name: str, when: datetime) -> datetime:
    """``when`` in the configured time zone (placeholders use its calendar days)."""
    return when.astimezone(ZoneInfo(tz_name))


# --- path syntax -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Filter:
    path: tuple[Key | Index, ...]
    op: str  # "==" or "!="
    literal: Any


Step = Key | Index | Wildcard | Filter


@dataclass(frozen=True)
class Path:
    """A compiled path. ``special`` is ``@`` (the item itself) or ``@key`` (its key or index) for label paths;
    ``rooted`` label paths (``$.x``) read from the document root instead of the item."""

    text: str
    steps: tuple[Step, ...]
    special: str = ""
    rooted: bool = False

    @property
    def iterates(self) -> bool:
        """True when the path can select several values (a wildcard or a filter)."""
        return any(isinstance(s, Wildcard | Filter) for s in self.steps)


class PathError(ValueError):
    pass


_BARE_KEY = re.compile(r"[^.\[\]\s=!]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> PathError:
        return PathError(f"invalid path {self.text!r} at position {self.pos + 1}: {what}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def eat(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def key(self) -> str:
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group(0)

    def quoted(self) -> str:
        quote = self.peek()
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail("unterminated quoted string")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def steps(self, *, in_filter: bool = False) -> list[Step]:
        steps: list[Step] = []
        first = True
        while self.pos < len(self.text):
            ch = self.peek()
            if in_filter and (ch in "=!" or ch == "]"):
                break
            if ch == "[":
                self.pos += 1
                steps.append(self.bracket(in_filter))
                if not self.eat("]"):
                    raise self.fail("expected ']'")
            elif first or ch == ".":
                if not first:
                    self.pos += 1  # the dot
                steps.append(self.wildcard(in_filter) if self.eat("*") else Key(self.key()))
            else:
                raise self.fail(f"unexpected {ch!r}")
            first = False
        return steps

    def wildcard(self, in_filter: bool) -> Wildcard:
        """A ``*`` just read: every element; a filter compares one value, so it has none."""
        if in_filter:
            raise self.fail("wildcards are not allowed inside a filter")
        return Wildcard()

    def bracket(self, in_filter: bool) -> Step:
        if self.eat("*"):
            return self.wildcard(in_filter)
        if self.peek() in ("'", '"'):
            return Key(self.quoted())
        if self.eat("?"):
            if in_filter:
                raise self.fail("filters cannot be nested")
            self.eat("(")
            self.eat("@.")
            start = self.pos
            rel = self.steps(in_filter=True)
            if not rel or self.pos == start:
                raise self.fail("expected a field name after '?'")
            if self.eat("=="):
                op = "=="
            elif self.eat("!="):
                op = "!="
            else:
                raise self.fail("expected == or != in the filter")
            literal = self.literal()
            self.eat(")")
            return Filter(tuple(s for s in rel if isinstance(s, Key | Index)), op, literal)
        match = re.compile(r"-?\d+").match(self.text, self.pos)
        if not match:
            raise self.fail("expected *, an index, a quoted key or a ?filter inside []")
        self.pos = match.end()
        return Index(int(match.group(0)))

    def literal(self) -> Any:
        if self.peek() in ("'", '"'):
            return self.quoted()
        end = self.text.find("]", self.pos)
        if end < 0:
            raise self.fail("expected ']' after the filter value")
        close = self.text.rfind(")", self.pos, end)
        if close >= 0 and not self.text[close + 1 : end].strip():
            end = close  # the closing parenthesis of [?(@.x==y)]
        raw = self.text[self.pos : end].strip()
        self.pos = end
        if not raw:
            raise self.fail("expected a value after the comparison")
        if raw in ("true", "false"):
            return raw == "true"
        if raw == "null":
            return None
        if _NUMBER.match(raw):
            return float(raw)
        return raw


@lru_cache(maxsize=1024)
def compile_path(text: str, *, label: bool = False) -> Path:
    """Compile a value path (or, with ``label``, a label path that may also be ``@``, ``@key`` or ``$.x``)."""
    raw = text.strip()
    if not raw:
        raise PathError("path is empty")
    if label and raw in ("@", "@key"):
        return Path(raw, (), special=raw)
    rooted = False
    if raw.startswith("$"):
        rooted = label
        raw = raw[1:]
        if raw.startswith("."):
            raw = raw[1:]
        if not raw:
            raise PathError(f"invalid path {text!r}: nothing after '$'")
    elif raw.startswith("@."):
        raw = raw[2:]
    parser = _Parser(raw)
    steps = parser.steps()
    if parser.pos != len(raw):
        raise parser.fail("unexpected text")
    if label and any(isinstance(s, Wildcard | Filter) for s in steps):
        raise PathError(f"invalid label path {text!r}: a label reads one value, wildcards and filters are not allowed")
    return Path(text, tuple(steps), rooted=rooted)


def compile_template(text: str) -> Path:
    """Check a value path that may hold placeholders (config time): expand them with a sample time, compile."""
    check_placeholders(text)
    return compile_path(expand(text, _PROBE_TIME))


# --- evaluation ------------------------------------------------------------------------------------------------------
@dataclass
class Match:
    value: Any
    item: Any  # the element of the last wildcard/filter step (the document root if there is none)
    item_key: Any  # its key (object) or index (list); None for the root


@dataclass
class Result:
    matches: list[Match] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # where the answer lacked what the path asks for


def _describe(steps: Sequence[Step]) -> str:
    out = ""
    for s in steps:
        if isinstance(s, Key):
            out += f".{s.name}" if out else s.name
        elif isinstance(s, Index):
            out += f"[{s.index}]"
        elif isinstance(s, Wildcard):
            out += "[*]"
        else:
            out += "[?...]"
    return out or "$"


_UNSET = object()


def _lookup(node: Any, steps: Sequence[Key | Index]) -> Any:
    """Follow plain key/index steps; :data:`_UNSET` if a step does not exist."""
    for step in steps:
        if isinstance(step, Key):
            if not isinstance(node, Mapping) or step.name not in node:
                return _UNSET
            node = node[step.name]
        else:
            if not isinstance(node, list) or not -len(node) <= step.index < len(node):
                return _UNSET
            node = node[step.index]
    return node


def _literal_equal(value: Any, literal: Any) -> bool:
    if literal is None or isinstance(literal, bool):
        return value is literal or (value == literal and isinstance(value, bool) == isinstance(literal, bool))
    if isinstance(literal, float):
        try:
            number = to_number(value)
        except ValueError:
            return False
        return number is not None and number == literal
    return str(value) == literal if isinstance(value, str | int | float) and not isinstance(value, bool) else False


def evaluate(path: Path, doc: Any) -> Result:
    """Every value ``path`` selects in ``doc``, each with its item; absent fields are reported in ``missing``."""
    result = Result()
    frontier: list[Match] = [Match(doc, doc, None)]
    for depth, step in enumerate(path.steps):
        nxt: list[Match] = []
        where = _describe(path.steps[: depth + 1])
        for m in frontier:
            node = m.value
            if isinstance(step, Key):
                if isinstance(node, Mapping) and step.name in node:
                    nxt.append(Match(node[step.name], m.item, m.item_key))
                else:
                    result.missing.append(
                        f"{where} (no field {step.name!r})"
                        if isinstance(node, Mapping)
                        else f"{where} (found {_kind(node)}, not an object)"
                    )
            elif isinstance(step, Index):
                if isinstance(node, list) and -len(node) <= step.index < len(node):
                    nxt.append(Match(node[step.index], m.item, m.item_key))
                else:
                    result.missing.append(
                        f"{where} (list has {len(node)} elements)"
                        if isinstance(node, list)
                        else f"{where} (found {_kind(node)}, not a list)"
                    )
            elif isinstance(step, Wildcard):
                if isinstance(node, list):
                    nxt.extend(Match(v, v, i) for i, v in enumerate(node))
                elif isinstance(node, Mapping):
                    nxt.extend(Match(v, v, k) for k, v in node.items())
                else:
                    result.missing.append(f"{where} (found {_kind(node)}, not a list or object)")
            else:
                if not isinstance(node, list):
                    result.missing.append(f"{where} (found {_kind(node)}, not a list)")
                    continue
                for i, v in enumerate(node):
                    got = _lookup(v, step.path)
                    equal = got is not _UNSET and _literal_equal(got, step.literal)
                    if equal == (step.op == "=="):
                        nxt.append(Match(v, v, i))
        frontier = nxt
    result.matches = frontier
    return result


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "a boolean"
    if isinstance(node, int | float):
        return "a number"
    if isinstance(node, str):
        return "a string"
    if isinstance(node, list):
        return "a list"
    return "an object"


def read_label(path: Path, match: Match, doc: Any) -> tuple[str, str | None]:
    """The label value for one match, and a problem description if the field is absent or not a scalar."""
    if path.special == "@key":
        return ("" if match.item_key is None else str(match.item_key)), None
    node = match.item if not path.rooted else doc
    if path.special == "@":
        value = node
    else:
        value = _lookup(node, [s for s in path.steps if isinstance(s, Key | Index)])
        if value is _UNSET:
            return "", f"label path {path.text!r} not found"
    if value is None:
        return "", None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)), None
    if isinstance(value, str):
        return value, None
    return "", f"label path {path.text!r} is {_kind(value)}, not a scalar"


# --- values ----------------------------------------------------------------------------------------------------------
def to_number(value: Any, value_map: Mapping[str, float] | None = None) -> float | None:
    """A sample value from a JSON value; None for ``null``; ValueError if it cannot be a number.

    Numbers as they are; booleans 1/0; strings: a ``value_map`` entry, ``true``/``false``, a number
    (``"12.5"``: DeepSeek and SiliconFlow send amounts as strings) or a percentage (``"98.5%"`` -> 0.985, the
    Prometheus base unit for ratios).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value_map and value in value_map:
            return float(value_map[value])
        text = value.strip()
        low = text.lower()
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
        try:
            if text.endswith("%"):
                return float(text[:-1].strip()) / 100.0
            return float(text)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a number") from None
    raise ValueError(f"found {_kind(value)}, not a number")


def reduce_values(select: str, values: Sequence[float]) -> float:
    if select == "first":
        return values[0]
    if select == "last":
        return values[-1]
    if select == "max":
        return max(values)
    if select == "min":
        return min(values)
    if select == "count":
        return float(len(values))
    try:
        return math.fsum(values)  # sum
    except OverflowError:  # past the largest float: refused as non-finite by the poller (invalid_response)
        return math.inf


# Label values that are calendar dates or timestamps: per-day rows must be reduced, never turned into series.
DATE_VALUE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


@dataclass
class Mapped:
    """What one metric produced from one answer: series (label values in ``label_names`` order) and problems."""

    series: dict[tuple[str, ...], float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    matched: bool = False  # the path could be followed (even if it selected nothing)


def map_metric(
    doc: Any,
    path: Path,
    labels: Mapping[str, Path],
    *,
    select: str,
    scale: float = 1.0,
    value_map: Mapping[str, float] | None = None,
) -> Mapped:
    """Apply one metric definition to an answer.

    Matches are grouped by their label values and each group is reduced with ``select`` (``all`` needs one match
    per group). A reduction over an empty selection gives 0 for ``sum``/``count`` when the metric has no labels
    (nothing happened) and no series otherwise.
    """
    out = Mapped()
    result = evaluate(path, doc)
    out.problems.extend(f"missing {m}" for m in _first(result.missing, 3))
    out.matched = not result.missing or bool(result.matches)
    names = list(labels)
    groups: dict[tuple[str, ...], list[float]] = {}
    for match in result.matches:
        key_parts = []
        for name in names:
            value, problem = read_label(labels[name], match, doc)
            if problem:
                out.problems.append(f"label {name}: {problem}")
            if DATE_VALUE_RE.match(value):
                out.problems.append(
                    f"label {name} carries a date ({value!r}): date labels are not allowed, reduce "
                    "per-day rows with select (last, sum...) or a [?date==${today}] filter"
                )
                out.series.clear()
                return out
            key_parts.append(value)
        if select == "count":
            number = 1.0
        else:
            try:
                converted = to_number(match.value, value_map)
            except ValueError as exc:
                out.problems.append(f"{path.text}: {exc}")
                continue
            if converted is None:
                out.problems.append(f"{path.text}: value is null")
                continue
            number = converted
        groups.setdefault(tuple(key_parts), []).append(number)
    for key, values in groups.items():
        if select == "all":
            if len(values) > 1:
                shown = dict(zip(names, key, strict=True))
                out.problems.append(
                    f"{len(values)} values share the labels {shown}: add a label that tells them "
                    "apart, or reduce them with select (last, first, sum, max, min, count)"
                )
                out.series.clear()
                return out
            out.series[key] = values[0] * scale
        else:
            out.series[key] = reduce_values(select, values) * scale
    if not groups and not names and select in ("sum", "count") and not result.missing:
        out.series[()] = 0.0
    return out


def _first(items: Iterable[str], n: int) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
        if len(out) >= n:
            break
    return out
