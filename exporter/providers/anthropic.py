"""Anthropic Admin API: month-to-date usage (``usage_report/messages``) and cost (``cost_report``).

Every poll asks for the current UTC month in daily buckets (``starting_at`` = 00:00 UTC on the 1st as RFC 3339,
no ``ending_at``), follows every page and sums the buckets; see :mod:`exporter.providers.openai` for why the
totals are recomputed each time.

Mapping (names from the metric contract):

- tokens -> ``llmpulse_usage_tokens_total`` by ``token_type``: ``input`` = uncached + every ``cache_creation.*``
  + ``cache_read`` (the API has no total-input field; this matches OpenAI's ``input_tokens``), ``cached_input``
  = ``cache_read_input_tokens``, ``cache_write_input`` = sum of ``cache_creation.*``, ``output``
- ``server_tool_use.*`` counts (``web_search_requests``) -> ``llmpulse_usage_units_total{unit=<field>}``
- cost ``amount`` is a decimal STRING in CENTS (``"123.45"`` = $1.2345): summed exactly as Decimal, divided by 100
  -> ``llmpulse_cost_usd_total{project,line_item=description}``
- ``workspace_id: null`` is the default workspace -> ``project="default"``

The usage report has no request count, so ``llmpulse_usage_requests_total`` is not exported for Anthropic
(inventing one from tokens would be a lie a dashboard cannot tell from data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exporter import contract
from exporter.config import AnthropicSource
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

#: Provider-neutral group_by words -> usage report group_by[] fields (there is no per-user breakdown).
USAGE_GROUP_BY = {"project": "workspace_id", "model": "model", "api_key": "api_key_id"}
MAX_DAILY_BUCKETS = 31  # usage 1d: max 31; cost_report: max 31
DEFAULT_WORKSPACE = "default"
DEFAULT_WORKSPACE_NAME = "Default Workspace"
#: api_key_id is null for usage from the Console / Workbench, even when grouped by api_key_id.
NO_API_KEY = "console"
CENTS = Decimal(100)


# --- pure parsing ---------------------------------------------------------------------------------------------------
def parse_time(value: Any, where: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset; fractional seconds allowed)."""
    if not isinstance(value, str):
        raise ApiError("invalid_response", f"{where}: expected an RFC 3339 time, got {value!r}"[:200])
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError("invalid_response", f"{where}: invalid RFC 3339 time {value!r}"[:200]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bucket_start(bucket: Mapping[str, Any], where: str) -> float:
    return parse_time(require(dict(bucket), "starting_at", str, where), f"{where}.starting_at").timestamp()


def usage_labels(result: Mapping[str, Any], group_by: Sequence[str]) -> dict[str, str]:
    labels = {
        "project": dimension(result, "workspace_id", "project" in group_by, null_as=DEFAULT_WORKSPACE),
        "model": dimension(result, "model", "model" in group_by),
    }
    if "api_key" in group_by:
        labels["api_key"] = dimension(result, "api_key_id", True, null_as=NO_API_KEY)
    return labels


def _number_map(value: Any, where: str) -> dict[str, Decimal]:
    """A nested object of counts (``cache_creation``, ``server_tool_use``); null or missing = empty. Nested objects,
    lists and booleans a future API version may add there are ignored like any unknown field."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ApiError("invalid_response", f"{where} is not an object")
    return {
        str(k): to_decimal(v, f"{where}.{k}")
        for k, v in value.items()
        if v is not None and not isinstance(v, Mapping | list | bool)
    }


def parse_usage_result(
    result: Mapping[str, Any], group_by: Sequence[str], totals: Totals, where: str = "result"
) -> None:
    labels = usage_labels(result, group_by)
    uncached = required_number(result, "uncached_input_tokens", where)
    output = required_number(result, "output_tokens", where)
    cache_read = optional_number(result, "cache_read_input_tokens", where)
    cache_write = sum(_number_map(result.get("cache_creation"), f"{where}.cache_creation").values(), Decimal(0))
    totals.add(contract.USAGE_TOKENS, uncached + cache_write + cache_read, token_type="input", **labels)
    totals.add(contract.USAGE_TOKENS, cache_read, token_type="cached_input", **labels)
    totals.add(contract.USAGE_TOKENS, cache_write, token_type="cache_write_input", **labels)
    totals.add(contract.USAGE_TOKENS, output, token_type="output", **labels)
    for unit, count in _number_map(result.get("server_tool_use"), f"{where}.server_tool_use").items():
        totals.add(contract.USAGE_UNITS, count, unit=unit, **labels)


def parse_usage_page(
    page: Mapping[str, Any], group_by: Sequence[str], totals: BucketSink, not_before: float = 0.0
) -> None:
    where = "usage_report/messages"
    for here, start, results in page_buckets(page, where, bucket_start=bucket_start, not_before=not_before):

        def parse(into: Totals, results: list[Any] = results, here: str = here) -> None:
            for at, result in bucket_items(results, here):
                parse_usage_result(result, group_by, into, at)

        totals.add_bucket(where, start, results, parse)


def parse_cost_result(result: Mapping[str, Any], totals: Totals, where: str = "result") -> None:
    currency = str(result.get("currency") or "USD").upper()
    if currency != "USD":
        raise ApiError("invalid_response", f"{where}: cost in {currency!r}, expected USD")
    cents = to_decimal(result.get("amount"), f"{where}.amount")
    totals.add(
        contract.COST_USD,
        cents / CENTS,
        project=dimension(result, "workspace_id", True, null_as=DEFAULT_WORKSPACE),
        line_item=dimension(result, "description", True),
    )


def parse_cost_page(page: Mapping[str, Any], totals: BucketSink, not_before: float = 0.0) -> None:
    """Add every result of one cost_report page (amounts are decimal strings in cents)."""
    where = "cost_report"
    for here, start, results in page_buckets(page, where, bucket_start=bucket_start, not_before=not_before):

        def parse(into: Totals, results: list[Any] = results, here: str = here) -> None:
            for at, result in bucket_items(results, here):
                parse_cost_result(result, into, at)

        totals.add_bucket(where, start, results, parse)


def parse_workspaces_page(page: Mapping[str, Any]) -> list[tuple[str, str]]:
    return names_from_list(page, "workspaces")


def project_info(names: Iterable[tuple[str, str]], ms: MetricSet) -> None:
    ms.set(contract.PROJECT_INFO, 1.0, project=DEFAULT_WORKSPACE, project_name=DEFAULT_WORKSPACE_NAME)
    for workspace_id, name in names:
        ms.set(contract.PROJECT_INFO, 1.0, project=workspace_id, project_name=name)


# --- fetching -------------------------------------------------------------------------------------------------------
class AnthropicProvider(MonthToDateProvider[AnthropicSource]):
    """Polls usage_report/messages, cost_report and (opt-in) the workspace list of one organization."""

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.api_key, "anthropic-version": self.config.anthropic_version}

    @property
    def prefix(self) -> str:
        return base_prefix(self.config.url) + "/organizations"

    def _params(self, start: datetime, group_fields: Iterable[str]) -> Params:
        params: Params = [
            ("starting_at", rfc3339(start)),
            ("bucket_width", "1d"),
            ("limit", int(self.config.page_size or MAX_DAILY_BUCKETS)),
        ]
        return params + [("group_by[]", f) for f in group_fields]

    def fetch_days(self, client: ApiClient, start: datetime, days: DailyTotals) -> None:
        not_before = start.timestamp()
        group_by = list(self.config.group_by)
        usage_fields = [USAGE_GROUP_BY[w] for w in group_by if w in USAGE_GROUP_BY]
        for page in fetch_pages(client, f"{self.prefix}/usage_report/messages", self._params(start, usage_fields)):
            parse_usage_page(page, group_by, days, not_before)
        cost_fields = ["workspace_id", "description"]
        for page in fetch_pages(client, f"{self.prefix}/cost_report", self._params(start, cost_fields)):
            parse_cost_page(page, days, not_before)

    def extras(self, client: ApiClient, ms: MetricSet) -> None:
        if self.config.project_names:
            project_info(self.workspace_names(client), ms)

    def workspace_names(self, client: ApiClient) -> list[tuple[str, str]]:
        params: Params = [("limit", 1000), ("include_archived", "true")]
        names: list[tuple[str, str]] = []
        for page in fetch_pages(
            client, f"{self.prefix}/workspaces", params, cursor_param="after_id", cursor_key="last_id"
        ):
            names.extend(parse_workspaces_page(page))
        return names


PROVIDER = AnthropicProvider
