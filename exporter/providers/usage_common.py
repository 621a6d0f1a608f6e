"""Helpers shared by the billing-API collectors (OpenAI, Anthropic): exact sums, label values, bucket pages.

Why exact sums: a month-to-date total is the sum of up to 31 daily buckets of many results each, and costs come
as decimal numbers (Anthropic: decimal strings in cents). Summing them as :class:`decimal.Decimal` and converting
to float once at the end makes the exported value independent of page size and result order, so two replicas
(or a restart) export bit-identical numbers, and it never drifts from what the provider's own console shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from exporter.contract import Family
from exporter.http import ApiClient, ApiError, paginate
from exporter.samples import LabelKey, MetricSet, label_key

#: Label value of a required dimension (project, model) that the source does not break down by (group_by).
UNGROUPED = "all"
#: Label value of a dimension that was requested but the provider reported as null.
UNKNOWN = "unknown"

Params = list[tuple[str, Any]]


def to_decimal(value: Any, where: str) -> Decimal:
    """A JSON number or numeric string as an exact Decimal; floats go through ``repr`` (the JSON text)."""
    if isinstance(value, bool) or value is None:
        raise ApiError("invalid_response", f"{where}: expected a number, got {value!r}")
    try:
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidOperation
            return Decimal(repr(value))
        if isinstance(value, str):
            result = Decimal(value.strip())
            if not result.is_finite():
                raise InvalidOperation
            return result
    except InvalidOperation:
        pass
    raise ApiError("invalid_response", f"{where}: expected a number, got {value!r}"[:200])


def optional_number(data: Mapping[str, Any], key: str, where: str) -> Decimal:
    """An optional metric field: missing or null counts as 0 (fields are added to these APIs over time)."""
    value = data.get(key)
    return Decimal(0) if value is None else to_decimal(value, f"{where}.{key}")


def required_number(data: Mapping[str, Any], key: str, where: str) -> Decimal:
    if key not in data:
        raise ApiError("invalid_response", f"{where}: missing field {key!r}")
    return to_decimal(data[key], f"{where}.{key}")


def dimension(result: Mapping[str, Any], field: str, grouped: bool, null_as: str = UNKNOWN) -> str:
    """Label value of one breakdown: the provider's value, ``null_as`` when it reported null, ``all`` when the
    source does not group by it (then the provider reports null for everything)."""
    if not grouped:
        return UNGROUPED
    value = result.get(field)
    if value is None or value == "":
        return null_as
    return str(value)


#: Labels of a sum, sorted by name (a hashable, order-free form of keyword arguments).
SortedLabels = tuple[tuple[str, str], ...]


#: Bound of :data:`_CONTRACT_KEYS` per family (beyond it the family's cache starts over).
_CONTRACT_KEYS_LIMIT = 1 << 17
#: The MetricSet key of a sum's labels per family, checked against the contract once per series, not once per
#: poll (a dict per family: one lookup per series, no hashing of the family per series).
_CONTRACT_KEYS: dict[Family, dict[SortedLabels, LabelKey]] = {}


#: One shared object per distinct sum key: every day of the window and the closed days hold the same series, and a
#: parse makes its keys anew, so without sharing each series' labels were stored once per day kept. Bounded like
#: :data:`_CONTRACT_KEYS` (sharing saves memory; nothing depends on it).
_SHARED_KEYS: dict[SortedLabels, SortedLabels] = {}


def _shared_key(key: SortedLabels) -> SortedLabels:
    if len(_SHARED_KEYS) > _CONTRACT_KEYS_LIMIT:
        _SHARED_KEYS.clear()
    return _SHARED_KEYS.setdefault(key, key)


class Totals:
    """Exact per-series sums across buckets and pages, written into a :class:`MetricSet` at the end."""

    def __init__(self) -> None:
        self._sums: dict[Family, dict[SortedLabels, Decimal]] = {}

    def add_bucket(self, stream: str, start: float, results: list[Any], parse: Callable[[Totals], None]) -> None:
        """Add one bucket's results: one Totals sums every bucket (see :class:`BucketSink`)."""
        parse(self)

    def merge(self, other: Totals) -> None:
        """Add every sum of ``other`` (exact: the result does not depend on how the buckets were split)."""
        for family, theirs in other._sums.items():
            ours = self._sums.get(family)
            if ours is None:
                self._sums[family] = dict(theirs)
                continue
            for labels, value in theirs.items():
                ours[labels] = ours[labels] + value if labels in ours else value

    def copy(self) -> Totals:
        out = Totals()
        out._sums = {family: dict(sums) for family, sums in self._sums.items()}
        return out

    def any_below(self, other: Totals) -> bool:
        """Whether any series of ``other`` is lower here (missing counts as 0): a downward revision."""
        zero = Decimal(0)
        for family, theirs in other._sums.items():
            ours = self._sums.get(family, {})
            if any(ours.get(labels, zero) < value for labels, value in theirs.items()):
                return True
        return False

    def __eq__(self, other: object) -> bool:
        return other is self or (isinstance(other, Totals) and self._sums == other._sums)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def add(self, family: Family, value: Decimal | int, **labels: str) -> None:
        sums = self._sums.get(family)
        if sums is None:
            sums = self._sums[family] = {}
        key = tuple(sorted(labels.items()))
        exact = value if isinstance(value, Decimal) else Decimal(value)
        old = sums.get(key)
        if old is None:
            sums[_shared_key(key)] = exact
        else:
            sums[key] = old + exact

    def add_sorted(self, family: Family, key: SortedLabels, value: Decimal) -> None:
        """:meth:`add` with the labels already sorted by name (a parser that adds several sums per result sorts
        its shared labels once)."""
        sums = self._sums.get(family)
        if sums is None:
            sums = self._sums[family] = {}
        old = sums.get(key)
        if old is None:
            sums[_shared_key(key)] = value
        else:
            sums[key] = old + value

    def get(self, family: Family, **labels: str) -> Decimal | None:
        return self._sums.get(family, {}).get(tuple(sorted(labels.items())))

    def __len__(self) -> int:
        return sum(len(sums) for sums in self._sums.values())

    def items(self) -> Iterator[tuple[Family, dict[str, str], Decimal]]:
        """Every exact sum with its family and labels (exports need the Decimal, not the float)."""
        for family, sums in self._sums.items():
            for labels, value in sums.items():
                yield family, dict(labels), value

    def metricset(self, ms: MetricSet | None = None) -> MetricSet:
        """Write the totals (labels are checked against the contract, once per series the process has seen)."""
        ms = ms if ms is not None else MetricSet()
        for family, sums in self._sums.items():
            keys = _CONTRACT_KEYS.setdefault(family, {})
            if len(keys) > _CONTRACT_KEYS_LIMIT:
                keys.clear()
            series = dict(ms.series(family))
            for labels, value in sums.items():
                key = keys.get(labels)
                if key is None:
                    key = keys[labels] = label_key(family, dict(labels))
                series[key] = float(value)
            ms.replace_series(family, series)
        return ms


