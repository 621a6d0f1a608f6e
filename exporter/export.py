"""Daily usage and cost rows for finance and BI, straight from the providers' history: CSV or FOCUS 1.0.

Each day's buckets are summed with the provider module's parse functions (:mod:`exporter.history`), so a row holds
exactly what a poll of that day would have added: the same labels (project, model, line item) and the same token
types. Amounts stay :class:`~decimal.Decimal` from the API to the file, so the column sums equal the provider's
totals to the cent (and beyond).

CSV: one row per day, source, project and model with the usage (``requests`` is empty for Anthropic, whose
report has no request count: missing, not zero), and one row per day, source, project and line item with the
reported cost. FOCUS (FinOps Open Cost and Usage Specification 1.0): the cost rows only, in the spec's columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TextIO

from exporter import contract
from exporter.history import DAY, History
from exporter.providers.base import month_start

TOKEN_TYPES = ("input", "cached_input", "cache_write_input", "output", "input_audio", "output_audio")
KNOWN_UNITS = ("images", "characters", "seconds")
USAGE_FAMILIES = (contract.USAGE_REQUESTS, contract.USAGE_TOKENS, contract.USAGE_UNITS)

#: FOCUS 1.0 columns, in the specification's (alphabetical) order. ``x_`` columns are llmpulse's own, as the
#: specification's extension rule asks.
FOCUS_COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
FOCUS_EXTRA = ("x_Source", "x_LineItem", "x_ApiKey")
PROVIDER_NAMES = {"openai": ("OpenAI", "OpenAI API", "Project"), "anthropic": ("Anthropic", "Claude API", "Workspace")}


@dataclass
class UsageRow:
    day: str
    provider: str
    source: str
    project: str
    model: str
    api_key: str = ""
    user: str = ""
    requests: Decimal | None = None
    tokens: dict[str, Decimal] = field(default_factory=dict)
    units: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class CostRow:
    day: str
    start: float
    provider: str
    source: str
    project: str
    line_item: str
    api_key: str
    cost_usd: Decimal


def days(history: History) -> Iterator[tuple[float, float]]:
    t = history.start
    while t < history.end:
        yield t, min(t + DAY, history.end)
        t += DAY


def rows_of(history: History) -> tuple[list[UsageRow], list[CostRow]]:
    """The day-by-day rows of one source (only days whose buckets have all ended within the window)."""
    usage: list[UsageRow] = []
    costs: list[CostRow] = []
    source = history.source
    for start, end in days(history):
        day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
        by_key: dict[tuple[str, ...], UsageRow] = {}
        for family, labels, value in history.totals(start, end).items():
            if family is contract.COST_USD:
                costs.append(
                    CostRow(
                        day,
                        start,
                        source.provider,
                        source.name,
                        labels["project"],
                        labels["line_item"],
                        labels.get("api_key", ""),
                        value,
                    )
                )
                continue
            if family not in USAGE_FAMILIES:
                continue
            key = (labels["project"], labels["model"], labels.get("api_key", ""), labels.get("user", ""))
            row = by_key.get(key)
            if row is None:
                row = by_key[key] = UsageRow(day, source.provider, source.name, *key)
            if family is contract.USAGE_REQUESTS:
                row.requests = (row.requests or Decimal(0)) + value
            elif family is contract.USAGE_TOKENS:
                row.tokens[labels["token_type"]] = row.tokens.get(labels["token_type"], Decimal(0)) + value
            else:
                row.units[labels["unit"]] = row.units.get(labels["unit"], Decimal(0)) + value
        usage.extend(by_key[k] for k in sorted(by_key))
    costs.sort(key=lambda r: (r.day, r.project, r.line_item, r.api_key))
    return usage, costs


def number(value: Decimal | None) -> str:
    """A decimal as plain text (no exponent), empty when missing."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_header(units: Iterable[str]) -> list[str]:
    return [
        "date",
        "provider",
        "source",
        "project",
        "model",
        "line_item",
        "api_key",
        "user",
        "requests",
        *(f"{t}_tokens" for t in TOKEN_TYPES),
        *(f"units_{u}" for u in units),
        "cost_usd",
    ]


