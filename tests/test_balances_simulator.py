"""The simulated balance APIs: real shapes and envelopes, burn-down over (simulated) time, and the admin knobs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import requests

from exporter.simulator import DEMO_KEY, DEMO_MANAGEMENT_KEY, Simulator

KEY = {"Authorization": f"Bearer {DEMO_KEY}"}
MGMT = {"Authorization": f"Bearer {DEMO_MANAGEMENT_KEY}"}
BAD = {"Authorization": "Bearer sk-not-a-simulator-key"}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clocked:
    def __init__(self) -> None:
        self.now = START
        self.sim = Simulator(seed=42, clock=lambda: self.now)
        self.server = self.sim.serve()
        self.url = self.server.url

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url + path, headers=headers if headers is not None else KEY, timeout=5)

    def admin(self, body: object) -> requests.Response:
        return requests.post(f"{self.url}/_sim/balances", json=body, timeout=5)


@pytest.fixture(scope="module")
def running() -> Iterator[Clocked]:
    server = Clocked()
    try:
        yield server
    finally:
        server.server.stop()


@pytest.fixture
def sim(running: Clocked) -> Clocked:
    """The module's simulator, back at START with default balances and no faults (via /_sim/reset)."""
    running.now = START
    requests.post(f"{running.url}/_sim/reset", timeout=5).raise_for_status()
    return running


def deepseek_total(sim: Clocked, currency: str = "CNY") -> float:
    infos = sim.get("/user/balance").json()["balance_infos"]
    return float(next(i for i in infos if i["currency"] == currency)["total_balance"])


def test_types_are_the_providers_own(sim: Clocked) -> None:
    ds = sim.get("/user/balance").json()
    assert ds["is_available"] is True
    assert all(
        isinstance(i[k], str)
        for i in ds["balance_infos"]
        for k in ("total_balance", "granted_balance", "topped_up_balance")
    )
    assert [i["currency"] for i in ds["balance_infos"]] == ["CNY"]  # one currency, as real accounts answer
    ms = sim.get("/v1/users/me/balance").json()
    assert (ms["code"], ms["scode"], ms["status"]) == (0, "0x0", True)
    assert all(isinstance(v, float) for v in ms["data"].values())
    sf = sim.get("/v1/user/info").json()
    assert sf["code"] == 20000 and isinstance(sf["data"]["totalBalance"], str)
    credits = sim.get("/api/v1/credits", MGMT).json()["data"]
    assert isinstance(credits["total_credits"], float)


def test_parts_add_up(sim: Clocked) -> None:
    sim.now += 7 * 3600
    for info in sim.get("/user/balance").json()["balance_infos"]:
        assert float(info["total_balance"]) == pytest.approx(
            float(info["granted_balance"]) + float(info["topped_up_balance"]), abs=0.011
        )
    sf = sim.get("/v1/user/info").json()["data"]
    assert float(sf["totalBalance"]) == pytest.approx(float(sf["balance"]) + float(sf["chargeBalance"]), abs=0.011)
    ms = sim.get("/v1/users/me/balance").json()["data"]
    assert ms["available_balance"] == pytest.approx(ms["voucher_balance"] + max(0.0, ms["cash_balance"]), abs=1e-4)


def test_balances_burn_down_then_top_up(sim: Clocked) -> None:
    first = deepseek_total(sim)
    sim.now += 3600
    second = deepseek_total(sim)
    assert second < first  # a slope for the runway panel
    granted = float(sim.get("/user/balance").json()["balance_infos"][0]["granted_balance"])
    assert granted < 10.0  # gift credit is spent first
    totals = []
    for _ in range(240):  # ten days in 1 h steps: the default account refills instead of running dry
        sim.now += 3600
        totals.append(deepseek_total(sim))
    assert min(totals) > 0
    assert any(b > a for a, b in itertools.pairwise(totals))  # a top-up happened


def test_openrouter_usage_grows_as_credits_shrink(sim: Clocked) -> None:
    before = sim.get("/api/v1/credits", MGMT).json()["data"]
    key_before = sim.get("/api/v1/key").json()["data"]
    sim.now += 2 * 3600
    after = sim.get("/api/v1/credits", MGMT).json()["data"]
    key_after = sim.get("/api/v1/key").json()["data"]
    assert after["total_usage"] > before["total_usage"]
    assert after["total_credits"] - after["total_usage"] < before["total_credits"] - before["total_usage"]
    assert key_after["usage"] > key_before["usage"]
    assert key_after["limit_remaining"] < key_before["limit_remaining"]
    assert key_after["usage_daily"] <= key_after["usage"]


def test_exhausting_a_balance_stays_exhausted(sim: Clocked) -> None:
    resp = sim.admin(
        {"deepseek": {"total": 0}, "siliconflow": {"total": 0}, "moonshot": {"total": 0}, "openrouter": {"total": 0}}
    )
    assert resp.status_code == 200, resp.text
    sim.now += 30 * 86400
    ds = sim.get("/user/balance").json()
    assert ds["is_available"] is False
    assert all(float(i["total_balance"]) == 0 for i in ds["balance_infos"])
    assert float(sim.get("/v1/user/info").json()["data"]["totalBalance"]) == 0
    assert sim.get("/v1/users/me/balance").json()["data"]["available_balance"] == 0
    credits = sim.get("/api/v1/credits", MGMT).json()["data"]
    assert credits["total_credits"] == pytest.approx(credits["total_usage"])


def test_set_balance_burns_to_zero_and_stops(sim: Clocked) -> None:
    sim.admin({"siliconflow": {"total": 1.0, "burn_per_hour": 1.0}})
    sim.now += 1800
    assert float(sim.get("/v1/user/info").json()["data"]["totalBalance"]) == pytest.approx(0.5, abs=0.01)
    sim.now += 7200
    assert float(sim.get("/v1/user/info").json()["data"]["totalBalance"]) == 0.0


