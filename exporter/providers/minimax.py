"""MiniMax Token Plan quotas: ``GET /v1/token_plan/remains`` (api.minimax.io; China api.minimaxi.com), Bearer key.

Answer (platform.minimax.io/docs/token-plan/faq): ``{"model_remains": [{"model_name",
"current_interval_remaining_percent", "end_time", "current_weekly_remaining_percent", "weekly_end_time"}, ...],
"base_resp": {"status_code": 0, "status_msg": "success"}}``. A ``status_code`` other than 0 is an error even under
HTTP 200 (its ``status_msg`` is reported). Each model gives two windows: ``window="interval"`` (the plan's current
interval, ending at ``end_time``) and ``window="weekly"``; percentages are *remaining* shares, 0-100. Times are
read as seconds or milliseconds (MiniMax writes milliseconds elsewhere). The legacy coding-plan endpoint
(``/v1/api/openplatform/coding_plan/remains``) names a remaining *count* ``current_interval_usage_count`` and is
not read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.config import MiniMaxSource
from exporter.http import ApiClient, ApiError
from exporter.providers.base import ProviderBase, json_object, require
from exporter.providers.plan import epoch_seconds, label_value, percent_ratio, set_quota
from exporter.samples import MetricSet

PATH = "/v1/token_plan/remains"
WINDOWS = (
    ("interval", "current_interval_remaining_percent", "end_time"),
    ("weekly", "current_weekly_remaining_percent", "weekly_end_time"),
)
MAX_MODELS = 50


def parse_remains(data: Any) -> MetricSet:
    where = PATH
    data = json_object(data, where)
    base = data.get("base_resp")
    if isinstance(base, dict) and base.get("status_code") not in (0, None):
        detail = str(base.get("status_msg") or "")[:120]
        raise ApiError(
            "invalid_response", f"{where}: MiniMax answered status_code {base.get('status_code')!r} {detail}"
        )
    models = require(data, "model_remains", list, where)
    if len(models) > MAX_MODELS:
        raise ApiError("invalid_response", f"{where}: {len(models)} models, more than the {MAX_MODELS} accepted")
    ms = MetricSet()
    for i, item in enumerate(models):
        at = f"{where}: model_remains[{i}]"
        model = label_value(require(item, "model_name", str, at), f"{at}: model_name")
        for window, pct_field, end_field in WINDOWS:
            if item.get(pct_field) is None:
                continue  # a plan without a weekly cap
            ratio = percent_ratio(item[pct_field], f"{at}: {pct_field}")
            set_quota(ms, model, window, ratio, epoch_seconds(item.get(end_field), f"{at}: {end_field}"))
    return ms


class MiniMaxProvider(ProviderBase[MiniMaxSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        return parse_remains(client.get_json(PATH))


PROVIDER = MiniMaxProvider
