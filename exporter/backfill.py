"""Backfill: the month-to-date series ``serve`` would have exported in the past, as OpenMetrics and TSDB blocks.

For every usage/cost source the provider's history is fetched once (:mod:`exporter.history`), then replayed step by
step: at each step ``t`` the buckets of ``t``'s UTC month that have ended by ``t`` are summed with the provider
module's parse functions, the same enrichers as ``serve`` add the estimated cost, the same month-to-date guard runs,
and the same renderer writes the lines with the same base labels; only a timestamp is appended. The counters
therefore restart on the 1st of each UTC month, exactly as live ones do.

Each month that ends inside the window also gets a *closing sample* at its last millisecond holding the month's
complete totals (the last daily cost bucket ends at midnight, which is already next month's first instant), so
the last sample of a month equals the provider's total for that month.

Nothing is half-written: every provider call is made before a file is touched; the OpenMetrics file and the blocks
are written under temporary names and renamed at the end.
"""

from __future__ import annotations

import heapq
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from exporter import contract
from exporter.config import Config
from exporter.exposition import escape_help, render_metricset
from exporter.history import DAY, HOUR, History
from exporter.poller import Enricher, MonthToDateGuard
from exporter.pricing import build_enricher
from exporter.providers.balance import balance_usd_enricher
from exporter.providers.base import month_start
from exporter.providers.usage_common import Totals
from exporter.samples import MetricSet

OM_FILE = "backfill.om"
BLOCKS_DIR = "blocks"


class BackfillError(Exception):
    """A problem with the request or the environment (not the provider): the message says what to change."""


@dataclass(frozen=True)
class Window:
    """The steps to write: ``since`` and ``until`` snapped to the step grid (Unix seconds, UTC)."""

    since: float
    until: float
    step: float

    @classmethod
    def snapped(cls, since: float, until: float, step: float) -> Window:
        if step < 60 or step > DAY or (HOUR % step and step % HOUR):
            raise BackfillError("--step must be between 1m and 1d and divide or be a multiple of an hour")
        first = math.ceil(since / step) * step
        last = math.floor(until / step) * step
        if last < first:
            raise BackfillError("the window holds no step: --since must be at least one --step before --until")
        return cls(first, last, step)

    @property
    def fetch_start(self) -> float:
        """History starts at the first month's 1st: a month-to-date total needs the whole month so far."""
        return month_start(datetime.fromtimestamp(self.since, UTC)).timestamp()

    def steps(self) -> Iterator[float]:
        t = self.since
        while t <= self.until:
            yield t
            t += self.step

    def month_ends(self) -> list[float]:
        """Ends of the months that end inside the window (each gets a closing sample)."""
        out: list[float] = []
        month = month_start(datetime.fromtimestamp(self.since, UTC))
        while True:
            nxt = (month.replace(day=28) + _FOUR_DAYS).replace(day=1)
            if nxt.timestamp() > self.until:
                return out
            out.append(nxt.timestamp())
            month = nxt


_FOUR_DAYS = datetime.fromtimestamp(4 * DAY, UTC) - datetime.fromtimestamp(0, UTC)


def sample_times(window: Window) -> list[tuple[float, float]]:
    """(timestamp to write, time the data is read at): the steps, and each closing sample one millisecond before
    its month ends, reading that month through its end."""
    times = [(t, t) for t in window.steps()]
    times += [(end - 0.001, end) for end in window.month_ends()]
    return sorted(times)


