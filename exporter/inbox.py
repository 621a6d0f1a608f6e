"""The notification inbox: the native stack's stand-in for mailpit, where a person sees notifications arrive.

The generated Alertmanager config sends critical and warning notifications by e-mail to the compose stack's mail
catcher (``mailpit:1025``, web UI on 8025). Docker compose runs mailpit itself; ``llmpulse stack up`` runs mailpit
when it is installed and otherwise this inbox on the same two ports, so the same generated config delivers
somewhere visible on a machine with nothing but Prometheus and Alertmanager:

- an SMTP listener that accepts what Alertmanager sends (plain SMTP, no TLS, no auth: loopback only) and keeps
  the parsed message (subject, sender, recipients, text and HTML bodies);
- ``POST /hook``: Alertmanager webhook payloads (version 4), for a webhook receiver pointed here;
- ``/``: the page listing both, newest first (HTML mails shown in a sandboxed frame, as a mail client would);
- ``GET /api/v1/messages``: the mails in the shape of mailpit's API (``messages[].Subject`` ...), so tools and tests
  read either; ``GET /api/notifications``: the webhook payloads; ``/readyz`` and ``/livez`` as mailpit has them.

Everything is kept in memory (bounded) and logged one line per notification.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socketserver
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import jinja2

from exporter import __version__
from exporter.alertpayload import InvalidPayload, http_link, read_payload
from exporter.httpserver import Request, Response, Router, Server

log = logging.getLogger(__name__)

DEFAULT_KEEP = 500
MAX_BODY = 4 * 1024 * 1024
MAX_MAIL_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 100
SMTP_IDLE_TIMEOUT = 60.0

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("exporter", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)
_ENV.filters["http_link"] = http_link  # links from alerts: http(s) only, everything else shown as no link


def parse_notification(body: bytes) -> dict[str, Any]:
    """Read an Alertmanager webhook payload (version 4) and keep the fields a person needs."""
    payload = read_payload(body)
    notification: dict[str, Any] = {"kind": "webhook", "received_at": time.time()}
    # The webhook's own field names, as the page and the mailpit-style API show them.
    notification.update(payload.model_dump(by_alias=True, exclude={"alerts"}))
    notification["alerts"] = [
        {**alert.model_dump(by_alias=True), "status": alert.status if "status" in alert.model_fields_set else ""}
        for alert in payload.alerts
    ]
    return notification


def parse_mail(raw: bytes, mail_from: str, rcpt_to: list[str]) -> dict[str, Any]:
    """The parts of a received e-mail the page and the mailpit-style API show."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = html = ""
    if isinstance(msg, EmailMessage):
        for part, kind in (
            (msg.get_body(preferencelist=("plain",)), "text"),
            (msg.get_body(preferencelist=("html",)), "html"),
        ):
            if part is None:
                continue
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                content = part.get_payload(decode=True).decode("utf-8", "replace")  # type: ignore[union-attr]
            if kind == "text":
                text = str(content).replace("\r\n", "\n")
            else:
                html = str(content).replace("\r\n", "\n")
    return {
        "kind": "mail",
        "id": uuid.uuid4().hex,
        "received_at": time.time(),
        "subject": str(msg.get("Subject", "")),
        "from": str(msg.get("From", "")) or mail_from,
        "to": [str(a) for a in msg.get_all("To", [])] or rcpt_to,
        "envelope_from": mail_from,
        "envelope_to": rcpt_to,
        "text": text,
        "html": html,
        "size": len(raw),
    }


