"""Reading an Alertmanager webhook payload (JSON, version 4), for everything llmpulse receives from Alertmanager.

The relay (:mod:`exporter.relay`) and the notification inbox (:mod:`exporter.inbox`) both take Alertmanager's
webhook posts. They check a body here, once, so both refuse the same malformed bodies with the same reasons, and
each keeps only what it shows. Only the structure both read is checked (an object with an ``alerts`` list of
objects whose ``labels`` and ``annotations`` are objects); other fields are left as sent for the caller to read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_HTTP_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$", re.IGNORECASE)


def http_link(url: str) -> str:
    """``url`` if it is an http(s) URL, else empty: a link taken from an alert (runbook_url, generatorURL...) is
    written into a page or a chat message, and ``javascript:``, ``data:`` or ``file:`` there runs or opens
    something on the reader's side. Whoever can post to Alertmanager or edit a rule chooses these strings."""
    url = url.strip()
    return url if _HTTP_URL.match(url) else ""


class InvalidPayload(ValueError):
    """A request body that is not an Alertmanager webhook payload."""


@dataclass(frozen=True)
class Alert:
    """One alert of a payload: its labels and annotations as strings, and the alert object as sent."""

    labels: dict[str, str]
    annotations: dict[str, str]
    fields: dict[str, Any]


@dataclass(frozen=True)
class Payload:
    """A checked payload: its alerts, and the payload object as sent (status, receiver, commonLabels...)."""

    alerts: tuple[Alert, ...]
    fields: dict[str, Any]


def str_map(value: Any, what: str) -> dict[str, str]:
    """A label or annotation set as strings; absent or null is empty, anything but an object is refused."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPayload(f"{what} must be an object")
    return {str(k): str(v) for k, v in value.items()}


def read_payload(body: bytes) -> Payload:
    """Decode and check a webhook body; raises :class:`InvalidPayload` saying what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object (an Alertmanager webhook payload)")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidPayload("missing 'alerts' list: is this an Alertmanager webhook payload?")
    checked = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise InvalidPayload(f"alerts[{i}] must be an object")
        checked.append(
            Alert(
                labels=str_map(alert.get("labels"), f"alerts[{i}].labels"),
                annotations=str_map(alert.get("annotations"), f"alerts[{i}].annotations"),
                fields=alert,
            )
        )
    return Payload(alerts=tuple(checked), fields=data)
