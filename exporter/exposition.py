"""Prometheus text and OpenMetrics exposition, rendered when data changes, never per scrape.

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
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter import contract, zero_first
from exporter.contract import Family
from exporter.samples import LabelKey, LiveMetrics, MetricSet, repair_text
from exporter.zero_first import ZeroFirst

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text"
OPENMETRICS = "openmetrics"
FORMATS = (TEXT, OPENMETRICS)
CONTENT_TYPES = {TEXT: CONTENT_TYPE, OPENMETRICS: OPENMETRICS_CONTENT_TYPE}


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


def openmetrics_header(family: Family) -> bytes:
    """HELP and TYPE in OpenMetrics: a counter's family name has no ``_total``; HELP escapes quotes too."""
    name = family.name[: -len("_total")] if family.type == "counter" else family.name
    text = escape_help(repair_text(family.help)).replace('"', '\\"')
    return f"# HELP {name} {text}\n# TYPE {name} {family.type}\n".encode()


def negotiate(accept: str) -> str:
    """The format a scraper asks for in its Accept header: OpenMetrics 1.0 when it prefers it, else text 0.0.4.

    Prometheus sends ``application/openmetrics-text;version=1.0.0,...,text/plain;version=0.0.4;q=0.5,...``.
    OpenMetrics versions other than 1.0.0 (0.0.1) are not served: their ``_created`` rules differ.
    """
    best_text, best_om = -1.0, -1.0
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        if media == "application/openmetrics-text" and params.get("version", "1.0.0") == "1.0.0":
            best_om = max(best_om, q)
        elif media in ("text/plain", "*/*", "text/*"):
            best_text = max(best_text, q)
    return OPENMETRICS if best_om > 0 and best_om >= best_text else TEXT


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


