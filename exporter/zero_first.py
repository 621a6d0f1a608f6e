"""Zero-first counter series: a new counter series is exported at 0 before the value it carries.

``rate()`` and ``increase()`` read a series' first sample as its starting point: a counter that appears at 1 (a
first 401, a new model's first tokens, a new line item's first dollars) is never counted, because Prometheus has no
earlier sample to take the difference from. So every counter and histogram series a publisher adds is exported at
0 first, and its real value only after a scrape has read that zero, or after ``hold`` seconds when nobody scrapes
(the app uses two scrape intervals: Prometheus scrapes within one, plus a margin for its jitter). Prometheus then
stores ``0 -> value`` and counts the whole value.

The delay is one scrape: a new series' first value shows up one scrape later than it would otherwise. Series
already known keep updating at once. A series that disappears and later comes back is new again (zero first).

A publisher can *adopt* series instead (``adopt``): they are exported at their value at once. A source's first
snapshot after the exporter starts is adopted: month-to-date totals are state the provider keeps, continuous with
what the previous exporter process (or another replica) exported; exporting them at 0 first would make every
restart read as a month's worth of spend in one scrape.

The tracker also knows when each series was created (first exported, or last reset), which the OpenMetrics
exposition needs for its ``_created`` samples.
"""

from __future__ import annotations

import itertools
import operator
import re
import time
from collections.abc import Callable, Iterator

from prometheus_client.utils import floatToGoString

from exporter.contract import Family

#: Sample-name suffixes that carry a histogram series' own counters; ``_count`` closes a series' block.
_HISTOGRAM_SUFFIXES = (b"_bucket", b"_sum", b"_count")


def is_counting(family: Family) -> bool:
    """Families whose series must start at zero: counters and histograms (their buckets, sum and count)."""
    return family.type in ("counter", "histogram")


def _parse_float(value: bytes) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def created_line(family: Family, key: bytes, created: float) -> bytes | None:
    """The OpenMetrics ``_created`` sample that follows ``key`` (a counter sample or a histogram's ``_count``)."""
    name = family.name.encode()
    if family.type == "counter":
        stem, suffix = name[: -len(b"_total")], b"_total"
    else:
        stem, suffix = name, b"_count"
    prefix = stem + suffix
    if not key.startswith(prefix) or key[len(prefix) : len(prefix) + 1] not in (b"", b"{"):
        return None
    return stem + b"_created" + key[len(prefix) :] + b" " + floatToGoString(created).encode() + b"\n"


def _series(chunk: bytes) -> dict[bytes, bytes]:
    """``name{labels}`` -> value text of every line of ``chunk`` (label values may hold spaces: split at the last)."""
    return {key: value for key, _, value in (line.rpartition(b" ") for line in chunk.split(b"\n") if line)}


#: The value of each line with the space before it and the newline after it: a line is ``name{labels} value``, and
#: a label value may hold spaces but never a raw newline, so the value runs from the line's last space to its end.
_VALUE = re.compile(rb" [^ \n]*\n")

#: Lines per block of :meth:`SeriesTracker.openmetrics_blocks` (a few hundred kB: big enough for C-speed joins and
#: compression, small enough that a 300,000-series family is never held twice in OpenMetrics).
_BLOCK_LINES = 4096


