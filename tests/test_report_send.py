"""The daily report delivered to chat: ``llmpulse report --send`` and the exporter's daily schedule, posting to the
relay's fake Feishu / DingTalk / WeCom bots (which check signatures like the platforms) and to a webhook, with the
figures read from a real Prometheus holding known data (see :mod:`test_report`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import wait_for
from helpers import exporter, run_cli
from history_support import build_blocks, prometheus_on_blocks
from test_relay_bots import SECRETS, FakeBots, relay_config, relay_env
from test_report import PER_DAY, day_under_test, synthetic

from exporter.httpserver import Request, Response, Router, Server
from exporter.report import Report, Value
from exporter.report_send import email_html, next_run


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("report-send")
    blocks = build_blocks(synthetic(day_under_test()), tmp / "om")
    with prometheus_on_blocks(tmp, blocks) as prom:
        yield prom.url


@pytest.fixture
def bots() -> Iterator[FakeBots]:
    fake = FakeBots()
    try:
        yield fake
    finally:
        fake.stop()


class Hook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        router = Router()
        router.add("POST", "/hook", self.handle)
        self.server = Server(router, "127.0.0.1", 0).start()

    def handle(self, req: Request) -> Response:
        self.received.append(req.json())
        return Response.json({"ok": True})


def config(tmp: Path, prom_url: str, **report: Any) -> Path:
    data = {
        **relay_config(),
        "report": {
            "prometheus_url": prom_url,
            "bots": ["feishu/oncall", "dingtalk/ops", "wecom/team"],
            "webhooks": [{"name": "finance", "url_env": "T_REPORT_HOOK"}],
            **report,
        },
    }
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def check_messages(bots: FakeBots, day: str) -> None:
    got = {platform: body for platform, body in bots.received}
    assert set(got) == {"feishu", "dingtalk", "wecom"}
    card = got["feishu"]["card"]
    assert day in card["header"]["title"]["content"]
    text = card["elements"][0]["text"]["content"]
    assert f"| Calls | {21 * PER_DAY:,} |" in text and "| Distinct users | missing | n/a |" in text
    assert "- openai / A: $24.00" in text
    assert "| Spend (reported) | $30.00 |" in got["dingtalk"]["markdown"]["text"]
    assert "| Error rate | 4.76 % |" in got["wecom"]["markdown"]["content"]


def test_send_now_delivers_to_every_receiver(tmp_path: Path, prometheus: str, bots: FakeBots) -> None:
    hook = Hook()
    try:
        day = day_under_test().strftime("%Y-%m-%d")
        env = {**relay_env(bots.url), "T_REPORT_HOOK": f"{hook.server.url}/hook"}
        result = run_cli("report", "--send", "--config", str(config(tmp_path, prometheus)), "--day", day, env=env)
        assert result.returncode == 0, result.stderr
        for receiver in ("feishu/oncall", "dingtalk/ops", "wecom/team", "webhook/finance"):
            assert f"{receiver}: delivered" in result.stdout
        check_messages(bots, day)
        assert len(hook.received) == 1 and hook.received[0]["figures"]["calls"]["value"] == 21 * PER_DAY
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr
    finally:
        hook.server.stop()


def test_a_failing_bot_makes_send_exit_1_naming_it(tmp_path: Path, prometheus: str, bots: FakeBots) -> None:
    bots.mode = "fail"
    hook = Hook()
    try:
        env = {**relay_env(bots.url), "T_REPORT_HOOK": f"{hook.server.url}/hook"}
        result = run_cli("report", "--send", "--config", str(config(tmp_path, prometheus)), env=env)
        assert result.returncode == 1
        assert "feishu/oncall: bot refused the report (HTTP 500)" in result.stderr
        assert "webhook/finance: delivered" in result.stdout
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr
    finally:
        hook.server.stop()


def test_the_exporter_sends_the_report_at_the_configured_time(tmp_path: Path, prometheus: str, bots: FakeBots) -> None:
    """Scheduled two minutes ahead (the exporter must be up before that minute starts, even on a loaded machine);
    the exporter reports yesterday (in the report's time zone)."""
    hook = Hook()
    try:
        at = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%H:%M")
        cfg = yaml.safe_load(config(tmp_path, prometheus, time=at).read_text())
        env = {**relay_env(bots.url), "T_REPORT_HOOK": f"{hook.server.url}/hook"}
        with exporter(cfg, tmp_path, env=env):
            wait_for(lambda: len(hook.received) == 1 and len(bots.received) == 3, 240, "the scheduled report")
        yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
        assert hook.received[0]["day"] in (yesterday, (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d"))
    finally:
        hook.server.stop()


def test_report_config_errors_exit_2(tmp_path: Path, bots: FakeBots) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        yaml.safe_dump(
            {**relay_config(), "report": {"prometheus_url": "http://127.0.0.1:9", "bots": ["feishu/nobody"]}}
        )
    )
    result = run_cli("check-config", str(bad), env=relay_env(bots.url))
    assert result.returncode == 2
    assert "report.bots[0]: 'feishu/nobody' is not a bot of relay.bots" in result.stderr
    bad.write_text(
        yaml.safe_dump(
            {**relay_config(), "report": {"prometheus_url": "http://x:1", "time": "25:00", "bots": ["wecom/team"]}}
        )
    )
    result = run_cli("check-config", str(bad), env=relay_env(bots.url))
    assert result.returncode == 2 and "report.time" in result.stderr


def test_next_run_and_email_html() -> None:
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    assert next_run(now, "09:00", shanghai) == datetime(2026, 12, 7, 9, 0, tzinfo=shanghai)
    assert next_run(now, "08:00", shanghai) == datetime(2026, 12, 8, 8, 0, tzinfo=shanghai)
    report = Report("2026-12-06", "UTC", "", "")
    report.figures = {"calls": Value(10.0, None)}
    for key in ("distinct_users", "avg_response_seconds", "p95_response_seconds", "error_rate"):
        report.figures[key] = Value(None, None)
    report.figures["spend_reported_usd"] = Value(1.5, 1.0)
    report.figures["spend_estimated_usd"] = Value(None, None)
    report.rankings = {"top_projects": [("openai / <script>", Value(1.5, None))]}
    page = email_html(report)
    assert "<td>Calls</td><td>10</td><td>n/a</td>" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    json.dumps(report.to_json())


def test_email_receiver_gets_html_and_text(tmp_path: Path, prometheus: str) -> None:
    """Through the stack's built-in inbox (a real SMTP listener on loopback)."""
    from exporter.inbox import Inbox

    inbox = Inbox()
    host, port = inbox.serve_smtp()
    try:
        cfg = tmp_path / "mail.yml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "report": {
                        "prometheus_url": prometheus,
                        "email": {
                            "smarthost": f"{host}:{port}",
                            "from": "llmpulse@example.com",
                            "to": ["team@example.com"],
                            "require_tls": False,
                        },
                    }
                }
            )
        )
        day = day_under_test().strftime("%Y-%m-%d")
        result = run_cli("report", "--send", "--config", str(cfg), "--day", day)
        assert result.returncode == 0, result.stderr
        assert "email: delivered" in result.stdout
        mails = inbox.items("mail")
        assert len(mails) == 1 and day in mails[0]["subject"] and mails[0]["envelope_to"] == ["team@example.com"]
        assert f"<td>Calls</td><td>{21 * PER_DAY:,}</td>" in mails[0]["html"]
        assert f"| Calls | {21 * PER_DAY:,} |" in mails[0]["text"]
    finally:
        inbox.stop_smtp()