class MetricSetRenderer:
    """:func:`render_metricset` for one owner that publishes a new MetricSet every poll, with memory of the last.

    Why: a steady poll changes a few series (today's usage) out of thousands, yet rendering every label set again
    was a fixed cost per series and poll that did not shrink when the poll fetched less. A family whose series and
    values equal the last render's reuses its bytes (one dict comparison); otherwise only the value text of a known
    series is formatted again, its ``name{labels}`` prefix is reused. Only the series of the last render are kept,
    so the memory follows what is exported. The output is byte for byte that of :func:`render_metricset`.
    """

    def __init__(self, base: Mapping[str, str]) -> None:
        self._base_pairs = [(name, repair_text(value)) for name, value in base.items()]
        self._last: dict[Family, tuple[dict[LabelKey, float], bytes, dict[LabelKey, str]]] = {}

    def render(self, ms: MetricSet) -> dict[Family, bytes]:
        out: dict[Family, bytes] = {}
        last: dict[Family, tuple[dict[LabelKey, float], bytes, dict[LabelKey, str]]] = {}
        for family in ms.families():
            series = ms.series(family)
            previous = self._last.get(family)
            if previous is not None and previous[0] == series:
                out[family], last[family] = previous[1], previous
                continue
            try:
                known = previous[2] if previous is not None else {}
                prefixes: dict[LabelKey, str] = {}
                lines = []
                for key, value in series.items():
                    prefix = known.get(key)
                    if prefix is None:
                        prefix = f"{family.name}{format_labels(self._base_pairs + list(key))} "
                    prefixes[key] = prefix
                    lines.append(f"{prefix}{floatToGoString(value)}\n")
                chunk = "".join(lines).encode()
            except Exception as exc:
                RENDER_FAILURES.record(family, exc)
                continue
            out[family] = chunk
            last[family] = (dict(series), chunk, prefixes)  # a copy: the caller may change its MetricSet later
        self._last = last
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
    """The cached /metrics bodies, assembled from owners' per-family chunks.

    Rendering happens where data changes, not where it is read: a publish (a poller's thread, after its poll)
    renders the families it changed, gzip included, in every format a scraper has asked for, so a scrape finds
    them ready. The plain body is never joined: it is sent as its parts (each family's header, then the owners'
    chunks as exposed), so the text is held once; gzip is kept per family so a change recompresses only that
    family, plus one joined gzip body. Live owners (probes, /events) are refreshed when a scrape finds their version
    moved, and then only the families written since. The per-scrape tail (process metrics) is the last part
    (:meth:`chunks`): concurrent scrapes send the same cached objects, never a copy.

    Two formats are kept: the Prometheus text format 0.0.4 and OpenMetrics 1.0 (which adds ``_created`` samples
    and ``# EOF``). OpenMetrics is rendered from the first scrape that asks for it on, and kept as gzip only until a
    scraper asks for it uncompressed (see :class:`_FormatCache`). Counter and histogram series
    go through :class:`exporter.zero_first.ZeroFirst`: a new one is exported at 0 until a scrape has read the zero
    (``zero_first_hold`` None turns that off: every series is exported at its value at once); the release of a held
    zero re-renders that family on the scrape that releases it.
    """

    def __init__(self, families: Iterable[Family] | None = None, *, zero_first_hold: float | None = None) -> None:
        self._lock = threading.Lock()
        self._live_lock = threading.Lock()  # taken before _lock, never while holding it
        self._order: list[Family] = list(families if families is not None else contract.FAMILIES.values())
        self._chunks: dict[str, dict[Family, bytes]] = {}
        self._live: dict[str, tuple[LiveMetrics, int]] = {}
        self._zero_first_on = zero_first_hold is not None
        self.zero_first = ZeroFirst(zero_first_hold or 0.0)
        self._cache = {fmt: _FormatCache(fmt, set(self._order), keep_plain=fmt == TEXT) for fmt in FORMATS}
        self._wanted: set[str] = {TEXT}  # formats rendered at publish time; OpenMetrics once a scraper asked
        self.renders = 0
        self._failures_seen = 0
        self.extra: Callable[[], bytes] | None = None  # small per-scrape tail (process metrics), text format
        self.extra_openmetrics: Callable[[], bytes] | None = None  # the same tail in OpenMetrics, without # EOF

    def _mark_dirty(self, family: Family) -> None:
        for cache in self._cache.values():
            cache.dirty.add(family)

    def add_family(self, family: Family) -> None:
        """Register a family not in the contract (http_json sources)."""
        with self._lock:
            if family not in self._order:
                self._order.append(family)
                self._mark_dirty(family)
                for cache in self._cache.values():
                    cache.invalidate()

    def publish(
        self, owner: str, chunks: Mapping[Family, bytes], *, adopt: Mapping[Family, float | None] | None = None
    ) -> None:
        """Replace everything ``owner`` contributes (families it no longer has disappear), and render what changed
        now, in the caller's thread.

        New counter and histogram series are exported at 0 first, except in the families of ``adopt`` (family ->
        the creation time of its new series, None for now): those are exported at their value at once.
        """
        adopt = adopt or {}
        with self._lock:
            old = self._chunks.get(owner, {})
            new = dict(chunks)
            for family in set(old) | set(new):
                if old.get(family) != new.get(family):
                    if family not in self._order:
                        self._order.append(family)
                    if zero_first.is_counting(family):
                        self.zero_first.update(
                            owner,
                            family,
                            new.get(family),
                            adopt=family in adopt or not self._zero_first_on,
                            created=adopt.get(family),
                        )
                    self._mark_dirty(family)
            self._chunks[owner] = new
            for fmt in self._wanted:
                if self._cache[fmt].dirty:
                    self._render(fmt)

    def attach_live(self, owner: str, live: LiveMetrics) -> None:
        """Render ``live`` again whenever its version moved (checked at scrape time; cheap when unchanged)."""
        with self._lock:
            self._live[owner] = (live, -1)

    def _refresh_live(self) -> None:
        """Render the live owners whose version moved, one refresh at a time: concurrent scrapes (two Prometheus
        replicas) wait for the render in flight instead of racing it, so an older snapshot is never published
        after a newer one (a counter stepping back reads as a reset to ``rate()``), and the work is done once."""
        with self._live_lock:
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

    def _owner_pieces(self, owner: str, family: Family, fmt: str) -> Iterable[bytes]:
        """What ``owner`` exposes of ``family`` in ``fmt``: its own chunk (text, nothing held at zero), else the
        tracker's lines; OpenMetrics in blocks, so the family is never held whole when only gzip is kept."""
        chunk = self._chunks[owner].get(family)
        if not chunk:
            return ()
        tracker = self.zero_first.tracker(owner, family) if zero_first.is_counting(family) else None
        if tracker is None:
            return (chunk,)
        return tracker.openmetrics_blocks() if fmt == OPENMETRICS else (tracker.exposed(),)

    def _render(self, fmt: str) -> None:
        """Render the dirty families of ``fmt`` (a family that fails is left out and counted) and join. Holds _lock."""
        cache = self._cache[fmt]
        for family in cache.dirty:
            try:
                cache.set(family, (p for owner in self._chunks for p in self._owner_pieces(owner, family, fmt)))
            except Exception as exc:  # never one family for the whole page
                cache.set(family, [])
                RENDER_FAILURES.record(family, exc)
        cache.dirty.clear()
        cache.join(self._order)
        self.renders += 1

    def chunks(self, *, compressed: bool = False, fmt: str = TEXT) -> tuple[bytes, ...]:
        """The exposition in ``fmt`` as parts the server writes in order, the per-scrape tail last; gzip when
        ``compressed``. The parts are the cached objects themselves: the plain text is never joined or copied, the
        gzip body is one cached join of per-family members.

        Serving counts as a scrape: zeros held by the zero-first rule are released on the next one.
        """
        self._refresh_live()
        self._refresh_failures()
        with self._lock:
            self._wanted.add(fmt)
            for family in self.zero_first.release_due():
                self._mark_dirty(family)
            cache = self._cache[fmt]
            if not compressed and not cache.keep_plain:
                cache.keep_plain = True  # from now on this format's plain parts are kept too
                cache.dirty |= set(self._order)
            if cache.dirty or cache.body_gz is None or (cache.keep_plain and cache.pieces is None):
                self._render(fmt)
            assert cache.body_gz is not None
            if compressed:
                parts: tuple[bytes, ...] = (cache.body_gz,)
            else:
                assert cache.pieces is not None
                parts = cache.pieces
            self.zero_first.mark_served()
        tail = self._tail(fmt)
        if tail and compressed:
            tail = gzip.compress(tail, compresslevel=1, mtime=0)
        return (*parts, tail) if tail else parts

    def _tail(self, fmt: str) -> bytes:
        """The per-scrape tail: process metrics (a nicety: the page is served without them if they fail), and
        OpenMetrics' ``# EOF``."""
        extra = self.extra_openmetrics if fmt == OPENMETRICS else self.extra
        tail = b""
        if extra is not None:
            try:
                tail = extra()
            except Exception as exc:
                log.error("could not collect the process metrics: %r", exc)
        return tail + b"# EOF\n" if fmt == OPENMETRICS else tail

    def body(self, *, compressed: bool = False, fmt: str = TEXT) -> bytes:
        """The exposition bytes in one piece (a copy: the server sends :meth:`chunks`)."""
        return b"".join(self.chunks(compressed=compressed, fmt=fmt))

    def _refresh_failures(self) -> None:
        """Publish the render-failure counter when it moved (a family must exist before it can fail)."""
        version = RENDER_FAILURES.version
        if version != self._failures_seen:
            self._failures_seen = version
            self.publish("exposition", {contract.EXPOSITION_RENDER_FAILURES: RENDER_FAILURES.chunk()})


