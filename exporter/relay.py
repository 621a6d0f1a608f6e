"""Relay Alertmanager webhook notifications to Feishu, DingTalk and WeCom group bots.

Alertmanager speaks one generic webhook format (JSON payload version 4); these chat bots each want their own
message shape, and Feishu and DingTalk sign requests with a shared secret. The exporter serves
``POST /relay/{feishu|dingtalk|wecom}/{bot name}``: Alertmanager posts there (see the ``relay`` receivers of the
bundle), the relay renders the group as a Feishu interactive card, a DingTalk markdown message or a WeCom markdown
message, signs it and posts it to the bot configured under ``relay.bots``.

Delivery semantics follow Alertmanager's webhook retry rule: the relay answers 2xx only when the bot accepted the
message, 5xx when the bot was unreachable, failing or throttling (Alertmanager retries), and 4xx for requests that
cannot succeed by retrying (unknown bot, bad payload, bad token; a bot rejecting the signature is answered 502 too,
so a fixed secret starts working without losing notifications). Every outcome is counted in
``llmpulse_relay_notifications_total{target,outcome}``. The bot URL (it carries the access token) and the signing
secret never appear in logs, metrics or answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from exporter import contract
from exporter.alertpayload import InvalidPayload, http_link, read_payload
from exporter.http import USER_AGENT, classify_exception
from exporter.httpserver import Request, Response, Router
from exporter.redact import redact
from exporter.samples import LiveMetrics

if TYPE_CHECKING:
    from exporter.config import Config, RelayBotConfig

log = logging.getLogger(__name__)

TARGETS = ("feishu", "dingtalk", "wecom")
# Alertmanager's payloads are a few KB per alert; anything far larger is not one of its notifications.
MAX_BODY_BYTES = 4 * 1024 * 1024
# WeCom rejects markdown content over 4096 bytes; DingTalk and Feishu allow more, but a chat message should be short.
MAX_TEXT_BYTES = {"feishu": 20000, "dingtalk": 18000, "wecom": 4000}
# Bot answers that mean "slow down" rather than "wrong request": retried by Alertmanager.
THROTTLED_CODES = {"feishu": {9499, 11232, 11233}, "dingtalk": {130101, 130102}, "wecom": {45009, 45033}}


# --- reading the payload --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertView:
    status: str
    name: str
    severity: str
    summary: str
    description: str
    where: str
    since: str
    runbook_url: str
    dashboard_url: str


@dataclass(frozen=True)
class Notification:
    status: str
    title: str
    severity: str
    alerts: tuple[AlertView, ...]
    omitted: int
    firing: int
    resolved: int
    external_url: str


_HIDDEN_LABELS = {"alertname", "severity", "job", "instance"}


def _since(text: str) -> str:
    # 2026-01-15T10:00:00.123+08:00 -> 2026-01-15 10:00:00 (+08:00); keep it readable without parsing zones.
    if len(text) >= 19 and text[10] == "T":
        zone = text[19:].lstrip("0123456789.")
        return f"{text[:10]} {text[11:19]} {'UTC' if zone in ('Z', '') else zone}"
    return text


def parse_payload(body: bytes, max_alerts: int) -> Notification:
    """Read an Alertmanager webhook payload (version 4) and keep what a chat message shows."""
    payload = read_payload(body)
    common = payload.common_labels
    views = []
    for alert in payload.alerts:
        labels, notes = alert.labels, alert.annotations
        views.append(
            AlertView(
                status=alert.status or "firing",
                name=labels.get("alertname", "alert"),
                severity=labels.get("severity", ""),
                summary=notes.get("summary", ""),
                description=notes.get("description", ""),
                where=" ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _HIDDEN_LABELS),
                since=_since(alert.starts_at),
                runbook_url=http_link(notes.get("runbook_url", "")),
                dashboard_url=http_link(notes.get("dashboard_url", "")),
            )
        )
    views.sort(key=lambda v: v.status != "firing")  # firing first
    firing = sum(v.status == "firing" for v in views)
    status = payload.status or ("firing" if firing else "resolved")
    name = common.get("alertname") or (views[0].name if views else "alert")
    title = f"[{status.upper()}{f':{firing}' if status == 'firing' else ''}] {name}"
    if common.get("provider"):
        title += f" · {common['provider']}"
    if common.get("severity"):
        title += f" ({common['severity']})"
    return Notification(
        status=status,
        title=title,
        severity=common.get("severity", ""),
        alerts=tuple(views[:max_alerts]),
        omitted=max(0, len(views) - max_alerts),
        firing=firing,
        resolved=len(views) - firing,
        external_url=http_link(payload.external_url),
    )


# --- rendering --------------------------------------------------------------------------------------------------
def _alert_markdown(a: AlertView, quote: bool) -> str:
    head = "FIRING" if a.status == "firing" else "RESOLVED"
    links = " · ".join(
        f"[{text}]({url})" for text, url in (("Runbook", a.runbook_url), ("Dashboard", a.dashboard_url)) if url
    )
    lines = [
        f"**{head}** {a.summary or a.name}",
        a.description,
        f"where: {a.where}" if a.where else "",
        f"since {a.since}" + (f" · {links}" if links else ""),
    ]
    prefix = "> " if quote else ""
    return "\n".join(prefix + line for line in lines if line)


def _markdown(n: Notification, quote: bool) -> str:
    parts = [_alert_markdown(a, quote) for a in n.alerts]
    if n.omitted:
        parts.append(f"... and {n.omitted} more (see Alertmanager)")
    if n.external_url:
        parts.append(f"[Alertmanager]({n.external_url})")
    return "\n\n".join(parts)


def _fit(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 20].decode("utf-8", errors="ignore") + "\n\n... (truncated)"


def _mention(n: Notification, bot: RelayBotConfig) -> bool:
    return bot.mention_all and n.status == "firing" and n.severity == "critical"


def feishu_message(n: Notification, bot: RelayBotConfig) -> dict[str, Any]:
    """A Feishu interactive card: coloured header, one block per alert, buttons to the runbook and dashboard."""
    color = (
        "green"
        if n.status == "resolved"
        else "red"
        if n.severity == "critical"
        else "orange"
        if n.severity == "warning"
        else "blue"
    )
    elements: list[dict[str, Any]] = []
    if _mention(n, bot):
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": "<at id=all></at>"}})
    for i, a in enumerate(n.alerts):
        if i:
            elements.append({"tag": "hr"})
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": _fit(_alert_markdown(a, False), 4000)}})
        buttons = [
            {"tag": "button", "type": "default", "text": {"tag": "plain_text", "content": text}, "url": url}
            for text, url in (("Runbook", a.runbook_url), ("Dashboard", a.dashboard_url))
            if url
        ]
        if buttons:
            elements.append({"tag": "action", "actions": buttons})
    if n.omitted:
        elements.append(
            {
                "tag": "note",
                "elements": [
                    {
                        "tag": "plain_text",
                        "content": f"... and {n.omitted} more alerts in this group (see Alertmanager)",
                    }
                ],
            }
        )
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": color, "title": {"tag": "plain_text", "content": n.title}},
            "elements": elements,
        },
    }


def dingtalk_message(n: Notification, bot: RelayBotConfig) -> dict[str, Any]:
    text = f"### {n.title}\n\n" + _markdown(n, True)
    return {
        "msgtype": "markdown",
        "markdown": {"title": n.title, "text": _fit(text, MAX_TEXT_BYTES["dingtalk"])},
        "at": {"isAtAll": _mention(n, bot)},
    }


def wecom_message(n: Notification, bot: RelayBotConfig) -> dict[str, Any]:
    color = "info" if n.status == "resolved" else "warning"
    text = f'## <font color="{color}">{n.title}</font>\n' + _markdown(n, True)
    if _mention(n, bot):
        text += "\n<@all>"
    return {"msgtype": "markdown", "markdown": {"content": _fit(text, MAX_TEXT_BYTES["wecom"])}}


RENDERERS: dict[str, Callable[[Notification, RelayBotConfig], dict[str, Any]]] = {
    "feishu": feishu_message,
    "dingtalk": dingtalk_message,
    "wecom": wecom_message,
}


# --- signing ------------------------------------------------------------------------------------------------------
def feishu_sign(timestamp: str, secret: str) -> str:
    """Feishu custom bot: base64(HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(timestamp_ms: str, secret: str) -> str:
    """DingTalk custom robot: base64(HMAC-SHA256 keyed with the secret over "timestamp\\nsecret")."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_request(
    target: str, bot: RelayBotConfig, message: dict[str, Any], now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body to post, with the platform's signature when the bot has a secret."""
    url, body = bot.webhook_url, dict(message)
    if bot.secret:
        now = time.time() if now is None else now
        if target == "feishu":
            ts = str(int(now))
            body = {"timestamp": ts, "sign": feishu_sign(ts, bot.secret), **body}
        elif target == "dingtalk":
            ts = str(int(now * 1000))
            query = urllib.parse.urlencode({"timestamp": ts, "sign": dingtalk_sign(ts, bot.secret)})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
    return url, body


def bot_error(target: str, data: Any) -> tuple[int | None, str]:
    """(code, message) of a bot's answer; code 0 (or None for an unknown shape that is not an error) means OK."""
    if not isinstance(data, dict):
        return -1, "answer is not a JSON object"
    if target == "feishu":
        code = data.get("code", data.get("StatusCode", 0))
        msg = data.get("msg", data.get("StatusMessage", ""))
    else:
        code, msg = data.get("errcode", 0), data.get("errmsg", "")
    if isinstance(code, bool) or not isinstance(code, int | str):
        return -1, f"unexpected code {code!r}"
    try:
        return int(code), str(msg)
    except ValueError:
        return -1, f"unexpected code {code!r}"


# --- the endpoint ---------------------------------------------------------------------------------------------
class Relay:
    """``POST /relay/{target}/{name}``. Registers nothing when the config has no ``relay:`` section."""

    def __init__(self, config: Config, live: LiveMetrics) -> None:
        self.config = config.relay
        self.live = live
        self.bots: dict[tuple[str, str], RelayBotConfig] = {}
        if self.config is None:
            return
        self.bots = {(b.type, b.name): b for b in self.config.bots}
        for target in sorted({b.type for b in self.config.bots}):
            for outcome in ("success", "rejected", "error"):
                live.touch(contract.RELAY_NOTIFICATIONS, {"target": target, "outcome": outcome})

    def register(self, router: Router) -> None:
        if self.config is not None:
            router.add(
                "POST", "/relay/{target}/{name}", self.handle, max_body=MAX_BODY_BYTES, on_too_large=self._too_large
            )

    def _too_large(self, req: Request) -> Response:
        """Answer (and count) a body over the limit, which the server refuses to read."""
        parts = req.path.strip("/").split("/")
        bot = self.bots.get((parts[1], parts[2])) if len(parts) == 3 else None
        if bot is None:
            return Response.json({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
        return self._answer(bot.type, "invalid_payload", 413, f"body larger than {MAX_BODY_BYTES} bytes", bot)

    def _count(self, target: str, outcome: str) -> None:
        self.live.inc(contract.RELAY_NOTIFICATIONS, {"target": target, "outcome": outcome})

    def _secrets(self, bot: RelayBotConfig | None = None) -> list[str]:
        out = [self.config.token] if self.config and self.config.token else []
        if bot is not None:
            parts = urllib.parse.urlsplit(bot.webhook_url)
            out += [bot.webhook_url, parts.path, parts.query, bot.secret]
            out += [v for _, v in urllib.parse.parse_qsl(parts.query)]
        return [s for s in out if s and len(s) >= 4]

    def _answer(
        self, target: str, outcome: str, status: int, message: str, bot: RelayBotConfig | None = None
    ) -> Response:
        self._count(target, outcome)
        safe = redact(message, self._secrets(bot))
        level = logging.INFO if outcome == "success" else logging.WARNING
        log.log(level, "relay %s/%s: %s", target, bot.name if bot else "?", safe)
        return Response.json({"status": outcome, "message": safe}, status)

    def handle(self, req: Request) -> Response:
        assert self.config is not None
        target, name = req.params.get("target", ""), req.params.get("name", "")
        if target not in TARGETS:
            return Response.json({"error": f"unknown relay target; expected one of: {', '.join(TARGETS)}"}, 404)
        bot = self.bots.get((target, name))
        if bot is None:
            known = sorted(n for t, n in self.bots if t == target)
            self._count(target, "unknown_bot")
            return Response.json(
                {
                    "error": f"no {target} bot named {name[:64]!r} in relay.bots (configured: "
                    f"{', '.join(known) or 'none'})"
                },
                404,
            )
        if self.config.token:
            given = req.header("Authorization").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self.config.token.encode()):
                return self._answer(target, "unauthorized", 401, "missing or wrong bearer token", bot)
        try:
            notification = parse_payload(req.body, self.config.max_alerts)
        except InvalidPayload as exc:
            return self._answer(target, "invalid_payload", 400, f"invalid payload: {exc}", bot)
        url, body = signed_request(target, bot, RENDERERS[target](notification, bot))
        return self._send(target, bot, url, body, notification)

    def _send(self, target: str, bot: RelayBotConfig, url: str, body: dict[str, Any], n: Notification) -> Response:
        assert self.config is not None
        what = f"{n.title} ({n.firing} firing, {n.resolved} resolved)"
        try:
            resp = requests.post(
                url, json=body, timeout=self.config.timeout, headers={"User-Agent": USER_AGENT}, allow_redirects=False
            )
        except requests.RequestException as exc:
            kind = classify_exception(exc)
            return self._answer(target, "error", 502, f"{what}: bot unreachable ({kind})", bot)
        if resp.status_code >= 500 or resp.status_code == 429:
            return self._answer(target, "error", 502, f"{what}: bot answered HTTP {resp.status_code}", bot)
        try:
            data = resp.json()
        except ValueError:
            data = None
        code, msg = bot_error(target, data)
        if resp.status_code >= 400 or code:
            detail = f"HTTP {resp.status_code}" + (f", code {code}: {msg[:200]}" if code else "")
            throttled = code in THROTTLED_CODES[target]
            outcome = "error" if throttled else "rejected"
            status = 503 if throttled else 502
            return self._answer(target, outcome, status, f"{what}: bot refused the message ({detail})", bot)
        return self._answer(target, "success", 200, f"{what}: delivered", bot)
