"""Poll benchmark: requests, bytes, CPU and peak memory of one month-to-date poll, incremental vs full recompute.

A child process serves the simulator's OpenAI Admin API for a generated organization (``--org-size``: projects x
models x keys, one usage group each when grouped by project, model and key) whose clock starts at 12:00 UTC on
a given day of December 2026 and moves on an hour before each poll (its data changes by the hour; so today's
buckets change on every poll, as a real organization's do). In this process, two real :class:`~exporter.poller.SourcePoller` s poll it, one
after the other, with the same config except:

- ``full``: ``full_refetch_interval`` below the interval, so every poll fetches the whole month so far (the
  baseline: what every poll did before incremental polling; it too reuses the parse of the window's unchanged
  buckets, 2 days of 31, so if anything it is cheaper than before);
- ``incremental``: the defaults (``revision_window: 2d``, ``full_refetch_interval: 1h``); after its first (full)
  poll, a steady poll fetches the window only.

Each poll is the whole of ``poll_once``: HTTP, JSON, exact sums, the month-to-date guard, rendering. Figures per
poll: HTTP requests, response bytes, CPU seconds of the polling thread (the simulator runs in its own process, so
its CPU is not counted) and the peak of Python allocations during the poll (tracemalloc, in a separate poll so it
does not slow the CPU figure). Both pollers export the same values; the benchmark checks it.

Then the month-to-date guard alone: the CPU of the poll in which 16k and 64k series vanish from the provider's
answer (kept at their high-water mark), and their ratio (target: at most 5x; linear is 4x).

Run: ``python benchmarks/poll_bench.py [--groups 100,1000] [--days 2,31] [--polls 3] [--guard 16000,64000]``. It prints figures and the
ratio incremental / full for each; it asserts nothing (a tiny run is part of the test suite as a smoke test).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.config import parse_config  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.poller import SourcePoller  # noqa: E402
from exporter.samples import MetricSet  # noqa: E402
from exporter.simulator import DEMO_KEY  # noqa: E402

SIM_CHILD = textwrap.dedent(
    """
    import sys
    from exporter.simulator import OrgSize, Simulator

    now, size = [float(sys.argv[1])], sys.argv[2]
    server = Simulator(clock=lambda: now[0], org_size=OrgSize.parse(size)).serve("127.0.0.1", 0)
    print(server.url, flush=True)
    for line in sys.stdin:  # each line sets the clock; EOF stops
        now[0] = float(line)
        print("ok", flush=True)
    server.stop()
    """
)
#: Org sizes for a number of project/model/key groups (projects x models x keys).
ORG_SIZES = {100: "4x5x5", 1000: "10x10x10", 3000: "30x10x10"}
INTERVAL = 300.0
#: How far the simulator's clock moves between polls: its data changes by the hour, and a steady poll must find
#: today's buckets changed, as a real organization's are on every poll.
SIM_STEP = 3600.0


@dataclass
class Counter:
    requests: int = 0
    bytes: int = 0


class CountingSession(requests.Session):
    """Counts the requests and response bytes of the poller's HTTP client."""

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        resp = super().request(method, url, *args, **kwargs)
        self.counter.requests += 1
        self.counter.bytes += int(resp.headers.get("Content-Length", 0))  # the client reads the body itself
        return resp


@dataclass
class PollFigures:
    requests: float
    mbytes: float
    cpu: float
    peak_mb: float
    fetch: str
    series: int


def org_size(groups: int) -> str:
    if groups in ORG_SIZES:
        return ORG_SIZES[groups]
    return f"{groups}x1x1"


def make_poller(
    url: str, mode: str, clock: Callable[[], float], counter: Counter, captured: list[MetricSet]
) -> SourcePoller:
    source: dict[str, Any] = {
        "type": "openai",
        "name": "bench",
        "base_url": url,
        "api_key_env": "LLMPULSE_BENCH_KEY",
        "interval": f"{int(INTERVAL)}s",
        "timeout": "120s",
        "retries": 0,
        "group_by": ["project", "model", "api_key"],
    }
    if mode == "full":
        source["full_refetch_interval"] = "1s"
    config = parse_config({"sources": [source]}).sources[0]

    def capture(ms: MetricSet, _config: Any) -> None:
        captured[:] = [ms]  # the guard then updates this same set in place: what the poll exports

    return SourcePoller(
        config, Exposition(), enrichers=[capture], clock=clock, session_factory=lambda: CountingSession(counter)
    )