class SeriesTracker:
    """The exported state of one owner's counting family: its lines, which series are held at zero, and since when.

    Kept compact for families of 300,000 series: the tracker holds the owner's own chunk (no copy), which series
    are held at zero while they are (all of them, after a family's first lines, without naming each), and creation
    times only where they differ from the tracker's ``base_created`` (the time of its first lines). An update
    whose series are those of the last one (values moved, the usual poll) compares the two chunks with
    whole-chunk operations; a per-series map is built only when series came or went.
    """

    def __init__(self, family: Family) -> None:
        self.family = family
        self._chunk = b""
        self._held: set[bytes] = set()
        self._all_held = False  # every series of the chunk is held (the family's first lines)
        self.base_created = 0.0
        self._created: dict[bytes, float] = {}
        self.zero_since = 0.0  # monotonic time the newest held zero was exported (0: none held)
        self.served = False  # a scrape has read the held zeros

    @property
    def holding(self) -> bool:
        return self.zero_since > 0

    def update(self, chunk: bytes, *, adopt: bool, now_wall: float, now_mono: float, created: float | None) -> None:
        """Take the owner's new lines: new series are held at 0 unless adopted; gone series are forgotten."""
        when = created if (adopt and created is not None) else now_wall
        if not self._chunk:  # the first lines: every series is new
            self.base_created, self._created, self._chunk, self._held = when, {}, chunk, set()
            self._all_held = not adopt
            self.zero_since, self.served = (0.0 if adopt else now_mono), False
            return
        old_keys, new_keys = _VALUE.sub(b"\n", self._chunk), _VALUE.sub(b"\n", chunk)
        if old_keys == new_keys:
            self._note_resets(self._chunk, chunk, new_keys, now_wall)
            self._chunk = chunk
            return
        old, values = _series(self._chunk), _series(chunk)
        new = values.keys() - old.keys()
        created_at = {k: c for k, c in self._created.items() if k in values}
        if when != self.base_created:
            created_at.update(dict.fromkeys(new, when))
        still_held = old.keys() if self._all_held else self._held
        held = {k for k in still_held if k in values}
        new_held = bool(new) and not adopt
        if new_held:
            held |= new
        for key in [k for k, v in values.items() if k not in new and old[k] != v]:
            if _parse_float(values[key]) < _parse_float(old[key]):
                created_at[key] = now_wall  # a reset (a new month): the counter restarted now
        self._chunk, self._held, self._all_held, self._created = chunk, held, False, created_at
        if new_held:
            # A zero a scrape has not read yet: wait for the next scrape, even if older held zeros were read.
            self.zero_since, self.served = now_mono, False
        elif not held:
            self.zero_since, self.served = 0.0, False

    def _note_resets(self, old: bytes, new: bytes, keys: bytes, now_wall: float) -> None:
        """The same series in the same order: a value that went down is a reset (a new month), created now."""
        before, after = _VALUE.findall(old), _VALUE.findall(new)
        moved = list(itertools.compress(range(len(after)), map(operator.ne, before, after)))
        reset = [i for i in moved if _parse_float(after[i][1:-1]) < _parse_float(before[i][1:-1])]
        if reset:
            lines = keys.split(b"\n")
            self._created.update((lines[i], now_wall) for i in reset)

    def release_due(self, now_mono: float, hold: float) -> bool:
        """Release held zeros once a scrape read them or ``hold`` elapsed; True if anything was released."""
        if not self.holding or not (self.served or now_mono - self.zero_since >= hold):
            return False
        self._held, self._all_held = set(), False
        self.zero_since, self.served = 0.0, False
        return True

    def exposed(self) -> bytes:
        """The lines as exported now: held series at 0 (the owner's bytes as they are when nothing is held)."""
        if self._all_held:
            return _VALUE.sub(b" 0\n", self._chunk)
        if not self._held:
            return self._chunk
        held = self._held
        return b"".join(
            key + b" " + (b"0" if key in held else value) + b"\n" for key, value in _series(self._chunk).items()
        )

    def openmetrics_blocks(self) -> Iterator[bytes]:
        """The lines with a ``_created`` sample after each counter sample or histogram ``_count``, in blocks of
        :data:`_BLOCK_LINES` lines (so a caller that compresses them never holds the whole family)."""
        held, all_held, base, created = self._held, self._all_held, self.base_created, self._created
        lines = [line for line in self._chunk.split(b"\n") if line]
        for start in range(0, len(lines), _BLOCK_LINES):
            out: list[bytes] = []
            for line in lines[start : start + _BLOCK_LINES]:
                key, _, value = line.rpartition(b" ")
                out.append(key + b" " + (b"0" if all_held or key in held else value) + b"\n")
                extra = created_line(self.family, key, created.get(key, base))
                if extra is not None:
                    out.append(extra)
            yield b"".join(out)

    def exposed_openmetrics(self) -> bytes:
        """All of :meth:`openmetrics_blocks` in one piece."""
        return b"".join(self.openmetrics_blocks())


class ZeroFirst:
    """Zero-first state of every (owner, counting family) of an exposition."""

    def __init__(
        self,
        hold: float,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hold = hold
        self._wall = wall
        self._mono = monotonic
        self._trackers: dict[tuple[str, Family], SeriesTracker] = {}

    def update(
        self, owner: str, family: Family, chunk: bytes | None, *, adopt: bool = False, created: float | None = None
    ) -> None:
        key = (owner, family)
        if chunk is None:
            self._trackers.pop(key, None)
            return
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = SeriesTracker(family)
        tracker.update(chunk, adopt=adopt, now_wall=self._wall(), now_mono=self._mono(), created=created)

    def tracker(self, owner: str, family: Family) -> SeriesTracker | None:
        return self._trackers.get((owner, family))

    def release_due(self) -> set[Family]:
        """Release what is due; return the families whose exported bytes changed."""
        now = self._mono()
        return {fam for (_, fam), tracker in self._trackers.items() if tracker.release_due(now, self.hold)}

    def mark_served(self) -> None:
        """A scrape has just been served: every zero held now has been read."""
        for tracker in self._trackers.values():
            if tracker.holding:
                tracker.served = True

    def holding(self) -> int:
        return sum(1 for t in self._trackers.values() if t.holding)
