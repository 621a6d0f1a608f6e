"""Estimated cost: token counts from any source times a price table, in US dollars.

Many providers (DeepSeek, Moonshot, SiliconFlow, Coze, self-hosted gateways) have no cost API, and where one exists
it lags and cannot be split the way usage can. llmpulse therefore prices the token counts it already has:

- after every successful poll, :class:`Pricing` (the poller's enricher) reads ``llmpulse_usage_tokens_total`` and
  the ``token_type`` metrics of http_json sources from the poll's samples and adds
  ``llmpulse_cost_estimated_usd_total{project,model}``; tokens of a model with no usable price go to
  ``llmpulse_unpriced_tokens_total{model,token_type}``, never into the cost as $0;
- the /events ingest calls :meth:`Pricing.estimate` for each call it receives.

Input tokens count every input token (the contract's ``input``), so the uncached part is
``input - cached_input - cache_write_input``, priced at the input price; cache reads and cache writes have their own
prices and output its own. Prices in another currency than USD are converted with the config's ``exchange_rates``
(USD per unit); without a rate for that currency the model counts as unpriced, with one log line saying so.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter import contract
from exporter.pricing.table import Price, PriceTable
from exporter.samples import MetricSet

if TYPE_CHECKING:  # exporter.config imports exporter.pricing.table, which runs this package first
    from exporter.config import Config, SourceConfig

log = logging.getLogger(__name__)

#: Token types with a price; other types (input_audio, output_audio...) are always reported as unpriced.
PRICED_TOKEN_TYPES = ("input", "cached_input", "cache_write_input", "output")
PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class UsdPrice:
    """A table entry converted to US dollars per million tokens (``entry`` is what matched)."""

    entry: Price
    rate: float
    input: float
    cached_input: float
    cache_write_input: float
    output: float


class Pricing:
    """The price table plus exchange rates and surge multiplier. Thread-safe; built once per ``App``."""

    def __init__(
        self, table: PriceTable, exchange_rates: Mapping[str, float] | None = None, surge_multiplier: float = 1.0
    ) -> None:
        self.table = table
        self.rates = {k.upper(): float(v) for k, v in (exchange_rates or {}).items()}
        self.surge_multiplier = float(surge_multiplier)
        self._lock = threading.Lock()
        self._cache: dict[str, UsdPrice | None] = {}
        self._noted: set[str] = set()

    # -- prices --------------------------------------------------------------------------------------------------
    def usd_price(self, model: str) -> UsdPrice | None:
        """The model's price in USD per million tokens, or None if it is unpriced (logged once per model)."""
        with self._lock:
            if model in self._cache:
                return self._cache[model]
        price = self.table.lookup(model)
        result: UsdPrice | None = None
        if price is None:
            self._note(
                model,
                "pricing: model %s has no entry in the price table: its tokens are counted in "
                f"{contract.UNPRICED_TOKENS.name}, not as $0 (add it under pricing.models)",
                repr(model) if model else "'' (the source reported no model name)",
            )
        else:
            free = not any((price.input, price.cached_input, price.cache_write_input, price.output))
            rate = 1.0 if price.currency == "USD" or free else self.rates.get(price.currency)
            if rate is None:
                self._note(
                    model,
                    "pricing: model %r is priced in %s (entry %r) but exchange_rates has no %s rate: "
                    "its tokens are counted as unpriced (add exchange_rates: {%s: <USD per %s>})",
                    model,
                    price.currency,
                    price.name,
                    price.currency,
                    price.currency,
                    price.currency,
                )
            else:
                result = UsdPrice(
                    price,
                    rate,
                    price.input * rate,
                    price.cached_input * rate,
                    price.cache_write_input * rate,
                    price.output * rate,
                )
        with self._lock:
            if len(self._cache) > 10_000:  # model names come from APIs and posts: bound the memo
                self._cache.clear()
            self._cache[model] = result
        return result

    def cost(self, price: UsdPrice, tokens: Mapping[str, float], model: str = "") -> float:
        """US dollars for ``tokens`` (by token type) at ``price``, surge multiplier applied."""
        inp = float(tokens.get("input", 0.0))
        cached = float(tokens.get("cached_input", 0.0))
        written = float(tokens.get("cache_write_input", 0.0))
        uncached = inp - cached - written
        if uncached < 0:
            if inp > 0:  # input given but smaller than its parts: the source's token semantics differ
                self._note(
                    f"{model}|negative",
                    "pricing: model %r reports fewer input tokens (%s) than cached "
                    "plus cache-write tokens (%s): uncached input counted as 0",
                    model,
                    inp,
                    cached + written,
                )
            uncached = 0.0
        total = math.fsum(
            (
                uncached * price.input,
                cached * price.cached_input,
                written * price.cache_write_input,
                float(tokens.get("output", 0.0)) * price.output,
            )
        )
        return total / PER_TOKENS * self.surge_multiplier

    def cache_savings(self, price: UsdPrice, tokens: Mapping[str, float]) -> float:
        """US dollars prompt caching saved: cached input tokens at the input price minus the cached price."""
        cached = float(tokens.get("cached_input", 0.0))
        return max(0.0, cached * (price.input - price.cached_input)) / PER_TOKENS * self.surge_multiplier

    def estimate(self, model: str, tokens: Mapping[str, float]) -> float | None:
        """Estimated USD cost of ``tokens`` ({"input": n, "output": m, ...}) of ``model``; None if unpriced.

        Token types other than input, cached_input, cache_write_input and output are ignored here.
        """
        price = self.usd_price(model)
        if price is None:
            return None
        return self.cost(price, tokens, model)

    # -- the poller's enricher -----------------------------------------------------------------------------------
    def __call__(self, ms: MetricSet, source_config: SourceConfig) -> None:
        """Add estimated cost and unpriced tokens to a poll's samples (called after each successful poll)."""
        for (project, model), by_type in token_counts(ms, source_config).items():
            price = self.usd_price(model)
            if price is None:
                for token_type, n in sorted(by_type.items()):
                    ms.add(contract.UNPRICED_TOKENS, n, model=model, token_type=token_type)
                continue
            ms.add(contract.COST_ESTIMATED_USD, self.cost(price, by_type, model), project=project, model=model)
            ms.add(contract.CACHE_SAVINGS_USD, self.cache_savings(price, by_type), project=project, model=model)
            for token_type, n in sorted(by_type.items()):
                if token_type not in PRICED_TOKEN_TYPES and n:  # e.g. audio tokens; zeros would only add series
                    ms.add(contract.UNPRICED_TOKENS, n, model=model, token_type=token_type)

    # -- logging -------------------------------------------------------------------------------------------------
    def _note(self, key: str, msg: str, *args: Any) -> None:
        with self._lock:
            if key in self._noted or len(self._noted) > 10_000:
                return
            self._noted.add(key)
        log.warning(msg, *args)

    def summary(self) -> str:
        entries = self.table.entries()
        origins: dict[str, int] = {}
        unconvertible: dict[str, int] = {}
        for price in entries.values():
            origin = price.origin if price.origin in ("builtin", "config") else "file"
            origins[origin] = origins.get(origin, 0) + 1
            if price.currency != "USD" and price.currency not in self.rates:
                unconvertible[price.currency] = unconvertible.get(price.currency, 0) + 1
        text = (
            f"pricing: {len(entries)} models priced ("
            + ", ".join(f"{k} {v}" for k, v in sorted(origins.items()))
            + f"), surge x{self.surge_multiplier:g}"
        )
        if unconvertible:
            text += "; no exchange rate for " + ", ".join(
                f"{cur} ({n} models count as unpriced; add exchange_rates: {{{cur}: ...}})"
                for cur, n in sorted(unconvertible.items())
            )
        return text


