"""End to end (d): the exporter dies mid-run and comes back.

Killing the exporter (SIGKILL, no goodbye) must fire LLMPulseExporterDown in Prometheus and notify. After a restart
the month-to-date counters must continue where they were: recomputed from the provider's data, they come back with
the value they had (the simulator's data only grows when an hour starts), so Prometheus sees no counter reset and
rate()/increase() panels see no jump.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from e2e_support import exporter_config, running_stack, short_bundle, wait_for
from helpers import Metrics

from exporter import contract

pytestmark = pytest.mark.e2e

MONTH_TO_DATE = (contract.COST_USD.name, contract.USAGE_TOKENS.name, contract.USAGE_REQUESTS.name)


def _mtd(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metrics = Metrics(requests.get(f"{url}/metrics", timeout=10).text)
    return {
        (name, tuple(sorted(labels.items()))): value for name in MONTH_TO_DATE for labels, value in metrics.find(name)
    }


def _hour(ago: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() - ago, UTC).strftime("%Y-%m-%d %H")


def test_exporter_down_fires_and_month_to_date_counters_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_stack(tmp_path, exporter=exporter_config(source_interval="2s"), bundle=short_bundle) as st:
        exporter_url = st.url("exporter")
        for name in MONTH_TO_DATE:
            st.prom.wait_data(name)
        # The values may come from a poll up to one interval old: take the hour a little before the read, so an
        # hour that began in between counts as a change of hour.
        before, hour_before = _mtd(exporter_url), _hour(ago=10)
        assert before and all(v > 0 for k, v in before.items() if k[0] == contract.COST_USD.name)
        # Prometheus holds every month-to-date series the exporter serves (scraped every second).
        wait_for(
            lambda: sum(len(st.prom.query(name)) for name in MONTH_TO_DATE) == len(before),
            30,
            "every month-to-date series scraped",
        )

        t_kill = time.monotonic()
        assert st.stack.stop_service("exporter", kill=True)
        st.prom.wait_alert("LLMPulseExporterDown", "firing", timeout=60)
        delivery, alert = st.receiver.wait_for("LLMPulseExporterDown", "firing", after=t_kill, timeout=60)
        down_after = delivery.received - t_kill
        assert alert["labels"]["severity"] == "critical" and delivery.payload["receiver"] == "critical"

        t_restart = time.monotonic()
        st.stack.start_service("exporter", timeout=60)
        after, hour_after = _mtd(exporter_url), _hour()
        assert set(after) == set(before), "the same series come back"
        if hour_after == hour_before:
            assert after == before, "month-to-date values must come back unchanged within the hour"
        else:  # an hour began in between: the simulator's data grew, never shrank
            assert all(after[k] >= before[k] for k in before)

        # Prometheus: up again, no reset of any month-to-date series, no jump across the gap.
        wait_for(lambda: st.prom.query('up{job="llmpulse"} == 1'), 30, "the exporter scraped again")
        wait_for(
            lambda: sum(len(st.prom.query(name)) for name in MONTH_TO_DATE) == len(before),
            30,
            "every month-to-date series back in Prometheus",
        )
        for name in MONTH_TO_DATE:
            resets = st.prom.query(f"resets({name}[10m]) > 0")
            assert resets == [], f"{name} reset across the restart: {resets}"
            if hour_after == hour_before:
                jumps = st.prom.query(f"increase({name}[10m]) > 0")
                assert jumps == [], f"{name} jumped across the restart: {jumps}"
        for (name, labels), value in before.items():
            if hour_after != hour_before:
                break
            selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
            [sample] = st.prom.query(selector)
            assert float(sample["value"][1]) == pytest.approx(value, rel=1e-12), selector

        st.receiver.wait_for("LLMPulseExporterDown", "resolved", after=t_restart, timeout=60)

    with capsys.disabled():
        print(
            f"\n[e2e] LLMPulseExporterDown: kill -> notification {down_after:.1f} s (for 3s); "
            f"{len(before)} month-to-date series continued across the restart with no reset and no jump"
        )
