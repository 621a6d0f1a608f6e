"""End to end (b, c): a fault at the provider reaches a person, and so does its recovery.

The simulator's inference endpoints (what every probe calls) switch to 8 % errors and half the calls slow (2.5 s,
above the 2 s P99 threshold, below the probes' 3 s timeout). LLMAPIHighErrorRate and LLMAPIHighLatencyP99 must fire
in the real Prometheus, and Alertmanager must deliver them to the webhook receiver this test runs, with the labels
Prometheus gave the alert and the rule's annotations, templates rendered. The time from switching the fault on to
the notification (and from switching it off to the resolved notification) is printed. The simulated app traffic is
off here: its background error rate would make the short-window error ratio noisy; the probes alone carry the
signal, exactly as they do for a quiet application.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import WINDOW, E2EStack, exporter_config, running_stack, short_bundle, wait_for

from exporter.bundle.rules import Names
from exporter.durations import parse_duration

pytestmark = pytest.mark.e2e

FAULT = {"error_rate": 0.08, "slow_rate": 0.5, "slow_latency": 2.5}
FAULT_KEYS = ("openai_chat", "anthropic_messages", "coze_chat", "models")  # every probe's endpoint
ALERTS = ("LLMAPIHighErrorRate", "LLMAPIHighLatencyP99")


def template_regex(template: str, labels: dict[str, str]) -> re.Pattern[str]:
    """A regex matching what Prometheus renders from an annotation template: ``$labels`` substituted exactly,
    anything computed from ``$value`` (or another function) as a wildcard."""
    out, pos = "", 0
    for m in re.finditer(r"\{\{(.*?)\}\}", template):
        out += re.escape(template[pos : m.start()])
        inner = m.group(1).strip()
        label = re.fullmatch(r"\$labels\.(\w+)", inner)
        out += re.escape(labels.get(label.group(1), "")) if label else ".+?"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]), re.S)


def assert_intact(st: E2EStack, alert: dict[str, Any], prom_labels: list[dict[str, str]]) -> None:
    """The notified alert carries exactly Prometheus' labels and the rule's annotations, rendered."""
    labels = alert["labels"]
    assert labels in prom_labels, f"labels changed on the way: {labels} not among Prometheus' {prom_labels}"
    rules = [
        r
        for r in st.alert_rules()[labels["alertname"]]
        if all(labels.get(k) == v for k, v in r.get("labels", {}).items())
    ]
    assert len(rules) == 1, rules
    rule = rules[0]
    assert set(alert["annotations"]) == set(rule["annotations"])
    for key, template in rule["annotations"].items():
        value = alert["annotations"][key]
        assert "{{" not in value, f"{key} was not rendered: {value}"
        assert template_regex(template, labels).fullmatch(value), f"{key}: {value!r} does not render {template!r}"
    assert alert["generatorURL"].startswith(st.url("prometheus"))


def _key(alert: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(alert["labels"].items()))


def _firing_labels(st: E2EStack, name: str) -> list[dict[str, str]]:
    return [a["labels"] for a in st.prom.alerts(name)]


def test_fault_fires_both_api_alerts_notifies_and_resolves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = exporter_config(source_interval="15s", probe_interval="3s")
    with running_stack(tmp_path, exporter=config, bundle=short_bundle, traffic=False) as st:
        # The probes' series are in Prometheus and the recording rules compute, and nothing fires yet.
        window = parse_duration(WINDOW)
        st.prom.wait_data(Names.latency_quantile(window) + '{quantile="0.99"}')
        st.prom.wait_data(Names.errors_ratio(window))
        for name in ALERTS:
            assert st.prom.alerts(name) == [], f"{name} fires before any fault"

        t_fault = time.monotonic()
        st.sim.post("/_sim/faults", {key: FAULT for key in FAULT_KEYS})
        fired: dict[str, float] = {}
        for name in ALERTS:
            delivery, alert = st.receiver.wait_for(
                name, "firing", after=t_fault, timeout=120, what="after the fault was switched on"
            )
            fired[name] = delivery.received - t_fault
            assert delivery.payload["receiver"] == "warning" and alert["labels"]["severity"] == "warning"
            assert_intact(st, alert, _firing_labels(st, name))

        # The default e-mail path delivered too: the mail catcher has a message naming each alert.
        def mailed() -> bool:
            import requests

            subjects = [
                m["Subject"] for m in requests.get(f"{st.url('mailpit')}/api/v1/messages", timeout=5).json()["messages"]
            ]
            return all(any(name in s and "FIRING" in s for s in subjects) for name in ALERTS)

        wait_for(mailed, 30, "the alerts also arrive by e-mail at the stack's mail catcher")

        t_clear = time.monotonic()
        st.sim.clear_faults()
        # Every alert series that was notified as firing gets its resolved notification.
        notified = {
            _key(a)
            for d, a in st.receiver.alerts()
            if d.received >= t_fault and a["status"] == "firing" and a["labels"]["alertname"] in ALERTS
        }
        resolved: dict[str, float] = {}

        def all_resolved() -> bool:
            done = {}
            for delivery, alert in st.receiver.alerts():
                if delivery.received >= t_clear and alert["status"] == "resolved" and _key(alert) in notified:
                    assert alert["endsAt"] > alert["startsAt"]
                    name = alert["labels"]["alertname"]
                    done[_key(alert)] = delivery.received - t_clear
                    resolved[name] = max(resolved.get(name, 0.0), done[_key(alert)])
            return set(done) == notified

        wait_for(
            all_resolved,
            120,
            "a resolved notification for every notified alert",
            lambda: f"{len(notified)} notified; resolved so far: {resolved}",
        )
        for name in ALERTS:
            assert st.prom.alerts(name) == [], f"{name} still active in Prometheus after it was notified resolved"

    with capsys.disabled():
        for name in ALERTS:
            print(
                f"\n[e2e] {name}: fault -> first firing notification {fired[name]:.1f} s; "
                f"fault off -> last resolved notification {resolved[name]:.1f} s "
                f"(scrape/eval 1 s, window {WINDOW}, for 5 s, group_wait 1 s)",
                end="",
            )
        print()