def replay(
    history: History, times: Sequence[tuple[float, float]], enrichers: Sequence[Enricher]
) -> Iterator[tuple[float, MetricSet]]:
    """The MetricSet ``serve`` would have published at each time, through the same enrichers and guard.

    Buckets are added once each, in the order they end, to the totals of their month, so a long window costs one
    parse per bucket plus one MetricSet per step.
    """
    guard = MonthToDateGuard()
    buckets = history.buckets  # sorted by end
    i = 0
    month = -1.0
    totals = Totals()
    for stamp, read_at in times:
        start = month_start(datetime.fromtimestamp(stamp, UTC)).timestamp()
        if start != month:
            month, totals = start, Totals()
        while i < len(buckets) and buckets[i].end <= read_at:
            if buckets[i].start >= month:
                buckets[i].add_to(totals, month)
            i += 1
        if len(totals) == 0:
            continue
        ms = totals.metricset()
        for enrich in enrichers:
            enrich(ms, history.source)
        guard.apply(ms, datetime.fromtimestamp(stamp, UTC))
        for family, key, value in history.info.items():
            ms.set(family, value, **dict(key))
        yield stamp, ms


def enrichers_for(config: Config) -> list[Enricher]:
    """The enrichers ``serve`` runs after each poll (see :class:`exporter.app.App`)."""
    pricing = build_enricher(config)
    out: list[Enricher] = [pricing] if pricing is not None else []
    out.append(balance_usd_enricher(config.exchange_rates))
    return out


def om_timestamp(seconds: float) -> str:
    """Seconds with millisecond precision, without trailing zeros."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text


def om_family_header(family: contract.Family) -> str:
    """OpenMetrics names a counter family without its ``_total`` suffix."""
    name = family.name[: -len("_total")] if family.type == "counter" else family.name
    return f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.type}\n"


def om_body(parts: dict[contract.Family, list[str]] | dict[contract.Family, Path], out: IO[str]) -> None:
    """Write families in contract order, each under one header, then ``# EOF``."""
    order = [f for f in contract.FAMILIES.values() if f in parts]
    order += [f for f in parts if f not in order]
    for family in order:
        out.write(om_family_header(family))
        part = parts[family]
        if isinstance(part, Path):
            with part.open(encoding="utf-8") as lines:
                shutil.copyfileobj(lines, out)
        else:
            out.writelines(part)
    out.write("# EOF\n")


