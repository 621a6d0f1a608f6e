"""Simulated StepFun account API: ``GET /v1/accounts`` (Bearer auth with a simulator key).

Answers ``{"object": "account", "type": "prepaid", "balance", "total_cash_balance", "total_voucher_balance"}`` (CNY,
numbers; ``amounts: "string"`` sends numeric strings), as platform.stepfun.com documents the endpoint. A bad key gets
HTTP 401 with an OpenAI-style ``{"error": {"message", "type"}}`` (StepFun's API is OpenAI-compatible).

Admin (fault switches: the shared ones under provider key ``stepfun``): ``GET/POST /_sim/stepfun``
``{"type": "prepaid" | "postpaid", "cash": 88.5, "voucher": 10, "amounts": "number" | "string"}``; ``balance`` is
cash + voucher. ``POST /_sim/reset`` restores the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.plans import Box, amount, check_keys, register_admin

PROVIDER = "stepfun"


@dataclass(frozen=True)
class State:
    type: str = "prepaid"
    cash: float = 88.5
    voucher: float = 10.0
    amounts: str = "number"


def body(state: State) -> dict[str, Any]:
    def money(value: float) -> float | str:
        value = round(value, 4) + 0.0
        return f"{value:.4f}" if state.amounts == "string" else value

    return {
        "object": "account",
        "type": state.type,
        "balance": money(state.cash + state.voucher),
        "total_cash_balance": money(state.cash),
        "total_voucher_balance": money(state.voucher),
    }


def apply(state: State, c: dict[str, Any]) -> State:
    check_keys(c, {"type", "cash", "voucher", "amounts"}, PROVIDER)
    if "type" in c and c["type"] not in ("prepaid", "postpaid"):
        raise ValueError('stepfun.type: expected "prepaid" or "postpaid"')
    if "amounts" in c and c["amounts"] not in ("number", "string"):
        raise ValueError('stepfun.amounts: expected "number" or "string"')
    changes: dict[str, Any] = {k: c[k] for k in ("type", "amounts") if k in c}
    if "cash" in c:
        changes["cash"] = amount(c["cash"], "stepfun.cash", negative=True)  # postpaid accounts can owe
    if "voucher" in c:
        changes["voucher"] = amount(c["voucher"], "stepfun.voucher")
    return replace(state, **changes)


def error(status: int, req: Request | None = None) -> Response:
    kind = {401: "invalid_api_key", 429: "rate_limit_error"}.get(status, "server_error")
    message = {401: "Incorrect API key provided"}.get(status, "The server had an error")
    return Response.json({"error": {"message": message, "type": kind}}, status)


def register(sim: Any) -> None:
    box = Box(State)
    register_admin(sim, "/_sim/stepfun", box, apply, lambda s: {"body": body(s)})

    @sim.router.route("GET", "/v1/accounts")
    @with_faults(sim, PROVIDER, error)
    def accounts(req: Request) -> Response:
        if not sim.key_ok(sim.bearer(req)):
            return error(401)
        return Response.json(body(box.get()))
