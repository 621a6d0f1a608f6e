"""OpenAI Admin API: month-to-date usage (Usage API) and cost (Costs API) of an organization.

Every poll asks for the current UTC month in daily buckets (``start_time`` = 00:00 UTC on the 1st, no
``end_time`` so the provider includes the partial current day), follows every page, and sums the buckets. The
totals are recomputed from scratch each time, which is why a restart or a second replica exports the same value
(the poller keeps them monotonic within the month and counts downward revisions).

Mapping (names from the metric contract):

- ``num_model_requests`` of every usage endpoint -> ``llmpulse_usage_requests_total``
- completions tokens -> ``llmpulse_usage_tokens_total`` by ``token_type``: ``input`` = ``input_tokens`` (all input,
  cached and cache-write included), ``cached_input``, ``cache_write_input``, ``output``, ``input_audio`` (uncached
  + cached audio input), ``output_audio``; embeddings and moderations -> ``input``
- images / audio characters / transcription seconds -> ``llmpulse_usage_units_total{unit=...}``
- Costs API ``amount.value`` (dollars) -> ``llmpulse_cost_usd_total{project,line_item}``

Optional result fields that are missing count as 0 and unknown fields are ignored, so the Dec-2024 result shape
and the 2026 one both work. The parse functions are pure (JSON in, :class:`Totals` out) so tests feed them
recorded answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from exporter import contract
from exporter.config import OpenAISource
from exporter.http import ApiClient, ApiError
from exporter.providers.base import require
from exporter.providers.month_to_date import DailyTotals, MonthToDateProvider
from exporter.providers.usage_common import (
    BucketSink,
    Params,
    Totals,
    base_prefix,
    bucket_items,
    dimension,
    fetch_pages,
    names_from_list,
    optional_number,
    page_buckets,
    required_number,
    to_decimal,
)
from exporter.samples import MetricSet

#: Provider-neutral group_by words -> Usage API group_by fields.
USAGE_GROUP_BY = {"project": "project_id", "model": "model", "api_key": "api_key_id", "user": "user_id"}
#: 1d buckets: the Usage and Costs APIs allow up to 31 (usage) / 180 (costs) per page; 31 covers a month.
MAX_DAILY_BUCKETS = 31


@dataclass(frozen=True)
class UsageEndpoint:
    """One Usage API endpoint and how its result fields map to contract families."""

    name: str  # path segment under /organization/usage/
    required: tuple[str, ...]  # metric fields the spec marks as required
    tokens: tuple[tuple[str, tuple[str, ...]], ...] = ()  # token_type -> fields summed into it
    unit: tuple[str, str] | None = None  # (unit label value, result field)


USAGE_ENDPOINTS: tuple[UsageEndpoint, ...] = (
    UsageEndpoint(
        "completions",
        required=("input_tokens", "output_tokens", "num_model_requests"),
        tokens=(
            ("input", ("input_tokens",)),
            ("cached_input", ("input_cached_tokens",)),
            ("cache_write_input", ("input_cache_write_tokens",)),
            ("output", ("output_tokens",)),
            # 2026 splits audio input into uncached + cached; earlier answers only have input_audio_tokens.
            ("input_audio", ("input_audio_tokens", "input_cached_audio_tokens")),
            ("output_audio", ("output_audio_tokens",)),
        ),
    ),
    UsageEndpoint(
        "embeddings", required=("input_tokens", "num_model_requests"), tokens=(("input", ("input_tokens",)),)
    ),
    UsageEndpoint(
        "moderations", required=("input_tokens", "num_model_requests"), tokens=(("input", ("input_tokens",)),)
    ),
    UsageEndpoint("images", required=("images", "num_model_requests"), unit=("images", "images")),
    UsageEndpoint("audio_speeches", required=("characters", "num_model_requests"), unit=("characters", "characters")),
    UsageEndpoint("audio_transcriptions", required=("seconds", "num_model_requests"), unit=("seconds", "seconds")),
)
ENDPOINTS_BY_NAME = {e.name: e for e in USAGE_ENDPOINTS}


# --- pure parsing ---------------------------------------------------------------------------------------------------
def bucket_start(bucket: Mapping[str, Any], where: str) -> float:
    return float(require(dict(bucket), "start_time", int, where))


def usage_labels(result: Mapping[str, Any], group_by: Sequence[str]) -> dict[str, str]:
    """Labels of one usage result: project and model always (``all`` when not grouped), api_key/user when opted in."""
    labels = {
        "project": dimension(result, "project_id", "project" in group_by),
        "model": dimension(result, "model", "model" in group_by),
    }
    if "api_key" in group_by:
        labels["api_key"] = dimension(result, "api_key_id", True)
    if "user" in group_by:
        labels["user"] = dimension(result, "user_id", True)
    return labels


def parse_usage_result(
    result: Mapping[str, Any], endpoint: UsageEndpoint, group_by: Sequence[str], totals: Totals, where: str = "result"
) -> None:
    """Add one Usage API result to the totals."""
    for name in endpoint.required:
        required_number(result, name, where)  # a missing required field means a shape we do not understand
    labels = tuple(sorted(usage_labels(result, group_by).items()))  # sorted once for every sum of the result
    totals.add_sorted(contract.USAGE_REQUESTS, labels, required_number(result, "num_model_requests", where))
    for token_type, fields in endpoint.tokens:
        value = sum((optional_number(result, f, where) for f in fields), Decimal(0))
        totals.add_sorted(contract.USAGE_TOKENS, tuple(sorted((*labels, ("token_type", token_type)))), value)
    if endpoint.unit is not None:
        unit, field = endpoint.unit
        totals.add_sorted(
            contract.USAGE_UNITS, tuple(sorted((*labels, ("unit", unit)))), required_number(result, field, where)
        )


def parse_usage_page(
    page: Mapping[str, Any],
    endpoint: UsageEndpoint,
    group_by: Sequence[str],
    totals: BucketSink,
    not_before: float = 0.0,
) -> None:
    """Add every result of one ``UsageResponse`` page (buckets starting before ``not_before`` are ignored)."""
    where = f"usage/{endpoint.name}"
    for here, start, results in page_buckets(page, where, bucket_start=bucket_start, not_before=not_before):

        def parse(into: Totals, results: list[Any] = results, here: str = here) -> None:
            for at, result in bucket_items(results, here):
                parse_usage_result(result, endpoint, group_by, into, at)

        totals.add_bucket(where, start, results, parse)


def parse_cost_result(result: Mapping[str, Any], group_by: Sequence[str], totals: Totals, where: str) -> None:
    """Add one Costs API result: ``amount.value`` is in dollars (major units)."""
    amount = result.get("amount")
    if amount is None:
        return  # only `object` is required; a result without an amount costs nothing
    if not isinstance(amount, Mapping):
        raise ApiError("invalid_response", f"{where}: field 'amount' is not an object")
    currency = str(amount.get("currency") or "usd").lower()
    if currency != "usd":
        raise ApiError("invalid_response", f"{where}: cost in {currency!r}, expected usd")
    value = to_decimal(amount.get("value", 0), f"{where}.amount.value")
    labels = {
        "project": dimension(result, "project_id", True),
        "line_item": dimension(result, "line_item", True),
    }
    if "api_key" in group_by:
        labels["api_key"] = dimension(result, "api_key_id", True)
    totals.add(contract.COST_USD, value, **labels)


def parse_costs_page(
    page: Mapping[str, Any], group_by: Sequence[str], totals: BucketSink, not_before: float = 0.0
) -> None:
    """Add every result of one Costs API page."""
    where = "costs"
    for here, start, results in page_buckets(page, where, bucket_start=bucket_start, not_before=not_before):

        def parse(into: Totals, results: list[Any] = results, here: str = here) -> None:
            for at, result in bucket_items(results, here):
                parse_cost_result(result, group_by, into, at)

        totals.add_bucket(where, start, results, parse)


def parse_projects_page(page: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(project id, name)`` pairs from a ``/organization/projects`` page."""
    return names_from_list(page, "projects")