class OpenMetricsWriter:
    """Writes the whole window to one OpenMetrics file and, for promtool, one file per UTC day.

    A family's samples must be contiguous, so the whole-window file is assembled from one temporary file per
    family. promtool 2.42 re-reads its whole input for every two-hour block it cuts, so a 40-day file would be read
    480 times; one input per day keeps that to 12 reads of a day's data.
    """

    def __init__(self, workdir: Path, *, day_files: bool = True) -> None:
        self.workdir = workdir
        #: whether to write the per-day inputs for promtool (not when only the OpenMetrics file is wanted)
        self.want_day_files = day_files
        self.files: dict[contract.Family, IO[str]] = {}
        self.day: dict[contract.Family, list[str]] = {}
        self.day_index: int | None = None
        self.day_files: list[Path] = []
        self.samples = 0
        self.series: set[str] = set()

    def add(self, ms: MetricSet, base: dict[str, str], stamp: float) -> None:
        day = int(stamp // DAY)
        if day != self.day_index:
            self.flush_day()
            self.day_index = day
        ts = " " + om_timestamp(stamp) + "\n"
        for family, chunk in render_metricset(ms, base).items():
            out = self.files.get(family)
            if out is None:
                out = self.files[family] = (self.workdir / f"{family.name}.part").open("w", encoding="utf-8")
            day_lines = self.day.setdefault(family, [])
            for line in chunk.decode().splitlines():
                self.series.add(line.rpartition(" ")[0])
                out.write(line + ts)
                day_lines.append(line + ts)
                self.samples += 1

    def flush_day(self) -> None:
        if self.day_index is None or not self.day:
            return
        if not self.want_day_files:
            self.day = {}
            return
        path = self.workdir / f"day-{self.day_index}.om"
        with path.open("w", encoding="utf-8") as out:
            om_body(self.day, out)
        self.day_files.append(path)
        self.day = {}

    def write(self, path: Path) -> None:
        self.flush_day()
        for part in self.files.values():
            part.close()
        with path.open("w", encoding="utf-8") as out:
            om_body({f: self.workdir / f"{f.name}.part" for f in self.files}, out)


def _timeline(
    index: int, history: History, times: Sequence[tuple[float, float]], enrichers: Sequence[Enricher]
) -> Iterator[tuple[float, int, dict[str, str], MetricSet]]:
    source = history.source
    base = {"provider": source.provider, "source": source.name, **source.labels}
    for stamp, ms in replay(history, times, enrichers):
        yield stamp, index, base, ms


@dataclass
class Result:
    om_file: Path
    #: None with ``--no-blocks``
    blocks_dir: Path | None
    samples: int
    series: int
    blocks: int


def check_out_dir(out_dir: Path) -> None:
    """Refuse to mix a new backfill with old blocks (it would double-import samples that differ)."""
    blocks = out_dir / BLOCKS_DIR
    if blocks.exists() and any(blocks.iterdir()):
        raise BackfillError(f"{blocks} already holds blocks: move them into Prometheus or remove them first")
    if out_dir.exists() and not out_dir.is_dir():
        raise BackfillError(f"--out {out_dir} is not a directory")


def write_backfill(
    histories: Sequence[History],
    window: Window,
    enrichers: Sequence[Enricher],
    out_dir: Path,
    promtool: str | None,
    *,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> Result:
    """Write ``DIR/backfill.om`` and build ``DIR/blocks`` with promtool (both appear only when both succeeded).

    With ``promtool=None`` (``--no-blocks``) only ``DIR/backfill.om`` is written: the blocks are built elsewhere,
    e.g. by the compose stack's ``backfill-import`` service, whose Prometheus image ships promtool."""
    if promtool is None:
        return write_openmetrics_only(histories, window, enrichers, out_dir)
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    times = sample_times(window)
    with tempfile.TemporaryDirectory(prefix=".backfill-", dir=out_dir) as tmp_name:
        tmp = Path(tmp_name)
        writer = OpenMetricsWriter(tmp)
        fill(writer, histories, times, enrichers)
        om_tmp = tmp / OM_FILE
        writer.write(om_tmp)
        blocks_tmp = tmp / BLOCKS_DIR
        blocks_tmp.mkdir()
        for day_file in writer.day_files:
            proc = run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(day_file), str(blocks_tmp)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                detail = (proc.stderr or proc.stdout).strip()[-2000:]
                raise BackfillError(f"promtool could not build the blocks (exit {proc.returncode}):\n{detail}")
            day_file.unlink()
        blocks = [p for p in blocks_tmp.iterdir() if p.is_dir()]
        final_blocks = out_dir / BLOCKS_DIR
        if final_blocks.exists():
            final_blocks.rmdir()  # empty (checked above)
        om_tmp.replace(out_dir / OM_FILE)
        blocks_tmp.replace(final_blocks)
    return Result(out_dir / OM_FILE, final_blocks, writer.samples, len(writer.series), len(blocks))


def fill(
    writer: OpenMetricsWriter,
    histories: Sequence[History],
    times: Sequence[tuple[float, float]],
    enrichers: Sequence[Enricher],
) -> None:
    """Every source's replay, merged in time order (then source order) into the writer."""
    for stamp, _, base, ms in heapq.merge(
        *(_timeline(i, h, times, enrichers) for i, h in enumerate(histories)), key=lambda e: (e[0], e[1])
    ):
        writer.add(ms, base, stamp)


def write_openmetrics_only(
    histories: Sequence[History], window: Window, enrichers: Sequence[Enricher], out_dir: Path
) -> Result:
    """``DIR/backfill.om`` alone, written under a temporary name and renamed (an old one is replaced whole)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BackfillError(f"--out {out_dir} is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backfill-", dir=out_dir) as tmp_name:
        tmp = Path(tmp_name)
        writer = OpenMetricsWriter(tmp, day_files=False)
        fill(writer, histories, sample_times(window), enrichers)
        writer.write(tmp / OM_FILE)
        (tmp / OM_FILE).replace(out_dir / OM_FILE)
    return Result(out_dir / OM_FILE, None, writer.samples, len(writer.series), 0)
