"""Flood benchmark: memory and series under a flood of distinct label values, /metrics latency under a connection flood.

Part 1, cardinality. The real ``llmpulse serve`` process gets /events posts whose labels (app, channel, model, code,
error_type, user, session) take new combinations on every event, and polls an http_json upstream whose three
labels take new values on every poll. The same flood runs twice, one process after the other:

- bounded: the default series budgets (events: 5,000 series per family, 20,000 in all; http_json: 1,000 per source),
- unbounded: budgets lifted to their maximum, which is what llmpulse did before budgets existed (each label capped
  at 200 values, their combinations not at all).

Printed per run: RSS of the exporter and series in /metrics before and after the flood, the /metrics size and the
time of the first scrape after the flood.

Part 2, connections. Against the bounded process: /metrics latency (median and worst of N scrapes) with no other
connection open (the baseline), then with 200 idle connections and 200 connections that sent half a request head.
Part 3, a burst: 300 new connections at the same instant, each asking /metrics once (the listen backlog at work).

Run: ``python benchmarks/flood_bench.py [--events 80000] [--scrapes 30]``. It prints figures; it asserts nothing.
``--connections-only --root DIR`` runs part 2 alone against another checkout (e.g. ``git archive`` of an older
commit unpacked in DIR), for a before/after comparison of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "flood-bench-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """An http_json upstream whose answer has ``items`` rows with three labels that are new on every poll."""

    def __init__(self, items: int) -> None:
        polls = {"n": 0}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                polls["n"] += 1
                p = polls["n"]
                rows = [{"a": f"a{p}-{i}", "b": f"b{p}-{i}", "c": f"c{p}-{i}", "v": i} for i in range(items)]
                body = json.dumps({"items": rows}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config(upstream: str, bounded: bool) -> dict[str, Any]:
    events: dict[str, Any] = {"name": "flood", "token_env": "FLOOD_BENCH_TOKEN", "max_events": 1000}
    source: dict[str, Any] = {
        "type": "http_json",
        "name": "flood_json",
        "base_url": upstream,
        "path": "/items",
        "auth": {"type": "none"},
        "interval": "1s",
        "timeout": "1s",
        "metrics": [{"name": "llmpulse_flood_value", "path": "items[*].v", "labels": {"a": "a", "b": "b", "c": "c"}}],
    }
    if not bounded:
        events.update(max_series_per_family=1_000_000, max_series=10_000_000)
        source.update(max_series=100_000)
    return {"sources": [source], "events": events}


class Exporter:
    def __init__(self, cfg: dict[str, Any], tmp: Path, root: Path = ROOT) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = tmp / f"flood-{self.port}.yml"
        path.write_text(yaml.safe_dump(cfg))
        self.log = open(tmp / f"flood-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "serve", "--config", str(path), "--listen", f"127.0.0.1:{self.port}"],
            cwd=root,  # ``python -m exporter`` runs the checkout in ``root``
            env={**os.environ, "FLOOD_BENCH_TOKEN": TOKEN},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("exporter not ready")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def scrape(self) -> tuple[int, int, float]:
        """(series, bytes, seconds) of one /metrics."""
        start = time.perf_counter()
        text = requests.get(f"{self.url}/metrics", timeout=120).text
        took = time.perf_counter() - start
        return sum(1 for line in text.splitlines() if line and not line.startswith("#")), len(text), took

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def flood_events(url: str, events: int) -> None:
    """Events whose label combinations are all new: app x channel and model x code x error_type vary together."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    session = requests.Session()
    for start in range(0, events, 1000):
        batch = [
            {
                "app": f"app-{i % 200}",
                "channel": f"ch-{(i // 200) % 200}",
                "model": f"model-{i % 199}",
                "status": "error",
                "code": f"{(i // 199) % 197}",
                "error_type": f"type-{(i // (199 * 197)) % 193}-{i % 7}",
                "duration_ms": i % 3000,
                "input_tokens": 10,
                "user_id": f"user-{i}",
                "event": "call",
            }
            for i in range(start, min(events, start + 1000))
        ]
        resp = session.post(f"{url}/events", json=batch, headers=headers, timeout=60)
        resp.raise_for_status()