def test_moonshot_negative_cash_option(sim: Clocked) -> None:
    sim.admin({"moonshot": {"voucher": 10.0, "cash": -3.5, "burn_per_hour": 0}})
    data = sim.get("/v1/users/me/balance").json()["data"]
    assert data == {"available_balance": 10.0, "voucher_balance": 10.0, "cash_balance": -3.5}


def test_per_currency_and_numeric_amounts(sim: Clocked) -> None:
    sim.admin({"deepseek": {"currency": "USD", "total": 2.5, "amounts": "number"}})
    infos = {i["currency"]: i for i in sim.get("/user/balance").json()["balance_infos"]}
    assert infos["USD"]["total_balance"] == 2.5  # a number, as an older doc revision showed
    assert infos["CNY"]["total_balance"] == 310.0


def test_bad_admin_requests_change_nothing(sim: Clocked) -> None:
    before = sim.get("/_sim/balances").json()
    for body in (
        {"deepseek": {"totl": 0}},
        {"nope": {}},
        {"deepseek": {"total": -1}},
        {"moonshot": {"total": 1, "cash": 2}},
        {"deepseek": {"total": 0}, "openrouter": {"limit": "x"}},
        [],
        {"*": {"granted": 1}},
    ):
        resp = sim.admin(body)
        assert resp.status_code == 400, body
        assert resp.json()["error"]
    after = sim.get("/_sim/balances").json()
    after["hits"] = before["hits"]
    assert after == before


def test_reset_restores_defaults(sim: Clocked) -> None:
    first = sim.get("/_sim/balances").json()
    sim.admin({"*": {"total": 0}})
    requests.post(f"{sim.url}/_sim/reset", timeout=5).raise_for_status()
    restored = sim.get("/_sim/balances").json()
    assert restored["deepseek"] == first["deepseek"] and restored["openrouter"] == first["openrouter"]


def test_auth_failures_use_each_providers_envelope(sim: Clocked) -> None:
    ds = sim.get("/user/balance", BAD)
    assert ds.status_code == 401 and set(ds.json()["error"]) == {"message", "type", "param", "code"}
    ms = sim.get("/v1/users/me/balance", BAD)
    assert ms.status_code == 401 and ms.json()["error"]["type"] == "invalid_authentication_error"
    sf = sim.get("/v1/user/info", BAD)
    assert sf.status_code == 401 and sf.text == "Invalid token"
    missing = sim.get("/api/v1/key", {})
    assert missing.status_code == 401
    assert missing.json() == {"error": {"code": 401, "message": "Missing Authentication header"}}
    assert sim.get("/api/v1/auth/key", BAD).json()["error"]["code"] == 401  # an integer, equal to the status


def test_openrouter_credits_need_the_management_key(sim: Clocked) -> None:
    zeros = sim.get("/api/v1/credits")  # what an ordinary key got from the real API in 2026
    assert zeros.status_code == 200 and zeros.json() == {"data": {"total_credits": 0, "total_usage": 0}}
    sim.admin({"openrouter": {"credits_refusal": "403"}})  # the documented answer
    refused = sim.get("/api/v1/credits")
    assert refused.status_code == 403
    assert refused.json() == {"error": {"code": 403, "message": "Only management keys can perform this operation"}}
    assert sim.get("/api/v1/credits", MGMT).status_code == 200
    assert sim.get("/api/v1/credits", MGMT).json()["data"]["total_credits"] > 0
    assert sim.get("/api/v1/key").json()["data"]["is_management_key"] is False
    assert sim.get("/api/v1/key", MGMT).json()["data"]["is_management_key"] is True


def test_openrouter_legacy_key_shape(sim: Clocked) -> None:
    sim.admin({"openrouter": {"key_shape": "legacy", "limit": None}})
    data = sim.get("/api/v1/key").json()["data"]
    assert "is_management_key" not in data and "usage_daily" not in data
    assert data["limit"] is None and data["rate_limit"] == {"requests": 40, "interval": "10s"}


def test_openrouter_knobs(sim: Clocked) -> None:
    sim.admin({"openrouter": {"limit": None, "legacy_only": True}})
    assert sim.get("/api/v1/key").status_code == 404
    data = sim.get("/api/v1/auth/key").json()["data"]
    assert data["limit"] is None and data["limit_remaining"] is None and data["limit_reset"] is None


def test_siliconflow_retired_switch_answers_410(sim: Clocked) -> None:
    sim.admin({"siliconflow": {"retired": True}})
    assert sim.get("/v1/user/info").status_code == 410
    sim.admin({"siliconflow": {"retired": False}})
    assert sim.get("/v1/user/info").status_code == 200


def test_siliconflow_error_code_under_http_200(sim: Clocked) -> None:
    sim.admin({"siliconflow": {"code": 30001, "message": "account suspended"}})
    resp = sim.get("/v1/user/info")
    assert resp.status_code == 200 and resp.json()["code"] == 30001


def test_faults_use_the_shared_switches(sim: Clocked) -> None:
    sim.sim.faults.set("moonshot", {"down": True})
    resp = sim.get("/v1/users/me/balance")
    assert resp.status_code == 503 and resp.json()["error"]["type"] == "server_error"
    sim.sim.faults.set("openrouter", {"error_rate": 1.0, "error_status": 502})
    assert sim.get("/api/v1/key").json() == {"error": {"code": 502, "message": "Bad Gateway"}}
    assert sim.sim.faults.served["moonshot"]["503"] == 1
