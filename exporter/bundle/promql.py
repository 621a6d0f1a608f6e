"""PromQL for the dashboards: selectors built from contract families, and a small analyser of expressions.

Builders: every metric name in a dashboard comes from an :class:`exporter.contract.Family`, never from a string,
and every selector carries the dashboard's variable filters for exactly the labels its family has (a ``$model``
filter on a family without a ``model`` label would silently match nothing). Labels of extra matchers are checked
against the family too, so a typo fails at generation time instead of leaving a panel empty.

Analyser: :func:`analyse` tokenises an expression (it is not a full parser, but it understands everything the
generator writes: selectors, label matchers, ranges, function calls, aggregations with ``by``/``without``, vector
matching with ``on``/``ignoring``/``group_left``) and reports each vector selector with the function that directly
encloses it and its range. The dashboard lint tests and the end-to-end test use it to find metric names, ranges
and counters used outside rate/irate/increase.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.utils import floatToGoString

from exporter.contract import BUILD_INFO, REPLICA_LABELS, Family, identical_across_replicas

#: Grafana's rate window: max($__interval + scrape interval, 4 x scrape interval); see docs/dashboards.md.
RATE = "$__rate_interval"
#: The dashboard's whole time range (for "in the selected range" totals).
RANGE = "$__range"

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Variable:
    """A dashboard query variable: the label it filters, the regex Grafana sends for "All", and the small
    families its values are read from (``label_values`` of a few named families is cheap; of every llmpulse
    series, ``{__name__=~"llmpulse_.+"}``, it is not)."""

    name: str
    label: str
    all_value: str
    families: tuple[str, ...]


#: The scrape variables, on every dashboard before the domain ones: pick one exporter job or replica. "All" is
#: ".*": history imported by ``llmpulse backfill`` (and series some remote stores relabel) carries no job or
#: instance label, and must still show under the default selection.
SCRAPE_VARIABLES: tuple[Variable, ...] = (
    Variable("job", "Job", ".*", (BUILD_INFO.name,)),
    Variable("instance", "Instance", ".*", (BUILD_INFO.name,)),
)
#: Small families that carry every provider and source: one self-metric per poller, per probe, per events source.
_PER_SOURCE = ("llmpulse_source_up", "llmpulse_probe_success", "llmpulse_events_received_total")
#: The domain variables, in dropdown order. provider and source are on every series, so "All" is ".+";
#: model and project are missing or empty on some series (cost has no model), so "All" must also match "".
VARIABLES: tuple[Variable, ...] = (
    Variable("provider", "Provider", ".+", _PER_SOURCE),
    Variable("source", "Source", ".+", _PER_SOURCE),
    Variable(
        "model",
        "Model",
        ".*",
        ("llmpulse_probe_success", "llmpulse_cost_estimated_usd_total", "llmpulse_events_tokens_total"),
    ),
    Variable("project", "Project", ".*", ("llmpulse_cost_usd_total", "llmpulse_cost_estimated_usd_total")),
)
VARIABLES_BY_NAME = {v.name: v for v in (*SCRAPE_VARIABLES, *VARIABLES)}
SCRAPE_VARIABLE_NAMES = tuple(v.name for v in SCRAPE_VARIABLES)


def dedup(expr: str) -> str:
    """One series for all replicas of the exporter: ``max without (instance, pod)``."""
    return f"max without ({', '.join(REPLICA_LABELS)}) ({expr})"


def le(bound: float) -> str:
    """The ``le`` label value the exposition writes for a bucket bound (``10.0``, not ``10``)."""
    return floatToGoString(bound)


def _matcher(label: str, value: str) -> str:
    for op in ("=~", "!~", "!="):
        if value.startswith(op):
            return f'{label}{op}"{value[len(op) :]}"'
    return f'{label}="{value}"'


@dataclass(frozen=True)
class DashboardQueries:
    """PromQL builders bound to the variables a dashboard defines (so no query refers to an undefined one)."""

    variables: tuple[str, ...] = tuple(v.name for v in VARIABLES)

    def sel(self, family: Family, suffix: str = "", **matchers: str) -> str:
        """The family's current values as an instant vector: ``name{filters}``, deduplicated across exporter
        replicas (``max without (instance, pod)``) when every replica reports the family identically, so a
        ``sum`` over it never counts a replica twice. Families each replica produces on its own stay per series
        (sum them)."""
        raw = self.raw(family, suffix, **matchers)
        return dedup(raw) if identical_across_replicas(family) else raw

    def raw(self, family: Family, suffix: str = "", **matchers: str) -> str:
        """``name{job, instance and variable filters..., matchers...}``, for range functions and joins.
        A matcher value may start with ``=~``, ``!~`` or ``!=``."""
        if suffix and (family.type != "histogram" or suffix not in HISTOGRAM_SUFFIXES):
            raise ValueError(f"{family.name} has no {suffix} series")
        labels = family.all_labels
        if suffix == "_bucket":
            labels = labels | {"le"}
        parts = [f'{v}=~"${v}"' for v in SCRAPE_VARIABLE_NAMES]
        parts += [f'{v}=~"${v}"' for v in self.variables if v in labels and v not in matchers]
        for label, value in matchers.items():
            if label not in labels:
                raise ValueError(f"{family.name} has no label {label!r}")
            parts.append(_matcher(label, value))
        inner = ", ".join(parts)
        return f"{family.name}{suffix}{{{inner}}}" if inner else f"{family.name}{suffix}"

    def over(self, func: str, family: Family, window: str, suffix: str = "", **matchers: str) -> str:
        """``func(name{...}[window])``, deduplicated across replicas like :meth:`sel`."""
        expr = f"{func}({self.raw(family, suffix, **matchers)}[{window}])"
        return dedup(expr) if identical_across_replicas(family) else expr

    def rate(self, family: Family, suffix: str = "", window: str = RATE, **matchers: str) -> str:
        return self.over("rate", family, window, suffix, **matchers)

    def increase(self, family: Family, window: str, suffix: str = "", **matchers: str) -> str:
        return self.over("increase", family, window, suffix, **matchers)

    def quantile(
        self, q: float, family: Family, by: Sequence[str] = (), window: str = RATE, func: str = "rate", **matchers: str
    ) -> str:
        """``histogram_quantile`` over the family's buckets, aggregated by ``le`` and ``by``."""
        inner = self.over(func, family, window, "_bucket", **matchers)
        return f"histogram_quantile({q}, {sum_by(('le', *by), inner)})"


