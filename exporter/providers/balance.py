"""What the four prepaid-balance providers (DeepSeek, Moonshot, OpenRouter, SiliconFlow) share.

Each provider reports its balance in its own shape and types (strings here, floats there, a negative cash part
elsewhere); the modules turn them into one convention so dashboards and alerts need one query for all:

- ``llmpulse_balance{currency, kind}``: ``kind="total"`` is always *what can be spent now* (alerts and runway use
  it); the other kinds are its parts as the provider names them.
- ``llmpulse_balance_available``: the provider's own flag where it has one (DeepSeek ``is_available``), else
  ``total > 0``.
- ``llmpulse_balance_usd``: added after the poll by :func:`balance_usd_enricher`, because exchange rates live in the
  top-level config and a provider only sees its own source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from exporter import contract
from exporter.config import SourceConfig
from exporter.http import ApiError
from exporter.providers.base import number, require
from exporter.samples import MetricSet

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def amount(data: Any, key: str, where: str) -> float:
    """A required money amount that may be a JSON number or a numeric string; NaN/inf are refused."""
    raw = require(data, key, (str, int, float), where)
    value = number(raw, f"{where}: field {key!r}")
    if not math.isfinite(value):
        raise ApiError("invalid_response", f"{where}: field {key!r} is not a finite number ({raw!r})"[:200])
    return value


def optional_amount(data: Any, key: str, where: str) -> float | None:
    """Like :func:`amount`, but None when the field is absent or null (nullable or newer fields)."""
    if not isinstance(data, dict) or data.get(key) is None:
        return None
    return amount(data, key, where)


def currency_code(value: Any, where: str) -> str:
    """A provider's currency as an upper-case ISO code; anything else would be an unbounded label value."""
    if not isinstance(value, str) or not CURRENCY_RE.match(value.strip().upper()):
        raise ApiError("invalid_response", f"{where}: currency {value!r} is not a 3-letter code"[:200])
    return value.strip().upper()


def set_balances(ms: MetricSet, currency: str, parts: Mapping[str, float]) -> None:
    """Export one currency's balance kinds (``total`` plus its parts)."""
    for kind, value in parts.items():
        ms.set(contract.BALANCE, value, currency=currency, kind=kind)


def set_available(ms: MetricSet, available: bool) -> None:
    ms.set(contract.BALANCE_AVAILABLE, 1.0 if available else 0.0)


def balances_from_fields(body: Any, currency: str, fields: Mapping[str, str], where: str) -> MetricSet:
    """Balances of one currency read from ``body`` as kind -> field (``total`` first, what can be spent);
    available means total > 0."""
    parts = {kind: amount(body, field, where) for kind, field in fields.items()}
    ms = MetricSet()
    set_balances(ms, currency, parts)
    set_available(ms, parts["total"] > 0)
    return ms


def currency_for_host(url: str, international_suffixes: tuple[str, ...], configured: str | None) -> str:
    """The currency of a provider that does not say it: configured, else USD on the international host, else CNY.

    Moonshot (api.moonshot.ai) and SiliconFlow (api.siliconflow.com) bill in USD internationally and in CNY on
    their .cn hosts; a proxy or the simulator gets CNY unless ``currency`` is set in the source.
    """
    if configured:
        return configured
    host = re.sub(r"^https?://", "", url).split("/")[0].split(":")[0].lower()
    return "USD" if host.endswith(international_suffixes) else "CNY"


def balance_usd_enricher(rates: Mapping[str, float]) -> Callable[[MetricSet, SourceConfig], None]:
    """An enricher (run by the poller after each successful poll) adding ``llmpulse_balance_usd``.

    USD balances are converted at 1 always (so ``sum(llmpulse_balance_usd{kind="total"})`` covers every source
    whose currency is known); other currencies only when ``exchange_rates`` has a rate for them (USD per unit).
    """
    table = {cur.upper(): float(rate) for cur, rate in rates.items()}
    table["USD"] = 1.0

    def enrich(ms: MetricSet, source: SourceConfig) -> None:
        for key, value in list(ms.series(contract.BALANCE).items()):
            labels = dict(key)
            rate = table.get(labels.get("currency", ""))
            if rate is not None:
                # rounded to 1e-9 so 110 * 0.14 reads 15.4, not 15.400000000000002
                ms.set(contract.BALANCE_USD, round(value * rate, 9), currency=labels["currency"], kind=labels["kind"])

    return enrich
