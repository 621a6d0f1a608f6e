"""One background poller per source: schedule, snapshot swap, month-to-date guard, self-metrics.

A poll builds a complete new :class:`MetricSet`; only a poll that finished without any error replaces the
published snapshot, so a timeout, a 5xx, malformed JSON or a page missing mid-pagination never replaces good
data with partial data. The source then keeps its last good snapshot and ``llmpulse_source_up`` drops to 0.
A scrape of /metrics never reaches this code: it copies bytes rendered here once per poll.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from exporter import contract
from exporter.budget import BudgetLedger, SeriesBudget, fold_series
from exporter.config import SourceBase, SourceConfig
from exporter.exposition import Exposition, MetricSetRenderer, render_metricset
from exporter.http import ApiClient, ApiError
from exporter.providers import provider_class
from exporter.providers.base import ProviderBase
from exporter.redact import redact
from exporter.samples import LabelKey, MetricSet
from exporter.state import MonthMarks, SourceState

log = logging.getLogger(__name__)

POLL_ERROR_REASONS = (
    "http_4xx",
    "http_5xx",
    "rate_limited",
    "timeout",
    "connection",
    "tls",
    "invalid_response",
    "pagination",
    "blocked",  # a CDN or bot challenge answered instead of the API (HTML 403/405): not an outage, not a bad shape
    "endpoint_retired",  # the provider retired the endpoint (HTTP 410): polling again will not help
    "internal",
)
#: Adds derived series to a successful poll's samples (estimated cost, USD balances), given the source's config.
Enricher = Callable[[MetricSet, SourceConfig], None]


@dataclass(frozen=True)
class SourceStatus:
    """What the landing page and /-/ready show about a source (a copy, safe to read from any thread)."""

    name: str
    type: str
    provider: str
    url: str
    interval: float
    up: bool | None
    polls: int
    last_success: float
    last_error: str
    last_duration: float
    series: int
    note: str = ""


def _month_start(now: datetime) -> float:
    """00:00 UTC on the 1st of ``now``'s month: when a month-to-date counter last restarted."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


SeriesId = tuple[contract.Family, LabelKey]
HIGH, REPORTED = 0, 1
#: Per family, per label set: [highest value exported, value the provider last reported].
Marks = dict[contract.Family, dict[LabelKey, list[float]]]


class MonthToDateGuard:
    """Keeps month-to-date counters monotonic within a UTC month and counts downward revisions.

    The provider's data is the truth and is recomputed every poll; but if the provider revises a total downward,
    the exported counter keeps its higher value (a decrease would read as a counter reset to ``rate()``) and
    ``llmpulse_source_revisions_total`` counts the revision instead. With a state directory the marks are
    restored at start (see :mod:`exporter.state`), so a restart after a revision does not decrease the counter.

    A poll costs one lookup per series and one pass over each family's marks in the order they were made (cache
    friendly at 100k series), and replaces a family with vanished series once: linear in the series. :attr:`high`,
    :attr:`reported` and :meth:`restore` read and write the marks as flat ``(family, label set) -> value`` maps,
    the form a state file stores.
    """

    def __init__(self, marks: MonthMarks | None = None) -> None:
        self.month = ""
        self._marks: Marks = {}
        if marks is not None:  # read from a state file
            self.restore(marks.month, marks.high, marks.reported)

    def marks(self) -> MonthMarks:
        """A copy of what the guard remembers (what the state file holds)."""
        return MonthMarks(self.month, self.high, self.reported)

    def restore(self, month: str, high: Mapping[SeriesId, float], reported: Mapping[SeriesId, float]) -> None:
        """Take marks as a state file stores them: flat ``(family, label set) -> value`` maps."""
        self.month = month
        self._marks = {}
        for (family, key), value in high.items():
            self._marks.setdefault(family, {})[key] = [value, reported.get((family, key), 0.0)]

    @property
    def high(self) -> dict[SeriesId, float]:
        """The highest value exported per series this month (a flat copy)."""
        return {(f, key): m[HIGH] for f, marks in self._marks.items() for key, m in marks.items()}

    @property
    def reported(self) -> dict[SeriesId, float]:
        """The value the provider last reported per series (0 once it vanished; a flat copy)."""
        return {(f, key): m[REPORTED] for f, marks in self._marks.items() for key, m in marks.items()}

    def apply(self, ms: MetricSet, now: datetime) -> dict[str, int]:
        """Raise every counter of ``ms`` to its high-water mark, put back the series that vanished, and return the
        revisions per family name (it runs under the poller's lock, which ``/-/ready`` and the landing page wait
        on, so it must stay linear)."""
        month = now.astimezone(UTC).strftime("%Y-%m")
        if month != self.month:
            self.month, self._marks = month, {}
        revisions: dict[str, int] = {}
        families = [f for f in ms.families() if f.type == "counter"]
        listed = set(families)
        families += [f for f in self._marks if f not in listed]  # families with no series left at all
        for family in families:
            series = ms.series(family)
            marks = self._marks.setdefault(family, {})
            revised = 0
            for key, value in series.items():
                mark = marks.get(key)
                if mark is None:
                    marks[key] = [value, value]
                    continue
                last = mark[REPORTED]
                if value < last - 1e-9 * max(1.0, abs(last)):
                    revised += 1
                mark[REPORTED] = value
                if value >= mark[HIGH]:
                    mark[HIGH] = value
                else:
                    series[key] = mark[HIGH]  # an existing key: the dict does not change size while iterated
            if len(series) < len(marks):
                # A series that vanished from the provider's answer within the month is a revision to zero: keep it.
                kept = dict(series)
                for key, mark in marks.items():
                    if key not in series:
                        if mark[REPORTED] != 0.0:
                            revised += 1
                            mark[REPORTED] = 0.0
                        kept[key] = mark[HIGH]
                ms.replace_series(family, kept)
            if revised:
                revisions[family.name] = revised
        return revisions