def cardinality(events: int, items: int, tmp: Path) -> Exporter:
    upstream = Upstream(items)
    kept: Exporter | None = None
    try:
        for bounded in (True, False):
            exp = Exporter(config(upstream.url, bounded), tmp)
            series0, _, _ = exp.scrape()
            rss0 = exp.rss_mb()
            started = time.perf_counter()
            flood_events(exp.url, events)
            posted = time.perf_counter() - started
            time.sleep(3)  # a few polls of the http_json upstream, each with new label values
            series1, size1, took1 = exp.scrape()
            rss1 = exp.rss_mb()
            label = "bounded (defaults)" if bounded else "unbounded (budgets lifted, as before)"
            print(
                f"{label:38s} RSS {rss0:6.1f} -> {rss1:6.1f} MB   series {series0:>7,d} -> {series1:>7,d}   "
                f"/metrics {size1 / 1e6:6.2f} MB, first scrape {took1 * 1000:7.1f} ms   "
                f"({events:,d} events posted in {posted:.1f} s)"
            )
            if bounded:
                kept = exp
            else:
                exp.stop()
    finally:
        upstream.stop()
    assert kept is not None
    return kept


def latencies(exp: Exporter, scrapes: int) -> list[float]:
    out = []
    session = requests.Session()
    for _ in range(scrapes):
        start = time.perf_counter()
        session.get(f"{exp.url}/metrics", timeout=30).raise_for_status()
        out.append(time.perf_counter() - start)
    return out


def connection_flood(exp: Exporter, scrapes: int) -> None:
    base = latencies(exp, scrapes)
    socks: list[socket.socket] = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", exp.port), timeout=5))
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", exp.port), timeout=5)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        flood = latencies(exp, scrapes)
    finally:
        for sock in socks:
            sock.close()
    for label, values in (("no other connection (baseline)", base), ("200 idle + 200 slow connections", flood)):
        print(
            f"/metrics with {label:32s} median {statistics.median(values) * 1000:7.1f} ms   "
            f"worst {max(values) * 1000:7.1f} ms   ({len(values)} scrapes)"
        )
    print(f"worst-case ratio flood/baseline: {max(flood) / max(base):.2f}")


def burst(exp: Exporter, clients: int) -> None:
    """``clients`` new connections at the same instant, each asking /metrics once: the listen backlog at work (with
    a backlog of 5, connections beyond it wait for SYN retransmits of 1, 3, 7... seconds)."""
    barrier = threading.Barrier(clients)
    took: list[float] = []
    failed = [0]
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", exp.port), timeout=30) as sock:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while sock.recv(65536):
                    pass
            with lock:
                took.append(time.perf_counter() - start)
        except OSError:
            with lock:
                failed[0] += 1

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took.sort()
    print(
        f"{clients} simultaneous new connections asking /metrics: median {statistics.median(took) * 1000:7.1f} ms   "
        f"p95 {took[int(len(took) * 0.95) - 1] * 1000:7.1f} ms   worst {took[-1] * 1000:7.1f} ms   failed {failed[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=80_000)
    parser.add_argument("--items", type=int, default=5_000, help="http_json rows per poll, all with new labels")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--burst", type=int, default=300, help="simultaneous new connections in part 3")
    parser.add_argument("--connections-only", action="store_true", help="part 2 only, with /events configured")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose exporter runs (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.connections_only:
            events = {"name": "flood", "token_env": "FLOOD_BENCH_TOKEN"}
            exp = Exporter({"events": events}, Path(tmp), args.root)
        else:
            exp = cardinality(args.events, args.items, Path(tmp))
        try:
            connection_flood(exp, args.scrapes)
            burst(exp, args.burst)
        finally:
            exp.stop()


if __name__ == "__main__":
    main()
