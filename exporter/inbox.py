"""The notification inbox: where a person sees Alertmanager's notifications arrive, out of the box.

Alertmanager's default receiver in the generated bundle is a webhook to this inbox (``POST /hook``); the page at
``/`` lists what arrived, newest first: firing or resolved, alert name, severity, summary, description, runbook
link and labels, exactly as Alertmanager sent them. ``GET /api/notifications`` returns the same as JSON.

Why a small page and not a mail catcher: it needs nothing beyond llmpulse itself, so it works the same in docker
compose and in ``llmpulse stack up`` on a machine without Docker, and it shows the webhook payload every other
receiver (Slack, WeCom, the Feishu/DingTalk relay) is rendered from. Notifications are kept in memory (bounded) and
logged one line each, so ``docker compose logs inbox`` shows them too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import jinja2

from exporter import __version__
from exporter.httpserver import Request, Response, Router, Server

log = logging.getLogger(__name__)

DEFAULT_KEEP = 500
MAX_BODY = 4 * 1024 * 1024

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("exporter", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


class InvalidNotification(ValueError):
    """A body that is not an Alertmanager webhook payload."""


def parse_notification(body: bytes) -> dict[str, Any]:
    """Validate an Alertmanager webhook payload (version 4) and keep the fields a person needs."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidNotification("body must be a JSON object (an Alertmanager webhook payload)")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidNotification("missing 'alerts' list: is this an Alertmanager webhook payload?")
    kept = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels", {}), dict):
            raise InvalidNotification(f"alerts[{i}] must be an object with a 'labels' object")
        kept.append({
            "status": str(alert.get("status", "")),
            "labels": {str(k): str(v) for k, v in (alert.get("labels") or {}).items()},
            "annotations": {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()},
            "startsAt": str(alert.get("startsAt", "")),
            "endsAt": str(alert.get("endsAt", "")),
            "generatorURL": str(alert.get("generatorURL", "")),
            "fingerprint": str(alert.get("fingerprint", "")),
        })
    return {
        "received_at": time.time(),
        "status": str(data.get("status", "")),
        "receiver": str(data.get("receiver", "")),
        "groupKey": str(data.get("groupKey", "")),
        "groupLabels": {str(k): str(v) for k, v in (data.get("groupLabels") or {}).items()},
        "commonLabels": {str(k): str(v) for k, v in (data.get("commonLabels") or {}).items()},
        "commonAnnotations": {str(k): str(v) for k, v in (data.get("commonAnnotations") or {}).items()},
        "externalURL": str(data.get("externalURL", "")),
        "truncatedAlerts": int(data.get("truncatedAlerts") or 0),
        "alerts": kept,
    }


class Inbox:
    """Keeps the last ``keep`` notifications; thread-safe."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.received = 0
        self.router = Router()
        self.router.max_body = MAX_BODY
        self.router.add("POST", "/hook", self._hook)
        self.router.add("GET", "/api/notifications", self._api)
        self.router.add("DELETE", "/api/notifications", self._clear)
        self.router.add("GET", "/-/healthy", lambda req: Response.text("Healthy.\n"))
        self.router.add("GET", "/", self._page)

    def add(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(notification)
            self.received += 1
        names = sorted({a["labels"].get("alertname", "?") for a in notification["alerts"]})
        log.info("notification status=%s receiver=%s alerts=%d alertname=%s", notification["status"],
                 notification["receiver"], len(notification["alerts"]), ",".join(names))

    def items(self) -> list[dict[str, Any]]:
        """Notifications, oldest first."""
        with self._lock:
            return list(self._items)

    def _hook(self, req: Request) -> Response:
        try:
            self.add(parse_notification(req.body))
        except InvalidNotification as exc:
            log.warning("refused a post to /hook: %s", exc)
            return Response.json({"error": str(exc)}, 400)
        return Response.json({"ok": True})

    def _api(self, req: Request) -> Response:
        return Response.json({"received": self.received, "notifications": self.items()})

    def _clear(self, req: Request) -> Response:
        with self._lock:
            self._items.clear()
        return Response.json({"ok": True})

    def _page(self, req: Request) -> Response:
        items = []
        for n in reversed(self.items()):
            when = datetime.fromtimestamp(n["received_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            items.append({**n, "received_text": when})
        html = _ENV.get_template("inbox.html").render(version=__version__, items=items, received=self.received)
        return Response(200, html.encode(), {"Cache-Control": "no-store"}, "text/html; charset=utf-8")

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        return Server(self.router, host, port).start()
