"""Prometheus text and OpenMetrics exposition, rendered when data changes, never per scrape.

Each owner (a source's snapshot, the probes' live metrics, the event ingest...) publishes its sample lines per
family. The body is assembled family by family in contract order (one HELP/TYPE block per family, all its samples
together, as the text format requires). Plain bytes and gzip bytes are cached per family: the gzip body is the
concatenation of per-family gzip members (RFC 1952 allows several members; Prometheus' Go reader and urllib3 read
them), so a change in one family recompresses only that family. A scrape is then a join of cached bytes.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.utils import floatToGoString

from exporter import contract, zero_first
from exporter.contract import Family
from exporter.samples import LiveMetrics, MetricSet
from exporter.zero_first import ZeroFirst

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
    return f"# HELP {family.name} {escape_help(family.help)}\n# TYPE {family.name} {family.type}\n".encode()


def openmetrics_header(family: Family) -> bytes:
    """HELP and TYPE in OpenMetrics: a counter's family name has no ``_total``; HELP escapes quotes too."""
    name = family.name[: -len("_total")] if family.type == "counter" else family.name
    text = escape_help(family.help).replace('"', '\\"')
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
    """Render a poll's samples with ``base`` labels (provider, source, static labels) prepended."""
    base_pairs = list(base.items())
    out: dict[Family, bytes] = {}
    for family in ms.families():
        lines = []
        for key, value in ms.series(family).items():
            lines.append(f"{family.name}{format_labels(base_pairs + list(key))} {floatToGoString(value)}\n")
        out[family] = "".join(lines).encode()
    return out


def render_live(live: LiveMetrics) -> dict[Family, bytes]:
    """Render live counters, gauges and histograms (labels are stored complete)."""
    _, values, hists = live.snapshot()
    out: dict[Family, bytes] = {}
    for family, series in values.items():
        out[family] = "".join(f"{family.name}{format_labels(key)} {floatToGoString(v)}\n" for key, v in series).encode()
    for family, hseries in hists.items():
        lines: list[str] = []
        for key, hist in hseries:
            cumulative = 0
            for bound, count in zip(hist.bounds, hist.counts, strict=True):
                cumulative += count
                lines.append(
                    f"{family.name}_bucket{format_labels((*key, ('le', floatToGoString(bound))))} {cumulative}\n"
                )
            lines.append(f"{family.name}_bucket{format_labels((*key, ('le', '+Inf')))} {hist.count}\n")
            lines.append(f"{family.name}_sum{format_labels(key)} {floatToGoString(hist.total)}\n")
            lines.append(f"{family.name}_count{format_labels(key)} {hist.count}\n")
        out[family] = "".join(lines).encode()
    return out


def sample_lines(chunks: Mapping[Family, bytes]) -> int:
    return sum(chunk.count(b"\n") for chunk in chunks.values())


class Exposition:
    """The cached /metrics bodies, assembled from owners' per-family chunks.

    Two formats are kept: the Prometheus text format 0.0.4 and OpenMetrics 1.0 (which adds ``_created`` samples
    and ``# EOF``). Each is rendered lazily, once per change, and only if some scraper asks for it. Counter and
    histogram series go through :class:`exporter.zero_first.ZeroFirst`: a new one is exported at 0 until a scrape
    has read the zero (``zero_first_hold`` None turns that off: every series is exported at its value at once).
    """

    def __init__(self, families: Iterable[Family] | None = None, *, zero_first_hold: float | None = None) -> None:
        self._lock = threading.Lock()
        self._order: list[Family] = list(families if families is not None else contract.FAMILIES.values())
        self._chunks: dict[str, dict[Family, bytes]] = {}
        self._live: dict[str, tuple[LiveMetrics, int]] = {}
        self._zero_first_on = zero_first_hold is not None
        self.zero_first = ZeroFirst(zero_first_hold or 0.0)
        self._cache = {fmt: _FormatCache(fmt, set(self._order)) for fmt in FORMATS}
        self.renders = 0
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

    def publish(
        self, owner: str, chunks: Mapping[Family, bytes], *, adopt: Mapping[Family, float | None] | None = None
    ) -> None:
        """Replace everything ``owner`` contributes. Families it no longer has disappear.

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

    def attach_live(self, owner: str, live: LiveMetrics) -> None:
        """Render ``live`` again whenever its version moved (checked at scrape time; cheap when unchanged)."""
        with self._lock:
            self._live[owner] = (live, -1)

    def _refresh_live(self) -> None:
        for owner, (live, seen) in list(self._live.items()):
            if live.version != seen:
                version = live.version
                self.publish(owner, render_live(live))
                with self._lock:
                    self._live[owner] = (live, version)

    def _owner_bytes(self, owner: str, family: Family, fmt: str) -> bytes:
        chunk = self._chunks[owner].get(family)
        if not chunk:
            return b""
        tracker = self.zero_first.tracker(owner, family) if zero_first.is_counting(family) else None
        if tracker is None:
            return chunk
        return tracker.exposed_openmetrics() if fmt == OPENMETRICS else tracker.exposed()

    def body(self, *, compressed: bool = False, fmt: str = TEXT) -> bytes:
        """The exposition bytes in ``fmt`` (gzip when ``compressed``), rebuilt only if something changed.

        Serving a body counts as a scrape: zeros held by the zero-first rule are released on the next one.
        """
        self._refresh_live()
        cache = self._cache[fmt]
        with self._lock:
            for family in self.zero_first.release_due():
                self._mark_dirty(family)
            if cache.dirty or cache.body is None:
                for family in cache.dirty:
                    parts = [self._owner_bytes(owner, family, fmt) for owner in self._chunks]
                    cache.set(family, [p for p in parts if p])
                cache.dirty.clear()
                cache.join(self._order)
                self.renders += 1
            body = cache.body_gz if compressed else cache.body
            self.zero_first.mark_served()
        assert body is not None
        tail = b""
        if fmt == OPENMETRICS:
            if self.extra_openmetrics is not None:
                tail = self.extra_openmetrics()
            tail += b"# EOF\n"
        elif self.extra is not None:
            tail = self.extra()
        if tail:
            body += gzip.compress(tail, compresslevel=1, mtime=0) if compressed else tail
        return body


class _FormatCache:
    """Per-family plain and gzip bytes of one exposition format, and the bodies joined from them."""

    def __init__(self, fmt: str, dirty: set[Family]) -> None:
        self.fmt = fmt
        self.dirty = dirty
        self.plain: dict[Family, bytes] = {}
        self.gz: dict[Family, bytes] = {}
        self.body: bytes | None = None
        self.body_gz: bytes | None = None

    def set(self, family: Family, parts: list[bytes]) -> None:
        if parts:
            header = openmetrics_header(family) if self.fmt == OPENMETRICS else family_header(family)
            plain = header + b"".join(parts)
            self.plain[family] = plain
            self.gz[family] = gzip.compress(plain, compresslevel=5, mtime=0)
        else:
            self.plain.pop(family, None)
            self.gz.pop(family, None)

    def join(self, order: list[Family]) -> None:
        self.body = b"".join(self.plain.get(f, b"") for f in order)
        self.body_gz = b"".join(self.gz.get(f, b"") for f in order)
