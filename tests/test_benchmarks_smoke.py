"""The benchmarks run (tiny sizes) and print their figures; the figures themselves are for people, not asserts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_poll_bench_prints_incremental_and_full_figures_that_agree() -> None:
    tiny = ["--groups", "8", "--days", "2", "--polls", "1", "--guard", "1000,4000"]
    out = subprocess.run(
        [sys.executable, "benchmarks/poll_bench.py", *tiny],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    assert "full:cadence" in out and "window" in out, out
    assert "incremental / full recompute" in out and "guard, vanished series" in out, out
    assert "export different values" not in out, out


def _run(*args: str) -> str:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    ).stdout


def test_scrape_bench_prints_both_servers_plain_gzip_openmetrics_and_concurrent() -> None:
    out = _run("benchmarks/scrape_bench.py", "--sizes", "1000", "--scrapes", "2", "--naive-max", "1000")
    needles = (
        "llmpulse plain",
        "llmpulse gzip",
        "llmpulse om  ",
        "llmpulse om+gz",
        "naive    om  ",
        "naive / llmpulse",
    )
    for needle in needles:
        assert needle in out, out


def test_events_bench_prints_both_sides_and_the_sketch_figure() -> None:
    out = _run("benchmarks/events_bench.py", "--events", "300", "--pairs", "3")
    assert "prometheus_client" in out and "llmpulse" in out and "sketch maintenance" in out, out


def test_backfill_bench_prints_whole_and_per_day_figures() -> None:
    out = _run("benchmarks/backfill_bench.py", "--days", "2", "--series", "5")
    assert "whole/per-day" in out and len(out.strip().splitlines()) == 2, out
