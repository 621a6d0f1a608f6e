"""Simulated MiniMax Token Plan API: ``GET /v1/token_plan/remains`` (Bearer auth with a simulator key).

Answers ``{"model_remains": [{"model_name", "current_interval_remaining_percent", "end_time",
"current_weekly_remaining_percent", "weekly_end_time"}], "base_resp": {"status_code": 0, "status_msg": "success"}}``
as platform.minimax.io's Token Plan FAQ describes it; times are Unix milliseconds (the interval ends at the next
5-hour boundary from 00:00 UTC, the week on Monday 00:00 UTC). A bad key gets HTTP 200 with ``base_resp``
``{"status_code": 1004, "status_msg": "login fail: Please carry the API secret key..."}``, as MiniMax answers.

Admin (fault switches under provider key ``minimax``): ``GET/POST /_sim/minimax``
``{"models": {"MiniMax-M2": {"interval": 12.5, "weekly": 80}}, "weekly": false}`` sets remaining percents per model
(new names add models) and drops the weekly fields (a plan without a weekly cap). ``POST /_sim/reset`` restores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.plans import Box, check_keys, next_boundary, next_monday, percent, register_admin

PROVIDER = "minimax"
INTERVAL_HOURS = 5


@dataclass(frozen=True)
class State:
    models: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"MiniMax-M2": (86.0, 97.5), "speech-2.6-hd": (100.0, 100.0)}
    )
    weekly: bool = True


def body(state: State, now: float) -> dict[str, Any]:
    end = int(next_boundary(now, INTERVAL_HOURS) * 1000)
    week_end = int(next_monday(now) * 1000)
    remains = []
    for name, (interval, weekly) in state.models.items():
        item: dict[str, Any] = {"model_name": name, "current_interval_remaining_percent": interval, "end_time": end}
        if state.weekly:
            item |= {"current_weekly_remaining_percent": weekly, "weekly_end_time": week_end}
        remains.append(item)
    return {"model_remains": remains, "base_resp": {"status_code": 0, "status_msg": "success"}}


def apply(state: State, c: dict[str, Any]) -> State:
    check_keys(c, {"models", "weekly"}, PROVIDER)
    models = dict(state.models)
    if "models" in c:
        if not isinstance(c["models"], dict) or not c["models"]:
            raise ValueError("minimax.models: expected an object of model -> {interval, weekly}")
        for name, spec in c["models"].items():
            if not isinstance(spec, dict):
                raise ValueError(f"minimax.models.{name}: expected an object")
            check_keys(spec, {"interval", "weekly"}, f"minimax.models.{name}")
            old = models.get(name, (100.0, 100.0))
            models[name] = (
                percent(spec.get("interval", old[0]), f"minimax.models.{name}.interval"),
                percent(spec.get("weekly", old[1]), f"minimax.models.{name}.weekly"),
            )
    weekly = state.weekly
    if "weekly" in c:
        if not isinstance(c["weekly"], bool):
            raise ValueError("minimax.weekly: expected true or false")
        weekly = c["weekly"]
    return replace(state, models=models, weekly=weekly)


def error(status: int, req: Request | None = None) -> Response:
    return Response.json({"base_resp": {"status_code": 1000 + status, "status_msg": "unknown error"}}, status)


def register(sim: Any) -> None:
    box = Box(State)
    register_admin(sim, "/_sim/minimax", box, apply, lambda s: {"body": body(s, sim.clock())})

    @sim.router.route("GET", "/v1/token_plan/remains")
    @with_faults(sim, PROVIDER, error)
    def remains(req: Request) -> Response:
        if not sim.key_ok(sim.bearer(req)):
            msg = "login fail: Please carry the API secret key in the 'Authorization' field of the request header"
            return Response.json({"base_resp": {"status_code": 1004, "status_msg": msg}})
        return Response.json(body(box.get(), sim.clock()))
