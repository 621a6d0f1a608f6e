"""Backfill benchmark: promtool on one OpenMetrics file for the whole window vs one file per UTC day.

promtool 2.42 (``tsdb create-blocks-from openmetrics``) re-reads its whole input for every two-hour block it cuts,
so its time grows with the square of the window. ``llmpulse backfill`` therefore feeds it one file per UTC day
(:class:`exporter.backfill.OpenMetricsWriter`). This benchmark writes the same synthetic samples (``--series``
counters, one sample per hour, ``--days`` days) both ways with that writer and times promtool on each, printing the
seconds, the blocks made and the ratio whole / per-day. It asserts nothing.

Run: ``python benchmarks/backfill_bench.py [--days 10,40] [--series 200]`` (needs promtool on PATH).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exporter import contract
from exporter.backfill import OpenMetricsWriter
from exporter.samples import MetricSet

START = 1790812800  # 2026-10-01 00:00 UTC


def write(workdir: Path, days: int, series: int) -> OpenMetricsWriter:
    writer = OpenMetricsWriter(workdir)
    for hour in range(days * 24):
        ms = MetricSet()
        for i in range(series):
            ms.set(contract.COST_USD, float(hour * (i + 1)), project=f"p{i % 20}", line_item=f"item{i}")
        writer.add(ms, {"provider": "openai", "source": "bench"}, START + hour * 3600)
    writer.write(workdir / "backfill.om")
    return writer


def promtool(tool: str, inputs: list[Path], out: Path) -> tuple[float, int]:
    out.mkdir()
    started = time.perf_counter()
    for path in inputs:
        subprocess.run([tool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(path), str(out)], check=True)
    return time.perf_counter() - started, len(list(out.iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="10,40")
    parser.add_argument("--series", type=int, default=200)
    args = parser.parse_args()
    tool = shutil.which("promtool")
    if tool is None:
        sys.exit("promtool not found")
    print(f"{'days':>5} {'samples':>9} {'whole file s':>13} {'per day s':>10} {'blocks':>7} {'whole/per-day':>14}")
    for days in (int(d) for d in args.days.split(",")):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            writer = write(tmp, days, args.series)
            whole, blocks_whole = promtool(tool, [tmp / "backfill.om"], tmp / "whole")
            per_day, blocks_daily = promtool(tool, writer.day_files, tmp / "daily")
            assert blocks_whole == blocks_daily
            print(
                f"{days:>5} {writer.samples:>9} {whole:>13.2f} {per_day:>10.2f} {blocks_daily:>7} "
                f"{whole / per_day:>14.1f}"
            )


if __name__ == "__main__":
    main()
