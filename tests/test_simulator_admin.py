"""The simulator's admin API (``/_sim/...``) reads its bodies with models: a wrong body gets 400 with every problem
and where it is, and changes nothing; a right one is applied."""

from __future__ import annotations

import pytest
import requests
from conftest import RunningSimulator


def _post(sim: RunningSimulator, path: str, body: object) -> requests.Response:
    return requests.post(f"{sim.url}{path}", json=body, timeout=5)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/_sim/faults", {"openai": {"eror_rate": 0.5}}, "openai.eror_rate: Extra inputs are not permitted"),
        ("/_sim/faults", {"openai": {"error_rate": 1.5}}, "openai.error_rate: Input should be less than or equal to 1"),
        (
            "/_sim/faults",
            {"openai": {"error_status": 0}},
            "openai.error_status: Input should be greater than 0",
        ),
        ("/_sim/faults", {"openai": {"down": "yes"}}, "openai.down: Input should be a valid boolean"),
        ("/_sim/faults", {"openai": 3}, "openai: Input should be a valid dictionary"),
        ("/_sim/faults", [1], "Input should be a valid dictionary"),
        ("/_sim/usage", {"multiplier": -1}, "multiplier: Input should be greater than 0"),
        ("/_sim/usage", {"multiplier": "2"}, "multiplier: Input should be a valid number"),
        ("/_sim/usage", {}, "expected multiplier, revise, revise_days and/or shape"),
        (
            "/_sim/usage",
            {"revise_days": {"2026-13-01": 0.9}},
            "revise_days.2026-13-01.[key]: Input should be a valid date",
        ),
        ("/_sim/usage", {"multiply": 2}, "multiply: Extra inputs are not permitted"),
        ("/_sim/usage", {"shape": "2019"}, "shape: Input should be 'current' or 'legacy'"),
        ("/_sim/balances", {"openrouter": {"credits_refusal": "404"}}, "openrouter.credits_refusal: Input should be"),
        ("/_sim/balances", {"siliconflow": {"retired": "yes"}}, "siliconflow.retired: Input should be a valid boolean"),
        ("/_sim/analytics", {"bot_days": 93}, "bot_days: Input should be less than or equal to 92"),
        ("/_sim/analytics", {"drop_fields": "total"}, "drop_fields: Input should be a valid list"),
        ("/_sim/inference", {"limits": {"nobody": {"requests": 5}}}, "limits: Value error, unknown key 'nobody'"),
        ("/_sim/inference", {"ratelimit_headers": 1}, "ratelimit_headers: Input should be a valid boolean"),
        ("/_sim/balances", {"deepseek": {"totl": 0}}, "deepseek.totl: Extra inputs are not permitted"),
        ("/_sim/balances", {"moonshot": {"total": 1, "cash": 2}}, "moonshot: Value error, give total or its parts"),
        ("/_sim/balances", {"*": {"granted": 1}}, "*.granted: Extra inputs are not permitted"),
        ("/_sim/balances", {"openrouter": {"limit_reset": "yearly"}}, "openrouter.limit_reset: Input should be"),
        ("/_sim/balances", {"nope": {}}, "nope: Extra inputs are not permitted"),
        ("/_sim/status", {"openai": {"indicator": "bad"}}, "openai.indicator: Value error, expected one of none"),
        ("/_sim/status", {"openai": {"incident": {"impact": "huge"}}}, "openai.incident.impact: Value error"),
        ("/_sim/status", {"openai": {"incident": {"colour": "red"}}}, "openai.incident.colour: Extra inputs"),
        ("/_sim/status", {"nope": {}}, "unknown page(s) ['nope']"),
        (
            "/_sim/status",
            {"openai": {"components": {"No such thing": "major_outage"}}},
            "openai.components: no component",
        ),
    ],
)
def test_a_wrong_admin_body_gets_400_with_where_and_what(
    simulator: RunningSimulator, path: str, body: object, message: str
) -> None:
    before = simulator.state()
    resp = _post(simulator, path, body)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["error"], resp.json()
    assert simulator.state()["faults"] == before["faults"]


def test_a_bad_switch_for_one_provider_changes_no_provider(simulator: RunningSimulator) -> None:
    resp = _post(simulator, "/_sim/faults", {"openai": {"error_rate": 0.5}, "anthropic": {"latency": -1}})
    assert resp.status_code == 400 and "anthropic.latency" in resp.json()["error"]
    assert simulator.state()["faults"] == {}


def test_a_right_admin_body_is_applied(simulator: RunningSimulator) -> None:
    resp = _post(simulator, "/_sim/faults", {"openai": {"error_rate": 0.5}})
    assert resp.status_code == 200
    resp = _post(simulator, "/_sim/faults", {"openai": {"latency": 0.2}})  # merged with what was set
    assert resp.json()["faults"]["openai"]["error_rate"] == 0.5 and resp.json()["faults"]["openai"]["latency"] == 0.2
    usage = _post(simulator, "/_sim/usage", {"multiplier": 3})
    assert usage.status_code == 200 and usage.json()["multiplier"] == 3.0
    analytics = _post(simulator, "/_sim/analytics", {"bot_days": 10})
    assert analytics.status_code == 200 and analytics.json()["bot_days"] == 10
