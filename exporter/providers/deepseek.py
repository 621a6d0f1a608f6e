"""DeepSeek prepaid balance: ``GET /user/balance`` (api.deepseek.com, ``Authorization: Bearer sk-...``).

Answer: ``{"is_available": true, "balance_infos": [{"currency": "CNY", "total_balance": "110.00",
"granted_balance": "10.00", "topped_up_balance": "100.00"}]}``, one entry per currency the account holds.
Amounts are strings in the current docs and were numbers in an older revision, so both are accepted.
``total_balance`` is granted (unexpired) + topped-up, i.e. what can be spent, so it becomes ``kind="total"``.
Errors use the OpenAI envelope; a 402 (Insufficient Balance) or 401 fails the poll with the provider's message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config import DeepSeekSource
from exporter.http import ApiClient, ApiError
from exporter.providers.balance import amount, currency_code, optional_amount, set_available, set_balances
from exporter.providers.base import ProviderBase, json_object, require
from exporter.samples import MetricSet

PATH = "/user/balance"
# DeepSeek's field -> our kind; total first (what can be spent), then its parts.
KINDS = (("total_balance", "total"), ("granted_balance", "granted"), ("topped_up_balance", "topped_up"))


def parse_balance(data: Any) -> MetricSet:
    """Turn a /user/balance answer into balance samples; raises ApiError('invalid_response') on a bad shape."""
    where = PATH
    data = json_object(data, where)
    infos = require(data, "balance_infos", list, where)
    ms = MetricSet()
    any_positive = False
    seen: set[str] = set()
    for i, info in enumerate(infos):
        at = f"{where}: balance_infos[{i}]"
        if not isinstance(info, dict):
            raise ApiError("invalid_response", f"{at} is a {type(info).__name__}, not an object")
        currency = currency_code(require(info, "currency", str, at), at)
        if currency in seen:
            raise ApiError("invalid_response", f"{at}: currency {currency} listed twice")
        seen.add(currency)
        parts = {"total": amount(info, "total_balance", at)}
        for field, kind in KINDS[1:]:
            value = optional_amount(info, field, at)
            if value is not None:
                parts[kind] = value
        any_positive = any_positive or parts["total"] > 0
        set_balances(ms, currency, parts)
    if "is_available" in data:
        set_available(ms, require(data, "is_available", bool, where))
    else:  # not in the documented answer, but cheap to survive: derive it like the other providers
        set_available(ms, any_positive)
    return ms


class DeepSeekProvider(ProviderBase[DeepSeekSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        return parse_balance(client.get_json(PATH))


PROVIDER = DeepSeekProvider
