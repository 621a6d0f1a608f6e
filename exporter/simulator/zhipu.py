"""Simulated Zhipu GLM coding plan quota endpoint (undocumented by Zhipu): ``GET /api/monitor/usage/quota/limit``.

Auth: the key as the bare ``Authorization`` value (what coding-plan monitors send), ``Bearer <key>`` accepted too.
Answers, in the shape those tools read: ``{"code": 200, "msg": "操作成功", "success": true, "data": {"level":
"pro", "limits": [TOKENS_LIMIT unit 3 number 5 (5 hours), TOKENS_LIMIT unit 6 number 1 (weekly), TIME_LIMIT unit 5
number 1 (monthly tool calls, with usage/currentValue/remaining counts)]}}``; ``percentage`` is the used share and
``nextResetTime`` Unix milliseconds. A bad key gets HTTP 401 ``{"code": 1001, "msg": "...", "success": false}``.

Admin (fault switches under provider key ``zhipu``): ``GET/POST /_sim/zhipu`` ``{"used": {"5h": 12, "weekly": 40,
"monthly": 3}, "level": "lite", "weekly": false}``: used percents per window, the plan level, and whether the plan
has the weekly limit (older plans do not). ``POST /_sim/reset`` restores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.plans import Box, check_keys, next_boundary, next_monday, next_month, percent, register_admin

PROVIDER = "zhipu"
TIME_LIMIT_CALLS = 1000
LEVELS = ("lite", "pro", "max")


@dataclass(frozen=True)
class State:
    used: dict[str, float] = field(default_factory=lambda: {"5h": 23.0, "weekly": 41.0, "monthly": 6.0})
    level: str = "pro"
    weekly: bool = True


def body(state: State, now: float) -> dict[str, Any]:
    def ms(ts: float) -> int:
        return int(ts * 1000)

    calls_used = round(TIME_LIMIT_CALLS * state.used["monthly"] / 100)
    limits: list[dict[str, Any]] = [
        {
            "type": "TOKENS_LIMIT",
            "unit": 3,
            "number": 5,
            "percentage": state.used["5h"],
            "nextResetTime": ms(next_boundary(now, 5)),
        },
    ]
    if state.weekly:
        limits.append(
            {
                "type": "TOKENS_LIMIT",
                "unit": 6,
                "number": 1,
                "percentage": state.used["weekly"],
                "nextResetTime": ms(next_monday(now)),
            }
        )
    limits.append(
        {
            "type": "TIME_LIMIT",
            "unit": 5,
            "number": 1,
            "usage": TIME_LIMIT_CALLS,
            "currentValue": calls_used,
            "remaining": TIME_LIMIT_CALLS - calls_used,
            "percentage": state.used["monthly"],
            "nextResetTime": ms(next_month(now)),
        }
    )
    return {"code": 200, "msg": "操作成功", "success": True, "data": {"limits": limits, "level": state.level}}


def apply(state: State, c: dict[str, Any]) -> State:
    check_keys(c, {"used", "level", "weekly"}, PROVIDER)
    used = dict(state.used)
    if "used" in c:
        if not isinstance(c["used"], dict):
            raise ValueError("zhipu.used: expected an object of window -> used percent")
        check_keys(c["used"], set(used), "zhipu.used")
        used |= {k: percent(v, f"zhipu.used.{k}") for k, v in c["used"].items()}
    if "level" in c and c["level"] not in LEVELS:
        raise ValueError(f"zhipu.level: expected one of {', '.join(LEVELS)}")
    if "weekly" in c and not isinstance(c["weekly"], bool):
        raise ValueError("zhipu.weekly: expected true or false")
    return replace(state, used=used, level=c.get("level", state.level), weekly=c.get("weekly", state.weekly))


def error(status: int, req: Request | None = None) -> Response:
    return Response.json({"code": status, "msg": "系统繁忙", "success": False}, status)


def register(sim: Any) -> None:
    box = Box(State)
    register_admin(sim, "/_sim/zhipu", box, apply, lambda s: {"body": body(s, sim.clock())})

    @sim.router.route("GET", "/api/monitor/usage/quota/limit")
    @with_faults(sim, PROVIDER, error)
    def quota_limit(req: Request) -> Response:
        key = req.header("Authorization").strip()
        if not (sim.key_ok(key) or sim.key_ok(sim.bearer(req))):
            return Response.json({"code": 1001, "msg": "令牌已过期或验证不正确", "success": False}, 401)
        return Response.json(body(box.get(), sim.clock()))