def write_csv(histories: Iterable[History], out: TextIO) -> int:
    usage: list[UsageRow] = []
    costs: list[CostRow] = []
    for history in histories:
        source_usage, source_costs = rows_of(history)
        usage += source_usage
        costs += source_costs
    extra = sorted({unit for row in usage for unit in row.units} - set(KNOWN_UNITS))
    units = [*KNOWN_UNITS, *extra]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(units))
    rows = 0
    entries: list[tuple[tuple[str, str, int], list[str]]] = []
    for r in usage:
        line = [r.day, r.provider, r.source, r.project, r.model, "", r.api_key, r.user, number(r.requests)]
        line += [number(r.tokens.get(t)) for t in TOKEN_TYPES]
        line += [number(r.units.get(u)) for u in units]
        entries.append(((r.day, r.source, 0), [*line, ""]))
    for c in costs:
        line = [c.day, c.provider, c.source, c.project, "", c.line_item, c.api_key, "", ""]
        line += [""] * (len(TOKEN_TYPES) + len(units))
        entries.append(((c.day, c.source, 1), [*line, number(c.cost_usd)]))
    for _, line in sorted(entries, key=lambda e: e[0]):
        writer.writerow(line)
        rows += 1
    return rows


def project_names(history: History) -> Mapping[str, str]:
    return {dict(k)["project"]: dict(k)["project_name"] for _f, k, _v in history.info.items()}


def focus_row(c: CostRow, names: Mapping[str, str]) -> dict[str, str]:
    provider, service, resource_type = PROVIDER_NAMES.get(c.provider, (c.provider, c.provider, "Project"))
    period = month_start(datetime.fromtimestamp(c.start, UTC))
    period_end = month_start(period.replace(day=28) + timedelta(days=4)).timestamp()
    cost = number(c.cost_usd)
    row = dict.fromkeys((*FOCUS_COLUMNS, *FOCUS_EXTRA), "")
    row.update(
        {
            # The provider reports what it bills: no list price or discount is known, so every cost is that amount.
            "BilledCost": cost,
            "EffectiveCost": cost,
            "ListCost": cost,
            "ContractedCost": cost,
            "BillingAccountId": c.source,
            "BillingAccountName": c.source,
            "BillingCurrency": "USD",
            "BillingPeriodStart": iso(period.timestamp()),
            "BillingPeriodEnd": iso(period_end),
            "ChargeCategory": "Usage",
            "ChargeDescription": c.line_item,
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": iso(c.start),
            "ChargePeriodEnd": iso(c.start + DAY),
            "InvoiceIssuerName": provider,
            "PricingCategory": "Standard",
            "ProviderName": provider,
            "PublisherName": provider,
            "ResourceId": c.project,
            "ResourceName": names.get(c.project, c.project),
            "ResourceType": resource_type,
            "ServiceCategory": "AI and Machine Learning",
            "ServiceName": service,
            "SkuId": c.line_item,
            "SubAccountId": c.project,
            "SubAccountName": names.get(c.project, c.project),
            "Tags": json.dumps({"llmpulse_source": c.source}, sort_keys=True),
            "x_Source": c.source,
            "x_LineItem": c.line_item,
            "x_ApiKey": c.api_key,
        }
    )
    return row


def write_focus(histories: Iterable[History], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=[*FOCUS_COLUMNS, *FOCUS_EXTRA], lineterminator="\n")
    writer.writeheader()
    rows = 0
    for history in histories:
        names = project_names(history)
        for c in rows_of(history)[1]:
            writer.writerow(focus_row(c, names))
            rows += 1
    return rows


def write_rows(histories: Iterable[History], fmt: str, out: TextIO) -> int:
    """Write the rows in ``fmt`` (``csv`` or ``focus``); return how many data rows were written."""
    return write_focus(histories, out) if fmt == "focus" else write_csv(histories, out)
