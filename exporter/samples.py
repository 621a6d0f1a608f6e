"""Sample containers: what a poll produces (:class:`MetricSet`) and what live sources accumulate (:class:`LiveMetrics`).

Provider modules build a MetricSet from API answers without knowing about threads, sources or Prometheus client
objects; ``provider`` and ``source`` (and static labels) are added by whoever publishes it. Label names are checked
against the metric contract on every write, so a collector cannot drift from the contract unnoticed.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from exporter.contract import BASE_LABELS, Family

LabelKey = tuple[tuple[str, str], ...]


def label_key(family: Family, labels: Mapping[str, str], *, with_base: bool = False) -> LabelKey:
    """Check ``labels`` against the family's contract and return a hashable, ordered key."""
    required = set(family.labels) if with_base else set(family.labels) - set(BASE_LABELS)
    allowed = required | set(family.optional_labels)
    keys = set(labels)
    if not required <= keys or not keys <= allowed:
        missing = sorted(required - keys)
        extra = sorted(keys - allowed)
        raise ValueError(f"{family.name}: labels do not match the contract (missing {missing}, unexpected {extra})")
    order = [name for name in (*family.labels, *family.optional_labels) if name in labels]
    return tuple((name, "" if labels[name] is None else str(labels[name])) for name in order)


class MetricSet:
    """The samples of one poll: family -> label set -> value. Built by one thread, then treated as immutable."""

    def __init__(self) -> None:
        self._data: dict[Family, dict[LabelKey, float]] = {}

    def add(self, family: Family, value: float, **labels: str) -> None:
        """Accumulate ``value`` into the series (sums buckets and pages)."""
        series = self._data.setdefault(family, {})
        key = label_key(family, labels)
        series[key] = series.get(key, 0.0) + float(value)

    def set(self, family: Family, value: float, **labels: str) -> None:
        """Set the series to ``value``."""
        self._data.setdefault(family, {})[label_key(family, labels)] = float(value)

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


class LiveMetrics:
    """Thread-safe counters, gauges and histograms for live data (probes, traffic events, relay).

    Every write bumps :attr:`version`; the exposition re-renders an owner only when its version changed, so the
    scrape path stays a cached-bytes copy. ``base`` labels (provider, source, static labels) are given per write.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Family, dict[LabelKey, float]] = {}
        self._hists: dict[Family, dict[LabelKey, _Histogram]] = {}
        self.version = 0

    @staticmethod
    def _key(family: Family, labels: Mapping[str, str], extra: Mapping[str, str]) -> LabelKey:
        base = {k: v for k, v in labels.items() if k in family.all_labels}
        key = label_key(family, base, with_base=True)
        return key + tuple(sorted((k, v) for k, v in extra.items() if k not in family.all_labels))

    def inc(
        self, family: Family, labels: Mapping[str, str], value: float = 1.0, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "counter":
            raise ValueError(f"{family.name} is not a counter")
        if value < 0:
            raise ValueError("counters only go up")
        key = self._key(family, labels, extra or {})
        with self._lock:
            series = self._values.setdefault(family, {})
            series[key] = series.get(key, 0.0) + value
            self.version += 1

    def set(
        self, family: Family, labels: Mapping[str, str], value: float, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "gauge":
            raise ValueError(f"{family.name} is not a gauge")
        key = self._key(family, labels, extra or {})
        with self._lock:
            self._values.setdefault(family, {})[key] = float(value)
            self.version += 1

    def remove(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> None:
        key = self._key(family, labels, extra or {})
        with self._lock:
            self._values.get(family, {}).pop(key, None)
            self.version += 1

    def observe(
        self, family: Family, labels: Mapping[str, str], value: float, extra: Mapping[str, str] | None = None
    ) -> None:
        if family.type != "histogram":
            raise ValueError(f"{family.name} is not a histogram")
        key = self._key(family, labels, extra or {})
        with self._lock:
            hist = self._hists.setdefault(family, {}).get(key)
            if hist is None:
                hist = self._hists[family][key] = _Histogram(family.buckets)
            hist.observe(value)
            self.version += 1

    def touch(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> None:
        """Pre-initialise a counter or histogram series at zero (so rate() has a baseline)."""
        key = self._key(family, labels, extra or {})
        with self._lock:
            if family.type == "histogram":
                self._hists.setdefault(family, {}).setdefault(key, _Histogram(family.buckets))
            else:
                self._values.setdefault(family, {}).setdefault(key, 0.0)
            self.version += 1

    def value(self, family: Family, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> float | None:
        key = self._key(family, labels, extra or {})
        with self._lock:
            return self._values.get(family, {}).get(key)

    def snapshot(
        self,
    ) -> tuple[int, dict[Family, list[tuple[LabelKey, float]]], dict[Family, list[tuple[LabelKey, _Histogram]]]]:
        """A consistent copy for rendering: (version, plain series, histogram series)."""
        with self._lock:
            values = {f: list(s.items()) for f, s in self._values.items()}
            hists = {
                f: [(k, _Histogram(h.bounds, list(h.counts), h.total, h.count)) for k, h in s.items()]
                for f, s in self._hists.items()
            }
            return self.version, values, hists
