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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

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
    """Exact totals per daily bucket, keyed by the bucket's UTC day number (Unix seconds // 86400)."""

    def __init__(self) -> None:
        self.days: dict[int, Totals] = {}

    def for_bucket(self, start: float) -> Totals:
        """The totals of the day whose bucket starts at ``start`` (created empty on first use)."""
        day = int(start // DAY)
        totals = self.days.get(day)
        if totals is None:
            totals = self.days[day] = Totals()
        return totals


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

    def fetch_days(self, client: ApiClient, start: datetime) -> DailyTotals:
        """Every page of every usage/cost endpoint from the bucket at ``start`` on, summed per day."""
        raise NotImplementedError

    def extras(self, client: ApiClient, ms: MetricSet) -> None:
        """Series beside the sums (project names); none by default."""

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        plan = self.state.plan(now)
        fetched = self.fetch_days(client, plan.start)
        unchanged = None if plan.full else self.state.unchanged_days(fetched)
        if unchanged is not None and self.state.revised(plan, fetched, unchanged):
            plan = FetchPlan(month_start(now), True, "revision")
            fetched = self.fetch_days(client, plan.start)
            unchanged = None
        ms = self.state.commit(plan, fetched, now, unchanged).metricset()
        self.last_fetch = f"full:{plan.reason}" if plan.full else INCREMENTAL
        self.extras(client, ms)
        return ms
