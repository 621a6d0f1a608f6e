"""Scrape benchmark: /metrics latency and RSS at 1k to 300k series, against a naive prometheus_client collector.

For each size, child processes serve the same series on loopback:

- llmpulse: the real App and HTTP server; the series are published once (as a poll would: plain and gzip are
  rendered then) and every scrape writes the cached body plus the small process-metrics tail.
- naive: a plain prometheus_client custom collector that builds the same samples on every collect() and renders
  them on every scrape (the pattern many exporters use), served by prometheus_client's own HTTP server. It is run
  up to ``--naive-max`` series (at 300k one scrape takes seconds).

Each is scraped in the Prometheus text format and in OpenMetrics (``Accept: application/openmetrics-text``, which
both servers negotiate), each plain and with ``Accept-Encoding: gzip``, by 1 and by 4 concurrent clients, one after
the other in the same run, so the ratios are meaningful on a noisy shared machine even when absolute figures move.
llmpulse renders OpenMetrics from the first scrape that asks for it on (the warm-up asks, with gzip, as Prometheus
does), then at publish time; it keeps OpenMetrics' plain body (twice the text's size, for ``_created``) only from
the first uncompressed OpenMetrics scrape on, so that encoding is measured last and the RSS column shows its cost.
Printed per configuration: median latency, latency per MB of body (per-scrape cost should be linear in body size),
RSS idle after the publish, RSS right after the scrapes, and the peak (VmHWM, which includes building and rendering
the series at start).

Run: ``python benchmarks/scrape_bench.py [--sizes 1000,10000,100000,300000] [--scrapes 16]``. It prints figures;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

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


def hwm_mb(pid: int) -> float:
    """Peak RSS of the process so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


#: The Accept header of an OpenMetrics scrape (what Prometheus sends, minus the text fallback).
OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0"
#: (name, gzip, OpenMetrics) of every encoding measured.
ENCODINGS = (("plain", False, False), ("gzip", True, False), ("om+gz", True, True), ("om", False, True))


def measure(
    url: str, scrapes: int, gzip: bool, scrapers: int = 1, openmetrics: bool = False
) -> tuple[list[float], int]:
    """``scrapes`` scrapes by each of ``scrapers`` concurrent clients: (latency of every scrape in ms, body bytes)."""
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    if openmetrics:
        headers["Accept"] = OPENMETRICS_ACCEPT
    times: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        for _ in range(scrapes):
            t0 = time.perf_counter()
            resp = session.get(url, headers=headers, stream=True, timeout=300)
            raw = resp.raw.read(decode_content=False)
            if openmetrics and not resp.headers.get("Content-Type", "").startswith("application/openmetrics-text"):
                raise RuntimeError(f"{url} did not answer in OpenMetrics")
            with lock:
                times.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(raw))

    threads = [threading.Thread(target=client) for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, max(sizes)


def run_size(series: int, scrapes: int, naive_max: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sides = [("llmpulse", LLMPULSE_CHILD)] + ([("naive", NAIVE_CHILD)] if series <= naive_max else [])
    for name, code in sides:
        proc, url, extra = start(code, series)
        try:
            idle = rss_mb(proc.pid)
            measure(url, 1, False)  # warm-up
            measure(url, 1, True, openmetrics=True)  # as Prometheus asks: from now on OpenMetrics gzip is rendered
            for enc, gz, om in ENCODINGS:  # plain OpenMetrics last: from then on its plain body is kept as well
                for scrapers in (1, 4):
                    n = scrapes if name == "llmpulse" else max(2, scrapes // 8)
                    times, size = measure(url, n, gz, scrapers, om)
                    rows.append(
                        {
                            "series": series,
                            "server": name,
                            "enc": enc,
                            "scrapers": scrapers,
                            "median_ms": statistics.median(times),
                            "bytes": size,
                            "idle_mb": idle,
                            "after_mb": rss_mb(proc.pid),
                            "peak_mb": hwm_mb(proc.pid),
                            "note": extra,
                        }
                    )
        finally:
            proc.kill()
            proc.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,300000", help="series counts, comma-separated")
    parser.add_argument("--scrapes", type=int, default=16, help="scrapes per client and configuration (llmpulse)")
    parser.add_argument(
        "--naive-max", type=int, default=100_000, help="largest size the naive collector is run at (it is slow)"
    )
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for series in (int(n) for n in args.sizes.split(",")):
        rows += run_size(series, args.scrapes, args.naive_max)
    print("\n/metrics on loopback, same run; median latency per scrape, RSS of the server process")
    print(
        f"{'series':>8} {'server':<9}{'enc':<6}{'clients':>8}{'median ms':>11}{'ms/MB':>10}{'body bytes':>13}"
        f"{'RSS idle':>10}{'RSS after':>10}{'RSS peak':>10}"
    )
    for r in rows:
        enc = r["enc"]
        per_mb = r["median_ms"] / max(r["bytes"] / 1e6, 1e-9)
        print(
            f"{r['series']:>8} {r['server']:<9}{enc:<6}{r['scrapers']:>8}{r['median_ms']:>11.2f}{per_mb:>10.2f}"
            f"{r['bytes']:>13,}{r['idle_mb']:>10.0f}{r['after_mb']:>10.0f}{r['peak_mb']:>10.0f}"
        )
    print("\nnaive / llmpulse, median per scrape (1 client):")
    for series in sorted({r["series"] for r in rows if r["server"] == "naive"}):
        for enc, _, _ in ENCODINGS:
            pick = {
                r["server"]: r["median_ms"]
                for r in rows
                if r["series"] == series and r["enc"] == enc and r["scrapers"] == 1
            }
            print(f"  {series:>7} {enc}: {pick['naive'] / pick['llmpulse']:.0f}x")
    for r in rows:
        if r["note"] and r["server"] == "llmpulse" and r["scrapers"] == 1 and r["enc"] == "plain":
            print(f"  llmpulse {r['series']}: {r['note']}")


if __name__ == "__main__":
    main()
