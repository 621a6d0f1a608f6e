"""The exporter's HTTP endpoints: /metrics (cached bytes), /-/healthy, /-/ready and the landing page."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jinja2

from exporter import __version__
from exporter.durations import format_duration
from exporter.exposition import CONTENT_TYPE
from exporter.httpserver import Request, Response, Router

if TYPE_CHECKING:
    from exporter.app import App

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("exporter", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


def _ago(ts: float) -> str:
    if not ts:
        return "never"
    when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} ({format_duration(max(0.0, time.time() - ts)) if time.time() - ts >= 1 else 'just now'} ago)"


def add_routes(router: Router, app: App) -> None:
    def metrics(req: Request) -> Response:
        gz = "gzip" in req.header("Accept-Encoding").lower()
        headers = {"Content-Encoding": "gzip"} if gz else {}
        return Response(200, app.exposition.body(compressed=gz), headers, CONTENT_TYPE)

    def healthy(req: Request) -> Response:
        problems = app.health_problems()
        if problems:
            return Response.text("Unhealthy: " + "; ".join(problems) + ".\n", 503)
        return Response.text("Healthy.\n")

    def ready(req: Request) -> Response:
        problems = app.health_problems()
        if problems:
            return Response.text("Not ready: " + "; ".join(problems) + ".\n", 503)
        waiting = app.waiting_sources()
        if waiting:
            return Response.text(f"Not ready: waiting for the first poll of {', '.join(waiting)}.\n", 503)
        return Response.text("Ready.\n")

    def index(req: Request) -> Response:
        sources: list[dict[str, Any]] = []
        for poller in app.pollers:
            st = poller.status()
            sources.append(
                {
                    **st.__dict__,
                    "last_success_text": _ago(st.last_success),
                    "interval_text": format_duration(st.interval),
                }
            )
        probes = app.probes.statuses() if app.probes is not None else []
        html = _ENV.get_template("index.html").render(
            version=__version__,
            started=datetime.fromtimestamp(app.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            config_path=app.config.path,
            sources=sources,
            probes=probes,
            events=app.config.events,
        )
        return Response(200, html.encode(), {}, "text/html; charset=utf-8")

    router.add("GET", "/metrics", metrics)
    router.add("GET", "/-/healthy", healthy)
    router.add("GET", "/-/ready", ready)
    router.add("GET", "/", index)
