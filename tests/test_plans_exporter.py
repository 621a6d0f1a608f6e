"""The plan and account sources (StepFun, MiniMax Token Plan, Zhipu GLM coding plan, Coze benefits) against the
real exporter and the simulator: exported values equal what was served, a broken answer keeps the last values and
marks the source down, and no key leaks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter

from exporter.simulator import DEMO_KEY

WRONG_KEY = "sk-wrong-plan-secret-0123456789"


def config(url: str, **extra: Any) -> dict[str, Any]:
    common = {"base_url": url, "interval": "1s", "timeout": "1s", "retries": 0, "api_key_env": "LLMPULSE_DEMO_KEY"}
    return {
        "sources": [
            {"type": "stepfun", "name": "step", **common},
            {"type": "minimax", "name": "mm", **common},
            {"type": "zhipu", "name": "glm", **common},
            {"type": "coze", "name": "coze", **common, "qps_resources": ["chat", "workflow"]},
        ]
    }


def served(url: str, path: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    resp = requests.get(
        f"{url}{path}", params=params, headers=headers or {"Authorization": f"Bearer {DEMO_KEY}"}, timeout=5
    )
    resp.raise_for_status()
    return resp.json()


def admin(url: str, provider: str, body: Any) -> None:
    resp = requests.post(f"{url}/_sim/{provider}", json=body, timeout=5)
    assert resp.status_code == 200, resp.text


def quotas(m: Metrics, source: str) -> dict[tuple[str, str], float]:
    return {
        (labels["quota"], labels["window"]): v
        for labels, v in m.find("llmpulse_plan_quota_remaining_ratio", source=source)
    }


def resets(m: Metrics, source: str) -> dict[tuple[str, str], float]:
    return {
        (labels["quota"], labels["window"]): v
        for labels, v in m.find("llmpulse_plan_quota_reset_timestamp_seconds", source=source)
    }


def up(m: Metrics, *sources: str) -> bool:
    return all(m.value("llmpulse_source_up", source=s) == 1 for s in sources)


def test_exported_values_equal_the_served_answers(simulator: Any, tmp_path: Path) -> None:
    admin(simulator.url, "minimax", {"models": {"MiniMax-M2": {"interval": 7.5, "weekly": 64}}})
    admin(simulator.url, "zhipu", {"used": {"5h": 91, "weekly": 40}, "level": "lite"})
    admin(simulator.url, "coze_benefits", {"call_tool": {"total": 200, "used": 150}, "extra_qps": {"chat": 30}})
    admin(simulator.url, "stepfun", {"cash": 12.25, "voucher": 5})
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "step", "mm", "glm", "coze"), what="all four up")

        step = served(simulator.url, "/v1/accounts")
        assert m.value("llmpulse_balance", source="step", currency="CNY", kind="total") == step["balance"] == 17.25
        assert m.value("llmpulse_balance", source="step", currency="CNY", kind="cash") == 12.25
        assert m.value("llmpulse_balance", source="step", currency="CNY", kind="voucher") == 5
        assert m.value("llmpulse_balance_available", source="step") == 1
        assert m.value("llmpulse_plan_info", source="step", plan="prepaid") == 1

        mm = served(simulator.url, "/v1/token_plan/remains")["model_remains"]
        expected = {}
        for item in mm:
            expected[(item["model_name"], "interval")] = item["current_interval_remaining_percent"] / 100
            expected[(item["model_name"], "weekly")] = item["current_weekly_remaining_percent"] / 100
        assert quotas(m, "mm") == pytest.approx(expected)
        assert quotas(m, "mm")[("MiniMax-M2", "interval")] == pytest.approx(0.075)
        assert resets(m, "mm")[("MiniMax-M2", "interval")] == mm[0]["end_time"] / 1000  # milliseconds read as such

        glm = served(simulator.url, "/api/monitor/usage/quota/limit", headers={"Authorization": DEMO_KEY})
        limits = {(lim["type"], lim["unit"]): lim for lim in glm["data"]["limits"]}
        assert quotas(m, "glm") == pytest.approx(
            {("tokens", "5h"): 0.09, ("tokens", "weekly"): 0.6, ("time", "monthly"): 0.94}
        )
        assert resets(m, "glm")[("tokens", "5h")] == limits[("TOKENS_LIMIT", 3)]["nextResetTime"] / 1000
        assert m.value("llmpulse_plan_info", source="glm", plan="lite") == 1

        benefits = served(simulator.url, "/v1/commerce/benefit/benefits/get", benefit_type_list="call_tool_limit")
        info = benefits["data"]["benefit_info"][0]["effective"]["item_info"]
        assert quotas(m, "coze") == {("call_tool", "plan"): 0.25}
        assert resets(m, "coze") == {("call_tool", "plan"): info["end_at"]}
        assert m.value("llmpulse_plan_info", source="coze", plan="pro_personal") == 1
        assert m.value("llmpulse_plan_api_qps_limit", source="coze", resource="chat") == 50  # 20 basic + 30 extra
        assert m.value("llmpulse_plan_api_qps_limit", source="coze", resource="workflow") == 10
        assert m.find("llmpulse_plan_api_qps_limit", source="coze", resource="plugin") == []  # not configured


def test_postpaid_stepfun_has_no_availability_guess(simulator: Any, tmp_path: Path) -> None:
    admin(simulator.url, "stepfun", {"type": "postpaid", "cash": -3.5, "voucher": 0})
    with exporter({"sources": config(simulator.url)["sources"][:1]}, tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "step"), what="up")
        assert m.value("llmpulse_balance", source="step", currency="CNY", kind="total") == -3.5
        assert m.value("llmpulse_plan_info", source="step", plan="postpaid") == 1
        assert m.find("llmpulse_balance_available", source="step") == []


def test_broken_answers_keep_last_values_and_leak_no_key(simulator: Any, tmp_path: Path) -> None:
    with exporter(config(simulator.url), tmp_path) as proc:
        m = proc.wait_for(lambda m: up(m, "step", "mm", "glm", "coze"), what="up")
        before = {s: quotas(m, s) for s in ("mm", "glm", "coze")}
        simulator.faults({"minimax": {"malformed": 1000}, "zhipu": {"down": True}, "coze_benefits": {"down": True}})
        m = proc.wait_for(
            lambda m: all(m.value("llmpulse_source_up", source=s) == 0 for s in ("mm", "glm", "coze")),
            what="three down",
        )
        assert m.value("llmpulse_source_poll_errors_total", source="mm", reason="invalid_response") >= 1
        assert m.value("llmpulse_source_poll_errors_total", source="glm", reason="http_5xx") >= 1
        for source, values in before.items():
            assert quotas(m, source) == values  # the last good data stays
        assert m.value("llmpulse_source_up", source="step") == 1

    cfg = config(simulator.url)
    simulator.clear_faults()
    with exporter(cfg, tmp_path, env={"LLMPULSE_DEMO_KEY": WRONG_KEY}) as proc:
        m = proc.wait_for(
            lambda m: (
                all(m.value("llmpulse_source_up", source=s) == 0 for s in ("step", "mm", "glm", "coze"))
                and m.total("llmpulse_source_poll_errors_total", source="coze") >= 1
            ),
            what="wrong key refused",
        )
        assert m.value("llmpulse_source_poll_errors_total", source="coze", reason="http_4xx") >= 1
        assert m.value("llmpulse_source_poll_errors_total", source="glm", reason="http_4xx") >= 1
        assert m.value("llmpulse_source_poll_errors_total", source="mm", reason="invalid_response") >= 1
        page = requests.get(f"{proc.url}/", timeout=5).text
        assert "login fail" in page
        assert WRONG_KEY not in page and WRONG_KEY not in m.text and WRONG_KEY not in proc.log()