def sum_by(by: Iterable[str], expr: str, agg: str = "sum") -> str:
    labels = ", ".join(by)
    return f"{agg} by ({labels}) ({expr})" if labels else f"{agg}({expr})"


def zero_series(**labels: str) -> str:
    """A single 0-valued series with the given labels: the honest reading of "none happened" for a count whose
    series only appear after the first event (e.g. errors by code in a healthy system)."""
    expr = "vector(0)"
    for label, value in sorted(labels.items()):
        expr = f'label_replace({expr}, "{label}", "{value}", "", "")'
    return expr


def or_zero(expr: str, **labels: str) -> str:
    return f"({expr}) or {zero_series(**labels)}"


# --------------------------------------------------------------------------------------------------------------
# Analyser
# --------------------------------------------------------------------------------------------------------------

#: Words that are never metric names (keywords, and number literals spelled as words).
KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "inf",
        "nan",
    }
)
#: Keywords followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
#: Functions whose range argument is a counter's window.
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_]))
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|=~|!~|<=|>=|[-+*/%^<>=(){},])
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name, its range (``None`` if instant), and the function that directly
    takes it as an argument (``None`` if it is not the direct argument of a call)."""

    name: str
    range: str | None
    call: str | None
    #: label names of its matchers, e.g. ("provider", "outcome")
    labels: tuple[str, ...] = ()


@dataclass
class Analysis:
    selectors: list[Selector] = field(default_factory=list)
    #: (enclosing function, range text) for every range in the expression.
    ranges: list[tuple[str | None, str]] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)

    @property
    def metric_names(self) -> set[str]:
        return {s.name for s in self.selectors}


class PromQLSyntaxError(ValueError):
    pass


def tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m:
            raise PromQLSyntaxError(f"unexpected {expr[pos : pos + 20]!r} at {pos} in {expr!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


def analyse(expr: str) -> Analysis:
    """Find selectors, ranges and calls in ``expr`` (see the module docstring for what is understood)."""
    toks = tokens(expr)
    result = Analysis()
    # Stack of open parentheses: the function owning each ("" for grouping parens, None for label lists).
    stack: list[str | None] = []
    i = 0
    brace_depth = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if brace_depth:  # inside {label matchers}: label names and strings, nothing to record
            brace_depth += text == "{"
            brace_depth -= text == "}"
            i += 1
            continue
        if text == "{":  # a selector with no metric name, e.g. {__name__=~"..."}
            brace_depth = 1
        elif text == "(":
            stack.append("")
        elif text == ")":
            if not stack:
                raise PromQLSyntaxError(f"unbalanced ')' in {expr!r}")
            stack.pop()
        elif kind == "range":
            result.ranges.append((stack[-1] if stack else None, text[1:-1]))
        elif kind == "ident" and text.lower() in LABEL_LIST_KEYWORDS:
            if nxt[1] == "(":  # skip the label list
                close = next((j for j in range(i + 2, len(toks)) if toks[j][1] == ")"), None)
                if close is None:
                    raise PromQLSyntaxError(f"unclosed label list in {expr!r}")
                i = close + 1
                continue
        elif kind == "ident" and text.lower() in KEYWORDS:
            pass
        elif kind == "ident" and (nxt[1] == "(" or (nxt[0] == "ident" and nxt[1] in LABEL_LIST_KEYWORDS)):
            # a function call or an aggregation (possibly "sum by (x) (...)")
            result.calls.add(text)
            j = i + 1
            if toks[j][1] != "(":  # skip "by (labels)" between the aggregator and its argument
                close = next((k for k in range(j + 2, len(toks)) if toks[k][1] == ")"), None)
                if close is None or close + 1 >= len(toks) or toks[close + 1][1] != "(":
                    raise PromQLSyntaxError(f"malformed aggregation {text!r} in {expr!r}")
                j = close + 1
            stack.append(text)
            i = j + 1
            continue
        elif kind == "ident":
            i = _selector(toks, i, stack, result)
            continue
        i += 1
    if stack or brace_depth:
        raise PromQLSyntaxError(f"unbalanced brackets in {expr!r}")
    return result


def _selector(toks: list[tuple[str, str]], i: int, stack: list[str | None], result: Analysis) -> int:
    """Record the selector starting at ``toks[i]``; return the index after it (and its range, if any)."""
    name = toks[i][1]
    direct_call = stack[-1] if stack and i > 0 and toks[i - 1][1] == "(" else None
    j = i + 1
    labels: list[str] = []
    if j < len(toks) and toks[j][1] == "{":
        depth = 0
        while j < len(toks):
            depth += toks[j][1] == "{"
            depth -= toks[j][1] == "}"
            if toks[j][0] == "ident" and j + 1 < len(toks) and toks[j + 1][1] in ("=", "!=", "=~", "!~"):
                labels.append(toks[j][1])
            j += 1
            if depth == 0:
                break
        if depth:
            raise PromQLSyntaxError(f"unclosed label matchers after {name}")
    rng = None
    if j < len(toks) and toks[j][0] == "range":
        rng = toks[j][1][1:-1]
        result.ranges.append((stack[-1] if stack else None, rng))
        j += 1
    closes_call = j < len(toks) and toks[j][1] in (")", ",")
    result.selectors.append(Selector(name, rng, direct_call if closes_call else None, tuple(labels)))
    return j


def metric_names(expr: str) -> set[str]:
    return analyse(expr).metric_names
