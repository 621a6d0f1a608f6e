"""Zhipu GLM coding plan quotas: ``GET /api/monitor/usage/quota/limit`` (open.bigmodel.cn; international api.z.ai).

**Undocumented.** Zhipu publishes no API for plan quotas; this is the endpoint its console uses and that several
coding-plan monitors read with the plan's API key, sent as the bare ``Authorization`` value (no ``Bearer``). It
can change without notice: when its shape changes the source goes down with ``invalid_response`` and keeps its
last values, as for any broken answer.

Answer as those tools read it: ``{"code": 200, "msg": "...", "success": true, "data": {"level": "pro", "limits":
[{"type": "TOKENS_LIMIT" | "TIME_LIMIT", "unit": 3, "number": 5, "usage": ..., "remaining": ...,
"percentage": 12, "nextResetTime": 1765000000000}]}}``. ``percentage`` is the *used* share (0-100), so the
remaining ratio is ``1 - percentage / 100``; ``nextResetTime`` is in milliseconds. ``quota`` is ``tokens``
(TOKENS_LIMIT) or ``time`` (TIME_LIMIT, the tool-call allowance); ``window`` comes from ``unit``/``number`` as the
tools map it: unit 3 = hours (``5h``), 5 = ``monthly``, 6 = ``weekly``; anything else is ``interval``. If two
limits land on the same quota and window, the one with less left is kept. ``data.level`` becomes
``llmpulse_plan_info{plan}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config import ZhipuSource
from exporter.http import ApiClient, ApiError
from exporter.providers.base import ProviderBase, json_object, number, require
from exporter.providers.plan import epoch_seconds, label_value, remaining_from_used_percent, set_plan, set_quota
from exporter.samples import MetricSet

PATH = "/api/monitor/usage/quota/limit"
SUCCESS_CODE = 200
QUOTAS = {"TOKENS_LIMIT": "tokens", "TIME_LIMIT": "time"}
UNIT_WINDOWS = {5: "monthly", 6: "weekly"}
HOURS_UNIT = 3
MAX_LIMITS = 20


def window_of(item: dict[str, Any], where: str) -> str:
    unit, count = item.get("unit"), item.get("number")
    if isinstance(unit, int) and not isinstance(unit, bool):
        if unit == HOURS_UNIT and count is not None:
            hours = number(count, f"{where}: number")
            if hours.is_integer() and 1 <= hours <= 168:
                return f"{int(hours)}h"
        if unit in UNIT_WINDOWS:
            return UNIT_WINDOWS[unit]
    return "interval"


def parse_quota_limit(data: Any) -> MetricSet:
    where = PATH
    data = json_object(data, where)
    code = data.get("code")
    if code != SUCCESS_CODE or data.get("success") is False:
        detail = str(data.get("msg") or data.get("message") or "")[:120]
        raise ApiError("invalid_response", f"{where}: Zhipu answered code {code!r} (success is 200) {detail}".rstrip())
    body = require(data, "data", dict, where)
    limits = require(body, "limits", list, f"{where}: data")
    if len(limits) > MAX_LIMITS:
        raise ApiError("invalid_response", f"{where}: {len(limits)} limits, more than the {MAX_LIMITS} accepted")
    ms = MetricSet()
    kept: dict[tuple[str, str], tuple[float, float | None]] = {}
    for i, item in enumerate(limits):
        at = f"{where}: data.limits[{i}]"
        kind = require(item, "type", str, at)
        quota = QUOTAS.get(kind) or label_value(kind.removesuffix("_LIMIT").lower(), f"{at}: type")
        window = window_of(item, at)
        ratio = remaining_from_used_percent(require(item, "percentage", (int, float, str), at), f"{at}: percentage")
        reset = epoch_seconds(item.get("nextResetTime"), f"{at}: nextResetTime")
        previous = kept.get((quota, window))
        if previous is None or ratio < previous[0]:
            kept[(quota, window)] = (ratio, reset)
    for (quota, window), (ratio, reset) in kept.items():
        set_quota(ms, quota, window, ratio, reset)
    if body.get("level") is not None:
        set_plan(ms, label_value(body["level"], f"{where}: data.level").lower())
    return ms


class ZhipuProvider(ProviderBase[ZhipuSource]):
    def headers(self) -> dict[str, str]:
        """The coding-plan endpoint takes the bare key, as the tools that read it send it."""
        key = self.config.api_key
        return {"Authorization": key} if key else {}

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        return parse_quota_limit(client.get_json(PATH))


PROVIDER = ZhipuProvider
