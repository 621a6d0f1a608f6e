"""What the plan and account simulators (StepFun, MiniMax, Zhipu, Coze benefits) share: a locked, resettable
state with a validated admin endpoint, and window arithmetic for reset times."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from exporter.httpserver import Request, Response

S = TypeVar("S")


class Box(Generic[S]):
    """One simulated provider's state: read under a lock, replaced whole by a validated admin change."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self.state = make()

    def get(self) -> S:
        with self._lock:
            return self.state

    def reset(self) -> None:
        with self._lock:
            self.state = self._make()

    def update(self, change: Callable[[S], S]) -> S:
        with self._lock:
            self.state = change(self.state)
            return self.state


def register_admin(
    sim: Any, path: str, box: Box[S], apply: Callable[[S, Any], S], describe: Callable[[S], dict[str, Any]]
) -> None:
    """``GET path`` describes the state; ``POST path`` applies a change (ValueError -> 400, nothing changed)."""
    sim.resetters.append(box.reset)

    @sim.router.route("GET", path)
    def get_state(req: Request) -> Response:
        return Response.json(describe(box.get()))

    @sim.router.route("POST", path)
    def set_state(req: Request) -> Response:
        try:
            body = req.json()
            if not isinstance(body, dict) or not body:
                raise ValueError("body must be a non-empty object")
            new = box.update(lambda state: apply(state, body))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json(describe(new))


def check_keys(body: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown settings {sorted(unknown)}; allowed: {sorted(allowed)}")


def percent(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a number from 0 to 100")
    if not 0 <= value <= 100:
        raise ValueError(f"{where}: expected a number from 0 to 100")
    return float(value)


def amount(value: Any, where: str, *, negative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a number")
    if value < 0 and not negative:
        raise ValueError(f"{where}: expected a number >= 0")
    return float(value)


def next_boundary(now: float, hours: int) -> float:
    """The end of the current ``hours``-long window counted from 00:00 UTC (5h windows: 05:00, 10:00...)."""
    step = hours * 3600
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return min(day + 86400, day + (math.floor((now - day) / step) + 1) * step)


def next_monday(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=7 - day.weekday())).timestamp()


def next_month(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (
        day.replace(year=day.year + 1, month=1) if day.month == 12 else day.replace(month=day.month + 1)
    ).timestamp()


def month_start(now: float) -> float:
    return datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
