"""A faithful simulator of the provider APIs llmpulse reads, for the demo, docker compose and the tests.

One module per provider API registers its routes on a shared router; all of them use the same fault switches
(:mod:`exporter.simulator.faults`) and the same seeded, deterministic data. An admin API under ``/_sim/`` changes
faults at run time and reports what was served:

- ``GET /_sim/state``: current faults and per-provider served counts
- ``POST /_sim/faults`` ``{"openai": {"error_rate": 0.08}, "*": {"latency": 0.2}}``: merge fault switches
- ``DELETE /_sim/faults``: clear faults; ``POST /_sim/reset``: clear faults, counts and provider state
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from exporter.httpserver import Request, Response, Router, Server
from exporter.simulator import (
    analytics,
    anthropic,
    balances,
    coze_benefits,
    inference,
    minimax,
    openai,
    statuspage,
    stepfun,
    zhipu,
)
from exporter.simulator.admin import BadBody, read_body
from exporter.simulator.common import DEMO_KEY, DEMO_MANAGEMENT_KEY
from exporter.simulator.faults import FaultRegistry, FaultsBody
from exporter.simulator.usage_data import OrgSize

__all__ = ["DEMO_KEY", "DEMO_MANAGEMENT_KEY", "OrgSize", "Simulator"]

log = logging.getLogger(__name__)

#: One module per simulated API; each registers its routes on the simulator's router.
SIM_MODULES = (openai, anthropic, inference, balances, statuspage, analytics, stepfun, minimax, zhipu, coze_benefits)


class Simulator:
    """The simulated provider APIs on one router. ``clock`` lets tests freeze "now"; ``org_size`` replaces the
    hand-written OpenAI and Anthropic organizations with generated ones of that size (see :class:`OrgSize`)."""

    def __init__(
        self,
        seed: int = 42,
        *,
        clock: Callable[[], float] = time.time,
        keys: tuple[str, ...] = (DEMO_KEY, DEMO_MANAGEMENT_KEY),
        faults: dict[str, dict[str, Any]] | None = None,
        org_size: OrgSize | None = None,
    ) -> None:
        self.seed = seed
        self.org_size = org_size
        self.clock = clock
        self.keys = set(keys)
        self.faults = FaultRegistry(seed)
        self.router = Router()
        self.state: dict[str, Any] = {}  # per-module mutable state (balances, spend multipliers...)
        self.resetters: list[Callable[[], None]] = []
        self._register_admin()
        self.modules: list[str] = []
        for module in SIM_MODULES:
            module.register(self)
            self.modules.append(module.__name__.rsplit(".", 1)[-1])
        self.faults.set_many(faults or {})

    def key_ok(self, key: str | None) -> bool:
        return bool(key) and key in self.keys

    def bearer(self, req: Request) -> str:
        auth = req.header("Authorization")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else ""

    def _register_admin(self) -> None:
        r = self.router

        @r.route("GET", "/_sim/state")
        def state(req: Request) -> Response:
            return Response.json(
                {
                    "seed": self.seed,
                    "now": self.clock(),
                    "modules": self.modules,
                    "org_size": str(self.org_size) if self.org_size else None,
                    **self.faults.snapshot(),
                    "state": _jsonable(self.state),
                }
            )

        @r.route("POST", "/_sim/faults")
        def set_faults(req: Request) -> Response:
            try:
                self.faults.set_many(read_body(req, FaultsBody).root)
            except BadBody as exc:
                return exc.response()
            return Response.json(self.faults.snapshot())

        @r.route("DELETE", "/_sim/faults")
        def clear_faults(req: Request) -> Response:
            self.faults.specs.clear()
            return Response.json(self.faults.snapshot())

        @r.route("POST", "/_sim/reset")
        def reset(req: Request) -> Response:
            self.faults.reset()
            for fn in self.resetters:
                fn()
            return Response.json({"ok": True})

        @r.route("GET", "/_sim/health")
        def health(req: Request) -> Response:
            return Response.json({"ok": True})

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        return Server(self.router, host, port).start()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
