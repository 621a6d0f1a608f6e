"""Incremental month-to-date totals: refetch only the days that can still change, the whole month now and then.

A month-to-date total is the sum of the month's daily buckets. Refetching all of them on every poll makes a poll's
requests, bytes and CPU grow with the day of the month and the size of the organization (1,000 groups on day 31:
about 40 MB per poll). Days that are over do not change, except when the provider revises them, so
:class:`MonthToDate` keeps:

- ``closed``: the exact sum of the days before the *revision window*, fetched once;
- ``window``: per-day totals of the days in the window (the current day and ``revision_window`` before it, rounded
  up to whole UTC days), refetched on every poll because late data still lands there.

The exported total is ``closed`` plus the window, summed as :class:`decimal.Decimal` like a full recompute, so the
two are the same numbers (the tests compare them on the same simulated organization). The whole month is refetched:

- on the first poll (``start``) and at month rollover (``rollover``);
- every ``full_refetch_interval`` (``cadence``), so a revision of a day before the window shows within that time;
- when the window shows a revision (``revision``): a day that had ended before the previous poll now reports less
  than it did (providers correct usage and cost downward, and such corrections may reach further back), or the
  window's oldest day changed (late data is landing at the window's edge, so older days may be changing too).
  Late data that only adds to the days inside the window is what the window is for and needs no full refetch.

Only a poll that fetched every page is committed (:meth:`MonthToDate.commit`), so a failed poll changes nothing.

A steady poll also parses little: the window's days before today usually come back exactly as last time, and
:class:`DailyTotals` reuses the last parse of a bucket whose results are equal, so a steady poll converts the
numbers of today's buckets only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from exporter.config import UsageSourceBase
from exporter.http import ApiClient
from exporter.providers.base import ProviderBase, month_start
from exporter.providers.usage_common import Totals
from exporter.samples import MetricSet

DAY = 86400

#: Why a poll fetched what it fetched (also the ``fetch`` field of the poll log line).
FULL_REASONS = ("start", "rollover", "cadence", "revision")
INCREMENTAL = "window"


#: The usage source a month-to-date provider polls (``OpenAISource``, ``AnthropicSource``).
UsageSourceT = TypeVar("UsageSourceT", bound=UsageSourceBase, covariant=True)


class DailyTotals:
    """Exact totals per daily bucket, keyed by the bucket's UTC day number (Unix seconds // 86400).

    Why it remembers buckets: a steady poll refetches the revision window, and all of it but today usually comes
    back exactly as last time. Given the previous fetch (``previous``), a bucket whose results equal the ones it
    parsed then (one comparison of JSON values in C) reuses that parse instead of converting every number again,
    and a day whose every bucket was reused is the previous fetch's day object itself. Only buckets of days from
    ``remember_from`` on are remembered (the days the next steady poll refetches), so the memory stays that of
    one window. The sums are the same either way: a parse depends on nothing but the results.
    """

    def __init__(self, previous: DailyTotals | None = None, remember_from: float = math.inf) -> None:
        self._parts: dict[int, list[Totals]] = {}
        self._seen: dict[tuple[str, int], tuple[list[Any], Totals]] = {}
        self._previous_seen = previous._seen if previous is not None else {}
        self._previous_days = previous.days if previous is not None else {}
        self._previous_parts = previous._parts if previous is not None else {}
        self._remember_from = int(remember_from // DAY) if math.isfinite(remember_from) else None
        self._days: dict[int, Totals] = {}
        self._stale = False
        self.reused = 0  # buckets whose parse was reused (the provider keeps it as last_reused for tests)

    def add_bucket(self, stream: str, start: float, results: list[Any], parse: Callable[[Totals], None]) -> None:
        day = int(start // DAY)
        key = (stream, day)
        known = self._previous_seen.get(key)
        if known is not None and key not in self._seen and known[0] == results:
            part = known[1]
            self.reused += 1
        else:
            part = Totals()
            parse(part)
        if self._remember_from is not None and day >= self._remember_from and key not in self._seen:
            self._seen[key] = (results, part)
        self._parts.setdefault(day, []).append(part)
        self._stale = True

    def for_bucket(self, start: float) -> Totals:
        """A Totals whose additions count towards the day of ``start`` (for callers that add sums directly)."""
        part = Totals()
        self._parts.setdefault(int(start // DAY), []).append(part)
        self._stale = True
        return part

    @property
    def days(self) -> dict[int, Totals]:
        """Each day's totals (not to be changed: a day may be shared with the previous fetch)."""
        if self._stale:
            days: dict[int, Totals] = {}
            for day, parts in self._parts.items():
                before = self._previous_parts.get(day)
                if (
                    before is not None
                    and day in self._previous_days
                    and len(before) == len(parts)
                    and all(map(operator.is_, before, parts))
                ):
                    days[day] = self._previous_days[day]
                    continue
                totals = Totals()
                for part in parts:
                    totals.merge(part)
                days[day] = totals
            self._days, self._stale = days, False
        return self._days

    def forget_before(self, day: int) -> None:
        """Drop the days before ``day`` (kept as the next fetch's ``previous``, only the window is needed)."""
        _ = self.days
        for kept in (self._parts, self._days):
            for old in [d for d in kept if d < day]:
                del kept[old]
        self._previous_seen, self._previous_days, self._previous_parts = {}, {}, {}


