"""Prometheus text exposition, rendered when data changes, never per scrape.

Each owner (a source's snapshot, the probes' live metrics, the event ingest...) publishes its sample lines per
family. The body is assembled family by family in contract order (one HELP/TYPE block per family, all its samples
together, as the text format requires). Plain bytes and gzip bytes are cached per family: the gzip body is the
concatenation of per-family gzip members (RFC 1952 allows several members; Prometheus' Go reader and urllib3 read
them), so a change in one family recompresses only that family. A scrape is then a join of cached bytes.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter import contract
from exporter.contract import Family
from exporter.samples import LabelKey, LiveMetrics, MetricSet, repair_text

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def family_header(family: Family) -> bytes:
    help_text = escape_help(repair_text(family.help))
    return f"# HELP {family.name} {help_text}\n# TYPE {family.name} {family.type}\n".encode()


class RenderFailures:
    """Families that could not be rendered: dropped from the page, counted, logged (at most once a minute each).

    Why a process-wide record: rendering happens in pollers, probes and the scrape path alike, and a failure in
    any of them must show up in ``llmpulse_exposition_render_failures_total`` of the one exposition served.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.version = 0
        self._logged: dict[str, float] = {}

    def record(self, family: Family, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[family.name] = self.counts.get(family.name, 0) + 1
            self.version += 1
            quiet = now - self._logged.get(family.name, -60.0) < 60.0
            if not quiet:
                self._logged[family.name] = now
        if not quiet:
            log.error("could not render %s; it is left out of /metrics: %r", family.name, exc, exc_info=exc)

    def chunk(self) -> bytes:
        with self._lock:
            counts = sorted(self.counts.items())
        name = contract.EXPOSITION_RENDER_FAILURES.name
        return "".join(f"{name}{format_labels([('metric', m)])} {n}\n" for m, n in counts).encode()


#: The record every renderer of this process reports to.
RENDER_FAILURES = RenderFailures()


def render_metricset(ms: MetricSet, base: Mapping[str, str]) -> dict[Family, bytes]:
    """Render a poll's samples with ``base`` labels (provider, source, static labels) prepended. A family that
    cannot be rendered is left out (see :class:`RenderFailures`); the others are returned."""
    base_pairs = [(name, repair_text(value)) for name, value in base.items()]
    out: dict[Family, bytes] = {}
    for family in ms.families():
        try:
            lines = []
            for key, value in ms.series(family).items():
                lines.append(f"{family.name}{format_labels(base_pairs + list(key))} {floatToGoString(value)}\n")
            out[family] = "".join(lines).encode()
        except Exception as exc:
            RENDER_FAILURES.record(family, exc)
    return out


def _render_histograms(family: Family, hseries: list[tuple[LabelKey, Any]]) -> bytes:
    lines: list[str] = []
    for key, hist in hseries:
        cumulative = 0
        for bound, count in zip(hist.bounds, hist.counts, strict=True):
            cumulative += count
            lines.append(f"{family.name}_bucket{format_labels((*key, ('le', floatToGoString(bound))))} {cumulative}\n")
        lines.append(f"{family.name}_bucket{format_labels((*key, ('le', '+Inf')))} {hist.count}\n")
        lines.append(f"{family.name}_sum{format_labels(key)} {floatToGoString(hist.total)}\n")
        lines.append(f"{family.name}_count{format_labels(key)} {hist.count}\n")
    return "".join(lines).encode()


def render_live(live: LiveMetrics, families: set[Family] | None = None) -> dict[Family, bytes]:
    """Render live counters, gauges and histograms (labels are stored complete), only ``families`` when given. A
    family that cannot be rendered is left out (see :class:`RenderFailures`); the others are returned."""
    _, values, hists = live.snapshot(families)
    out: dict[Family, bytes] = {}
    for family, series in values.items():
        try:
            out[family] = "".join(
                f"{family.name}{format_labels(key)} {floatToGoString(v)}\n" for key, v in series
            ).encode()
        except Exception as exc:
            RENDER_FAILURES.record(family, exc)
    for family, hseries in hists.items():
        try:
            out[family] = _render_histograms(family, hseries)
        except Exception as exc:
            RENDER_FAILURES.record(family, exc)
    return out


def sample_lines(chunks: Mapping[Family, bytes]) -> int:
    return sum(chunk.count(b"\n") for chunk in chunks.values())


class Exposition:
    """The cached /metrics body, assembled from owners' per-family chunks.

    Rendering happens where data changes, not where it is read: a publish (a poller's thread, after its poll)
    renders the families it changed, gzip included, so a scrape finds both formats ready. The plain body is never
    joined: it is sent as its parts (each family's header, then the owners' chunks as published), so the text is
    held once; gzip is kept per family so a change recompresses only that family, plus one joined gzip body. Live
    owners (probes, /events) are refreshed when a scrape finds their version moved, and then only the families
    written since. The per-scrape tail (process metrics) is the last part (:meth:`chunks`): concurrent scrapes
    send the same cached objects, never a copy.
    """

    def __init__(self, families: Iterable[Family] | None = None) -> None:
        self._lock = threading.Lock()
        self._order: list[Family] = list(families if families is not None else contract.FAMILIES.values())
        self._chunks: dict[str, dict[Family, bytes]] = {}
        self._live: dict[str, tuple[LiveMetrics, int]] = {}
        self._headers: dict[Family, bytes] = {}
        self._family_gzip: dict[Family, bytes] = {}
        self._dirty: set[Family] = set(self._order)
        self._pieces: tuple[bytes, ...] | None = None  # the plain body: each family's header and owners' chunks
        self._body_gz: bytes | None = None
        self.renders = 0
        self._failures_seen = 0
        self.extra: Callable[[], bytes] | None = None  # small per-scrape tail (process metrics)

    def add_family(self, family: Family) -> None:
        """Register a family not in the contract (http_json sources)."""
        with self._lock:
            if family not in self._order:
                self._order.append(family)
                self._dirty.add(family)
                self._pieces = self._body_gz = None

    def publish(self, owner: str, chunks: Mapping[Family, bytes]) -> None:
        """Replace everything ``owner`` contributes (families it no longer has disappear), and render what changed
        now, in the caller's thread."""
        with self._lock:
            old = self._chunks.get(owner, {})
            new = dict(chunks)
            for family in set(old) | set(new):
                if old.get(family) != new.get(family):
                    if family not in self._order:
                        self._order.append(family)
                    self._dirty.add(family)
            self._chunks[owner] = new
            if self._dirty:
                self._render()

    def attach_live(self, owner: str, live: LiveMetrics) -> None:
        """Render ``live`` again whenever its version moved (checked at scrape time; cheap when unchanged)."""
        with self._lock:
            self._live[owner] = (live, -1)

    def _refresh_live(self) -> None:
        for owner, (live, seen) in list(self._live.items()):
            if live.version != seen:
                version = live.version
                changed = live.changed_since(seen)
                with self._lock:
                    chunks = dict(self._chunks.get(owner, {}))
                chunks.update(render_live(live, changed))
                self.publish(owner, chunks)
                with self._lock:
                    self._live[owner] = (live, version)

    def _render(self) -> None:
        """Recompress the dirty families and join both bodies. Holds _lock."""
        for family in self._dirty:
            self._family_gzip.pop(family, None)
            parts = [c[family] for c in self._chunks.values() if c.get(family)]
            if not parts:
                self._headers.pop(family, None)
                continue
            try:
                header = family_header(family)
                self._family_gzip[family] = gzip.compress(header + b"".join(parts), compresslevel=5, mtime=0)
            except Exception as exc:  # never one family for the whole page
                self._headers.pop(family, None)
                RENDER_FAILURES.record(family, exc)
                continue
            self._headers[family] = header
        self._dirty.clear()
        pieces: list[bytes] = []
        for family in self._order:
            head = self._headers.get(family)
            if head is not None:
                pieces.append(head)
                pieces.extend(c[family] for c in self._chunks.values() if c.get(family))
        self._pieces = tuple(pieces)
        self._body_gz = b"".join(self._family_gzip.get(f, b"") for f in self._order)
        self.renders += 1

    def chunks(self, *, compressed: bool = False) -> tuple[bytes, ...]:
        """The exposition as parts the server writes in order, the per-scrape tail last; gzip when ``compressed``.
        The parts are the cached objects themselves: the plain text is never joined or copied (each family's header
        and the owners' chunks as published), the gzip body is one cached join of per-family members."""
        self._refresh_live()
        self._refresh_failures()
        with self._lock:
            if self._pieces is None or self._body_gz is None or self._dirty:
                self._render()
            assert self._pieces is not None and self._body_gz is not None
            parts: tuple[bytes, ...] = (self._body_gz,) if compressed else self._pieces
        tail = b""
        if self.extra is not None:
            try:
                tail = self.extra()
            except Exception as exc:  # process metrics are a nicety: the page is served without them
                log.error("could not collect the process metrics: %r", exc)
            if tail and compressed:
                tail = gzip.compress(tail, compresslevel=1, mtime=0)
        return (*parts, tail) if tail else parts

    def body(self, *, compressed: bool = False) -> bytes:
        """The exposition bytes (gzip when ``compressed``) in one piece (a copy: the server sends :meth:`chunks`)."""
        return b"".join(self.chunks(compressed=compressed))

    def _refresh_failures(self) -> None:
        """Publish the render-failure counter when it moved (a family must exist before it can fail)."""
        version = RENDER_FAILURES.version
        if version != self._failures_seen:
            self._failures_seen = version
            self.publish("exposition", {contract.EXPOSITION_RENDER_FAILURES: RENDER_FAILURES.chunk()})
