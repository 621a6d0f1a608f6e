"""Distinct counting in bounded memory: a small HyperLogLog and a sliding window of them.

Why a sketch: ``llmpulse_events_distinct_users`` must count unique ``user_id`` values over the last hour and day
without keeping the ids (privacy) and without a set that grows with the user base. A HyperLogLog with precision
``p`` keeps ``m = 2**p`` one-byte registers whatever the number of users; its relative standard error is
``1.04 / sqrt(m)``. llmpulse uses ``p = 12``: 4 KiB per sketch, standard error 1.625 % (about 1.6 %, as the
metric's HELP says), so 95 % of estimates fall within ±3.3 % and practically all within ±4.9 % (3 sigma).

Why our own ~150 lines instead of a library: the maintained Python HyperLogLogs either need a C extension
(``hyperloglog``/``hll`` bindings), pull numpy (``datasketch``), or lack the improved estimator below; llmpulse
needs add, merge and estimate only, on a few hundred sketches.

Details that matter:

- Hash: the first 8 bytes of BLAKE2b, stable across processes and platforms (Python's ``hash()`` is salted per
  process and weak on small ints).
- Estimator: Otmar Ertl's "improved raw estimator" (Ertl 2017, *New cardinality estimation algorithms for
  HyperLogLog sketches*, arXiv:1702.01284, algorithm 6). It works from the histogram of register values, needs no
  empirical bias tables (unlike HLL++) and has no jump between linear counting and the raw estimate, so tiny and
  huge counts are both right: 10 users read as 10.
- Sparse mode: a sketch that has seen few users keeps a sorted array of ``(index, rank)`` pairs (4 bytes each)
  and switches to the dense byte array once that would be larger than ``m / 2`` bytes. Most 5-minute slots of a
  small bot hold a few dozen users, so they cost a few hundred bytes, not 4 KiB.
- The dense form keeps the register-value histogram up to date on every change, so an estimate is O(64), cheap
  enough to refresh a gauge after every post.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from array import array
from collections.abc import Iterable

DEFAULT_PRECISION = 12
ALPHA_INF = 1.0 / (2.0 * math.log(2.0))


def hash64(value: str) -> int:
    """A stable 64-bit hash of ``value`` (BLAKE2b, first 8 bytes)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


def standard_error(precision: int = DEFAULT_PRECISION) -> float:
    """Relative standard error of a sketch with ``2**precision`` registers."""
    return 1.04 / math.sqrt(1 << precision)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


def register_max(arrays: list[bytearray]) -> bytearray:
    """The register-wise maximum of equal-length register arrays, as one big integer per array.

    Why not ``bytearray(map(max, *arrays))``: that is a Python call per register (about 10 ms for a day's 24
    dense sketches of 4,096 registers, under the ingest lock and the GIL, so a post waited for it). Registers are
    below 128, so with the top bit of every byte set in ``a``, ``a - b`` cannot borrow across bytes and leaves
    that bit set exactly where ``a >= b``; spread to a whole-byte mask, it picks ``a`` or ``b`` per byte. A few
    whole-array integer operations per sketch: about 50x cheaper, the same bytes.
    """
    size = len(arrays[0])
    high = int.from_bytes(b"\x80" * size, "big")
    result = int.from_bytes(arrays[0], "big")
    for array_ in arrays[1:]:
        other = int.from_bytes(array_, "big")
        pick = ((((result | high) - other) & high) >> 7) * 0xFF  # 0xFF where result >= other, else 0x00
        result = other ^ ((result ^ other) & pick)
    return bytearray(result.to_bytes(size, "big"))


