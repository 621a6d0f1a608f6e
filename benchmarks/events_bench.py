"""Events benchmark: /events throughput, latency and CPU against prometheus_client doing the same work.

Both sides get the same JSON bodies, in this process, one after the other (so their ratio is meaningful on a noisy
shared machine):

- llmpulse: the real ``EventIngest.handle`` (auth, JSON, schema validation, label folding, one atomic apply into
  the live metrics), as the HTTP server calls it;
- prometheus_client: ``json.loads`` of the same body and, per event, the same counter increments and histogram
  observation on prometheus_client ``Counter`` / ``Histogram`` objects with the same labels (no validation at
  all: the floor a Python exporter can reach).

Call events (5 apps x 3 channels x 4 models, 5 % errors, durations and tokens), no user or session ids, since
prometheus_client has no distinct-count sketch to compare with. Figures per batch size (1, 100, 1000 events per
post): events/s, p50/p99 latency per post, CPU ms per 1,000 events, and the ratio llmpulse / prometheus_client.
Then the cost of the next scrape after posts (only changed families render), and the sketch maintenance: the
longest a post waits while the distinct-user windows of many app/channel pairs slide past a slot boundary.

Run: ``python benchmarks/events_bench.py [--events 20000]``. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter import contract  # noqa: E402
from exporter.config import parse_config  # noqa: E402
from exporter.exposition import Exposition  # noqa: E402
from exporter.hll import SlidingDistinct  # noqa: E402
from exporter.httpserver import Request  # noqa: E402
from exporter.ingest import EventIngest  # noqa: E402
from exporter.samples import LiveMetrics  # noqa: E402

TOKEN = "bench-events-token-0123456789"
APPS = [f"app-{i}" for i in range(5)]
CHANNELS = ("web", "feishu", "wecom")
MODELS = ("deepseek-chat", "gpt-4o-mini", "qwen-plus", "glm-4")


def make_events(n: int, seed: int = 1, users: bool = False) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        ev: dict[str, Any] = {
            "app": rnd.choice(APPS),
            "channel": rnd.choice(CHANNELS),
            "model": rnd.choice(MODELS),
            "duration_ms": round(rnd.lognormvariate(6.5, 0.8)),
            "input_tokens": rnd.randint(100, 3000),
            "output_tokens": rnd.randint(10, 800),
        }
        if rnd.random() < 0.05:
            ev.update(status="error", code=rnd.choice((429, 500, 503)), error_type="rate_limit")
        else:
            ev["status"] = "success"
        if users:
            ev["user_id"] = f"u-{rnd.randint(0, 50_000)}"
        out.append(ev)
    return out


def bodies(events: list[dict[str, Any]], batch: int) -> list[bytes]:
    return [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]


def request(body: bytes) -> Request:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    return Request("POST", "/events", {}, headers, body, client="127.0.0.1")


class PromClient:
    """prometheus_client doing what ingest does for call events: the same families, labels and values."""

    def __init__(self) -> None:
        reg = CollectorRegistry()

        def counter(family: contract.Family, labels: tuple[str, ...]) -> Counter:
            return Counter(family.name.removesuffix("_total"), family.help, labels, registry=reg)

        base = ("provider", "source")
        self.received = counter(contract.EVENTS_RECEIVED, (*base, "event"))
        self.api_calls = counter(contract.API_CALLS, (*base, "model", "outcome"))
        self.calls = counter(contract.EVENTS_CALLS, (*base, "app", "channel", "outcome"))
        self.errors = counter(contract.ERROR_CODES, (*base, "model", "code", "error_type"))
        self.tokens = counter(contract.EVENTS_TOKENS, (*base, "model", "token_type"))
        self.duration = Histogram(
            contract.API_CALL_DURATION.name,
            contract.API_CALL_DURATION.help,
            (*base, "model"),
            buckets=contract.API_CALL_DURATION.buckets,
            registry=reg,
        )

    def handle(self, body: bytes) -> None:
        events = json.loads(body)
        for ev in events:
            b = ("events", "events")
            self.received.labels(*b, "call").inc()
            self.api_calls.labels(*b, ev["model"], ev["status"]).inc()
            self.calls.labels(*b, ev["app"], ev["channel"], ev["status"]).inc()
            if ev["status"] == "error":
                self.errors.labels(*b, ev["model"], str(ev["code"]), ev["error_type"]).inc()
            self.duration.labels(*b, ev["model"]).observe(ev["duration_ms"] / 1000.0)
            self.tokens.labels(*b, ev["model"], "input").inc(ev["input_tokens"])
            self.tokens.labels(*b, ev["model"], "output").inc(ev["output_tokens"])


def llmpulse_ingest(refresh: float | None = None) -> tuple[EventIngest, LiveMetrics]:
    import os

    os.environ["LLMPULSE_BENCH_EVENTS_TOKEN"] = TOKEN
    config = parse_config({"events": {"token_env": "LLMPULSE_BENCH_EVENTS_TOKEN"}}).events
    assert config is not None
    live = LiveMetrics()
    return EventIngest(config, live, refresh_interval=refresh), live


def poster(ingest: EventIngest) -> Callable[[bytes], Any]:
    """The HTTP server's call of the route for one body."""
    return lambda body: ingest.handle(request(body))


