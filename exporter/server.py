"""The exporter's HTTP endpoints: /metrics (cached bytes), /-/healthy, /-/ready and the landing page.

The routes depend on narrow callables (:class:`Endpoints`), not on the application object that wires them, so the
dependency points one way: :mod:`exporter.app` builds the parts and hands this module what each page reads.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

from exporter import __version__
from exporter.durations import format_duration
from exporter.exposition import CONTENT_TYPES, negotiate
from exporter.httpserver import Request, Response, Router
from exporter.poller import SourceStatus

#: Longest error text a landing-page cell shows; longer ones are cut at a word boundary (the log has the rest).
ERROR_TEXT_CHARS = 160


@dataclass(frozen=True)
class Endpoints:
    """What the HTTP endpoints read, each as a callable: the server needs nothing else from the application."""

    #: the exposition in a format (exposition.TEXT or OPENMETRICS) as parts sent in order (cached body, per-scrape
    #: tail), gzip-compressed when the first argument is True
    metrics_body: Callable[[bool, str], tuple[bytes, ...]]
    #: True once every source has finished its first poll
    ready: Callable[[], bool]
    #: a snapshot of every source's status, and of every probe's (as the probe scheduler describes them)
    sources: Callable[[], Sequence[SourceStatus]]
    probes: Callable[[], Sequence[Mapping[str, Any]]]
    started_at: float
    config_path: str | None
    #: name of the events source when ``/events`` is on
    events_source: str | None
    #: ``serve --demo``: the in-process simulator's URL, so the page can show the "break it" commands
    simulator_url: str | None = None
    #: why the process should be restarted (a loop that stopped, /metrics that cannot render); empty when healthy
    health_problems: Callable[[], Sequence[str]] = tuple
    #: sources that have not finished their first poll
    waiting_sources: Callable[[], Sequence[str]] = tuple


def short_error(text: str) -> str:
    """An error as a landing-page cell shows it: one line, at most :data:`ERROR_TEXT_CHARS`, whole words only."""
    return textwrap.shorten(text, width=ERROR_TEXT_CHARS, placeholder=" …") if text else ""


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("exporter", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


def _ago(ts: float) -> str:
    if not ts:
        return "never"
    when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} ({format_duration(max(0.0, time.time() - ts)) if time.time() - ts >= 1 else 'just now'} ago)"


def add_routes(router: Router, endpoints: Endpoints) -> None:
    def metrics(req: Request) -> Response:
        gz = "gzip" in req.header("Accept-Encoding").lower()
        fmt = negotiate(req.header("Accept"))
        headers = {"Content-Encoding": "gzip"} if gz else {}
        headers["Vary"] = "Accept, Accept-Encoding"
        return Response(200, endpoints.metrics_body(gz, fmt), headers, CONTENT_TYPES[fmt])

    def healthy(req: Request) -> Response:
        problems = endpoints.health_problems()
        if problems:
            return Response.text("Unhealthy: " + "; ".join(problems) + ".\n", 503)
        return Response.text("Healthy.\n")

    def ready(req: Request) -> Response:
        problems = endpoints.health_problems()
        if problems:
            return Response.text("Not ready: " + "; ".join(problems) + ".\n", 503)
        waiting = endpoints.waiting_sources()
        if waiting:
            return Response.text(f"Not ready: waiting for the first poll of {', '.join(waiting)}.\n", 503)
        return Response.text("Ready.\n")

    def index(req: Request) -> Response:
        sources: list[dict[str, Any]] = [
            {
                **st.__dict__,
                "last_error": short_error(st.last_error),
                "last_success_text": _ago(st.last_success),
                "interval_text": format_duration(st.interval),
            }
            for st in endpoints.sources()
        ]
        probes = [{**p, "last_error": short_error(str(p.get("last_error") or ""))} for p in endpoints.probes()]
        html = _ENV.get_template("index.html").render(
            version=__version__,
            started=datetime.fromtimestamp(endpoints.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            config_path=endpoints.config_path,
            sources=sources,
            probes=probes,
            events_source=endpoints.events_source,
            simulator_url=endpoints.simulator_url,
        )
        return Response(200, html.encode(), {}, "text/html; charset=utf-8")

    router.add("GET", "/metrics", metrics)
    router.add("GET", "/-/healthy", healthy)
    router.add("GET", "/-/ready", ready)
    router.add("GET", "/", index)