@dataclass(frozen=True)
class FetchPlan:
    """What one poll fetches: the buckets from ``start`` on; ``full`` when that is the whole month."""

    start: datetime
    full: bool
    reason: str  # one of FULL_REASONS, or INCREMENTAL

    @property
    def first_day(self) -> int:
        return int(self.start.timestamp()) // DAY


class MonthToDate:
    """The closed-days sum and window of one source, and the decision what each poll fetches."""

    def __init__(self, revision_window: float, full_refetch_interval: float) -> None:
        self.window_days = max(1, math.ceil(revision_window / DAY))
        self.full_refetch_interval = full_refetch_interval
        self.month = ""
        self.closed = Totals()
        self.window: dict[int, Totals] = {}
        self.last_full = -math.inf
        self.last_poll = -math.inf
        # ``closed`` plus the window's days before ``settled_before`` (their day numbers in ``settled_days``): the
        # part of the total a steady poll usually leaves as it was, so it is not summed again on every poll.
        self.settled = Totals()
        self.settled_days: tuple[int, ...] = ()
        self.settled_before = -1

    def window_start(self, now: datetime) -> datetime:
        """00:00 UTC of the window's first day: ``window_days`` before today, never before the month start."""
        today = int(now.timestamp()) // DAY
        first = max(today - self.window_days, int(month_start(now).timestamp()) // DAY)
        return datetime.fromtimestamp(first * DAY, UTC)

    def plan(self, now: datetime) -> FetchPlan:
        month = now.astimezone(UTC).strftime("%Y-%m")
        if month != self.month:
            return FetchPlan(month_start(now), True, "rollover" if self.month else "start")
        if now.timestamp() - self.last_full >= self.full_refetch_interval:
            return FetchPlan(month_start(now), True, "cadence")
        return FetchPlan(self.window_start(now), False, INCREMENTAL)

    def unchanged_days(self, fetched: DailyTotals) -> set[int]:
        """The window's days whose fetched totals equal the kept ones (one comparison per day, no walk over the
        series in Python); most days of a steady poll's window, today excepted."""
        return {day for day, old in self.window.items() if fetched.days.get(day) == old}

    def revised(self, plan: FetchPlan, fetched: DailyTotals, unchanged: set[int] | None = None) -> bool:
        """Whether an incremental fetch shows a revision that needs the whole month refetched (see the module)."""
        ended_before_last_poll = int(self.last_poll) // DAY
        if unchanged is None:
            unchanged = self.unchanged_days(fetched)
        for day, old in self.window.items():
            if day < plan.first_day or day in unchanged:
                continue  # left the window (kept as last fetched), or the same as last fetched
            if day == plan.first_day:
                return True
            if day < ended_before_last_poll and fetched.days.get(day, Totals()).any_below(old):
                return True
        return False

    def commit(self, plan: FetchPlan, fetched: DailyTotals, now: datetime, unchanged: set[int] | None = None) -> Totals:
        """Take a complete fetch into the state and return the month-to-date totals.

        ``unchanged`` (from :meth:`unchanged_days` before this commit) lets a steady poll reuse the settled sum
        (closed days plus the window's days before today) when none of those days changed: it then adds only today
        to it instead of summing every day of the window again. The result is the same sum either way.
        """
        today = int(now.timestamp()) // DAY
        before = set(self.window)
        reusable = (
            not plan.full
            and unchanged is not None
            and self.settled_before == today
            and all(day in unchanged for day in self.settled_days if day >= plan.first_day)
        )
        if plan.full:
            self.month = now.astimezone(UTC).strftime("%Y-%m")
            self.closed = Totals()
            self.window = {}
            self.last_full = now.timestamp()
            first_day = self.window_start(now).timestamp() // DAY
            for day, totals in fetched.days.items():
                if day < first_day:
                    self.closed.merge(totals)
                else:
                    self.window[day] = totals
        else:
            for day, totals in self.window.items():
                if day < plan.first_day:
                    self.closed.merge(totals)  # the day left the window: final as last fetched
            self.window = {day: t for day, t in fetched.days.items() if day >= plan.first_day}
        self.last_poll = now.timestamp()
        settled_days = tuple(sorted(day for day in self.window if day < today))
        if not (reusable and settled_days == self.settled_days and set(self.window) <= before | {today}):
            self.settled = self.closed.copy()
            for day in settled_days:
                self.settled.merge(self.window[day])
            self.settled_days, self.settled_before = settled_days, today
        result = self.settled.copy()
        for day, totals in self.window.items():
            if day >= today:
                result.merge(totals)
        return result


class MonthToDateProvider(ProviderBase[UsageSourceT]):
    """A billing API read as month-to-date totals, incrementally (see the module). Subclasses fetch daily buckets
    from a given day on (:meth:`fetch_days`) and may add series that are not sums of buckets (:meth:`extras`)."""

    month_to_date = True

    def __init__(self, config: UsageSourceT) -> None:
        super().__init__(config)
        self.state = MonthToDate(config.revision_window, config.full_refetch_interval)
        self._previous: DailyTotals | None = None  # the last complete fetch, its window's buckets remembered
        self.last_reused = 0  # buckets of the last poll whose parse was reused

    def fetch_days(self, client: ApiClient, start: datetime, days: DailyTotals) -> None:
        """Every page of every usage/cost endpoint from the bucket at ``start`` on, added to ``days``."""
        raise NotImplementedError

    def extras(self, client: ApiClient, ms: MetricSet) -> None:
        """Series beside the sums (project names); none by default."""

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        plan = self.state.plan(now)
        fetched = self.fetch(client, plan.start, now)
        unchanged = None if plan.full else self.state.unchanged_days(fetched)
        if unchanged is not None and self.state.revised(plan, fetched, unchanged):
            plan = FetchPlan(month_start(now), True, "revision")
            fetched = self.fetch(client, plan.start, now)
            unchanged = None
        ms = self.state.commit(plan, fetched, now, unchanged).metricset()
        self.last_fetch = f"full:{plan.reason}" if plan.full else INCREMENTAL
        self.last_reused = fetched.reused
        self.extras(client, ms)
        self._previous = fetched
        fetched.forget_before(int(self.state.window_start(now).timestamp()) // DAY)
        return ms

    def fetch(self, client: ApiClient, start: datetime, now: datetime) -> DailyTotals:
        """:meth:`fetch_days` into a :class:`DailyTotals` that reuses the previous fetch's parse of an unchanged
        bucket and remembers the buckets of the window."""
        sink = DailyTotals(self._previous, remember_from=self.state.window_start(now).timestamp())
        self.fetch_days(client, start, sink)
        return sink
