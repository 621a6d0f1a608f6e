"""SiliconFlow prepaid balance: ``GET /v1/user/info``, the only balance endpoint SiliconFlow has documented for an
API key.

**Retired on the China platform.** Since late August 2026 (release notes: :data:`RETIRED_DOCS`) api.siliconflow.cn
answers this endpoint with **HTTP 410**. No replacement that an API key can call has been published: tools that
still show a China account's balance read the web console with a browser session, which an exporter must not
do. llmpulse reports the 410 as poll-error reason ``endpoint_retired`` with the docs link (on the landing page and
in one log line) and exports **no number** for it: no balance, no availability. International accounts
(api.siliconflow.com, USD) are still read by 2026 tools from this endpoint with an API key. Even where it answers,
its fields have disagreed with the console for some accounts (``-0.01`` for a funded one), so
``totalBalance`` is what the endpoint says, not necessarily what the console shows.

Answer: ``{"code": 20000, "message": "OK", "status": true, "data": {..., "balance": "0.88",
"chargeBalance": "88.00", "totalBalance": "88.88"}}``. Success is code **20000**, not 0: any other code is an
error even under HTTP 200. Amounts are strings. ``totalBalance`` (what can be spent) becomes ``kind="total"``,
``balance`` (gift/free credit) ``kind="granted"`` and ``chargeBalance`` (topped up) ``kind="charged"``. Profile
fields (name, email...) are ignored: they are personal data and some are being blanked by SiliconFlow anyway.
The answer has no currency: api.siliconflow.cn bills in CNY, api.siliconflow.com in USD (``currency`` overrides).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from exporter.config import SiliconFlowSource
from exporter.http import ApiClient, ApiError
from exporter.providers.balance import balances_from_fields, currency_for_host
from exporter.providers.base import ProviderBase, json_object, require
from exporter.samples import MetricSet

log = logging.getLogger(__name__)

PATH = "/v1/user/info"
SUCCESS_CODE = 20000
RETIRED_DOCS = "https://docs.siliconflow.cn/docs/release-notes/overview"
RETIRED_MESSAGE = (
    f"GET {PATH}: HTTP 410: SiliconFlow retired this endpoint ({RETIRED_DOCS}); no API-key balance endpoint "
    "replaces it for this host, so no balance is exported (api.siliconflow.com accounts can still be read)"
)
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


def fetch_user_info(client: ApiClient) -> Any:
    """GET the user info; a 410 becomes ``ApiError('endpoint_retired')`` with the docs link."""
    try:
        return client.get_json(PATH)
    except ApiError as exc:
        if exc.status == 410:
            raise ApiError("endpoint_retired", RETIRED_MESSAGE, status=410) from None
        raise


class SiliconFlowProvider(ProviderBase[SiliconFlowSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        currency = currency_for_host(self.config.url, INTERNATIONAL_HOSTS, self.config.currency)
        try:
            data = fetch_user_info(client)
        except ApiError as exc:
            if exc.reason == "endpoint_retired" and self.note != RETIRED_MESSAGE:
                self.note = RETIRED_MESSAGE
                log.warning("source=%s %s", self.config.name, self.note)
            raise
        self.note = ""
        return parse_user_info(data, currency)

    def on_failure(self, error: ApiError) -> MetricSet | None:
        """A retired endpoint will not come back: drop the last balance instead of showing it as current."""
        return MetricSet() if error.reason == "endpoint_retired" else None


PROVIDER = SiliconFlowProvider
