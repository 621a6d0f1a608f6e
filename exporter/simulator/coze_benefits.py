"""Simulated Coze account benefits: ``GET /v1/commerce/benefit/benefits/get`` (Bearer auth with a simulator key).

Query ``benefit_type_list=call_tool_limit`` answers the paid-plugin (MCP) call allowance; ``benefit_type_list=
api_run_qps&resource_id=chat|workflow|plugin`` the API QPS of that resource; no list answers the plan level only.
Envelope ``{"code": 0, "msg": "", "data": {"basic_info": {"user_level"}, "benefit_info": [{"benefit_type",
"resource_id", "basic": {"item_info": {"strategy", "total", "used", "start_at", "end_at"}, "status": "valid"},
"effective": {...}, "extra": [...]}]}, "detail": {"logid"}}`` as coze-py ``cozepy/benefits`` models it; a bad
token gets HTTP 401 ``{"code": 4100, "msg": "authentication is invalid"}``. Coze has no analytics API, and this
simulator has none either.

Admin (fault switches under provider key ``coze_benefits``): ``GET/POST /_sim/coze_benefits`` ``{"user_level":
"pro_personal", "call_tool": {"total": 100, "used": 95, "strategy": "by_quota" | "unlimit" | "forbidden"},
"qps": {"chat": 50, "workflow": 20}, "extra_qps": {"chat": 30}}``. ``POST /_sim/reset`` restores the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.plans import Box, amount, check_keys, month_start, next_month, register_admin

PROVIDER = "coze_benefits"
LEVELS = ("free", "v1_pro_instance", "pro_personal", "team", "enterprise")
STRATEGIES = ("by_quota", "unlimit", "forbidden")
RESOURCES = ("chat", "workflow", "plugin")


@dataclass(frozen=True)
class State:
    user_level: str = "pro_personal"
    call_tool: dict[str, Any] = field(default_factory=lambda: {"total": 500.0, "used": 120.0, "strategy": "by_quota"})
    qps: dict[str, float] = field(default_factory=lambda: {"chat": 20.0, "workflow": 10.0, "plugin": 10.0})
    extra_qps: dict[str, float] = field(default_factory=dict)


def _status(info: dict[str, Any]) -> dict[str, Any]:
    return {"item_info": info, "status": "valid"}


def body(state: State, now: float, types: list[str], resource: str | None) -> dict[str, Any]:
    start, end = int(month_start(now)), int(next_month(now))
    benefits: list[dict[str, Any]] = []
    if "call_tool_limit" in types:
        ct = state.call_tool
        info = {"strategy": ct["strategy"], "total": ct["total"], "used": ct["used"], "start_at": start, "end_at": end}
        benefits.append({"benefit_type": "call_tool_limit", "basic": _status(info), "effective": _status(info)})
    if "api_run_qps" in types and resource in RESOURCES:
        base = state.qps.get(resource, 0.0)
        extra = state.extra_qps.get(resource, 0.0)
        item: dict[str, Any] = {
            "benefit_type": "api_run_qps",
            "resource_id": resource,
            "basic": _status({"strategy": "by_quota", "total": base, "used": 0, "start_at": start, "end_at": 0}),
            "effective": _status(
                {"strategy": "by_quota", "total": base + extra, "used": 0, "start_at": start, "end_at": 0}
            ),
        }
        if extra:
            item["extra"] = [
                _status({"strategy": "by_quota", "total": extra, "used": 0, "start_at": start, "end_at": end})
            ]
        benefits.append(item)
    return {
        "code": 0,
        "msg": "",
        "data": {"basic_info": {"user_level": state.user_level}, "benefit_info": benefits},
        "detail": {"logid": "20261207111500C0ZEBENEF1TS0000"},
    }


def apply(state: State, c: dict[str, Any]) -> State:
    check_keys(c, {"user_level", "call_tool", "qps", "extra_qps"}, PROVIDER)
    out = state
    if "user_level" in c:
        if c["user_level"] not in LEVELS:
            raise ValueError(f"coze_benefits.user_level: expected one of {', '.join(LEVELS)}")
        out = replace(out, user_level=c["user_level"])
    if "call_tool" in c:
        ct = c["call_tool"]
        if not isinstance(ct, dict):
            raise ValueError("coze_benefits.call_tool: expected an object")
        check_keys(ct, {"total", "used", "strategy"}, "coze_benefits.call_tool")
        new = dict(out.call_tool)
        for key in ("total", "used"):
            if key in ct:
                new[key] = amount(ct[key], f"coze_benefits.call_tool.{key}")
        if "strategy" in ct:
            if ct["strategy"] not in STRATEGIES:
                raise ValueError(f"coze_benefits.call_tool.strategy: expected one of {', '.join(STRATEGIES)}")
            new["strategy"] = ct["strategy"]
        out = replace(out, call_tool=new)
    for key in ("qps", "extra_qps"):
        if key in c:
            if not isinstance(c[key], dict):
                raise ValueError(f"coze_benefits.{key}: expected an object of resource -> qps")
            check_keys(c[key], set(RESOURCES), f"coze_benefits.{key}")
            values = {r: amount(v, f"coze_benefits.{key}.{r}") for r, v in c[key].items()}
            merged: dict[str, float] = {**getattr(out, key), **values}
            out = replace(out, qps=merged) if key == "qps" else replace(out, extra_qps=merged)
    return out


def error(status: int, req: Request | None = None) -> Response:
    code, msg = {401: (4100, "authentication is invalid"), 429: (4013, "Request rate limit exceeded")}.get(
        status, (5000, "internal error")
    )
    return Response.json({"code": code, "msg": msg}, status)


def register(sim: Any) -> None:
    box = Box(State)
    register_admin(
        sim,
        "/_sim/coze_benefits",
        box,
        apply,
        lambda s: {"call_tool_limit": body(s, sim.clock(), ["call_tool_limit"], None)},
    )

    @sim.router.route("GET", "/v1/commerce/benefit/benefits/get")
    @with_faults(sim, PROVIDER, error)
    def benefits(req: Request) -> Response:
        if not sim.key_ok(sim.bearer(req)):
            return error(401)
        types = [t for arg in req.args("benefit_type_list") for t in arg.split(",") if t]
        return Response.json(body(box.get(), sim.clock(), types, req.arg("resource_id")))
