"""Sample containers: what a poll produces (:class:`MetricSet`) and what live sources accumulate (:class:`LiveMetrics`).

Provider modules build a MetricSet from API answers without knowing about threads, sources or Prometheus client
objects; ``provider`` and ``source`` (and static labels) are added by whoever publishes it. Label names are checked
against the metric contract on every write, so a collector cannot drift from the contract unnoticed.
"""

from __future__ import annotations

import bisect
import builtins
import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from exporter import contract
from exporter.budget import BudgetLedger, SeriesBudget, fold_key
from exporter.contract import BASE_LABELS, Family

LabelKey = tuple[tuple[str, str], ...]

#: What replaces text that cannot be encoded as UTF-8 (U+FFFD REPLACEMENT CHARACTER), as every UTF-8 decoder does.
REPLACEMENT = "\ufffd"


def repair_text(value: str) -> str:
    """``value`` as text that always encodes to UTF-8: lone surrogates (what a JSON ``"\\ud83d"`` escape or a string
    cut inside an emoji decodes to) become U+FFFD, and a surrogate pair left split in two code points is joined.

    Why here: a label value or HELP text that cannot be encoded would make the whole exposition unrenderable. The
    common case (valid text) costs one ``encode`` and returns the same object.
    """
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _repaired(key: LabelKey) -> tuple[LabelKey, int]:
    """``key`` with every value repaired, and how many values needed it."""
    try:
        "".join(value for _, value in key).encode("utf-8")  # one check for the whole key in the common case
        return key, 0
    except UnicodeEncodeError:
        pass
    fixed = [(name, repair_text(value)) for name, value in key]
    count = sum(1 for (_, old), (_, new) in zip(key, fixed, strict=True) if old is not new)
    return (tuple(fixed), count) if count else (key, 0)


#: One shared object per distinct (label name, value) pair: a value that many series carry (a provider, a model, a
#: project) is then stored once, not once per series (at 300,000 series, about 90 MB less). Bounded: beyond
#: :data:`_PAIRS_LIMIT` distinct pairs it starts over (sharing is an optimisation, never needed for correctness).
_PAIRS: dict[tuple[str, str], tuple[str, str]] = {}
_PAIRS_LIMIT = 1 << 18


def _shared(key: LabelKey) -> LabelKey:
    if len(_PAIRS) > _PAIRS_LIMIT:
        _PAIRS.clear()
    return tuple([_PAIRS.setdefault(pair, pair) for pair in key])


def counted_label_key(family: Family, labels: Mapping[str, str], *, with_base: bool = False) -> tuple[LabelKey, int]:
    """Check ``labels`` against the family's contract; return a hashable, ordered key with every value repaired to
    valid UTF-8 (see :func:`repair_text`), and how many values needed repairing."""
    required = set(family.labels) if with_base else set(family.labels) - set(BASE_LABELS)
    allowed = required | set(family.optional_labels)
    keys = set(labels)
    if not required <= keys or not keys <= allowed:
        missing = sorted(required - keys)
        extra = sorted(keys - allowed)
        raise ValueError(f"{family.name}: labels do not match the contract (missing {missing}, unexpected {extra})")
    order = [name for name in (*family.labels, *family.optional_labels) if name in labels]
    key, repaired = _repaired(tuple((name, "" if labels[name] is None else str(labels[name])) for name in order))
    return _shared(key), repaired


def label_key(family: Family, labels: Mapping[str, str], *, with_base: bool = False) -> LabelKey:
    """Check ``labels`` against the family's contract and return a hashable, ordered key of valid UTF-8 values."""
    return counted_label_key(family, labels, with_base=with_base)[0]


class MetricSet:
    """The samples of one poll: family -> label set -> value. Built by one thread, then treated as immutable."""

    def __init__(self) -> None:
        self._data: dict[Family, dict[LabelKey, float]] = {}
        #: Label values that were not valid Unicode and were repaired (see :func:`repair_text`); the poller counts
        #: them in ``llmpulse_label_values_repaired_total``.
        self.repaired = 0

    def _key(self, family: Family, labels: Mapping[str, str]) -> LabelKey:
        key, repaired = counted_label_key(family, labels)
        self.repaired += repaired
        return key

    def add(self, family: Family, value: float, **labels: str) -> None:
        """Accumulate ``value`` into the series (sums buckets and pages)."""
        series = self._data.setdefault(family, {})
        key = self._key(family, labels)
        series[key] = series.get(key, 0.0) + float(value)

    def set(self, family: Family, value: float, **labels: str) -> None:
        """Set the series to ``value``."""
        self._data.setdefault(family, {})[self._key(family, labels)] = float(value)

    def get(self, family: Family, **labels: str) -> float | None:
        return self._data.get(family, {}).get(label_key(family, labels))

    def families(self) -> list[Family]:
        return list(self._data)

    def series(self, family: Family) -> dict[LabelKey, float]:
        return self._data.get(family, {})

    def items(self) -> Iterator[tuple[Family, LabelKey, float]]:
        for family, series in self._data.items():
            for key, value in series.items():
                yield family, key, value

    def replace_series(self, family: Family, series: dict[LabelKey, float]) -> None:
        self._data[family] = series

    def __len__(self) -> int:
        return sum(len(s) for s in self._data.values())


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        idx = bisect.bisect_left(self.bounds, value)
        if idx < len(self.counts):
            self.counts[idx] += 1
        self.total += value
        self.count += 1

    def observe_all(self, values: list[float]) -> None:
        """Observe every value (a post's observations of one series at once)."""
        bounds, counts, last, total = self.bounds, self.counts, len(self.counts), self.total
        for value in values:
            idx = bisect.bisect_left(bounds, value)
            if idx < last:
                counts[idx] += 1
            total += value  # in order, so the sum is the same bits as observing one by one
        self.total = total
        self.count += len(values)