def token_counts(ms: MetricSet, source_config: SourceConfig) -> dict[tuple[str, str], dict[str, float]]:
    """Tokens in a poll's samples by (project, model) and token type, summed over any other labels.

    Read from ``llmpulse_usage_tokens_total`` and, for http_json sources, from metrics declared with ``token_type``
    (their ``project`` label if they have one, else an empty project).
    """
    out: dict[tuple[str, str], dict[str, float]] = {}

    def add(project: str, model: str, token_type: str, value: float) -> None:
        slot = out.setdefault((project, model), {})
        slot[token_type] = slot.get(token_type, 0.0) + value

    for key, value in ms.series(contract.USAGE_TOKENS).items():
        labels = dict(key)
        add(labels.get("project", ""), labels.get("model", ""), labels.get("token_type", ""), value)
    if source_config.type == "http_json":
        for metric in source_config.metrics:
            if metric.token_type:
                for key, value in ms.series(metric.family).items():
                    labels = dict(key)
                    add(labels.get("project", ""), labels.get("model", ""), metric.token_type, value)
    return out


def build_enricher(config: Config) -> Pricing | None:
    """The pricing enricher for a validated config, or None when no price table is configured at all."""
    table = config.pricing.table  # loaded and checked when the config was validated
    if len(table) == 0:
        log.info("pricing: off (builtin: false and no price file or models): no estimated cost")
        return None
    pricing = Pricing(table, config.exchange_rates, config.pricing.surge_multiplier)
    log.info("%s", pricing.summary())
    return pricing


__all__ = ["PRICED_TOKEN_TYPES", "Pricing", "UsdPrice", "build_enricher", "token_counts"]
