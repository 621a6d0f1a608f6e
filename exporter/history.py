"""A usage/cost source's past, read from the provider's own history: time buckets of usage and cost.

``serve`` asks the billing APIs for the current month every poll; ``backfill`` and ``export`` need a window in
the past instead. This module fetches that window once, with the provider module's own paths, group-by fields and
pagination (:func:`exporter.providers.usage_common.fetch_pages`), and keeps every bucket with a closure that adds
it to a :class:`Totals` through the provider module's own parse function. Summing any set of buckets therefore
gives exactly what a poll covering those buckets would have exported: the mapping lives in one place.

Granularity: usage is read in hourly buckets (both admin APIs offer ``1h``) or daily ones; cost only in daily
buckets (``1d`` is the only width either cost API offers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exporter.config import AnthropicSource, OpenAISource, SourceBase, SourceConfig
from exporter.http import ApiClient, ApiError
from exporter.providers import anthropic, openai
from exporter.providers.base import ProviderBase
from exporter.providers.usage_common import Params, Totals, fetch_pages
from exporter.samples import MetricSet

HOUR = 3600
DAY = 86400
#: Buckets per page the APIs allow, by provider and bucket width (usage; cost is daily only).
USAGE_PAGE_LIMITS = {"openai": {HOUR: 168, DAY: 31}, "anthropic": {HOUR: 168, DAY: 31}}
COST_PAGE_LIMITS = {"openai": 180, "anthropic": 31}
WIDTH_NAMES = {HOUR: "1h", DAY: "1d"}
#: Source types that have a usage/cost history (the month-to-date billing sources).
HISTORY_TYPES = ("openai", "anthropic")

HistorySourceConfig = OpenAISource | AnthropicSource
#: Called after every page: (source name, what was fetched, end of the newest bucket so far).
Progress = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Bucket:
    """One time bucket of one endpoint, with the provider module's parser bound to it."""

    start: float
    end: float
    kind: str  # "usage" or "cost"
    endpoint: str  # e.g. "usage/completions", "cost_report"
    add_to: Callable[[Totals, float], None]  # (totals, not_before): add this bucket's results


@dataclass
class History:
    """Every bucket of one source over a window, plus what ``serve`` exports besides counters (project names)."""

    source: HistorySourceConfig
    start: float
    end: float
    buckets: list[Bucket] = field(default_factory=list)
    info: MetricSet = field(default_factory=MetricSet)

    def totals(self, start: float, end: float, *, kind: str | None = None) -> Totals:
        """Sums of the buckets that lie within ``[start, end]`` (a bucket counts once it has ended)."""
        totals = Totals()
        for bucket in self.buckets:
            if bucket.start >= start and bucket.end <= end and (kind is None or bucket.kind == kind):
                bucket.add_to(totals, start)
        return totals


def _bounds(bucket: Mapping[str, Any], where: str, start_key: str, end_key: str, width: int) -> tuple[float, float]:
    parse = anthropic.parse_time if start_key == "starting_at" else None
    raw_start, raw_end = bucket.get(start_key), bucket.get(end_key)

    def read(value: Any, key: str) -> float:
        if parse is not None:
            return parse(value, f"{where}.{key}").timestamp()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError("invalid_response", f"{where}: field {key!r} is not a Unix time")
        return float(value)

    start = read(raw_start, start_key)
    end = read(raw_end, end_key) if raw_end is not None else start + width
    return start, end


def _single(bucket: Mapping[str, Any]) -> dict[str, Any]:
    """A page holding one bucket, so the provider's page parser reads it unchanged."""
    return {"data": [bucket]}


class _Fetcher:
    def __init__(self, client: ApiClient, name: str, progress: Progress | None) -> None:
        self.client = client
        self.name = name
        self.progress = progress

    def buckets(
        self,
        path: str,
        params: Params,
        label: str,
        *,
        start_key: str,
        end_key: str,
        width: int,
    ) -> Iterable[tuple[float, float, Mapping[str, Any]]]:
        newest = 0.0
        for page_no, page in enumerate(fetch_pages(self.client, path, params), 1):
            data = page.get("data")
            if not isinstance(data, list):
                raise ApiError("invalid_response", f"{label}: field 'data' is missing or not a list")
            for i, bucket in enumerate(data):
                if not isinstance(bucket, Mapping):
                    raise ApiError("invalid_response", f"{label}: data[{i}] is not an object")
                start, end = _bounds(bucket, f"{label}: data[{i}]", start_key, end_key, width)
                newest = max(newest, end)
                yield start, end, bucket
            if self.progress is not None:
                self.progress(self.name, f"{label} page {page_no}", newest)


