"""Reading an Alertmanager webhook payload (JSON, version 4), for everything llmpulse receives from Alertmanager.

The relay (:mod:`exporter.relay`) and the notification inbox (:mod:`exporter.inbox`) both take Alertmanager's
webhook posts. They check a body here, once, with the pydantic models below, so both refuse the same malformed
bodies with the same reasons (naming where in the body the problem is), and each keeps only what it shows. Fields
Alertmanager may add in later versions are allowed and ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, ValidationError

_HTTP_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$", re.IGNORECASE)


def http_link(url: str) -> str:
    """``url`` if it is an http(s) URL, else empty: a link taken from an alert (runbook_url, generatorURL...) is
    written into a page or a chat message, and ``javascript:``, ``data:`` or ``file:`` there runs or opens
    something on the reader's side. Whoever can post to Alertmanager or edit a rule chooses these strings."""
    url = url.strip()
    return url if _HTTP_URL.match(url) else ""


class InvalidPayload(ValueError):
    """A request body that is not an Alertmanager webhook payload."""


def _text(value: Any) -> Any:
    """Absent or null is empty; a number or a boolean is written as text (labels are strings in Alertmanager)."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int | float | bool) else value


def _labels(value: Any) -> Any:
    return {} if value is None else value


Text = Annotated[str, BeforeValidator(_text)]
#: A label or annotation set: absent or null is empty; values are text.
LabelSet = Annotated[dict[str, Text], BeforeValidator(_labels)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WebhookAlert(_Lenient):
    """One alert of a notification."""

    status: Text = "firing"
    labels: LabelSet = Field(default_factory=dict)
    annotations: LabelSet = Field(default_factory=dict)
    starts_at: Text = Field(default="", alias="startsAt")
    ends_at: Text = Field(default="", alias="endsAt")
    generator_url: Text = Field(default="", alias="generatorURL")
    fingerprint: Text = ""


class WebhookPayload(_Lenient):
    """An Alertmanager webhook notification (version 4)."""

    alerts: list[WebhookAlert]
    status: Text = ""
    receiver: Text = ""
    group_key: Text = Field(default="", alias="groupKey")
    group_labels: LabelSet = Field(default_factory=dict, alias="groupLabels")
    common_labels: LabelSet = Field(default_factory=dict, alias="commonLabels")
    common_annotations: LabelSet = Field(default_factory=dict, alias="commonAnnotations")
    external_url: Text = Field(default="", alias="externalURL")
    truncated_alerts: Annotated[NonNegativeInt, BeforeValidator(lambda v: 0 if v is None else v)] = Field(
        default=0, alias="truncatedAlerts", strict=True
    )


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(err: Mapping[str, Any]) -> str:
    """One error of the payload model as a sentence that names where in the body it is."""
    loc = tuple(err["loc"])
    where = _where(loc)
    kind = err["type"]
    if loc == ("alerts",) and kind in ("missing", "list_type"):
        return "missing 'alerts' list: is this an Alertmanager webhook payload?"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{where} must be an object"
    if where.endswith("truncatedAlerts"):
        return f"{where} must be a non-negative integer, got {err.get('input')!r}"[:200]
    if kind == "string_type":
        return f"{where} must be a string"
    return f"{where}: {err['msg']}"


def read_payload(body: bytes) -> WebhookPayload:
    """Decode and check a webhook body; raises :class:`InvalidPayload` saying what is wrong and where."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object (an Alertmanager webhook payload)")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(_reason(exc.errors(include_url=False)[0])) from None
