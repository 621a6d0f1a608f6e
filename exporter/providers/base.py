"""What every provider module implements: turn a source's API answers into a :class:`MetricSet`.

A provider knows its API and nothing else: no threads, no scheduling, no Prometheus client objects. ``poll``
fetches through the given :class:`ApiClient` (which counts, retries and classifies calls) and parses with pure
functions that tests can feed with recorded or simulated answers. Any problem raises :class:`ApiError`, and the
poller keeps the last good snapshot.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from exporter.config import SourceBase
from exporter.http import ApiClient, ApiError
from exporter.samples import MetricSet

#: The source model a provider polls (e.g. ``OpenAISource``): each provider names it, so mypy checks every key it
#: reads. Covariant: a provider of OpenAI sources is a provider of some source, which is all the poller needs.
SourceT = TypeVar("SourceT", bound=SourceBase, covariant=True)


class ProviderBase(Generic[SourceT]):
    """Base class of provider modules. Subclasses name their source model (``ProviderBase[DeepSeekSource]``), set
    ``month_to_date`` and implement :meth:`poll`."""

    #: True when the provider's counters are month-to-date totals recomputed every poll; the poller then keeps
    #: them monotonic within a UTC month and counts downward revisions.
    month_to_date: ClassVar[bool] = False

    def __init__(self, config: SourceT) -> None:
        self.config = config
        #: A standing remark about this source that is not an error (e.g. OpenRouter credits need a management
        #: key); the landing page shows it next to the source.
        self.note = ""
        #: How the last successful poll fetched its data, for the poll log (month-to-date sources say whether the
        #: whole month was fetched and why, see exporter.providers.month_to_date); empty when there is no choice.
        self.last_fetch = ""

    def headers(self) -> dict[str, str]:
        """Auth headers for every call (Bearer by default)."""
        key = self.config.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        raise NotImplementedError

    def on_failure(self, error: ApiError) -> MetricSet | None:
        """Samples to publish *instead of keeping the last snapshot* when a poll fails (status pages use this to
        report ``unknown``); None keeps the last good data."""
        return None


def month_start(now: datetime) -> datetime:
    """00:00 UTC on the 1st of ``now``'s UTC month."""
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def json_object(data: Any, where: str) -> dict[str, Any]:
    """The answer as a JSON object, or ``ApiError('invalid_response')`` saying what came instead."""
    if not isinstance(data, dict):
        raise ApiError("invalid_response", f"{where}: answer is a {type(data).__name__}, not an object")
    return data


def require(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Fetch ``data[key]`` and check its type, raising ``ApiError('invalid_response')`` with a clear message."""
    if not isinstance(data, dict) or key not in data:
        raise ApiError("invalid_response", f"{where}: missing field {key!r}")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ApiError("invalid_response", f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def number(value: Any, where: str) -> float:
    """A finite JSON number or numeric string (providers disagree: DeepSeek and SiliconFlow send strings)."""
    if isinstance(value, bool):
        raise ApiError("invalid_response", f"{where}: expected a number, got a boolean")
    result: float | None = None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
    except (ValueError, OverflowError):
        result = None
    if result is not None and not math.isfinite(result):
        raise ApiError("invalid_response", f"{where}: {str(value)[:40]!r} is not a finite number")
    if result is not None:
        return result
    raise ApiError("invalid_response", f"{where}: expected a number, got {value!r}"[:200])
