"""Scrape benchmark: /metrics latency and RSS with 100,000 series, against a naive prometheus_client collector.

Two child processes serve the same 100,000 series on loopback:

- llmpulse: the real App and HTTP server; the series are published once (as a poll would) and every scrape copies
  cached bytes (plain or gzip).
- naive: a plain prometheus_client custom collector that builds the same 100,000 samples on every collect() and
  renders them on every scrape (the pattern many exporters use), served by prometheus_client's own HTTP server.

Each is scraped the same number of times, with and without ``Accept-Encoding: gzip``, one after the other in the
same run, so the ratio is meaningful on a noisy shared machine even when absolute figures move.

Run: ``python benchmarks/scrape_bench.py [--series 100000] [--scrapes 40]``. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent

LLMPULSE_CHILD = textwrap.dedent(
    """
    import sys, time
    from exporter import contract
    from exporter.app import App
    from exporter.config import parse_config
    from exporter.exposition import render_metricset
    from exporter.samples import MetricSet

    port, series = int(sys.argv[1]), int(sys.argv[2])
    app = App(parse_config({}), "127.0.0.1", port)
    ms = MetricSet()
    types = ("input", "cached_input", "cache_write_input", "output", "input_audio")
    n = 0
    while n < series:
        p, m, t = n // 1000, (n // 5) % 200, types[n % 5]
        ms.set(contract.USAGE_TOKENS, float(n * 7), project=f"proj_{p:04d}", model=f"model-{m:03d}", token_type=t)
        n += 1
    started = time.perf_counter()
    app.exposition.publish("bench", render_metricset(ms, {"provider": "openai", "source": "bench"}))
    app.exposition.body(); app.exposition.body(compressed=True)
    print(f"render_once_seconds={time.perf_counter() - started:.3f}", flush=True)
    app.start()
    print("ready", flush=True)
    sys.stdin.read()
    """
)

NAIVE_CHILD = textwrap.dedent(
    """
    import sys
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY, CounterMetricFamily

    port, series = int(sys.argv[1]), int(sys.argv[2])
    types = ("input", "cached_input", "cache_write_input", "output", "input_audio")

    class Naive:
        def collect(self):
            fam = CounterMetricFamily("llmpulse_usage_tokens", "Tokens.",
                                      labels=["provider", "source", "project", "model", "token_type"])
            for n in range(series):
                p, m, t = n // 1000, (n // 5) % 200, types[n % 5]
                fam.add_metric(["openai", "bench", f"proj_{p:04d}", f"model-{m:03d}", t], float(n * 7))
            yield fam

    REGISTRY.register(Naive())
    start_http_server(port, addr="127.0.0.1")
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(code: str, series: int) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port), str(series)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    extra = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("child exited before it was ready")
        if line.strip() == "ready":
            break
        extra += line.strip() + " "
    return proc, f"http://127.0.0.1:{port}/metrics", extra.strip()


def measure(url: str, scrapes: int, gzip: bool) -> tuple[list[float], int]:
    session = requests.Session()
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    times: list[float] = []
    size = 0
    for _ in range(scrapes):
        t0 = time.perf_counter()
        resp = session.get(url, headers=headers, stream=True, timeout=120)
        raw = resp.raw.read(decode_content=False)
        times.append((time.perf_counter() - t0) * 1000)
        size = len(raw)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=40)
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    for name, code in (("llmpulse", LLMPULSE_CHILD), ("naive", NAIVE_CHILD)):
        proc, url, extra = start(code, args.series)
        try:
            measure(url, 2, False)  # warm-up
            for gz in (False, True):
                times, size = measure(url, args.scrapes, gz)
                key = f"{name}{' gzip' if gz else ''}"
                results[key] = {
                    "median_ms": statistics.median(times),
                    "p90_ms": statistics.quantiles(times, n=10)[-1],
                    "bytes": size,
                }
            results[name]["rss_mb"] = rss_mb(proc.pid)
            if extra:
                print(f"{name}: {extra}")
        finally:
            proc.kill()
            proc.wait()

    print(f"\n/metrics with {args.series:,} series, {args.scrapes} scrapes each (loopback, same run)\n")
    print(f"{'server':<16}{'median ms':>11}{'p90 ms':>10}{'body bytes':>14}{'RSS MB':>9}")
    for key, r in results.items():
        rss = f"{r['rss_mb']:.0f}" if "rss_mb" in r else ""
        print(f"{key:<16}{r['median_ms']:>11.1f}{r['p90_ms']:>10.1f}{int(r['bytes']):>14,}{rss:>9}")
    for suffix in ("", " gzip"):
        ours, naive = results[f"llmpulse{suffix}"], results[f"naive{suffix}"]
        print(f"ratio naive/llmpulse median{suffix or ' plain'}: {naive['median_ms'] / ours['median_ms']:.1f}x")


if __name__ == "__main__":
    main()