def measure(
    url: str, start: float, mode: str, polls: int, set_sim_clock: Callable[[float], None]
) -> tuple[PollFigures, dict[Any, float]]:
    """``polls`` steady polls of one mode (after a first poll that warms up, and is full for both). Before each poll
    the simulator's clock moves on by :data:`SIM_STEP` (from ``start`` for each mode, so both end on the same data)."""
    now = [start]
    set_sim_clock(start)
    counter = Counter()
    captured: list[MetricSet] = []
    poller = make_poller(url, mode, lambda: now[0], counter, captured)
    assert poller.poll_once(), poller.status().last_error
    cpu, reqs, sizes = [], [], []
    sim_now = start
    for _ in range(polls):
        now[0] += INTERVAL
        sim_now += SIM_STEP
        set_sim_clock(sim_now)
        before = Counter(counter.requests, counter.bytes)
        gc.collect()  # a full collection's cost follows the whole heap (earlier cases too), not this poll
        t0 = time.thread_time()
        assert poller.poll_once(), poller.status().last_error
        cpu.append(time.thread_time() - t0)
        reqs.append(counter.requests - before.requests)
        sizes.append(counter.bytes - before.bytes)
    fetch = poller.provider.last_fetch
    now[0] += INTERVAL
    set_sim_clock(sim_now + SIM_STEP)
    tracemalloc.start()
    assert poller.poll_once(), poller.status().last_error
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    values = {(family.name, key): value for family, key, value in captured[0].items()}
    figures = PollFigures(
        statistics.median(reqs),
        statistics.median(sizes) / 1e6,
        statistics.median(cpu),
        peak / 1e6,
        fetch,
        poller.status().series,
    )
    return figures, values


def run_case(groups: int, day: int, polls: int) -> tuple[PollFigures, PollFigures]:
    start = datetime(2026, 12, day, 12, 0, tzinfo=UTC).timestamp()
    child = subprocess.Popen(
        [sys.executable, "-c", SIM_CHILD, str(start), org_size(groups)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        url = child.stdout.readline().strip()

        def set_sim_clock(when: float) -> None:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(f"{when}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ok"

        full, full_values = measure(url, start, "full", polls, set_sim_clock)
        inc, inc_values = measure(url, start, "incremental", polls, set_sim_clock)
        if full_values != inc_values:
            print(f"  !! groups={groups} day={day}: incremental and full recompute export different values")
        return full, inc
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)


def vanishing_usage(n: int) -> MetricSet:
    """``n`` usage-token series of a generated organization (project, model, key, token type)."""
    from exporter import contract

    ms = MetricSet()
    for i in range(n):
        project, key = f"proj_gen{i % 100:05d}", f"key_gen{i % 100:05d}k{i // 600:03d}"
        labels = {"project": project, "model": f"gpt-4o-mini-sim{i // 6}", "api_key": key}
        ms.set(contract.USAGE_TOKENS, float(i + 1), token_type=f"t{i % 6}", **labels)
    return ms


def guard_cost(n: int, build: Callable[[int], MetricSet] = vanishing_usage) -> float:
    """CPU seconds of the guard in the poll where all ``n`` series of ``build(n)`` vanish (best of 3).

    Caches are cold, as in the exporter, where the guard runs right after a poll parsed megabytes of JSON: a warm
    16k run against a cold 64k one would measure the cache, not the code. The tests bound the ratio with this too.
    """
    from exporter.poller import MonthToDateGuard

    start = datetime(2026, 12, 20, 12, tzinfo=UTC)
    best = float("inf")
    for _ in range(3):
        guard = MonthToDateGuard()
        guard.apply(build(n), start)
        gc.collect()
        gc.disable()
        bytearray(b"\x01") * (64 << 20)  # more than any CPU cache
        try:
            t0 = time.thread_time()
            guard.apply(MetricSet(), start)
            best = min(best, time.thread_time() - t0)
        finally:
            gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", default="100,1000", help="comma-separated group counts (project x model x key)")
    parser.add_argument("--days", default="2,31", help="comma-separated days of the month (December 2026)")
    parser.add_argument("--polls", type=int, default=3, help="steady polls measured per mode (median)")
    parser.add_argument("--guard", default="16000,64000", help="two counts of vanished series for the guard")
    args = parser.parse_args()
    os.environ["LLMPULSE_BENCH_KEY"] = DEMO_KEY
    header = (
        f"{'groups':>6} {'day':>3} {'mode':<12} {'fetch':<12} {'requests':>8} {'MB':>8} {'CPU s':>7} {'peak MB':>8}"
    )
    print(header)
    ratios = []
    for groups in (int(g) for g in args.groups.split(",")):
        for day in (int(d) for d in args.days.split(",")):
            full, inc = run_case(groups, day, args.polls)
            for mode, f in (("full", full), ("incremental", inc)):
                print(
                    f"{groups:>6} {day:>3} {mode:<12} {f.fetch:<12} {f.requests:>8.0f} {f.mbytes:>8.2f} "
                    f"{f.cpu:>7.3f} {f.peak_mb:>8.1f}"
                )
            ratio = (inc.mbytes / full.mbytes, inc.cpu / full.cpu, inc.peak_mb / full.peak_mb)
            ratios.append((groups, day, full.series, ratio))
    print("\nincremental / full recompute, per steady poll (target on day 31 at 1,000 groups: <= 1/8 = 0.125)")
    for groups, day, series, (b, c, m) in ratios:
        print(f"  groups={groups:>5} day={day:>2} series={series:>6}: bytes {b:.3f}  CPU {c:.3f}  peak memory {m:.3f}")
    small, large = (int(n) for n in args.guard.split(","))
    cost_small, cost_large = guard_cost(small), guard_cost(large)
    print(
        f"\nguard, vanished series: {small}: {cost_small * 1000:.1f} ms, {large}: {cost_large * 1000:.1f} ms, "
        f"ratio {cost_large / cost_small:.2f} (linear: {large / small:.0f}, target <= 5)"
    )


if __name__ == "__main__":
    main()
