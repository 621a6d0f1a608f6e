"""End to end: a real Alertmanager, configured by the generated bundle, notifies the exporter's relay, which posts
signed messages to a fake Feishu bot; firing and then resolved."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from helpers import exporter
from test_bundle_alertmanager import AlertmanagerProcess, needs_alertmanager
from test_relay_bots import FakeBots, relay_config, relay_env

from exporter.bundle.alertmanager import CONFIG_FILE
from exporter.bundle.rules import alert_rules
from exporter.bundle.settings import BundleConfig
from exporter.bundle.writer import bundle_files


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@needs_alertmanager
def test_alertmanager_to_relay_to_feishu_firing_then_resolved(tmp_path: Path) -> None:
    bots = FakeBots()
    try:
        with exporter(relay_config(), tmp_path, env=relay_env(bots.url)) as proc:
            fast = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
            settings = BundleConfig.model_validate(
                {
                    "routing": {"critical": fast, "warning": fast},
                    "receivers": {"relay": {"url": proc.url, "bots": [{"target": "feishu", "name": "oncall"}]}},
                }
            )
            for rel, text in bundle_files(settings).items():
                if rel.startswith("alertmanager/"):
                    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
                    (tmp_path / rel).write_text(text)
            am = AlertmanagerProcess(tmp_path / CONFIG_FILE, tmp_path).wait_ready()
            try:
                rule = next(a for a in alert_rules(settings) if a.name == "LLMAPIHighErrorRate")
                labels = {
                    "alertname": rule.name,
                    "severity": rule.severity,
                    "provider": "openai",
                    "source": "openai-probe",
                    "model": "gpt-4o-mini",
                }
                notes = {
                    "summary": rule.summary,
                    "description": "8% of calls to openai model gpt-4o-mini failed.",
                    "runbook_url": rule.runbook_url(settings),
                }
                start = datetime.now(UTC)
                alert = {
                    "labels": labels,
                    "annotations": notes,
                    "startsAt": start.isoformat(),
                    "endsAt": (start + timedelta(minutes=5)).isoformat(),
                }
                sent = time.monotonic()
                requests.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
                _wait(lambda: len(bots.received) >= 1, 30, "the firing notification at the fake Feishu bot")
                print(f"alert posted -> Feishu card received in {time.monotonic() - sent:.1f}s")
                card = bots.received[0][1]["card"]
                assert card["header"]["title"]["content"] == "[FIRING:1] LLMAPIHighErrorRate · openai (warning)"
                text = json.dumps(card, ensure_ascii=False)
                assert "8% of calls to openai model gpt-4o-mini failed." in text and "#llmapihigherrorrate" in text

                alert["endsAt"] = datetime.now(UTC).isoformat()
                requests.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
                _wait(lambda: len(bots.received) >= 2, 30, "the resolved notification")
                resolved = bots.received[-1][1]["card"]
                assert resolved["header"]["title"]["content"].startswith("[RESOLVED] LLMAPIHighErrorRate")
                assert resolved["header"]["template"] == "green"
                assert (
                    proc.metrics().value("llmpulse_relay_notifications_total", target="feishu", outcome="success") >= 2
                )
            finally:
                am.stop()
    finally:
        bots.stop()
