"""``llmpulse export``: daily rows from the simulator's history over real HTTP, as CSV and FOCUS.

Totals are checked against the simulator's raw pages summed by :mod:`usage_sums` (no exporter code), and the FOCUS
header against the FOCUS 1.0 column list spelled out here from the specification.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from helpers import run_cli
from usage_sums import Series, anthropic_expected, openai_expected

#: FOCUS 1.0 columns (focus.finops.org, "Columns"), alphabetical as the specification lists them.
FOCUS_1_0 = [
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
]
#: Columns FOCUS 1.0 says must never be null.
FOCUS_NOT_NULL = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
TOKEN_COLUMNS = {
    "input_tokens": "input",
    "cached_input_tokens": "cached_input",
    "cache_write_input_tokens": "cache_write_input",
    "output_tokens": "output",
    "input_audio_tokens": "input_audio",
    "output_audio_tokens": "output_audio",
}


def config(tmp: Path, sim_url: str) -> Path:
    common = {"base_url": sim_url, "api_key_env": "LLMPULSE_DEMO_KEY", "retries": 0}
    path = tmp / "config.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {"type": "openai", "name": "openai-main", **common, "project_names": True},
                    {"type": "anthropic", "name": "anthropic-main", **common},
                ]
            }
        )
    )
    return path


def days() -> tuple[datetime, datetime]:
    """Ten days of last month: [first, last] (inclusive)."""
    this = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = (this - timedelta(days=1)).replace(day=3)
    return first, first + timedelta(days=9)


def expected(sim_url: str, first: datetime, last: datetime) -> dict[str, dict[Series, Decimal]]:
    window = (first, last + timedelta(days=1))
    return {
        "openai-main": openai_expected(sim_url, limit=31, window=window),
        "anthropic-main": anthropic_expected(sim_url, limit=31, window=window),
    }


def test_csv_totals_equal_the_providers_totals(tmp_path: Path, simulator: Any) -> None:
    first, last = days()
    out = tmp_path / "usage.csv"
    result = run_cli(
        "export",
        "--config",
        str(config(tmp_path, simulator.url)),
        "--from",
        first.strftime("%Y-%m-%d"),
        "--to",
        last.strftime("%Y-%m-%d"),
        "--out",
        str(out),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["date"] for r in rows} == {(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(10)}
    got: dict[str, dict[Series, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        sums = got[r["source"]]
        if r["line_item"]:
            key = frozenset({"project": r["project"], "line_item": r["line_item"]}.items())
            sums[("llmpulse_cost_usd_total", key)] += Decimal(r["cost_usd"])
            continue
        base = {"project": r["project"], "model": r["model"]}
        if r["requests"]:
            sums[("llmpulse_usage_requests_total", frozenset(base.items()))] += Decimal(r["requests"])
        elif r["provider"] == "openai":
            raise AssertionError(f"an OpenAI usage row without requests: {r}")
        for column, token_type in TOKEN_COLUMNS.items():
            if r[column]:
                sums[("llmpulse_usage_tokens_total", frozenset({**base, "token_type": token_type}.items()))] += Decimal(
                    r[column]
                )
        for column, value in r.items():
            if column.startswith("units_") and value:
                unit = column.removeprefix("units_")
                sums[("llmpulse_usage_units_total", frozenset({**base, "unit": unit}.items()))] += Decimal(value)
    want = expected(simulator.url, first, last)
    for source, sums in want.items():
        assert dict(got[source]) == sums, source
    # Anthropic reports no request count: the column is empty (missing), not zero.
    assert all(r["requests"] == "" for r in rows if r["provider"] == "anthropic")


def test_focus_columns_and_totals(tmp_path: Path, simulator: Any) -> None:
    first, last = days()
    result = run_cli(
        "export",
        "--config",
        str(config(tmp_path, simulator.url)),
        "--from",
        first.strftime("%Y-%m-%d"),
        "--to",
        last.strftime("%Y-%m-%d"),
        "--format",
        "focus",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    header = list(reader.fieldnames or [])
    assert header[: len(FOCUS_1_0)] == FOCUS_1_0
    assert all(h.startswith("x_") for h in header[len(FOCUS_1_0) :])
    for row in rows:
        empty = [c for c in FOCUS_NOT_NULL if not row[c]]
        assert not empty, (empty, row)
        assert row["BillingCurrency"] == "USD" and row["ChargeCategory"] == "Usage"
        start = datetime.fromisoformat(row["ChargePeriodStart"])
        assert datetime.fromisoformat(row["ChargePeriodEnd"]) - start == timedelta(days=1)
        assert first <= start <= last
        assert (
            datetime.fromisoformat(row["BillingPeriodStart"]) <= start < datetime.fromisoformat(row["BillingPeriodEnd"])
        )
        assert row["BilledCost"] == row["EffectiveCost"]
    want = expected(simulator.url, first, last)
    for source, provider in (("openai-main", "OpenAI"), ("anthropic-main", "Anthropic")):
        billed = sum((Decimal(r["BilledCost"]) for r in rows if r["x_Source"] == source), Decimal(0))
        total = sum((v for (name, _), v in want[source].items() if name == "llmpulse_cost_usd_total"), Decimal(0))
        assert billed == total and total > 0, source
        assert {r["ProviderName"] for r in rows if r["x_Source"] == source} == {provider}
    # Project names ride along for OpenAI (project_names: true).
    assert any(r["ResourceName"] != r["ResourceId"] for r in rows if r["x_Source"] == "openai-main")


def test_export_refuses_a_reversed_range(tmp_path: Path, simulator: Any) -> None:
    result = run_cli(
        "export", "--config", str(config(tmp_path, simulator.url)), "--from", "2026-11-10", "--to", "2026-11-01"
    )
    assert result.returncode == 2 and "--to is before --from" in result.stderr
