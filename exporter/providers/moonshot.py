"""Moonshot / Kimi prepaid balance: ``GET /v1/users/me/balance``.

Answer: ``{"code": 0, "data": {"available_balance": 49.58894, "voucher_balance": 46.58893,
"cash_balance": 3.00001}, "scode": "0x0", "status": true}``: floats, wrapped in a code/scode/status envelope
whose ``code`` must be 0 even when HTTP says 200. ``available_balance`` (cash + voucher, or just voucher while cash
is in arrears) is what can be spent and becomes ``kind="total"``; inference is blocked when it is <= 0.
``cash_balance`` can be NEGATIVE (arrears) and is exported as such: clamping it would hide a debt.
The answer has no currency: api.moonshot.cn bills in CNY, api.moonshot.ai in USD (``currency`` overrides).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config import MoonshotSource
from exporter.http import ApiClient, ApiError
from exporter.providers.balance import balances_from_fields, currency_for_host
from exporter.providers.base import ProviderBase, json_object, require
from exporter.samples import MetricSet

PATH = "/v1/users/me/balance"
INTERNATIONAL_HOSTS = ("moonshot.ai",)


def parse_balance(data: Any, currency: str) -> MetricSet:
    """Turn a balance answer into samples; a non-zero ``code`` or ``status: false`` is an error, not a balance."""
    where = PATH
    data = json_object(data, where)
    code = data.get("code", 0)
    if code != 0 or data.get("status") is False:
        scode = data.get("scode")
        detail = data.get("message") or data.get("msg") or data.get("error") or ""
        raise ApiError(
            "invalid_response", f"{where}: Moonshot answered code {code!r} (scode {scode!r}) {detail}".rstrip()[:200]
        )
    body = require(data, "data", dict, where)
    fields = {"total": "available_balance", "voucher": "voucher_balance", "cash": "cash_balance"}
    return balances_from_fields(body, currency, fields, f"{where}: data")


class MoonshotProvider(ProviderBase[MoonshotSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        currency = currency_for_host(self.config.url, INTERNATIONAL_HOSTS, self.config.currency)
        return parse_balance(client.get_json(PATH), currency)


PROVIDER = MoonshotProvider
