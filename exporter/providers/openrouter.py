"""OpenRouter credits and key limits (base https://openrouter.ai, paths under /api/v1, Bearer ``sk-or-v1-...``).

- ``GET /api/v1/key`` (any key; legacy clients use ``/api/v1/auth/key``, tried when ``/key`` answers 404):
  ``limit`` / ``limit_remaining`` (nullable: null = unlimited, so those series are left out rather than faked as
  0 or +Inf), the key's spend by window (``usage`` total, ``usage_daily``, ``usage_weekly`` Monday-Sunday UTC,
  ``usage_monthly``; older answers only have ``usage``) and ``is_management_key``: what this key can see.
- ``GET /api/v1/credits``: ``total_credits`` (purchased) and ``total_usage`` (used); ``kind="total"`` is their
  difference, what the account can still spend. Only a **management key** sees the account here. An ordinary key
  gets a 403 ("Only management keys can perform this operation") or, as real accounts showed in 2026, an HTTP 200
  ``{"total_credits": 0, "total_usage": 0}`` while its ``/key`` reports ``limit_remaining: 29.99``: a zero from
  ``/credits`` is not proof of an empty account.

So the decision comes from ``/key``:

- a management key: the account balance from ``/credits``; available when it is above 0;
- an ordinary key: ``/credits`` is never asked; the key's headroom is its ``limit_remaining`` (available when above
  0), or unlimited when ``limit`` is null (available); the landing page and one log line say why there is no
  account balance;
- an older ``/key`` answer that does not say: ``/credits`` is asked, a 403 or an all-zero answer is taken as "this
  key cannot see the account" (noted, the key's headroom is used), any other answer as the account balance.

``llmpulse_balance_available`` is therefore 0 only when OpenRouter says so: credits used up, or a key limit spent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter import contract
from exporter.config import OpenRouterSource
from exporter.http import ApiClient, ApiError
from exporter.providers.balance import amount, optional_amount, set_available, set_balances
from exporter.providers.base import ProviderBase, require
from exporter.samples import MetricSet

log = logging.getLogger(__name__)

KEY_PATH = "/api/v1/key"
LEGACY_KEY_PATH = "/api/v1/auth/key"
CREDITS_PATH = "/api/v1/credits"
USAGE_WINDOWS = (("usage", "total"), ("usage_daily", "daily"), ("usage_weekly", "weekly"), ("usage_monthly", "monthly"))


@dataclass(frozen=True)
class KeyInfo:
    """What ``/key`` says: the key's samples, its limit and headroom (None = unlimited) and whether it is a
    management key (None when the answer does not say, as older answers do not)."""

    samples: MetricSet
    limit: float | None
    remaining: float | None
    management: bool | None

    @property
    def has_headroom(self) -> bool:
        """The key can still spend: no limit, or some of it left."""
        return self.limit is None or self.remaining is None or self.remaining > 0


@dataclass(frozen=True)
class Credits:
    purchased: float
    used: float

    @property
    def remaining(self) -> float:
        return self.purchased - self.used

    @property
    def all_zero(self) -> bool:
        """The answer an ordinary key gets: nothing bought, nothing used."""
        return self.purchased == 0 and self.used == 0


def parse_key(data: Any, where: str = KEY_PATH) -> KeyInfo:
    """Key limit and spend samples, the key's headroom and its kind."""
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
    management: bool | None = None
    for flag in ("is_management_key", "is_provisioning_key"):
        if body.get(flag) is not None:
            management = bool(management) or require(body, flag, bool, at)
    return KeyInfo(ms, limit, remaining, management)


def parse_credits(data: Any) -> Credits:
    body = require(data, "data", dict, CREDITS_PATH)
    at = f"{CREDITS_PATH}: data"
    return Credits(amount(body, "total_credits", at), amount(body, "total_usage", at))


def credit_samples(credits: Credits, ms: MetricSet) -> None:
    """Add the account's credits (USD) to ``ms``: total (what can be spent), purchased and used."""
    set_balances(ms, "USD", {"total": credits.remaining, "purchased": credits.purchased, "used": credits.used})
    set_available(ms, credits.remaining > 0)


ORDINARY_NOTE = (
    "ordinary (non-management) key: {why}; exporting the key's limit, headroom and usage from /key. "
    "Use a management key to export the account balance, or set credits: false."
)


class OpenRouterProvider(ProviderBase[OpenRouterSource]):
    def __init__(self, config: OpenRouterSource) -> None:
        super().__init__(config)
        self.key_path = KEY_PATH
        self.credits_refused = False  # an older /key did not say, and /credits showed this key cannot see it

    def _key(self, client: ApiClient) -> Any:
        try:
            return client.get_json(self.key_path)
        except ApiError as exc:
            if exc.status != 404 or self.key_path == LEGACY_KEY_PATH:
                raise
        log.info("source=%s %s answered 404; using the legacy %s", self.config.name, KEY_PATH, LEGACY_KEY_PATH)
        self.key_path = LEGACY_KEY_PATH
        return client.get_json(self.key_path)

    def _say(self, why: str) -> None:
        note = ORDINARY_NOTE.format(why=why)[:300]
        if note != self.note:
            self.note = note
            log.warning("source=%s %s", self.config.name, note)

    def _credits(self, client: ApiClient) -> Credits | None:
        """The account's credits, or None when this key turns out not to see them (remembered)."""
        try:
            credits = parse_credits(client.get_json(CREDITS_PATH))
        except ApiError as exc:
            if exc.status != 403:
                raise
            # /key just worked with this key, so a 403 here means "not a management key", not a dead key.
            self.credits_refused = True
            self._say(f"{CREDITS_PATH} refused it ({exc})")
            return None
        if credits.all_zero:
            self.credits_refused = True
            self._say(
                f"{CREDITS_PATH} answered 0 credits and 0 usage, which is what a key that cannot see the account gets"
            )
            return None
        return credits

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        key = parse_key(self._key(client), self.key_path)
        ms = key.samples
        if key.management is False:
            if self.config.credits:
                self._say(f"{CREDITS_PATH} cannot see the account balance with it (it answers 0 or 403)")
            set_available(ms, key.has_headroom)
            return ms
        credits = None
        if self.config.credits and not self.credits_refused:
            credits = self._credits(client)
        if credits is not None:
            credit_samples(credits, ms)
        elif key.management is None or not self.config.credits:
            # Without the account's credits the key's own headroom is the best signal of "can this key spend".
            set_available(ms, key.has_headroom)
        return ms


PROVIDER = OpenRouterProvider
