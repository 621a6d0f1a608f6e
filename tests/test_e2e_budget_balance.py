"""End to end (e): spend pushed over the monthly budget and a prepaid balance run dry both reach a person.

The budget is set from what the simulator has billed this month so far (twice the month-to-date cost, so the
budget alerts are quiet at first), through the bundle settings and `llmpulse stack reload`, exactly as a user
would change it. Then the simulator multiplies every usage and cost amount by 25 and exhausts DeepSeek's balance:
LLMBudgetBurnHigh, LLMBudgetExceeded and LLMBalanceExhausted must fire in Prometheus and reach the webhook, or be
muted in Alertmanager by the matching critical alert (the bundle's inhibition rules), never silently lost.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_support import E2EStack, exporter_config, running_stack, short_bundle, wait_for

from exporter.bundle.rules import Names

pytestmark = pytest.mark.e2e

MULTIPLIER = 25


def _value(st: E2EStack, expr: str) -> float:
    [sample] = st.prom.wait_data(expr)
    return float(sample["value"][1])


def _delivered_or_inhibited(st: E2EStack, name: str, after: float) -> str:
    """'notified' when the webhook got it firing, 'inhibited' when Alertmanager mutes it by a firing alert."""
    for delivery, alert in st.receiver.alerts():
        if delivery.received >= after and alert["labels"]["alertname"] == name and alert["status"] == "firing":
            return "notified"
    am_alerts = requests.get(f"{st.url('alertmanager')}/api/v2/alerts", timeout=10).json()
    for alert in am_alerts:
        if alert["labels"]["alertname"] == name and alert["status"]["inhibitedBy"]:
            return "inhibited"
    return ""


def test_budget_and_balance_alerts_fire_and_notify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle: dict[str, Any] = {}

    def make_bundle(receiver_url: str) -> dict[str, Any]:
        bundle.update(short_bundle(receiver_url))
        return bundle

    with running_stack(tmp_path, exporter=exporter_config(source_interval="2s"), bundle=make_bundle) as st:
        month_to_date = _value(st, Names.COST_MTD_TOTAL)
        assert month_to_date > 0
        # (the value may come from a poll one interval old: an hour that began meanwhile counts as a new hour)
        hour = datetime.fromtimestamp(time.time() - 10, UTC).strftime("%H")

        # Set the budget the way a user does: edit the bundle: section, reload.
        budget = round(2 * month_to_date, 2)
        bundle["budget"] = {**bundle.get("budget", {}), "monthly_budget_usd": budget}
        bundle_path = tmp_path / "bundle.yml"
        bundle_path.write_text(yaml.safe_dump({"bundle": bundle}, sort_keys=False))
        st.stack.reload(bundle_path)
        wait_for(lambda: st.prom.query(f"{Names.BUDGET_TOTAL} == {budget}"), 30, "the new budget loaded")
        rules = st.alert_rules()
        for name in ("LLMBudgetBurnHigh", "LLMBudgetExceeded"):
            expr = rules[name][0]["expr"]
            assert st.prom.query(expr) == [], f"{name}'s condition holds at 50 % of the budget"
        for name in ("LLMBudgetBurnHigh", "LLMBudgetExceeded", "LLMBalanceExhausted"):
            assert st.prom.alerts(name) == [], f"{name} fires before spend or balance changed"

        t_spend = time.monotonic()
        st.sim.post("/_sim/usage", {"multiplier": MULTIPLIER})
        # The next poll of each cost source recomputes the month from the provider's (now 25x) data.
        wait_for(
            lambda: _value(st, Names.COST_MTD_TOTAL) >= MULTIPLIER * month_to_date * (1 - 1e-3),
            30,
            f"month-to-date spend at {MULTIPLIER}x",
            lambda: f"{_value(st, Names.COST_MTD_TOTAL)}",
        )
        if datetime.now(UTC).strftime("%H") == hour:  # the simulator's data only grows when an hour starts
            assert _value(st, Names.COST_MTD_TOTAL) == pytest.approx(MULTIPLIER * month_to_date, rel=1e-3)
        t_balance = time.monotonic()
        st.sim.post("/_sim/balances", {"deepseek": {"total": 0}})

        outcome: dict[str, str] = {}
        for name, since in (
            ("LLMBudgetExceeded", t_spend),
            ("LLMBudgetBurnHigh", t_spend),
            ("LLMBalanceExhausted", t_balance),
        ):
            firing = st.prom.wait_alert(name, "firing", timeout=60)
            if name == "LLMBalanceExhausted":
                assert {a["labels"]["provider"] for a in firing} == {"deepseek"}
            outcome[name] = wait_for(
                lambda name=name, since=since: _delivered_or_inhibited(st, name, since),
                60,
                f"{name} notified or inhibited",
            )
            outcome[name] += f" after {time.monotonic() - since:.1f} s"
        assert outcome["LLMBudgetExceeded"].startswith("notified")
        assert outcome["LLMBalanceExhausted"].startswith("notified")
        delivery, alert = st.receiver.wait_for("LLMBalanceExhausted", "firing", after=t_balance, timeout=5)
        assert alert["labels"]["severity"] == "critical" and delivery.payload["receiver"] == "critical"

    with capsys.disabled():
        print(
            f"\n[e2e] budget ${budget:,.2f} (2 x month-to-date); spend x{MULTIPLIER}: "
            + "; ".join(f"{k}: {v}" for k, v in outcome.items())
        )
