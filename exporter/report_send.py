"""Deliver the daily report: rendered for each channel, sent now (``llmpulse report --send``) or every day at the
configured time by the exporter.

Channels: the relay's Feishu / DingTalk / WeCom group bots (a markdown card, signed like the relay's alerts), generic
webhooks (the report as JSON) and e-mail (HTML with a plain-text part). Each receiver is tried once; a failure is
logged and reported with the receiver's name, never its URL or secret.

One report a day with several replicas: the schedule runs in every exporter whose config has ``report.enabled:
true``, so give the others ``enabled: false`` (or run ``llmpulse report --send`` from one cron job instead).
"""

from __future__ import annotations

import html
import logging
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import requests

from exporter.config import Config, RelayBotConfig, ReportConfig
from exporter.http import USER_AGENT, classify_exception
from exporter.redact import redact
from exporter.relay import MAX_TEXT_BYTES, bot_error, signed_request
from exporter.report import Report, build_report, prometheus_query, render_markdown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    receiver: str  # e.g. "feishu/ops", "webhook/finance", "email"
    ok: bool
    detail: str


def _fit(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 20].decode("utf-8", errors="ignore") + "\n... (truncated)"


def title(report: Report) -> str:
    return f"LLM daily report {report.day} ({report.timezone})"


def _body_markdown(report: Report) -> str:
    """The markdown without its first line (the chat message carries the title itself)."""
    return render_markdown(report).split("\n", 2)[2]


def bot_message(target: str, report: Report) -> dict[str, Any]:
    """The report as a Feishu card, a DingTalk markdown message or a WeCom markdown message."""
    text = _body_markdown(report)
    if target == "feishu":
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"template": "blue", "title": {"tag": "plain_text", "content": title(report)}},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": _fit(text, 18000)}}],
            },
        }
    if target == "dingtalk":
        return {
            "msgtype": "markdown",
            "markdown": {
                "title": title(report),
                "text": _fit(f"### {title(report)}\n\n{text}", MAX_TEXT_BYTES["dingtalk"]),
            },
        }
    return {
        "msgtype": "markdown",
        "markdown": {"content": _fit(f"## {title(report)}\n{text}", MAX_TEXT_BYTES["wecom"])},
    }


def email_html(report: Report) -> str:
    """A small HTML page: the figures table and the rankings as lists (escaped)."""
    rows = []
    lines = render_markdown(report).splitlines()
    parts = [f"<h2>{html.escape(title(report))}</h2>"]
    in_list = False
    for line in lines[1:]:
        if line.startswith("| ") and not line.startswith("| Figure") and not line.startswith("|---"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line.startswith("**"):
            if rows:
                parts.append(
                    "<table border='1' cellpadding='4'><tr><th>Figure</th><th>Day</th><th>Change vs day before</th>"
                    "</tr>" + "".join(rows) + "</table>"
                )
                rows = []
            if in_list:
                parts.append("</ul>")
            parts.append(f"<h3>{html.escape(line.strip('*'))}</h3><ul>")
            in_list = True
        elif line.startswith("- "):
            parts.append(f"<li>{html.escape(line[2:])}</li>")
    if in_list:
        parts.append("</ul>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def _post(url: str, body: dict[str, Any], timeout: float) -> requests.Response:
    return requests.post(url, json=body, timeout=timeout, headers={"User-Agent": USER_AGENT}, allow_redirects=False)


def send_to_bot(bot: RelayBotConfig, report: Report, timeout: float) -> Delivery:
    name = f"{bot.type}/{bot.name}"
    url, body = signed_request(bot.type, bot, bot_message(bot.type, report))
    secrets = [s for s in (bot.webhook_url, bot.secret) if s]
    try:
        resp = _post(url, body, timeout)
    except requests.RequestException as exc:
        return Delivery(name, False, f"bot unreachable ({classify_exception(exc)})")
    try:
        data = resp.json()
    except ValueError:
        data = None
    code, msg = bot_error(bot.type, data)
    if resp.status_code >= 400 or code:
        detail = f"HTTP {resp.status_code}" + (f", code {code}: {msg[:200]}" if code else "")
        return Delivery(name, False, redact(f"bot refused the report ({detail})", secrets))
    return Delivery(name, True, "delivered")


def send_email(config: ReportConfig, report: Report, timeout: float) -> Delivery:
    assert config.email is not None
    mail = EmailMessage()
    mail["Subject"] = title(report)
    mail["From"] = config.email.from_
    mail["To"] = ", ".join(config.email.to)
    mail.set_content(render_markdown(report))
    mail.add_alternative(email_html(report), subtype="html")
    host, port = config.email.smarthost.rsplit(":", 1)
    try:
        with smtplib.SMTP(host, int(port), timeout=timeout) as smtp:
            if config.email.require_tls:
                smtp.starttls()
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery("email", False, f"SMTP {config.email.smarthost}: {type(exc).__name__}: {str(exc)[:200]}")
    return Delivery("email", True, "delivered")


def deliver(config: Config, report: Report, timeout: float = 10.0) -> list[Delivery]:
    """Send ``report`` to every receiver of ``config.report``; one :class:`Delivery` per receiver."""
    rc = config.report
    assert rc is not None
    out = []
    bots = {f"{b.type}/{b.name}": b for b in (config.relay.bots if config.relay else [])}
    for ref in rc.bots:
        out.append(send_to_bot(bots[ref], report, timeout))
    for hook in rc.webhooks:
        name = f"webhook/{hook.name}"
        try:
            resp = _post(hook.url, {"title": title(report), **report.to_json()}, timeout)
            ok = resp.status_code < 300
            out.append(Delivery(name, ok, "delivered" if ok else f"HTTP {resp.status_code}"))
        except requests.RequestException as exc:
            out.append(Delivery(name, False, f"unreachable ({classify_exception(exc)})"))
    if rc.email is not None:
        out.append(send_email(rc, report, timeout))
    return out


def report_day(now: datetime, tz: ZoneInfo) -> date:
    """The day a report sent at ``now`` covers: yesterday in the report's time zone."""
    return now.astimezone(tz).date() - timedelta(days=1)


def next_run(now: datetime, at: str, tz: ZoneInfo) -> datetime:
    """The next ``HH:MM`` in ``tz`` strictly after ``now``."""
    hour, minute = (int(x) for x in at.split(":"))
    local = now.astimezone(tz)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate


class DailyReport:
    """The exporter's schedule: every day at ``report.time`` build yesterday's report and deliver it."""

    def __init__(self, config: Config, clock: Callable[[], datetime] | None = None) -> None:
        assert config.report is not None
        self.config = config
        self.report_config = config.report
        self.tz = ZoneInfo(config.report.timezone)
        self.clock = clock or (lambda: datetime.now(self.tz))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DailyReport:
        self._thread = threading.Thread(target=self._run, name="daily-report", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def send_now(self, day: date | None = None) -> list[Delivery]:
        rc = self.report_config
        the_day = day or report_day(self.clock(), self.tz)
        report = build_report(prometheus_query(rc.prometheus_url), the_day, rc.timezone)
        deliveries = deliver(self.config, report)
        for d in deliveries:
            (log.info if d.ok else log.warning)("daily report %s to %s: %s", the_day, d.receiver, d.detail)
        return deliveries

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = (next_run(self.clock(), self.report_config.time, self.tz) - self.clock()).total_seconds()
            if self._stop.wait(max(1.0, wait)):
                return
            try:
                self.send_now()
            except Exception:  # a failed report must never stop the exporter or tomorrow's report
                log.exception("daily report failed")
