"""Fault switches shared by every simulated provider: latency, error mixes, 429 bursts, malformed bodies,
broken pages and stalled streams. Set per provider (or ``*`` for all) at start or at run time via /_sim/faults.

Random choices use a seeded generator per provider, so a given seed serves the same error sequence, and every
answer is counted in :attr:`FaultRegistry.served` so tests can compare what llmpulse exported with what was served.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

ERROR_BODIES: dict[str, Any] = {}


@dataclass
class FaultSpec:
    latency: float = 0.0  # seconds added to every answer
    latency_jitter: float = 0.0  # +/- uniform jitter on latency (seconds)
    slow_rate: float = 0.0  # share of calls that get slow_latency instead
    slow_latency: float = 0.0
    error_rate: float = 0.0  # share of calls answered with error_status
    error_status: int = 503
    error_type: str = ""  # provider error type/code of those errors ("" = the status's usual one)
    burst_429: int = 0  # the next N calls answer 429
    retry_after: int = 1  # Retry-After of those 429s (seconds)
    malformed: int = 0  # the next N answers have a broken JSON body
    fail_page: int = 0  # paginated endpoints: page number (1-based) that fails...
    fail_page_status: int = 500  # ...with this status (0 = malformed body)
    fail_page_count: int = 1  # ...this many times (then pages work again)
    stall: float = 0.0  # streams stop sending for this many seconds after the first event
    stall_rate: float = 1.0  # share of streams that stall when stall > 0
    down: bool = False  # refuse everything with 503

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSpec:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        return cls(**data)


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
        with self._lock:
            base = asdict(self.specs.get(provider, FaultSpec())) if merge else {}
            base.update(data)
            self.specs[provider] = FaultSpec.from_dict(base)

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
                "faults": {k: asdict(v) for k, v in self.specs.items()},
                "served": {k: dict(v) for k, v in self.served.items()},
            }
