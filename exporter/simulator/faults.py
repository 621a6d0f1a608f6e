"""Fault switches shared by every simulated provider: latency, error mixes, 429 bursts, malformed bodies,
broken pages and stalled streams. Set per provider (or ``*`` for all) at start or at run time via /_sim/faults.

Random choices use a seeded generator per provider, so a given seed serves the same error sequence, and every
answer is counted in :attr:`FaultRegistry.served` so tests can compare what llmpulse exported with what was served.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Annotated, Any

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, RootModel, StrictBool

from exporter.simulator.admin import AdminModel, validate

Share = Annotated[float, Field(ge=0.0, le=1.0)]

ERROR_BODIES: dict[str, Any] = {}


class FaultSpec(AdminModel):
    """The fault switches of one provider (``*``: of all that have none of their own), as ``/_sim/faults`` takes
    them. Mutable: the countdown switches (burst_429, malformed, fail_page_count) count down as they are used."""

    latency: NonNegativeFloat = 0.0  # seconds added to every answer
    latency_jitter: NonNegativeFloat = 0.0  # +/- uniform jitter on latency (seconds)
    slow_rate: Share = 0.0  # share of calls that get slow_latency instead
    slow_latency: NonNegativeFloat = 0.0
    error_rate: Share = 0.0  # share of calls answered with error_status
    error_status: PositiveInt = 503  # an HTTP status, or a provider code (Coze answers 200 with code 4013)
    error_type: str = ""  # provider error type/code of those errors ("" = the status's usual one)
    burst_429: NonNegativeInt = 0  # the next N calls answer 429
    retry_after: NonNegativeInt = 1  # Retry-After of those 429s (seconds)
    malformed: NonNegativeInt = 0  # the next N answers have a broken JSON body
    fail_page: NonNegativeInt = 0  # paginated endpoints: page number (1-based) that fails...
    fail_page_status: int = Field(default=500, ge=0, le=599)  # ...with this status (0 = malformed body)
    fail_page_count: NonNegativeInt = 1  # ...this many times (then pages work again)
    stall: NonNegativeFloat = 0.0  # streams stop sending for this many seconds after the first event
    stall_rate: Share = 1.0  # share of streams that stall when stall > 0
    down: StrictBool = False  # refuse everything with 503


#: ``/_sim/faults``: provider (or ``*``) -> the switches to change.
FaultsBody = RootModel[dict[str, dict[str, Any]]]


class FaultRegistry:
    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self.specs: dict[str, FaultSpec] = {}
        self.served: dict[str, dict[str, int]] = {}
        self._rngs: dict[str, random.Random] = {}

    def reset(self) -> None:
        with self._lock:
            self.specs.clear()
            self.served.clear()
            self._rngs.clear()

    def set(self, provider: str, data: dict[str, Any], merge: bool = True) -> None:
        """Change one provider's switches; raises :class:`~exporter.simulator.admin.BadBody` (nothing changes)."""
        self.set_many({provider: data}, merge)

    def set_many(self, changes: dict[str, dict[str, Any]], merge: bool = True) -> None:
        """Change several providers' switches at once: all are checked first, so a bad one changes nothing."""
        with self._lock:
            checked = {}
            for provider, data in changes.items():
                if not isinstance(data, dict):
                    validate(FaultSpec, data, provider)  # raises, naming the provider
                base = self.specs[provider].model_dump() if merge and provider in self.specs else {}
                checked[provider] = validate(FaultSpec, {**base, **data}, provider)
            self.specs.update(checked)

    def spec(self, provider: str) -> FaultSpec:
        with self._lock:
            return self.specs.get(provider) or self.specs.get("*") or FaultSpec()

    def rng(self, provider: str) -> random.Random:
        with self._lock:
            if provider not in self._rngs:
                self._rngs[provider] = random.Random(f"{self.seed}:{provider}")
            return self._rngs[provider]

    def count(self, provider: str, outcome: str) -> None:
        with self._lock:
            bucket = self.served.setdefault(provider, {})
            bucket[outcome] = bucket.get(outcome, 0) + 1

    def take(self, provider: str, switch: str) -> bool:
        """Consume one unit of a countdown switch (burst_429, malformed, fail_page_count)."""
        with self._lock:
            spec = self.specs.get(provider) or self.specs.get("*")
            if spec is None or getattr(spec, switch) <= 0:
                return False
            setattr(spec, switch, getattr(spec, switch) - 1)
            return True

    def delay(self, provider: str) -> float:
        """Latency for one call, drawn from the configured distribution."""
        spec = self.spec(provider)
        rng = self.rng(provider)
        if spec.slow_rate and rng.random() < spec.slow_rate:
            return spec.slow_latency
        if spec.latency_jitter:
            return max(0.0, spec.latency + rng.uniform(-spec.latency_jitter, spec.latency_jitter))
        return spec.latency

    def sleep(self, provider: str) -> float:
        d = self.delay(provider)
        if d > 0:
            time.sleep(d)
        return d

    def pick_error(self, provider: str) -> int | None:
        """The status to answer instead of success (down, a 429 burst, or the error mix), or None."""
        spec = self.spec(provider)
        if spec.down:
            return 503
        if self.take(provider, "burst_429"):
            return 429
        if spec.error_rate and self.rng(provider).random() < spec.error_rate:
            return spec.error_status
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": {k: v.model_dump() for k, v in self.specs.items()},
                "served": {k: dict(v) for k, v in self.served.items()},
            }
