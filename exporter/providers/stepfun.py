"""StepFun (阶跃星辰) account balance: ``GET https://api.stepfun.com/v1/accounts`` with the API key (Bearer).

Answer (platform.stepfun.com/docs/zh/api-reference/accounts/get.md): ``{"object": "account", "type": "prepaid",
"balance": ..., "total_cash_balance": ..., "total_voucher_balance": ...}`` in CNY. ``balance`` is what can be spent
(``kind="total"``); cash and voucher are its parts. Amounts are read as numbers or numeric strings (the docs do
not pin the JSON type); NaN or infinite values are refused.

``type`` becomes ``llmpulse_plan_info{plan}``. Availability: a **prepaid** account can pay while its balance is
above 0; a **postpaid** account is billed afterwards, so its balance says nothing about whether calls work and
``llmpulse_balance_available`` is left out rather than guessed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config import StepFunSource
from exporter.http import ApiClient
from exporter.providers.balance import amount, set_available, set_balances
from exporter.providers.base import ProviderBase, json_object, require
from exporter.providers.plan import label_value, set_plan
from exporter.samples import MetricSet

PATH = "/v1/accounts"
CURRENCY = "CNY"
KINDS = (("balance", "total"), ("total_cash_balance", "cash"), ("total_voucher_balance", "voucher"))


def parse_account(data: Any) -> MetricSet:
    where = PATH
    data = json_object(data, where)
    kind = label_value(require(data, "type", str, where), f"{where}: type").lower()
    ms = MetricSet()
    parts = {ours: amount(data, field, where) for field, ours in KINDS}
    set_balances(ms, CURRENCY, parts)
    set_plan(ms, kind)
    if kind == "prepaid":
        set_available(ms, parts["total"] > 0)
    return ms


class StepFunProvider(ProviderBase[StepFunSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        return parse_account(client.get_json(PATH))


PROVIDER = StepFunProvider