class BucketSink(Protocol):
    """Where parsed buckets go: one :class:`Totals` for everything, or one per day
    (:class:`exporter.providers.month_to_date.DailyTotals`, which may reuse the sums of a bucket it has seen)."""

    def add_bucket(self, stream: str, start: float, results: list[Any], parse: Callable[[Totals], None]) -> None:
        """Add the bucket of ``stream`` (an endpoint) starting at ``start``: ``parse`` adds ``results`` to a Totals."""
        ...


def page_buckets(
    page: Mapping[str, Any],
    where: str,
    *,
    bucket_start: Callable[[Mapping[str, Any], str], float],
    not_before: float,
) -> Iterator[tuple[str, float, list[Any]]]:
    """``(where, bucket start, results)`` for every bucket of one usage/cost page, checking the envelope.

    Buckets that start before ``not_before`` (the first day asked for) are skipped: if a provider or a proxy ever
    ignores the start parameter, the month-to-date total must not silently include last month (or, on an
    incremental poll, count a day twice).
    """
    data = page.get("data")
    if not isinstance(data, list):
        raise ApiError("invalid_response", f"{where}: field 'data' is missing or not a list")
    for i, bucket in enumerate(data):
        here = f"{where}: data[{i}]"
        if not isinstance(bucket, Mapping):
            raise ApiError("invalid_response", f"{here} is not an object")
        results = bucket.get("results")
        if not isinstance(results, list):
            raise ApiError("invalid_response", f"{here}: field 'results' is missing or not a list")
        start = bucket_start(bucket, here)
        if start >= not_before:
            yield here, start, results


def bucket_items(results: list[Any], where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, result)`` for every result of one bucket (from :func:`page_buckets`), each checked to be an object."""
    for j, result in enumerate(results):
        here = f"{where}.results[{j}]"
        if not isinstance(result, Mapping):
            raise ApiError("invalid_response", f"{here} is not an object")
        yield here, result


def fetch_pages(
    client: ApiClient, path: str, params: Params, *, cursor_param: str = "page", cursor_key: str = "next_page"
) -> Iterator[Mapping[str, Any]]:
    """Every page of a paginated endpoint (the cursor goes back as ``cursor_param``), with the loop guard of
    :func:`exporter.http.paginate`."""

    def fetch(cursor: str | None) -> Mapping[str, Any]:
        page_params = [*params, (cursor_param, cursor)] if cursor else list(params)
        page = client.get_json(path, params=page_params)
        if not isinstance(page, Mapping):
            raise ApiError("invalid_response", f"{path}: answer is not a JSON object")
        return page

    yield from paginate(fetch, cursor_key=cursor_key)


def names_from_list(page: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """``(id, name)`` pairs from a list endpoint page (OpenAI projects, Anthropic workspaces)."""
    data = page.get("data")
    if not isinstance(data, list):
        raise ApiError("invalid_response", f"{where}: field 'data' is missing or not a list")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ApiError("invalid_response", f"{where}: data[{i}] has no string 'id'")
        name = item.get("name")
        out.append((item["id"], str(name)[:200] if name else item["id"]))
    return out


def base_prefix(url: str, prefix: str = "/v1") -> str:
    """The path prefix to put before API paths: ``base_url`` is the API root, but a trailing ``/v1`` is tolerated
    (users copy it from SDK settings), so ``https://api.openai.com`` and ``https://api.openai.com/v1`` both work."""
    return "" if url.rstrip("/").endswith(prefix) else prefix