def project_info(names: Iterable[tuple[str, str]], ms: MetricSet) -> None:
    for project_id, name in names:
        ms.set(contract.PROJECT_INFO, 1.0, project=project_id, project_name=name)


# --- fetching -------------------------------------------------------------------------------------------------------
class OpenAIProvider(MonthToDateProvider[OpenAISource]):
    """Polls the Usage API endpoints, the Costs API and (opt-in) the project list of one organization."""

    @property
    def prefix(self) -> str:
        return base_prefix(self.config.url) + "/organization"

    @property
    def limit(self) -> int:
        return int(self.config.page_size or MAX_DAILY_BUCKETS)

    def _params(self, start: datetime, group_fields: Iterable[str]) -> Params:
        params: Params = [("start_time", int(start.timestamp())), ("bucket_width", "1d"), ("limit", self.limit)]
        # The official SDK encodes arrays with brackets (group_by[]=...); the API also accepts repeated keys.
        params += [("group_by[]", f) for f in group_fields]
        return params

    def cost_group_by(self) -> list[str]:
        fields = ["project_id", "line_item"]
        if "api_key" in self.config.group_by:
            fields.append("api_key_id")
        return fields

    def fetch_days(self, client: ApiClient, start: datetime, days: DailyTotals) -> None:
        not_before = start.timestamp()
        group_by = list(self.config.group_by)
        usage_fields = [USAGE_GROUP_BY[w] for w in group_by if w in USAGE_GROUP_BY]
        for endpoint in USAGE_ENDPOINTS:
            path = f"{self.prefix}/usage/{endpoint.name}"
            for page in fetch_pages(client, path, self._params(start, usage_fields)):
                parse_usage_page(page, endpoint, group_by, days, not_before)
        for page in fetch_pages(client, f"{self.prefix}/costs", self._params(start, self.cost_group_by())):
            parse_costs_page(page, group_by, days, not_before)

    def extras(self, client: ApiClient, ms: MetricSet) -> None:
        if self.config.project_names:
            project_info(self.project_names(client), ms)

    def project_names(self, client: ApiClient) -> list[tuple[str, str]]:
        """All projects, archived ones included (their usage still counts this month)."""
        params: Params = [("limit", 100), ("include_archived", "true")]
        names: list[tuple[str, str]] = []
        for page in fetch_pages(client, f"{self.prefix}/projects", params, cursor_param="after", cursor_key="last_id"):
            names.extend(parse_projects_page(page))
        return names


PROVIDER = OpenAIProvider