def _openai(source: OpenAISource, client: ApiClient, start: float, end: float, width: int, f: _Fetcher) -> History:
    provider = openai.OpenAIProvider(source)
    group_by = list(source.group_by)
    history = History(source, start, end)

    def params(bucket_width: int, limit: int, fields: Iterable[str]) -> Params:
        base: Params = [
            ("start_time", int(start)),
            ("end_time", int(end)),
            ("bucket_width", WIDTH_NAMES[bucket_width]),
            ("limit", limit),
        ]
        return base + [("group_by[]", g) for g in fields]

    usage_fields = [openai.USAGE_GROUP_BY[w] for w in group_by if w in openai.USAGE_GROUP_BY]
    for endpoint in openai.USAGE_ENDPOINTS:
        label = f"usage/{endpoint.name}"
        path = f"{provider.prefix}/{label}"
        for b_start, b_end, bucket in f.buckets(
            path,
            params(width, USAGE_PAGE_LIMITS["openai"][width], usage_fields),
            label,
            start_key="start_time",
            end_key="end_time",
            width=width,
        ):

            def add(totals: Totals, not_before: float, _b: Mapping[str, Any] = bucket, _e: Any = endpoint) -> None:
                openai.parse_usage_page(_single(_b), _e, group_by, totals, not_before)

            history.buckets.append(Bucket(b_start, b_end, "usage", label, add))
    for b_start, b_end, bucket in f.buckets(
        f"{provider.prefix}/costs",
        params(DAY, COST_PAGE_LIMITS["openai"], provider.cost_group_by()),
        "costs",
        start_key="start_time",
        end_key="end_time",
        width=DAY,
    ):

        def add_cost(totals: Totals, not_before: float, _b: Mapping[str, Any] = bucket) -> None:
            openai.parse_costs_page(_single(_b), group_by, totals, not_before)

        history.buckets.append(Bucket(b_start, b_end, "cost", "costs", add_cost))
    if source.project_names:
        openai.project_info(provider.project_names(client), history.info)
    return history


def _anthropic(
    source: AnthropicSource, client: ApiClient, start: float, end: float, width: int, f: _Fetcher
) -> History:
    provider = anthropic.AnthropicProvider(source)
    group_by = list(source.group_by)
    history = History(source, start, end)

    def params(bucket_width: int, limit: int, fields: Iterable[str]) -> Params:
        base: Params = [
            ("starting_at", anthropic.rfc3339(datetime.fromtimestamp(start, UTC))),
            ("ending_at", anthropic.rfc3339(datetime.fromtimestamp(end, UTC))),
            ("bucket_width", WIDTH_NAMES[bucket_width]),
            ("limit", limit),
        ]
        return base + [("group_by[]", g) for g in fields]

    usage_fields = [anthropic.USAGE_GROUP_BY[w] for w in group_by if w in anthropic.USAGE_GROUP_BY]
    label = "usage_report/messages"
    for b_start, b_end, bucket in f.buckets(
        f"{provider.prefix}/{label}",
        params(width, USAGE_PAGE_LIMITS["anthropic"][width], usage_fields),
        label,
        start_key="starting_at",
        end_key="ending_at",
        width=width,
    ):

        def add(totals: Totals, not_before: float, _b: Mapping[str, Any] = bucket) -> None:
            anthropic.parse_usage_page(_single(_b), group_by, totals, not_before)

        history.buckets.append(Bucket(b_start, b_end, "usage", label, add))
    for b_start, b_end, bucket in f.buckets(
        f"{provider.prefix}/cost_report",
        params(DAY, COST_PAGE_LIMITS["anthropic"], ["workspace_id", "description"]),
        "cost_report",
        start_key="starting_at",
        end_key="ending_at",
        width=DAY,
    ):

        def add_cost(totals: Totals, not_before: float, _b: Mapping[str, Any] = bucket) -> None:
            anthropic.parse_cost_page(_single(_b), totals, not_before)

        history.buckets.append(Bucket(b_start, b_end, "cost", "cost_report", add_cost))
    if source.project_names:
        anthropic.project_info(provider.workspace_names(client), history.info)
    return history


def history_sources(sources: Iterable[SourceConfig]) -> list[HistorySourceConfig]:
    """The sources of a config that have a usage/cost history."""
    return [s for s in sources if isinstance(s, OpenAISource | AnthropicSource)]


def client_for(source: HistorySourceConfig) -> ApiClient:
    """An API client for a history fetch: the source's auth, timeout, retries and Retry-After cap, no deadline
    (a long window takes many pages; each call still has the source's timeout)."""
    provider: ProviderBase[SourceBase] = (
        openai.OpenAIProvider(source) if isinstance(source, OpenAISource) else anthropic.AnthropicProvider(source)
    )
    return ApiClient(
        source.url,
        headers=provider.headers(),
        timeout=source.timeout,
        retries=source.retries,
        max_retry_after=source.max_retry_after,
        secrets=(source.api_key,),
    )


def fetch_history(
    source: HistorySourceConfig,
    start: float,
    end: float,
    *,
    usage_width: int = HOUR,
    progress: Progress | None = None,
    client: ApiClient | None = None,
) -> History:
    """Every usage and cost bucket of ``source`` in ``[start, end)``; raises :class:`ApiError` on any failure
    (a partial history is never returned)."""
    own = client is None
    api = client or client_for(source)
    try:
        fetcher = _Fetcher(api, source.name, progress)
        if isinstance(source, OpenAISource):
            history = _openai(source, api, start, end, usage_width, fetcher)
        else:
            history = _anthropic(source, api, start, end, usage_width, fetcher)
    finally:
        if own:
            api.close()
    history.buckets.sort(key=lambda b: (b.end, b.start))
    return history