def run(handle: Callable[[bytes], Any], posts: list[bytes], events: int) -> tuple[float, float, float, float]:
    """(events/s, p50 ms, p99 ms, CPU ms per 1k events)."""
    latencies = []
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for body in posts:
        t0 = time.perf_counter()
        handle(body)
        latencies.append(time.perf_counter() - t0)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return events / wall, statistics.median(latencies) * 1000, p99 * 1000, cpu / events * 1e6


def scrape_after_posts(posts: list[bytes]) -> tuple[float, float]:
    """CPU ms of the scrape after one post, with the event families of ``posts`` already present: (median, max)."""
    ingest, live = llmpulse_ingest()
    exposition = Exposition()
    exposition.attach_live("events", live)
    for body in posts:
        ingest.handle(request(body))
    exposition.body()
    costs = []
    for body in posts[:50]:
        ingest.handle(request(body))
        t0 = time.thread_time()
        exposition.body()
        costs.append(time.thread_time() - t0)
    return statistics.median(costs) * 1000, max(costs) * 1000


class TimedIngest(EventIngest):
    """Records how long each distinct-user window holds the ingest lock while the timer slides it."""

    holds: list[float]

    def _export_users(self, pair: tuple[str, str], name: str, window: SlidingDistinct) -> None:
        started = time.perf_counter()
        super()._export_users(pair, name, window)
        self.holds.append(time.perf_counter() - started)


def posts_for(ingest: EventIngest, body: bytes, until: Callable[[], bool]) -> float:
    """Post ``body`` (batch 1) until ``until()``; the longest post in ms."""
    worst = 0.0
    while not until():
        t0 = time.perf_counter()
        ingest.handle(request(body))
        worst = max(worst, time.perf_counter() - t0)
    return worst * 1000


def sketch_stall(pairs: int) -> tuple[float, float, float, float, int]:
    """Distinct users of ``pairs`` app/channel pairs in every slot of the 1d window, then the windows slide past a
    slot boundary (the timer's tick) while batch-1 posts keep coming. Returns (longest lock hold of one window ms,
    longest post during the slide ms, longest post without a slide in the same run ms, slide s, windows)."""
    clock = [1_800_000_000.0]
    plain, live = llmpulse_ingest()
    plain.close()
    ingest = TimedIngest(plain.config, live, refresh_interval=None, clock=lambda: clock[0])
    ingest.holds = []
    # Fill the sketches directly (posting millions of events would take minutes): 600 users per pair and hour,
    # enough for every slot's sketch to be dense (4 KiB), as a busy bot's are.
    rnd = random.Random(3)
    with ingest._lock:
        for p in range(pairs):
            windows = ingest._windows((f"a{p}", "web"))
            for hour in range(24):
                when = clock[0] + hour * 3600
                for _ in range(600):
                    h = rnd.getrandbits(64)
                    for window in windows.values():
                        window.add_hash(h, when, when)
    clock[0] += 24 * 3600
    body = json.dumps([{"app": "a0", "channel": "web", "model": "m", "status": "success"}]).encode()
    quiet_until = time.perf_counter() + 1.0
    quiet = posts_for(ingest, body, lambda: time.perf_counter() > quiet_until)
    done = threading.Event()
    slide = [0.0]

    def tick() -> None:
        t0 = time.perf_counter()
        ingest.tick(clock[0] + 3600)
        slide[0] = time.perf_counter() - t0
        done.set()

    thread = threading.Thread(target=tick)
    thread.start()
    during = posts_for(ingest, body, done.is_set)
    thread.join()
    return max(ingest.holds) * 1000, during, quiet, slide[0], len(ingest.holds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per batch size and side")
    parser.add_argument("--pairs", type=int, default=200, help="app/channel pairs for the sketch-maintenance figure")
    args = parser.parse_args()
    events = make_events(args.events)
    print(f"{'batch':>5} {'side':<17} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/1k':>10}")
    ratios = []
    for batch in (1, 100, 1000):
        n = min(len(events), 3000) if batch == 1 else len(events)
        posts = bodies(events[:n], batch)
        prom = PromClient()
        ingest, _ = llmpulse_ingest()
        figures = {
            "prometheus_client": run(prom.handle, posts, n),
            "llmpulse": run(poster(ingest), posts, n),
        }
        for side, (rate, p50, p99, cpu) in figures.items():
            print(f"{batch:>5} {side:<17} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {cpu:>10.1f}")
        ratios.append((batch, figures["llmpulse"][3] / figures["prometheus_client"][3]))
        ingest.close()
    print("\nCPU per 1k events, llmpulse / prometheus_client (target at batch 100 and 1000: <= 2)")
    for batch, ratio in ratios:
        print(f"  batch {batch:>4}: {ratio:.2f}")
    median, worst = scrape_after_posts(bodies(events[:2000], 100))
    print(f"\nscrape after a 100-event post: {median:.2f} ms CPU median, {worst:.2f} ms max")
    hold, during, quiet, slide, windows = sketch_stall(args.pairs)
    print(
        f"sketch maintenance: {windows} distinct-user windows ({args.pairs} app/channel pairs x 1h, 1d) slide in "
        f"{slide:.2f} s; the longest one holds the ingest lock {hold:.1f} ms (target <= 50); longest batch-1 post "
        f"meanwhile {during:.1f} ms, without a slide {quiet:.1f} ms"
    )


if __name__ == "__main__":
    main()