class HyperLogLog:
    """A HyperLogLog sketch of 64-bit hashes: :meth:`add`, :meth:`merge`, :meth:`estimate`.

    Not thread-safe: the owner (the event ingest) serialises access.
    """

    __slots__ = ("_dense", "_hist", "_sparse", "m", "p", "q")

    def __init__(self, precision: int = DEFAULT_PRECISION) -> None:
        if not 4 <= precision <= 16:
            raise ValueError("precision must be between 4 and 16")
        self.p = precision
        self.m = 1 << precision
        self.q = 64 - precision  # bits left for the rank; ranks are 1..q+1
        self._sparse: array | None = array("I")  # sorted (index << 8 | rank), one entry per touched register
        self._dense: bytearray | None = None
        self._hist: list[int] | None = None  # count of registers per value, dense form only

    # --- writing ------------------------------------------------------------------------------------------------
    def add(self, value: str) -> bool:
        """Add a string; True if the sketch changed."""
        return self.add_hash(hash64(value))

    def add_hash(self, h: int) -> bool:
        """Add a 64-bit hash; True if the sketch changed."""
        index = h >> self.q
        word = h & ((1 << self.q) - 1)
        rank = self.q - word.bit_length() + 1
        return self._update(index, rank)

    def _update(self, index: int, rank: int) -> bool:
        if self._dense is not None:
            old = self._dense[index]
            if rank <= old:
                return False
            self._dense[index] = rank
            hist = self._hist
            assert hist is not None
            hist[old] -= 1
            hist[rank] += 1
            return True
        sparse = self._sparse
        assert sparse is not None
        key = index << 8
        pos = bisect.bisect_left(sparse, key)
        if pos < len(sparse) and sparse[pos] >> 8 == index:
            if sparse[pos] & 0xFF >= rank:
                return False
            sparse[pos] = key | rank
            return True
        sparse.insert(pos, key | rank)
        if len(sparse) * sparse.itemsize > self.m // 2:
            self._densify()
        return True

    def _densify(self) -> None:
        if self._dense is not None:
            return
        dense = bytearray(self.m)
        for entry in self._sparse or ():
            dense[entry >> 8] = entry & 0xFF
        self._dense = dense
        self._sparse = None
        self._hist = [dense.count(k) for k in range(self.q + 2)]

    def merge(self, other: HyperLogLog) -> None:
        """Make this sketch the union of itself and ``other`` (same precision)."""
        if other.p != self.p:
            raise ValueError("cannot merge sketches of different precision")
        if other._dense is None:
            for entry in other._sparse or ():
                self._update(entry >> 8, entry & 0xFF)
            return
        self._densify()
        assert self._dense is not None
        self._dense = register_max([self._dense, other._dense])
        self._hist = [self._dense.count(k) for k in range(self.q + 2)]

    @classmethod
    def union(cls, sketches: Iterable[HyperLogLog], precision: int = DEFAULT_PRECISION) -> HyperLogLog:
        """The union of ``sketches``: the register-wise max of the dense ones (:func:`register_max`), then the
        sparse ones."""
        out = cls(precision)
        sketches = list(sketches)
        dense = [s._dense for s in sketches if s._dense is not None]
        if dense:
            if any(s.p != precision for s in sketches):
                raise ValueError("cannot merge sketches of different precision")
            registers = register_max(dense)
            out._dense, out._sparse = registers, None
            out._hist = [registers.count(k) for k in range(out.q + 2)]
        for sketch in sketches:
            if sketch._dense is None:
                out.merge(sketch)
        return out

    # --- reading ------------------------------------------------------------------------------------------------
    def histogram(self) -> list[int]:
        """Number of registers holding each value 0..q+1."""
        if self._hist is not None:
            return list(self._hist)
        hist = [0] * (self.q + 2)
        sparse = self._sparse or array("I")
        hist[0] = self.m - len(sparse)
        for entry in sparse:
            hist[entry & 0xFF] += 1
        return hist

    def estimate(self) -> float:
        """Estimated number of distinct values added (Ertl's improved raw estimator)."""
        hist = self.histogram()
        m = self.m
        if hist[0] == m:
            return 0.0
        z = m * _tau(1.0 - hist[self.q + 1] / m)
        for k in range(self.q, 0, -1):
            z = 0.5 * (z + hist[k])
        z += m * _sigma(hist[0] / m)
        return ALPHA_INF * m * m / z

    @property
    def is_empty(self) -> bool:
        return self._dense is None and not self._sparse

    @property
    def is_dense(self) -> bool:
        return self._dense is not None

    def memory_bytes(self) -> int:
        """Bytes held by the registers (sparse entries or the dense array plus its histogram)."""
        if self._dense is not None:
            return len(self._dense) + 8 * (self.q + 2)
        return len(self._sparse or ()) * 4


class SlidingDistinct:
    """Distinct values over a sliding window of ``slots`` time slots of ``slot_seconds`` each.

    One sketch per slot that received data (empty slots cost nothing) plus a running union of the live slots, so
    adding is O(1) and estimating is O(64). The window covers the current slot and the ``slots - 1`` before it:
    between ``(slots - 1) * slot_seconds`` and ``slots * slot_seconds`` of history. Values are placed in the slot of
    their own timestamp (a batch posted late still lands in the right slot); timestamps in the future count as now,
    those older than the window are ignored.

    When a slot falls out of the window (:meth:`advance`) it is dropped at once, but the union is only marked
    :attr:`stale`: rebuilding it from the remaining slots costs a few milliseconds for dense sketches, so the owner
    does it when it chooses (:meth:`rebuild`; the event ingest's timer does it one window at a time, never inside
    a post). Adds to a stale window go to their slot only; the rebuild includes them.
    """

    __slots__ = ("_ring", "_union", "newest", "precision", "slot_seconds", "slots", "stale")

    def __init__(self, slot_seconds: int, slots: int, precision: int = DEFAULT_PRECISION) -> None:
        self.slot_seconds = slot_seconds
        self.slots = slots
        self.precision = precision
        self._ring: dict[int, HyperLogLog] = {}
        self._union = HyperLogLog(precision)
        self.newest = -1  # index of the newest slot the window has advanced to
        self.stale = False  # the union still holds slots that left the window (see rebuild)

    def advance(self, now: float) -> bool:
        """Drop slots that left the window at ``now``; True if the estimate changed (then the union is stale)."""
        current = int(now // self.slot_seconds)
        if current <= self.newest:
            return False
        self.newest = current
        expired = [idx for idx in self._ring if idx <= current - self.slots]
        if not expired:
            return False
        for idx in expired:
            del self._ring[idx]
        self.stale = True
        return True

    def rebuild(self) -> None:
        """Make the union that of the live slots again (after :meth:`advance` dropped some)."""
        if self.stale:
            self._union = HyperLogLog.union(self._ring.values(), self.precision)
            self.stale = False

    def add_hash(self, h: int, ts: float, now: float) -> bool:
        """Count hash ``h`` seen at ``ts``; True if the estimate may have changed."""
        self.advance(now)
        slot = min(int(ts // self.slot_seconds), self.newest)
        if slot <= self.newest - self.slots:
            return False
        sketch = self._ring.get(slot)
        if sketch is None:
            sketch = self._ring[slot] = HyperLogLog(self.precision)
        changed = sketch.add_hash(h)
        if self.stale:
            return changed
        return self._union.add_hash(h)

    def estimate(self) -> float:
        """The estimate over the live slots (rebuilding a stale union first)."""
        self.rebuild()
        return self._union.estimate()

    @property
    def is_empty(self) -> bool:
        return not self._ring

    def memory_bytes(self) -> int:
        return self._union.memory_bytes() + sum(s.memory_bytes() for s in self._ring.values())

    def __len__(self) -> int:
        """Number of slots holding data."""
        return len(self._ring)