class _FormatCache:
    """One exposition format's per-family headers, exposed parts and gzip bytes, and the bodies built from them.

    The plain parts are kept only when a scraper asks for this format uncompressed (``keep_plain``): text's parts
    are the owners' own chunks, so keeping them costs nothing, while OpenMetrics' are new bytes about twice the
    text's size (each counter series adds its ``_created`` line), and Prometheus asks for gzip. So OpenMetrics is
    compressed as it is rendered, block by block, and its plain form is kept from the first uncompressed request on.
    """

    def __init__(self, fmt: str, dirty: set[Family], *, keep_plain: bool) -> None:
        self.fmt = fmt
        self.dirty = dirty
        self.keep_plain = keep_plain
        self.headers: dict[Family, bytes] = {}
        self.parts: dict[Family, list[bytes]] = {}
        self.gz: dict[Family, bytes] = {}
        self.pieces: tuple[bytes, ...] | None = None  # the plain body: each family's header and its parts
        self.body_gz: bytes | None = None

    def invalidate(self) -> None:
        self.pieces = self.body_gz = None

    def set(self, family: Family, pieces: Iterable[bytes]) -> None:
        """Take a family's exposed pieces (none: the family is not shown): one gzip member, and the pieces when
        the plain form is kept."""
        header = openmetrics_header(family) if self.fmt == OPENMETRICS else family_header(family)
        compressor = zlib.compressobj(5, zlib.DEFLATED, 31)  # wbits 31: a gzip member (mtime 0)
        gz = [compressor.compress(header)]
        kept: list[bytes] = []
        shown = False
        for piece in pieces:
            if piece:
                shown = True
                gz.append(compressor.compress(piece))
                if self.keep_plain:
                    kept.append(piece)
        if not shown:
            self.headers.pop(family, None)
            self.parts.pop(family, None)
            self.gz.pop(family, None)
            return
        gz.append(compressor.flush())
        self.headers[family], self.gz[family] = header, b"".join(gz)
        if self.keep_plain:
            self.parts[family] = kept

    def join(self, order: list[Family]) -> None:
        if self.keep_plain:
            pieces: list[bytes] = []
            for family in order:
                header = self.headers.get(family)
                if header is not None:
                    pieces.append(header)
                    pieces.extend(self.parts[family])
            self.pieces = tuple(pieces)
        self.body_gz = b"".join(self.gz.get(f, b"") for f in order)
