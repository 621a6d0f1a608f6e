"""The poller's last line of defence: a provider that raises something unexpected (a bug, an answer shape nobody
foresaw) marks the source down with reason "internal", keeps the last good data and never kills the thread."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helpers import Metrics
from prometheus_client.utils import floatToGoString

from exporter import contract
from exporter.config import parse_config
from exporter.exposition import OPENMETRICS, Exposition
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


class Growing:
    """A month-to-date source whose answers are scripted: one MetricSet of (line_item -> cost) per poll."""

    month_to_date = True
    note = ""
    last_fetch = ""

    def __init__(self, answers: list[dict[str, float]]) -> None:
        self.answers = answers

    def headers(self) -> dict[str, str]:
        return {}

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        ms = MetricSet()
        for item, cost in self.answers.pop(0).items():
            ms.set(contract.COST_USD, cost, project="p", line_item=item)
        return ms

    def on_failure(self, error: Any) -> None:
        return None


def _cost(exposition: Exposition, item: str) -> float | None:
    return Metrics(exposition.body().decode()).get("llmpulse_cost_usd_total", line_item=item)


def test_first_snapshot_is_adopted_and_later_new_series_start_at_zero(monkeypatch: Any) -> None:
    """A restart must not read as a month of spend (the first snapshot is exported at its values), while a line
    item that appears later is exported at 0 for one scrape so increase() counts its first dollars."""
    monkeypatch.setenv("CORE_POLLER_KEY", SECRET)
    cfg = parse_config(
        {
            "sources": [
                {"type": "openai", "name": "oa", "api_key_env": "CORE_POLLER_KEY", "base_url": "http://127.0.0.1:9"}
            ]
        }
    )
    exposition = Exposition(zero_first_hold=60)
    clock = {"now": datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()}
    poller = SourcePoller(cfg.sources[0], exposition, clock=lambda: clock["now"])
    poller.provider = Growing(  # type: ignore[assignment]
        [
            {"gpt-4o, input": 500.0},
            {"gpt-4o, input": 510.0, "gpt-4o, output": 7.0},
            {"gpt-4o, input": 3.0},  # December: the month restarted
        ]
    )
    assert poller.poll_once()
    assert _cost(exposition, "gpt-4o, input") == 500  # adopted: no zero on the first snapshot
    assert poller.poll_once()
    assert _cost(exposition, "gpt-4o, output") == 0  # new mid-month: zero first...
    assert _cost(exposition, "gpt-4o, output") == 7  # ...its value once a scrape read the zero
    assert _cost(exposition, "gpt-4o, input") == 510
    om = exposition.body(fmt=OPENMETRICS).decode()
    november = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert f'line_item="gpt-4o, input"}} {floatToGoString(november)}' in om  # created: the month's start
    clock["now"] = datetime(2026, 12, 1, 0, 5, tzinfo=UTC).timestamp()
    assert poller.poll_once()
    assert _cost(exposition, "gpt-4o, input") == 3  # a reset, which increase() counts as 3
    om = exposition.body(fmt=OPENMETRICS).decode()
    created = float(next(line for line in om.splitlines() if line.startswith("llmpulse_cost_usd_created")).split()[-1])
    assert created > november  # the reset moved the creation time
