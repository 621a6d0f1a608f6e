"""OpenRouter credits and key limits (base https://openrouter.ai, paths under /api/v1, Bearer ``sk-or-v1-...``).

- ``GET /api/v1/key`` (any key; legacy clients use ``/api/v1/auth/key``, tried when ``/key`` answers 404):
  ``limit`` / ``limit_remaining`` (nullable: null = unlimited, so those series are left out rather than faked as
  0 or +Inf) and the key's spend by window (``usage`` total, ``usage_daily``, ``usage_weekly`` Monday-Sunday UTC,
  ``usage_monthly``; older answers only have ``usage``).
- ``GET /api/v1/credits`` (**management key only**): ``total_credits`` (purchased) and ``total_usage`` (used);
  ``kind="total"`` is their difference, what can still be spent. An ordinary key gets a 403 ("Only management
  keys can perform this operation"): that is a permission fact, not an outage, so the source stays up, exports
  what ``/key`` gave, stops asking ``/credits``, and says so once in the log and on the landing page.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from exporter import contract
from exporter.http import ApiClient, ApiError
from exporter.providers.balance import amount, optional_amount, set_available, set_balances
from exporter.providers.base import ProviderBase, require
from exporter.samples import MetricSet

log = logging.getLogger(__name__)

KEY_PATH = "/api/v1/key"
LEGACY_KEY_PATH = "/api/v1/auth/key"
CREDITS_PATH = "/api/v1/credits"
USAGE_WINDOWS = (("usage", "total"), ("usage_daily", "daily"), ("usage_weekly", "weekly"), ("usage_monthly", "monthly"))


def parse_key(data: Any, where: str = KEY_PATH) -> tuple[MetricSet, float | None]:
    """Key limit and spend samples, plus ``limit_remaining`` (None when unlimited) for the availability flag."""
    body = require(data, "data", dict, where)
    at = f"{where}: data"
    ms = MetricSet()
    limit = optional_amount(body, "limit", at)
    remaining = optional_amount(body, "limit_remaining", at)
    if limit is not None:
        ms.set(contract.KEY_LIMIT_USD, limit)
    if remaining is not None:
        ms.set(contract.KEY_LIMIT_REMAINING_USD, remaining)
    ms.set(contract.KEY_USAGE_USD, amount(body, "usage", at), window="total")
    for field, window in USAGE_WINDOWS[1:]:
        value = optional_amount(body, field, at)
        if value is not None:
            ms.set(contract.KEY_USAGE_USD, value, window=window)
    return ms, remaining


def parse_credits(data: Any, ms: MetricSet) -> float:
    """Add the account's credits (USD) to ``ms``; return what can still be spent."""
    body = require(data, "data", dict, CREDITS_PATH)
    at = f"{CREDITS_PATH}: data"
    purchased = amount(body, "total_credits", at)
    used = amount(body, "total_usage", at)
    remaining = purchased - used
    set_balances(ms, "USD", {"total": remaining, "purchased": purchased, "used": used})
    return remaining


class OpenRouterProvider(ProviderBase):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.key_path = KEY_PATH
        self.credits_refused = False

    def _key(self, client: ApiClient) -> Any:
        try:
            return client.get_json(self.key_path)
        except ApiError as exc:
            if exc.status != 404 or self.key_path == LEGACY_KEY_PATH:
                raise
        log.info("source=%s %s answered 404; using the legacy %s", self.config.name, KEY_PATH, LEGACY_KEY_PATH)
        self.key_path = LEGACY_KEY_PATH
        return client.get_json(self.key_path)

    def _credits(self, client: ApiClient) -> Any | None:
        try:
            return client.get_json(CREDITS_PATH)
        except ApiError as exc:
            if exc.status != 403:
                raise
            # /key just worked with this key, so a 403 here means "not a management key", not a dead key.
            self.credits_refused = True
            self.note = (
                f"{CREDITS_PATH} refused this key ({exc}); exporting key limit and usage only. "
                "Use a management key to export credits, or set credits: false."
            )
            log.warning("source=%s %s", self.config.name, self.note)
            return None

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        key = self._key(client)
        ms, limit_remaining = parse_key(key, self.key_path)
        credits = None
        if self.config.credits and not self.credits_refused:
            credits = self._credits(client)
        if credits is not None:
            set_available(ms, parse_credits(credits, ms) > 0)
        elif limit_remaining is not None:
            # Without /credits the key's own limit is the best available signal of "can this key still spend".
            set_available(ms, limit_remaining > 0)
        return ms


PROVIDER = OpenRouterProvider
