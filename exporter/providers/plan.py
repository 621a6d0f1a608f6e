"""What the plan-quota providers (MiniMax Token Plan, Zhipu GLM coding plan, Coze benefits) share.

Subscription plans limit use per window (a 5-hour interval, a week, the plan's month) and report how much is left
and when the window resets, each in its own shape: a remaining percent (MiniMax), a used percent (Zhipu), a total
and a used count (Coze); times in seconds or milliseconds. The modules turn them into one convention:

- ``llmpulse_plan_quota_remaining_ratio{quota, window}``: the unused share, 0 to 1;
- ``llmpulse_plan_quota_reset_timestamp_seconds{quota, window}``: when the window resets (Unix seconds);
- ``llmpulse_plan_info{plan}``: the plan or account type, value 1.
"""

from __future__ import annotations

import re
from typing import Any

from exporter import contract
from exporter.http import ApiError
from exporter.providers.base import number
from exporter.samples import MetricSet

_LABEL_RE = re.compile(r"[^A-Za-z0-9._\-]+")
MAX_LABEL = 64
# Epoch values above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
MILLISECONDS_FROM = 1e11


def label_value(raw: Any, where: str) -> str:
    """A provider-chosen name (model, plan level) as a bounded label value: printable, at most 64 characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError("invalid_response", f"{where}: expected a non-empty name, got {raw!r}"[:200])
    return _LABEL_RE.sub("_", raw.strip())[:MAX_LABEL]


def percent_ratio(value: Any, where: str) -> float:
    """A percentage (0-100, number or numeric string) as a ratio; anything outside 0-100 is refused."""
    pct = number(value, where)
    if not 0 <= pct <= 100:
        raise ApiError("invalid_response", f"{where}: percentage {pct:g} is outside 0-100")
    return pct / 100.0


def remaining_from_used_percent(value: Any, where: str) -> float:
    """The unused share from a *used* percentage, computed as (100 - used) / 100 so 91 % used reads 0.09, not
    0.08999999999999997."""
    percent_ratio(value, where)  # checks it is a finite number in 0-100
    return (100.0 - number(value, where)) / 100.0


def epoch_seconds(value: Any, where: str) -> float | None:
    """A Unix time in seconds or milliseconds as seconds; None for 0 or null (no reset announced)."""
    if value is None:
        return None
    ts = number(value, where)
    if ts < 0:
        raise ApiError("invalid_response", f"{where}: negative time {ts:g}")
    if ts == 0:
        return None
    return ts / 1000.0 if ts >= MILLISECONDS_FROM else ts


def set_quota(ms: MetricSet, quota: str, window: str, remaining_ratio: float, reset_at: float | None) -> None:
    """Export one quota window: its unused share and, when the provider announces one, its reset time."""
    ms.set(contract.PLAN_QUOTA_REMAINING_RATIO, remaining_ratio, quota=quota, window=window)
    if reset_at is not None:
        ms.set(contract.PLAN_QUOTA_RESET, reset_at, quota=quota, window=window)


def set_plan(ms: MetricSet, plan: str) -> None:
    ms.set(contract.PLAN_INFO, 1.0, plan=plan)