def check_values(ms: MetricSet) -> None:
    """Refuse a poll whose numbers the contract cannot carry: NaN or an infinity anywhere (e.g. costs of 1e308 that
    sum past the largest float), a negative counter (a negative cost). Raises ``ApiError('invalid_response')``
    naming the first such series, so the last good data is kept instead."""
    for family, key, value in ms.items():
        if not math.isfinite(value):
            problem = f"is not a finite number ({value})"
        elif family.type == "counter" and value < 0:
            problem = f"is negative ({value:g}) but counts something that cannot be negative"
        else:
            continue
        labels = ",".join(f'{name}="{label}"' for name, label in key)[:200]
        raise ApiError("invalid_response", f"{family.name}{{{labels}}} {problem}")


class SourcePoller:
    """Polls one source on its own thread and publishes its snapshot and self-metrics to the exposition."""

    def __init__(
        self,
        config: SourceConfig,
        exposition: Exposition,
        *,
        enrichers: Sequence[Enricher] = (),
        clock: Callable[[], float] = time.time,
        jitter: float = 0.1,
        session_factory: Callable[[], requests.Session] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.exposition = exposition
        self.enrichers = list(enrichers)
        self.clock = clock
        self.jitter = jitter
        self.session_factory = session_factory
        self.owner = f"source:{config.name}"
        self.base_labels = {"provider": config.provider, "source": config.name, **config.labels}
        self._renderer = MetricSetRenderer(self.base_labels)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.provider: ProviderBase[SourceBase] = provider_class(config.type)(config)
        # Month-to-date marks survive restarts when a state directory is configured (month-to-date sources only).
        self._state = SourceState(state_dir, config.name) if state_dir and self.provider.month_to_date else None
        self._guard = MonthToDateGuard(self._state.load() if self._state else None)
        self._data_chunks: dict[contract.Family, bytes] = {}
        self._api_requests: dict[str, float] = {}
        self._poll_errors: dict[str, float] = dict.fromkeys(POLL_ERROR_REASONS, 0.0)
        self._revisions: dict[str, float] = {}
        self._up: bool | None = None
        self._polls = 0
        self._last_success = 0.0
        self._last_error = ""
        self._last_duration = 0.0
        self._series = 0
        # The families of the first good snapshot, exported at their values at once (see exporter.zero_first).
        self._adopt: dict[contract.Family, float | None] | None = None
        self._adopted = False
        self._repaired = 0.0
        self.budget = SeriesBudget(config.max_series_per_family, config.max_series)
        self._admitted: dict[str, set[LabelKey]] = {}
        self._folded: dict[str, float] = {}
        self._publish()

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poll-{self.config.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the poller's thread to end after its current poll; returns at once (see :meth:`stop`)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait up to ``timeout`` seconds for it."""
        self.request_stop()
        if self._thread:
            self._thread.join(timeout)

    def alive(self) -> bool:
        """False once the polling thread has ended without being asked to (it never should: see :meth:`_run`)."""
        return self._thread is None or self._thread.is_alive() or self._stop.is_set()

    def _run(self) -> None:
        # A small random delay spreads the first polls of many sources; later polls keep the interval +/- jitter.
        if self._stop.wait(random.uniform(0, min(1.0, self.config.interval * self.jitter))):
            return
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # poll_once handles its own errors; this is the last line of defence
                self._internal_failure(exc)
            delay = self.config.interval * (1 + random.uniform(-self.jitter, self.jitter))
            if self._stop.wait(max(0.05, delay)):
                return

    # -- one poll ----------------------------------------------------------------------------------------------------
    def _count_response(self, code: str) -> None:
        with self._lock:
            self._api_requests[code] = self._api_requests.get(code, 0.0) + 1

    def _client(self, deadline: float) -> ApiClient:
        return ApiClient(
            self.config.url,
            headers=self.provider.headers(),
            timeout=self.config.timeout,
            retries=self.config.retries,
            max_retry_after=self.config.max_retry_after,
            deadline=deadline,
            max_response_bytes=self.config.max_response_bytes,
            secrets=(self.config.api_key,),
            on_response=self._count_response,
            session=self.session_factory() if self.session_factory else None,
        )

    def poll_once(self) -> bool:
        """Run one poll now; return True if it succeeded and its snapshot was published."""
        started = time.monotonic()
        now = datetime.fromtimestamp(self.clock(), UTC)
        error: ApiError | None = None
        ms: MetricSet | None = None
        chunks: dict[contract.Family, bytes] = {}
        revisions: dict[str, int] = {}
        folded: dict[str, int] = {}
        to_save: MonthMarks | None = None
        client = self._client(deadline=started + max(self.config.timeout, self.config.interval * 0.9))
        try:
            ms = self.provider.poll(client, now)
            for enrich in self.enrichers:
                enrich(ms, self.config)
            check_values(ms)
            folded = self._apply_budget(ms) if self.budget.bounded else {}
            if self.provider.month_to_date:
                with self._lock:
                    before = self._guard.marks() if self._state else None
                    revisions = self._guard.apply(ms, now)
                    if before is not None and self._guard.marks() != before:
                        to_save = self._guard.marks()
            chunks = self._renderer.render(ms)
        except ApiError as exc:
            error = exc
        except Exception as exc:  # a bug or an answer shape nobody expected: never crash the poller
            log.exception("source=%s poll failed unexpectedly", self.config.name)
            error = ApiError("internal", f"unexpected error: {type(exc).__name__}: {exc}")
        finally:
            client.close()
        duration = time.monotonic() - started
        with self._lock:
            self._polls += 1
            self._last_duration = duration
            if ms is not None:
                self._repaired += ms.repaired
            if error is None and ms is not None:
                for name, count in revisions.items():
                    self._revisions[name] = self._revisions.get(name, 0.0) + count
                for name, count in folded.items():
                    self._folded[name] = self._folded.get(name, 0.0) + count
                self._data_chunks = chunks
                if not self._adopted:
                    self._adopted = True
                    created = _month_start(now) if self.provider.month_to_date else None
                    self._adopt = dict.fromkeys(self._data_chunks, created)
                self._series = len(ms)
                self._up = True
                self._last_success = self.clock()
                self._last_error = ""
            else:
                assert error is not None
                self._record_failure(error)
        if to_save is not None and error is None and self._state is not None:
            self._state.save(to_save)  # outside the lock: a slow disk must not stall the landing page
        if error is None:
            fetch = f" fetch={self.provider.last_fetch}" if self.provider.last_fetch else ""
            log.info(
                "source=%s poll ok series=%d duration_seconds=%.3f%s", self.config.name, self._series, duration, fetch
            )
        else:
            log.warning(
                "source=%s poll failed reason=%s err=%r duration_seconds=%.3f",
                self.config.name,
                error.reason,
                self._last_error,
                duration,
            )
        self._publish()
        return error is None

    def _apply_budget(self, ms: MetricSet) -> dict[str, int]:
        """Fold the series beyond the source's budget into ``other`` (see exporter.budget); series kept last poll
        keep their place. Returns how many series were folded, per family."""
        ledger = BudgetLedger(self.budget)
        admitted: dict[str, set[LabelKey]] = {}
        folded: dict[str, int] = {}
        for family in ms.families():
            series, count = fold_series(family, ms.series(family), ledger, self._admitted.get(family.name, set()))
            ms.replace_series(family, series)
            admitted[family.name] = set(series)
            if count:
                folded[family.name] = count
        if folded:
            log.warning(
                "source=%s has more series than its budget (max_series=%s, max_series_per_family=%s); %d folded "
                "into 'other'",
                self.config.name,
                self.budget.total,
                self.budget.per_family,
                sum(folded.values()),
            )
        self._admitted = admitted
        return folded

    def _record_failure(self, error: ApiError) -> None:
        """Mark the source down for ``error``, keeping its last good data. Holds _lock."""
        self._up = False
        reason = error.reason if error.reason in POLL_ERROR_REASONS else "internal"
        self._poll_errors[reason] = self._poll_errors.get(reason, 0.0) + 1
        self._last_error = redact(str(error), (self.config.api_key,))
        try:
            fallback = self.provider.on_failure(error)
            if fallback is not None:
                self._data_chunks = render_metricset(fallback, self.base_labels)
                self._series = len(fallback)
        except Exception:
            log.exception("source=%s could not build its failure snapshot", self.config.name)

    def _internal_failure(self, exc: Exception) -> None:
        """An exception escaped a poll (a bug in llmpulse): the source reads as down with reason ``internal``, its
        last good data stays, and the loop goes on."""
        log.exception("source=%s poll loop caught an unexpected error; the source is marked down", self.config.name)
        try:
            with self._lock:
                self._polls += 1
                self._up = False
                self._poll_errors["internal"] = self._poll_errors.get("internal", 0.0) + 1
                self._last_error = redact(f"internal error: {type(exc).__name__}", (self.config.api_key,))
            self._publish()
        except Exception:
            log.exception("source=%s could not publish its failure", self.config.name)

    # -- publishing --------------------------------------------------------------------------------------------------
    def _self_metrics(self) -> MetricSet:
        ms = MetricSet()
        ms.set(contract.SOURCE_UP, 1.0 if self._up else 0.0)
        ms.set(contract.SOURCE_LAST_SUCCESS, self._last_success)
        ms.set(contract.SOURCE_POLL_DURATION, self._last_duration)
        ms.set(contract.SOURCE_SERIES, float(self._series))
        ms.set(contract.LABEL_VALUES_REPAIRED, self._repaired)
        for name, n in sorted(self._folded.items()):
            ms.set(contract.SERIES_FOLDED, n, metric=name)
        for code, n in sorted(self._api_requests.items()):
            ms.set(contract.SOURCE_API_REQUESTS, n, code=code)
        for reason, n in self._poll_errors.items():
            ms.set(contract.SOURCE_POLL_ERRORS, n, reason=reason)
        for name, n in sorted(self._revisions.items()):
            ms.set(contract.SOURCE_REVISIONS, n, metric=name)
        return ms

    def _publish(self) -> None:
        with self._lock:
            chunks = dict(self._data_chunks)
            chunks.update(render_metricset(self._self_metrics(), self.base_labels))
            adopt, self._adopt = self._adopt, None
        self.exposition.publish(self.owner, chunks, adopt=adopt)

    def status(self) -> SourceStatus:
        with self._lock:
            return SourceStatus(
                name=self.config.name,
                type=self.config.type,
                provider=self.config.provider,
                url=self.config.url,
                interval=self.config.interval,
                up=self._up,
                polls=self._polls,
                last_success=self._last_success,
                last_error=self._last_error,
                last_duration=self._last_duration,
                series=self._series,
                note=self.provider.note,
            )
