"""Series budgets: how many series a family and a source may have, and what happens beyond (folded into ``other``).

Why combinations and not only values: capping each label at N values still allows N x N x N series (200 apps x 200
channels took an exporter from 48 MB to 459 MB). A budget counts series as Prometheus does (a histogram series
is its buckets plus ``_sum`` and ``_count``); a new series that does not fit is folded: its open labels (values
chosen by outsiders: app, model, project...) become ``other`` while closed labels (llmpulse's own vocabularies
such as ``outcome`` or ``token_type``) stay. The ``other`` series come on top of the budget, one per
combination of closed labels at most, so they are bounded too. Series that already
exist keep their place, so folding never moves a counter from one series to another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.contract import BASE_LABELS, Family

OTHER = "other"
#: Labels whose values come from a small vocabulary of llmpulse itself: never folded.
CLOSED_LABELS = frozenset({"outcome", "token_type", "event", "reason", "window", "phase", "metric", "le"})

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SeriesBudget:
    """At most ``per_family`` series per family and ``total`` series in all (None: unbounded)."""

    per_family: int | None = None
    total: int | None = None

    @property
    def bounded(self) -> bool:
        return self.per_family is not None or self.total is not None


def series_cost(family: Family) -> int:
    """Series one label set of ``family`` puts in the exposition."""
    return len(family.buckets) + 3 if family.type == "histogram" else 1


def fold_key(family: Family, key: LabelKey, keep: Iterable[str] = ()) -> LabelKey:
    """``key`` with every open label of ``family`` set to ``other`` (base, closed and ``keep`` labels stay)."""
    fixed = set(BASE_LABELS) | CLOSED_LABELS | set(keep)
    own = family.all_labels
    return tuple((name, OTHER if name in own and name not in fixed else value) for name, value in key)


class BudgetLedger:
    """Counts the series admitted under a budget and decides, for a new series, whether it fits."""

    def __init__(self, budget: SeriesBudget) -> None:
        self.budget = budget
        self.used: dict[str, int] = {}
        self.total = 0

    def fits(self, family: Family) -> bool:
        cost = series_cost(family)
        per_family, total = self.budget.per_family, self.budget.total
        if per_family is not None and self.used.get(family.name, 0) + cost > per_family:
            return False
        return total is None or self.total + cost <= total

    def add(self, family: Family) -> None:
        cost = series_cost(family)
        self.used[family.name] = self.used.get(family.name, 0) + cost
        self.total += cost

    def remove(self, family: Family) -> None:
        cost = series_cost(family)
        self.used[family.name] = max(0, self.used.get(family.name, 0) - cost)
        self.total = max(0, self.total - cost)


def fold_series(
    family: Family, series: dict[LabelKey, float], ledger: BudgetLedger, previous: set[LabelKey]
) -> tuple[dict[LabelKey, float], int]:
    """Fit one family of a poll into ``ledger``: series admitted last poll first (so a series keeps its place),
    then new ones, largest first; the rest are summed into their folded key. Returns the new series and how
    many were folded."""
    out: dict[LabelKey, float] = {}
    folded = 0
    order = sorted(series.items(), key=lambda kv: (kv[0] not in previous, -abs(kv[1])))
    for key, value in order:
        if ledger.fits(family):
            ledger.add(family)
            out[key] = out.get(key, 0.0) + value
            continue
        other = fold_key(family, key)
        if other not in out:
            ledger.add(family)
        if other != key:  # a series of closed labels only (bounded by llmpulse itself) is never folded
            folded += 1
        out[other] = out.get(other, 0.0) + value
    return out, folded
