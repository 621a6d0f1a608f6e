"""Incremental month-to-date polling: the exported totals equal a full recompute of the same simulated
organization, poll after poll, while a steady poll fetches only the revision window.

Both sides talk real HTTP to one simulator whose clock the test moves: ``incremental`` is one long-lived provider
(what a poller keeps), ``full`` is a fresh provider for every comparison, whose first poll always fetches the whole
month. The simulator revises single days (``revise_days``) inside and outside the window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter
from usage_sums import FrozenSimulator, openai_expected, wait_equal
from usage_sums import month_start as usage_month_start

from exporter.config import parse_config
from exporter.http import ApiClient, ApiError
from exporter.providers import provider_class
from exporter.providers.month_to_date import MonthToDateProvider
from exporter.samples import MetricSet
from exporter.simulator import DEMO_KEY, Simulator

#: Mid-month, shortly before midnight: the window (2 days before today) and the closed days before it both hold data.
T0 = datetime(2026, 11, 18, 23, 20, tzinfo=UTC)
GROUP_BY = {"openai": ["project", "model", "api_key", "user"], "anthropic": ["project", "model", "api_key"]}


@dataclass
class SimClock:
    now: datetime = T0

    def __call__(self) -> float:
        return self.now.timestamp()


@dataclass
class Recorder:
    """What the incremental provider asked for: the start parameter of every usage/cost call and the bytes."""

    starts: list[str] = field(default_factory=list)
    body_bytes: int = 0


class RecordingSession(requests.Session):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        resp = super().request(method, url, *args, **kwargs)
        params = dict(kwargs.get("params") or [])
        start = params.get("start_time") or params.get("starting_at")
        if start is not None:
            self.recorder.starts.append(str(start))
        self.recorder.body_bytes += int(resp.headers.get("Content-Length", 0))  # the client reads the body itself
        return resp


@pytest.fixture
def sim() -> Iterator[tuple[str, SimClock]]:
    clock = SimClock()
    server = Simulator(seed=7, clock=clock).serve("127.0.0.1", 0)
    try:
        yield server.url, clock
    finally:
        server.stop()


def _provider(kind: str, url: str, monkeypatch: pytest.MonkeyPatch) -> MonthToDateProvider:
    monkeypatch.setenv("LLMPULSE_TEST_KEY", DEMO_KEY)
    source = {
        "type": kind,
        "name": "mtd",
        "base_url": url,
        "api_key_env": "LLMPULSE_TEST_KEY",
        "group_by": GROUP_BY[kind],
        "revision_window": "2d",
        "full_refetch_interval": "1h",
        "page_size": 5,  # several pages per call, so a window fetch and a month fetch differ in pages too
    }
    provider = provider_class(kind)(parse_config({"sources": [source]}).sources[0])
    assert isinstance(provider, MonthToDateProvider)
    return provider


def _poll(provider: MonthToDateProvider, now: datetime, recorder: Recorder | None = None) -> dict[Any, float]:
    client = ApiClient(
        provider.config.url,
        headers=provider.headers(),
        timeout=10,
        retries=0,
        session=RecordingSession(recorder) if recorder else None,
    )
    try:
        ms: MetricSet = provider.poll(client, now)
    finally:
        client.close()
    return {(family.name, key): value for family, key, value in ms.items()}


def _full(kind: str, url: str, now: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[Any, float]:
    return _poll(_provider(kind, url, monkeypatch), now)


def _revise(url: str, days: dict[str, float]) -> None:
    requests.post(f"{url}/_sim/usage", json={"revise_days": days}, timeout=5).raise_for_status()


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def _window_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


def _unix_or_rfc3339(when: datetime, kind: str) -> str:
    return str(int(when.timestamp())) if kind == "openai" else when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_incremental_polls_equal_a_full_recompute_through_revisions_and_rollover(
    kind: str, sim: tuple[str, SimClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, clock = sim
    inc = _provider(kind, url, monkeypatch)
    month_start = T0.replace(day=1, hour=0, minute=30)

    def step(now: datetime, expect_fetch: str, equal: bool = True) -> Recorder:
        clock.now = now
        recorder = Recorder()
        got = _poll(inc, now, recorder)
        assert inc.last_fetch == expect_fetch, (now, inc.last_fetch)
        full = _full(kind, url, now, monkeypatch)
        if equal:
            assert got == full, f"{now}: incremental differs from the full recompute"
        else:
            assert got != full
        return recorder

    # 1. the first poll fetches the whole month
    first = step(T0, "full:start")
    assert set(first.starts) == {_unix_or_rfc3339(month_start.replace(minute=0), kind)}

    # 2. a steady poll fetches only the window (today and the 2 days before), in fewer bytes
    steady = step(T0 + timedelta(minutes=5), "window")
    assert set(steady.starts) == {_unix_or_rfc3339(_window_start(T0), kind)}
    assert steady.body_bytes < first.body_bytes / 2
    assert inc.last_reused > 0  # the window's earlier days came back unchanged: their parse was reused

    # 3. across midnight: the oldest window day becomes closed, the new day opens
    step(T0.replace(hour=23, minute=58), "window")
    tomorrow = T0.replace(hour=0, minute=2) + timedelta(days=1)
    step(tomorrow, "window")

    # 4. late data landing inside the window (yesterday grows): the window picks it up, no full refetch needed
    _revise(url, {_day(tomorrow - timedelta(days=1)): 1.3})
    step(tomorrow + timedelta(minutes=5), "window")

    # 5. a downward revision of a closed day inside the window: the whole month is refetched at once
    _revise(url, {_day(tomorrow - timedelta(days=1)): 0.8})
    step(tomorrow + timedelta(minutes=10), "full:revision")

    # 6. a revision before the window is not visible to the window...
    _revise(url, {_day(tomorrow - timedelta(days=1)): 0.8, _day(T0 - timedelta(days=9)): 1.5})
    step(tomorrow + timedelta(minutes=15), "window", equal=False)
    # ...until the slow cadence refetches the whole month (an hour after the last full fetch)
    step(tomorrow + timedelta(minutes=71), "full:cadence")
    step(tomorrow + timedelta(minutes=76), "window")

    # 7. month rollover: the new month starts from scratch with a full fetch
    next_month = (T0.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=20)
    rolled = step(next_month, "full:rollover")
    assert set(rolled.starts) == {_unix_or_rfc3339(next_month.replace(minute=0), kind)}
    step(next_month + timedelta(minutes=5), "window")


def test_a_poll_that_fails_midway_commits_nothing(sim: tuple[str, SimClock], monkeypatch: pytest.MonkeyPatch) -> None:
    url, clock = sim
    inc = _provider("openai", url, monkeypatch)
    before_midnight = T0.replace(hour=23, minute=40)
    clock.now = before_midnight
    _poll(inc, before_midnight)
    # a window poll just after midnight (it would close a day) fails on its first page...
    requests.post(
        f"{url}/_sim/faults",
        json={"openai": {"fail_page": 1, "fail_page_status": 500, "fail_page_count": 6}},
        timeout=5,
    ).raise_for_status()
    failed_at = before_midnight + timedelta(minutes=30)
    clock.now = failed_at
    with pytest.raises(ApiError):
        _poll(inc, failed_at)
    requests.delete(f"{url}/_sim/faults", timeout=5).raise_for_status()
    # ...and the next window poll still equals the full recompute
    clock.now = after = failed_at + timedelta(minutes=5)
    assert _poll(inc, after) == _full("openai", url, after, monkeypatch)
    assert inc.last_fetch == "window"


def test_revision_window_and_cadence_are_config_keys_with_documented_defaults() -> None:
    source = parse_config(
        {"sources": [{"type": "openai", "name": "o", "api_key_env": "HOME", "base_url": "http://127.0.0.1:1"}]}
    ).sources[0]
    assert source.revision_window == 2 * 86400  # type: ignore[union-attr]
    assert source.full_refetch_interval == 3600  # type: ignore[union-attr]


def test_the_real_exporter_polls_the_window_and_exports_the_month(tmp_path: Path) -> None:
    """``llmpulse serve`` against a frozen simulator: after the first (full) poll, polls ask only for the window,
    and the exported numbers stay the independent sums of the whole month's pages."""
    frozen = FrozenSimulator()
    try:
        source = {
            "type": "openai",
            "name": "oa",
            "base_url": frozen.url,
            "api_key_env": "LLMPULSE_DEMO_KEY",
            "interval": "1s",
            "timeout": "1s",
            "revision_window": "1d",
        }
        with exporter({"sources": [source]}, tmp_path) as proc:
            deadline = time.monotonic() + 30
            while proc.log().count("fetch=window") < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert proc.log().count("fetch=full:start") == 1, proc.log()
            assert proc.log().count("fetch=window") >= 2, proc.log()
            # the exporter's calls only (the expected sums below fetch the whole month themselves)
            costs_starts = [e["start"] for e in frozen.requests_log() if e["path"].endswith("/costs")]
            now = requests.get(f"{frozen.url}/_sim/state", timeout=5).json()["now"]
            yesterday = (int(now) // 86400 - 1) * 86400
            assert costs_starts[0] == str(int(usage_month_start().timestamp()))
            assert set(costs_starts[1:]) == {str(yesterday)}
            wait_equal(proc, "oa", lambda: openai_expected(frozen.url, limit=31))
    finally:
        frozen.stop()


def test_the_settled_sum_is_reused_only_while_its_days_are_unchanged() -> None:
    """A steady poll adds today to the kept sum of the closed days and the window's earlier days; late data on
    yesterday and a new day after midnight must each give the sum of every day fetched, as a full recompute does."""
    from exporter import contract
    from exporter.providers.month_to_date import DAY, DailyTotals, MonthToDate

    def days(values: dict[int, int]) -> DailyTotals:
        out = DailyTotals()
        for day, value in values.items():
            out.for_bucket(day * DAY).add(contract.USAGE_REQUESTS, value, project="p", model="m")
            out.for_bucket(day * DAY).add(contract.USAGE_REQUESTS, 1, project="p", model=f"d{day}")
        return out

    first = datetime(2026, 12, 10, 12, tzinfo=UTC)
    today = int(first.timestamp()) // DAY
    state = MonthToDate(revision_window=2 * DAY, full_refetch_interval=10 * DAY)
    month = {d: 10 + d % 7 for d in range(today - 9, today + 1)}
    plan = state.plan(first)
    assert plan.full
    state.commit(plan, days(month), first)
    steps: list[tuple[timedelta, dict[int, int]]] = [
        (timedelta(minutes=5), {}),  # nothing changed
        (timedelta(minutes=5), {today: 5}),  # today grows: the settled sum is reused
        (timedelta(minutes=5), {today - 1: 3}),  # late data yesterday: summed again
        (timedelta(minutes=5), {today: 1}),
        (timedelta(hours=12), {today + 1: 4}),  # past midnight: a new day, the oldest leaves the window
        (timedelta(minutes=5), {today + 1: 2, today: 1}),
    ]
    now = first
    for step, change in steps:
        now += step
        for day, extra in change.items():
            month[day] = month.get(day, 0) + extra
        plan = state.plan(now)
        assert not plan.full
        window = {d: v for d, v in month.items() if d >= plan.first_day}
        fetched = days(window)
        unchanged = state.unchanged_days(fetched)
        assert not state.revised(plan, fetched, unchanged)
        settled = state.settled
        result = state.commit(plan, fetched, now, unchanged)
        current = int(now.timestamp()) // DAY
        same_day = current == int((now - step).timestamp()) // DAY
        assert (state.settled is settled) == (same_day and set(change) <= {current})
        assert result.get(contract.USAGE_REQUESTS, project="p", model="m") == sum(month.values())
        for day in month:
            assert result.get(contract.USAGE_REQUESTS, project="p", model=f"d{day}") == 1


def test_a_bucket_equal_to_the_last_fetch_reuses_its_parse_and_a_changed_one_is_parsed_again() -> None:
    """The bucket memory of :class:`DailyTotals`: what is reused is exactly what an unchanged answer would give."""
    from exporter import contract
    from exporter.providers.month_to_date import DAY, DailyTotals
    from exporter.providers.usage_common import Totals

    parsed: list[tuple[str, int]] = []

    def fetch(
        previous: DailyTotals | None, answer: dict[tuple[str, int], list[Any]], remember_from: int
    ) -> DailyTotals:
        out = DailyTotals(previous, remember_from=remember_from * DAY)
        for (stream, day), results in answer.items():

            def parse(into: Totals, stream: str = stream, day: int = day, results: list[Any] = results) -> None:
                parsed.append((stream, day))
                for result in results:
                    into.add(contract.USAGE_REQUESTS, result["n"], project=result["p"], model="m")

            out.add_bucket(stream, day * DAY + 3600, results, parse)
        return out

    answer = {
        ("usage", 10): [{"p": "a", "n": 1}],
        ("usage", 11): [{"p": "a", "n": 2}, {"p": "b", "n": 3}],
        ("costs", 11): [{"p": "a", "n": 4}],
        ("usage", 12): [{"p": "b", "n": 5}],
    }
    first = fetch(None, answer, remember_from=11)
    assert sorted(parsed) == sorted(answer) and first.reused == 0
    # the same answer again, from new JSON objects (equal, not identical), except day 12 which grew
    parsed.clear()
    again = {key: [dict(r) for r in results] for key, results in answer.items()}
    again[("usage", 12)].append({"p": "c", "n": 6})
    second = fetch(first, again, remember_from=11)
    # day 10 is before the remembered window: parsed again; day 11's two buckets reused; day 12 changed: parsed
    assert sorted(parsed) == [("usage", 10), ("usage", 12)]
    assert second.reused == 2
    assert second.days[11] is first.days[11]  # every bucket of the day reused: the same day object
    assert second.days[12] != first.days[12]
    fresh = fetch(None, again, remember_from=11)
    assert second.days == fresh.days  # the same sums as parsing everything
    # a day with one bucket changed is summed again from its parts
    parsed.clear()
    third_answer = {key: [dict(r) for r in results] for key, results in again.items()}
    third_answer[("costs", 11)] = [{"p": "a", "n": 40}]
    third = fetch(second, third_answer, remember_from=11)
    assert ("costs", 11) in parsed and ("usage", 11) not in parsed
    assert third.days[11] is not second.days[11]
    assert third.days[11].get(contract.USAGE_REQUESTS, project="a", model="m") == 42
    assert third.days == fetch(None, third_answer, remember_from=11).days
    # kept as the next fetch's previous: only the window's days, and no chain back to older fetches
    third.forget_before(11)
    assert set(third.days) == {11, 12}
    assert (third._previous_seen, third._previous_days, third._previous_parts) == ({}, {}, {})
    assert {day for _, day in third._seen} == {11, 12}


def test_a_bucket_repeated_within_one_answer_counts_twice_as_before() -> None:
    """A provider that repeats a bucket in one answer is summed as it answered (the memory never merges them)."""
    from exporter import contract
    from exporter.providers.month_to_date import DAY, DailyTotals
    from exporter.providers.usage_common import Totals

    def parse(into: Totals) -> None:
        into.add(contract.USAGE_REQUESTS, 1, project="p", model="m")

    previous = DailyTotals(remember_from=0)
    previous.add_bucket("usage", 5 * DAY, [{"n": 1}], parse)
    _ = previous.days
    out = DailyTotals(previous, remember_from=0)
    out.add_bucket("usage", 5 * DAY, [{"n": 1}], parse)
    out.add_bucket("usage", 5 * DAY, [{"n": 1}], parse)
    assert out.reused == 1
    assert out.days[5].get(contract.USAGE_REQUESTS, project="p", model="m") == 2


def test_the_days_kept_share_each_series_labels() -> None:
    """Every day of the window holds the same series: their labels are one object, not one per day kept."""
    from exporter import contract
    from exporter.providers.month_to_date import DAY, DailyTotals

    days = DailyTotals()
    for day in (10, 11, 12):
        days.for_bucket(day * DAY).add(contract.USAGE_REQUESTS, day, project="p", model="m")
    keys = [next(iter(days.days[day]._sums[contract.USAGE_REQUESTS])) for day in (10, 11, 12)]
    assert keys[0] == (("model", "m"), ("project", "p"))
    assert keys[0] is keys[1] is keys[2]