class Inbox:
    """Keeps the last ``keep`` notifications (mails and webhook payloads); thread-safe."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.received = 0
        self.router = Router()
        self.router.max_body = MAX_BODY
        self.router.add("POST", "/hook", self._hook)
        self.router.add("GET", "/api/notifications", self._api_webhooks)
        self.router.add("GET", "/api/v1/messages", self._api_messages)
        self.router.add("DELETE", "/api/v1/messages", self._clear)
        self.router.add("GET", "/readyz", lambda req: Response.text("ok\n"))
        self.router.add("GET", "/livez", lambda req: Response.text("ok\n"))
        self.router.add("GET", "/", self._page)
        self._smtp: socketserver.ThreadingTCPServer | None = None

    def add(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(item)
            self.received += 1
        if item["kind"] == "mail":
            log.info(
                "mail from=%s to=%s subject=%r", item["envelope_from"], ",".join(item["envelope_to"]), item["subject"]
            )
        else:
            names = sorted({a["labels"].get("alertname", "?") for a in item["alerts"]})
            log.info(
                "webhook status=%s receiver=%s alerts=%d alertname=%s",
                item["status"],
                item["receiver"],
                len(item["alerts"]),
                ",".join(names),
            )

    def items(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Notifications, oldest first (only mails or only webhooks with ``kind``)."""
        with self._lock:
            return [i for i in self._items if kind is None or i["kind"] == kind]

    # -- HTTP
    def _hook(self, req: Request) -> Response:
        try:
            self.add(parse_notification(req.body))
        except InvalidPayload as exc:
            log.warning("refused a post to /hook: %s", exc)
            return Response.json({"error": str(exc)}, 400)
        return Response.json({"ok": True})

    def _api_webhooks(self, req: Request) -> Response:
        items = self.items("webhook")
        return Response.json({"total": len(items), "notifications": items})

    def _api_messages(self, req: Request) -> Response:
        mails = list(reversed(self.items("mail")))  # newest first, as mailpit lists them
        messages = [
            {
                "ID": m["id"],
                "Subject": m["subject"],
                "From": {"Address": m["envelope_from"], "Name": ""},
                "To": [{"Address": a, "Name": ""} for a in m["envelope_to"]],
                "Created": datetime.fromtimestamp(m["received_at"], UTC).isoformat().replace("+00:00", "Z"),
                "Size": m["size"],
                "Snippet": " ".join((m["text"] or "").split())[:250],
                "Text": m["text"],
                "HTML": m["html"],
            }
            for m in mails
        ]
        return Response.json({"total": len(messages), "messages_count": len(messages), "messages": messages})

    def _clear(self, req: Request) -> Response:
        with self._lock:
            self._items.clear()
        return Response.json({"ok": True})

    def _page(self, req: Request) -> Response:
        items = []
        for n in reversed(self.items()):
            when = datetime.fromtimestamp(n["received_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            items.append({**n, "received_text": when})
        html = _ENV.get_template("inbox.html").render(
            version=__version__, items=items, received=self.received, smtp=self.smtp_address
        )
        return Response(200, html.encode(), {"Cache-Control": "no-store"}, "text/html; charset=utf-8")

    # -- serving
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        return Server(self.router, host, port).start()

    def serve_smtp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Start the SMTP listener on its own thread; returns the bound address."""
        inbox = self
        handler = type("BoundSMTPHandler", (_SMTPHandler,), {"inbox": inbox})
        server = socketserver.ThreadingTCPServer((host, port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="smtp", daemon=True).start()
        self._smtp = server
        return str(server.server_address[0]), int(server.server_address[1])

    @property
    def smtp_address(self) -> str:
        if self._smtp is None:
            return ""
        host, port = self._smtp.server_address[:2]
        return f"{host.decode() if isinstance(host, bytes) else host}:{port}"

    def stop_smtp(self) -> None:
        if self._smtp is not None:
            self._smtp.shutdown()
            self._smtp.server_close()


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for Alertmanager's client: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    inbox: Inbox
    timeout = SMTP_IDLE_TIMEOUT

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _readline(self) -> bytes | None:
        line = self.rfile.readline(8192)
        return line if line else None

    def handle(self) -> None:
        self._reply("220 llmpulse-inbox ESMTP ready")
        mail_from: str | None = None
        rcpt: list[str] = []
        try:
            while (line := self._readline()) is not None:
                cmd, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
                verb = cmd.upper()
                if verb == "EHLO":
                    self._reply("250-llmpulse-inbox")
                    self._reply("250-8BITMIME")
                    self._reply(f"250 SIZE {MAX_MAIL_BYTES}")
                elif verb == "HELO":
                    self._reply("250 llmpulse-inbox")
                elif verb == "MAIL" and arg.upper().startswith("FROM:"):
                    mail_from, rcpt = _address(arg[5:]), []
                    self._reply("250 OK")
                elif verb == "RCPT" and arg.upper().startswith("TO:"):
                    if mail_from is None:
                        self._reply("503 MAIL first")
                    elif len(rcpt) >= MAX_RECIPIENTS:
                        self._reply("452 too many recipients")
                    else:
                        rcpt.append(_address(arg[3:]))
                        self._reply("250 OK")
                elif verb == "DATA":
                    if mail_from is None or not rcpt:
                        self._reply("503 MAIL and RCPT first")
                        continue
                    self._reply("354 end data with <CR><LF>.<CR><LF>")
                    raw = self._read_data()
                    if raw is None:
                        self._reply(f"552 message larger than {MAX_MAIL_BYTES} bytes")
                    else:
                        self.inbox.add(parse_mail(raw, mail_from, rcpt))
                        self._reply("250 OK queued")
                    mail_from, rcpt = None, []
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    self._reply("250 OK")
                elif verb == "NOOP":
                    self._reply("250 OK")
                elif verb == "QUIT":
                    self._reply("221 bye")
                    return
                elif verb == "STARTTLS":
                    self._reply("454 TLS not available (loopback mail catcher)")
                else:
                    self._reply("502 command not implemented")
        except (OSError, TimeoutError):
            return

    def _read_data(self) -> bytes | None:
        """Read the message up to the lone dot, undoing dot-stuffing; None if it is too large."""
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while (line := self._readline()) is not None:
            if line in (b".\r\n", b".\n"):
                return None if too_large else b"".join(chunks)
            if line.startswith(b".."):
                line = line[1:]
            size += len(line)
            if size > MAX_MAIL_BYTES:
                too_large = True
                chunks = []
            elif not too_large:
                chunks.append(line)
        return None


def _address(text: str) -> str:
    """``<a@b>`` with optional ESMTP parameters -> ``a@b``."""
    text = text.strip()
    if text.startswith("<"):
        return text[1:].split(">", 1)[0]
    return text.split(" ", 1)[0]
