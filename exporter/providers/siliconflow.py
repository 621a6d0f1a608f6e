"""SiliconFlow prepaid balance: ``GET /v1/user/info``.

Answer: ``{"code": 20000, "message": "OK", "status": true, "data": {..., "balance": "0.88",
"chargeBalance": "88.00", "totalBalance": "88.88"}}``. Success is code **20000**, not 0: any other code is an
error even under HTTP 200. Amounts are strings. ``totalBalance`` (what can be spent) becomes ``kind="total"``,
``balance`` (gift/free credit) ``kind="granted"`` and ``chargeBalance`` (topped up) ``kind="charged"``. Profile
fields (name, email...) are ignored: they are personal data and some are being blanked by SiliconFlow anyway.
The answer has no currency: api.siliconflow.cn bills in CNY, api.siliconflow.com in USD (``currency`` overrides).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.http import ApiClient, ApiError
from exporter.providers.balance import balances_from_fields, currency_for_host
from exporter.providers.base import ProviderBase, json_object, require
from exporter.samples import MetricSet

PATH = "/v1/user/info"
SUCCESS_CODE = 20000
INTERNATIONAL_HOSTS = ("siliconflow.com",)


def parse_user_info(data: Any, currency: str) -> MetricSet:
    where = PATH
    data = json_object(data, where)
    code = data.get("code")
    if code != SUCCESS_CODE:
        detail = data.get("message") or data.get("msg") or ""
        raise ApiError(
            "invalid_response",
            f"{where}: SiliconFlow answered code {code!r} (success is {SUCCESS_CODE}) {detail}".rstrip()[:200],
        )
    body = require(data, "data", dict, where)
    fields = {"total": "totalBalance", "granted": "balance", "charged": "chargeBalance"}
    return balances_from_fields(body, currency, fields, f"{where}: data")


class SiliconFlowProvider(ProviderBase):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        currency = currency_for_host(self.config.url, INTERNATIONAL_HOSTS, getattr(self.config, "currency", None))
        return parse_user_info(client.get_json(PATH), currency)


PROVIDER = SiliconFlowProvider