_SELF_FAMILIES = frozenset({contract.SERIES_FOLDED, contract.LABEL_VALUES_REPAIRED})


@dataclass
class LiveBatch:
    """Writes collected first and applied at once by :meth:`LiveMetrics.apply` (labels include the base labels).
    Observations come per series: every value observed into one histogram series, in order."""

    touches: list[tuple[Family, dict[str, str]]] = field(default_factory=list)
    incs: list[tuple[Family, dict[str, str], float]] = field(default_factory=list)
    observations: list[tuple[Family, dict[str, str], list[float]]] = field(default_factory=list)


#: Validated keys remembered per LiveMetrics; beyond this many distinct label sets the memory is cleared.
KEY_CACHE_SIZE = 1 << 16


class LiveMetrics:
    """Thread-safe counters, gauges and histograms for live data (probes, traffic events, relay).

    Every write bumps :attr:`version`; the exposition re-renders an owner only when its version changed, so the
    scrape path stays a cached-bytes copy. ``base`` labels (provider, source, static labels) are given per write.
    """

    def __init__(self, budget: SeriesBudget | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[Family, dict[LabelKey, float]] = {}
        self._hists: dict[Family, dict[LabelKey, _Histogram]] = {}
        self.version = 0
        #: family -> the version of its last write, so a renderer redraws only the families that changed.
        self._written: dict[Family, int] = {}
        self._ledger = BudgetLedger(budget) if budget is not None and budget.bounded else None
        # (family, labels, extra) as given -> (checked key, repaired values): validating and repairing a label set
        # is the costly part of a write, and writers repeat the same few label sets.
        self._keys: dict[tuple[Family, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], tuple[LabelKey, int]]
        self._keys = {}

    def _wrote(self, *families: Family) -> None:
        """Bump the version for a write to ``families``. Holds _lock."""
        self.version += 1
        for family in families:
            self._written[family] = self.version

    def changed_since(self, version: int) -> builtins.set[Family]:
        """The families written after ``version`` (all of them for -1)."""
        with self._lock:
            return {family for family, written in self._written.items() if written > version}

    def _admit(self, family: Family, key: LabelKey) -> LabelKey:
        """The key a write to a new series goes to under the series budget (see exporter.budget). Holds _lock."""
        store: Mapping[LabelKey, object] = (
            self._hists.get(family, {}) if family.type == "histogram" else self._values.get(family, {})
        )
        if self._ledger is None or key in store or family in _SELF_FAMILIES:
            return key
        if self._ledger.fits(family):
            self._ledger.add(family)
            return key
        other = fold_key(family, key)
        labels = dict(key)
        folded = contract.SERIES_FOLDED
        own = (*((name, labels.get(name, "")) for name in BASE_LABELS), ("metric", family.name))
        counts = self._values.setdefault(folded, {})
        counts[own] = counts.get(own, 0.0) + 1
        self._written[folded] = self.version + 1  # the write that folded bumps the version next
        if other not in store:
            self._ledger.add(family)
        return other

    def _key(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str]) -> LabelKey:
        given = (family, tuple(labels.items()), tuple(extra.items()))
        cached = self._keys.get(given)
        if cached is None:
            cached = self._check_key(family, labels, extra)
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[given] = cached
        key, repaired = cached
        if repaired:
            self._count_repaired(key, repaired)
        return key

    @staticmethod
    def _check_key(family: Family, labels: Mapping[str, str], extra: Mapping[str, str]) -> tuple[LabelKey, int]:
        """The checked, repaired key of a write and how many values were repaired (raises on a contract mismatch)."""
        names = family.all_labels
        key, repaired = counted_label_key(family, {k: v for k, v in labels.items() if k in names}, with_base=True)
        if extra:
            more, fixed = _repaired(tuple(sorted((k, v) for k, v in extra.items() if k not in names)))
            key, repaired = key + more, repaired + fixed
        return key, repaired

    def _count_repaired(self, key: LabelKey, count: int) -> None:
        """Count repaired label values in ``llmpulse_label_values_repaired_total`` of the series' source."""
        family = contract.LABEL_VALUES_REPAIRED
        labels = dict(key)
        own = tuple((name, labels.get(name, "")) for name in family.labels)
        with self._lock:
            series = self._values.setdefault(family, {})
            series[own] = series.get(own, 0.0) + count
            self._wrote(family)

    def inc(
        self, family: Family, labels: Mapping[str, str], value: float = 1.0, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "counter":
            raise ValueError(f"{family.name} is not a counter")
        if value < 0:
            raise ValueError("counters only go up")
        key = self._key(family, labels, extra or {})
        with self._lock:
            key = self._admit(family, key)
            series = self._values.setdefault(family, {})
            series[key] = series.get(key, 0.0) + value
            self._wrote(family)

    def set(
        self, family: Family, labels: Mapping[str, str], value: float, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "gauge":
            raise ValueError(f"{family.name} is not a gauge")
        key = self._key(family, labels, extra or {})
        with self._lock:
            key = self._admit(family, key)
            self._values.setdefault(family, {})[key] = float(value)
            self._wrote(family)

    def remove(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> None:
        key = self._key(family, labels, extra or {})
        with self._lock:
            if self._values.get(family, {}).pop(key, None) is not None and self._ledger is not None:
                self._ledger.remove(family)
            self._wrote(family)

    def observe(
        self, family: Family, labels: Mapping[str, str], value: float, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "histogram":
            raise ValueError(f"{family.name} is not a histogram")
        key = self._key(family, labels, extra or {})
        with self._lock:
            key = self._admit(family, key)
            hist = self._hists.setdefault(family, {}).get(key)
            if hist is None:
                hist = self._hists[family][key] = _Histogram(family.buckets)
            hist.observe(value)
            self._wrote(family)

    def touch(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> None:
        """Pre-initialise a counter or histogram series at zero (so rate() has a baseline)."""
        key = self._key(family, labels, extra or {})
        with self._lock:
            key = self._admit(family, key)
            if family.type == "histogram":
                self._hists.setdefault(family, {}).setdefault(key, _Histogram(family.buckets))
            else:
                self._values.setdefault(family, {}).setdefault(key, 0.0)
            self._wrote(family)

    def apply(self, batch: LiveBatch, extra: Mapping[str, str] | None = None) -> None:
        """Apply a batch of writes all at once: every key is checked before anything changes, and the writes
        happen under one lock, so a reader never sees half a batch and a bad write changes nothing."""
        extra = extra or {}
        touches = [(f, self._key(f, labels, extra)) for f, labels in batch.touches]
        incs = [(f, self._key(f, labels, extra), v) for f, labels, v in batch.incs]
        observations = [(f, self._key(f, labels, extra), values) for f, labels, values in batch.observations]
        for family, _, value in incs:
            if family.type != "counter" or value < 0:
                raise ValueError(f"{family.name}: only counters go up, by a value >= 0")
        for family, _, _ in observations:
            if family.type != "histogram":
                raise ValueError(f"{family.name} is not a histogram")
        with self._lock:
            for family, key in touches:
                key = self._admit(family, key)
                if family.type == "histogram":
                    self._hists.setdefault(family, {}).setdefault(key, _Histogram(family.buckets))
                else:
                    self._values.setdefault(family, {}).setdefault(key, 0.0)
            for family, key, value in incs:
                key = self._admit(family, key)
                series = self._values.setdefault(family, {})
                series[key] = series.get(key, 0.0) + value
            for family, key, values in observations:
                key = self._admit(family, key)
                hists = self._hists.setdefault(family, {})
                hist = hists.get(key)
                if hist is None:
                    hist = hists[key] = _Histogram(family.buckets)
                hist.observe_all(values)
            self._wrote(*{f for f, _ in touches}, *{f for f, _, _ in incs}, *{f for f, _, _ in observations})

    def value(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> float | None:
        key = self._key(family, labels, extra or {})
        with self._lock:
            return self._values.get(family, {}).get(key)

    def snapshot(
        self, families: Collection[Family] | None = None
    ) -> tuple[int, dict[Family, list[tuple[LabelKey, float]]], dict[Family, list[tuple[LabelKey, _Histogram]]]]:
        """A consistent copy for rendering: (version, plain series, histogram series), of ``families`` only when
        given (see :meth:`changed_since`)."""
        with self._lock:
            values = {f: list(s.items()) for f, s in self._values.items() if families is None or f in families}
            hists = {
                f: [(k, _Histogram(h.bounds, list(h.counts), h.total, h.count)) for k, h in s.items()]
                for f, s in self._hists.items()
                if families is None or f in families
            }
            return self.version, values, hists
