"""The poller's last line of defence: a provider that raises something unexpected (a bug, an answer shape nobody
foresaw) marks the source down with reason "internal", keeps the last good data and never kills the thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from helpers import Metrics

from exporter import contract
from exporter.config import parse_config
from exporter.exposition import Exposition
from exporter.http import ApiClient
from exporter.poller import SourcePoller
from exporter.samples import MetricSet

SECRET = "sk-admin-core-poller-secret-1234"


class Flaky:
    """Serves one good poll, then raises an unexpected error that echoes the key."""

    month_to_date = True
    note = ""
    last_fetch = ""

    def __init__(self) -> None:
        self.calls = 0

    def headers(self) -> dict[str, str]:
        return {}

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        self.calls += 1
        if self.calls > 1:
            raise KeyError(f"surprise field while using {SECRET}")
        ms = MetricSet()
        ms.set(contract.COST_USD, 12.5, project="p", line_item="x")
        return ms

    def on_failure(self, error: Any) -> None:
        return None


def test_an_unexpected_exception_marks_the_source_down_and_keeps_the_data(monkeypatch: Any) -> None:
    monkeypatch.setenv("CORE_POLLER_KEY", SECRET)
    cfg = parse_config(
        {
            "sources": [
                {
                    "type": "openai",
                    "name": "oa",
                    "api_key_env": "CORE_POLLER_KEY",
                    "base_url": "http://127.0.0.1:9",
                    "interval": "1m",
                }
            ]
        }
    )
    exposition = Exposition()
    poller = SourcePoller(cfg.sources[0], exposition)
    poller.provider = Flaky()  # type: ignore[assignment]

    assert poller.poll_once() is True
    assert poller.poll_once() is False  # no exception escapes

    m = Metrics(exposition.body().decode())
    base = {"provider": "openai", "source": "oa"}
    assert m.value("llmpulse_source_up", **base) == 0
    assert m.value("llmpulse_source_poll_errors_total", **base, reason="internal") == 1
    assert m.value("llmpulse_cost_usd_total", **base, project="p", line_item="x") == 12.5  # last good data
    status = poller.status()
    assert "KeyError" in status.last_error
    assert SECRET not in status.last_error and SECRET not in m.text
