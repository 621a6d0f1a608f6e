"""The notification inbox (`llmpulse stack inbox`): the native stack's stand-in for mailpit.

Runs the real command on free loopback ports and talks to it the way Alertmanager does: SMTP for the e-mail
receiver, a version-4 webhook payload for a webhook receiver.
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from helpers import ROOT, free_port, stop_process, wait_http_ok

from exporter.inbox import MAX_MAIL_BYTES


class RunningInbox:
    def __init__(self, tmp: Path) -> None:
        self.port, self.smtp_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "inbox.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "stack",
                "inbox",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--smtp",
                f"127.0.0.1:{self.smtp_port}",
            ],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_http_ok(f"{self.url}/readyz", self.proc, 20, "inbox", self.log_path.read_text)

    def messages(self) -> list[dict]:
        return requests.get(f"{self.url}/api/v1/messages", timeout=5).json()["messages"]

    def webhooks(self) -> list[dict]:
        return requests.get(f"{self.url}/api/notifications", timeout=5).json()["notifications"]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[RunningInbox]:
    box = RunningInbox(tmp_path)
    try:
        yield box
    finally:
        box.stop()


def _payload(status: str = "firing") -> dict:
    """An Alertmanager webhook payload (version 4) as Alertmanager 0.25 sends it."""
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="LLMAPIHighErrorRate", provider="openai"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "webhook",
        "groupLabels": {"alertname": "LLMAPIHighErrorRate", "provider": "openai"},
        "commonLabels": {"alertname": "LLMAPIHighErrorRate", "provider": "openai", "severity": "critical"},
        "commonAnnotations": {"summary": "openai: 8.1 % of calls fail"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "LLMAPIHighErrorRate",
                    "provider": "openai",
                    "severity": "critical",
                    "source": "openai-probe",
                },
                "annotations": {
                    "summary": "openai: 8.1 % of calls fail",
                    "description": "<script>alert(1)</script>",
                    "runbook_url": "https://example.org/runbooks#llmapihigherrorrate",
                },
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
                "fingerprint": "abc123",
            }
        ],
    }


def test_mail_sent_over_smtp_is_listed_with_subject_recipients_and_body(inbox: RunningInbox) -> None:
    msg = EmailMessage()
    msg["Subject"] = "[FIRING:1] LLMAPIHighErrorRate openai"
    msg["From"] = "alertmanager@llmpulse.local"
    msg["To"] = "oncall@llmpulse.local"
    msg.set_content("8.1 % of calls fail\n.a line starting with a dot\n")
    msg.add_alternative("<h1>LLMAPIHighErrorRate</h1><p>8.1 % of calls fail</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", inbox.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(msg)
    assert refused == {}
    [got] = inbox.messages()
    assert got["Subject"] == "[FIRING:1] LLMAPIHighErrorRate openai"
    assert got["From"]["Address"] == "alertmanager@llmpulse.local"
    assert [t["Address"] for t in got["To"]] == ["oncall@llmpulse.local"]
    assert got["Text"] == "8.1 % of calls fail\n.a line starting with a dot\n"  # dot-stuffing undone
    assert "<h1>LLMAPIHighErrorRate</h1>" in got["HTML"]
    page = requests.get(inbox.url, timeout=5).text
    assert "[FIRING:1] LLMAPIHighErrorRate openai" in page
    assert "<iframe sandbox" in page and "&lt;h1&gt;LLMAPIHighErrorRate" in page  # HTML mail only in a sandbox


def test_oversized_mail_is_refused_and_not_kept(inbox: RunningInbox) -> None:
    with smtplib.SMTP("127.0.0.1", inbox.smtp_port, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail(
                "a@x",
                ["b@x"],
                b"Subject: big\r\n\r\n"
                + b"x" * 998
                + b"\r\n" * 1
                + (b"y" * 998 + b"\r\n") * (MAX_MAIL_BYTES // 1000 + 10),
            )
        assert err.value.smtp_code == 552
        # The session stays usable after the refusal.
        assert smtp.sendmail("a@x", ["b@x"], b"Subject: small\r\n\r\nok\r\n") == {}
    assert [m["Subject"] for m in inbox.messages()] == ["small"]


def test_webhook_notification_keeps_labels_and_annotations_and_escapes_them(inbox: RunningInbox) -> None:
    payload = _payload()
    assert requests.post(f"{inbox.url}/hook", json=payload, timeout=5).status_code == 200
    [got] = inbox.webhooks()
    assert got["status"] == "firing" and got["receiver"] == "webhook"
    assert got["alerts"][0]["labels"] == payload["alerts"][0]["labels"]
    assert got["alerts"][0]["annotations"] == payload["alerts"][0]["annotations"]
    page = requests.get(inbox.url, timeout=5).text
    assert "LLMAPIHighErrorRate" in page and "openai: 8.1 % of calls fail" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'href="https://example.org/runbooks#llmapihigherrorrate"' in page


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"status": "firing"}', b'{"alerts": [1]}', b'{"alerts": [], "truncatedAlerts": "x"}'],
)
def test_malformed_webhook_is_refused_with_a_reason_and_changes_nothing(inbox: RunningInbox, body: bytes) -> None:
    resp = requests.post(f"{inbox.url}/hook", data=body, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["error"]
    assert inbox.webhooks() == []


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "//evil.example/runbook",
        "https://ok.example/\njavascript:alert(1)",
    ],
)
def test_links_from_alerts_are_http_only(inbox: RunningInbox, link: str) -> None:
    """runbook_url and generatorURL come from whoever wrote the rule or posted to Alertmanager: a javascript: or
    data: link would run in the reader's browser, so anything but http(s) is shown without a link."""
    payload = _payload()
    payload["alerts"][0]["annotations"]["runbook_url"] = link
    payload["alerts"][0]["generatorURL"] = link
    assert requests.post(f"{inbox.url}/hook", json=payload, timeout=5).status_code == 200
    page = requests.get(inbox.url, timeout=5).text
    assert ">Runbook</a>" not in page and ">Query in Prometheus</a>" not in page
    for bad in ("javascript:", "JavaScript:", "data:text", "file:", "vbscript:", "//evil"):
        assert f'href="{bad}' not in page and f'href="{bad.lower()}' not in page
    assert "LLMAPIHighErrorRate" in page  # the alert itself is still shown


def test_http_links_stay_links_and_are_escaped(inbox: RunningInbox) -> None:
    payload = _payload()
    payload["alerts"][0]["annotations"]["runbook_url"] = 'https://ok.example/r?a=1&b="x"'
    assert requests.post(f"{inbox.url}/hook", json=payload, timeout=5).status_code == 200
    page = requests.get(inbox.url, timeout=5).text
    assert 'href="https://ok.example/r?a=1&amp;b=&#34;x&#34;" rel="noopener noreferrer">Runbook</a>' in page
