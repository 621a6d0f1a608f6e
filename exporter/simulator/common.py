"""Helpers shared by the simulator's provider modules: deterministic numbers and fault-aware answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from exporter.httpserver import Request, Response

DEMO_KEY = "llmpulse-demo-key"
#: OpenRouter's /credits needs a management key; the simulator accepts this one there.
DEMO_MANAGEMENT_KEY = "llmpulse-demo-management-key"


def stable_random(seed: int, *parts: object) -> float:
    """A deterministic number in [0, 1) from a seed and any parts (the same inputs always give the same value)."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def malformed_body() -> bytes:
    """A body that is not valid JSON (truncated object), as a broken proxy or provider might send."""
    return b'{"object": "page", "data": [{"object": "bucket", "start_time": 17'


def with_faults(
    sim: Any, provider: str, error: Callable[[int, Request], Response]
) -> Callable[[Callable[[Request], Response]], Callable[[Request], Response]]:
    """Decorator: apply latency and error switches before a handler, malformed bodies after, count outcomes.

    ``error(status, req)`` builds the provider's own error envelope for an injected status.
    """

    def deco(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            sim.faults.sleep(provider)
            status = sim.faults.pick_error(provider)
            if status is not None:
                resp = error(status, req)
                if status == 429:
                    resp.headers.setdefault("Retry-After", str(sim.faults.spec(provider).retry_after))
            else:
                resp = handler(req)
                if resp.status < 400 and sim.faults.take(provider, "malformed"):
                    resp = Response(200, malformed_body(), resp.headers, resp.content_type)
            sim.faults.count(provider, str(resp.status))
            return resp

        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped

    return deco


def broken_page(
    sim: Any, provider: str, page: int, req: Request, error: Callable[[int, Request], Response]
) -> Response | None:
    """The ``fail_page`` fault of a paginated endpoint: the answer that breaks page ``page`` (1-based), or None.

    The configured page fails ``fail_page_count`` times with ``fail_page_status`` in the provider's own envelope
    (``error(status, req)``), or with a malformed body when that status is 0; then it works again.
    """
    spec = sim.faults.spec(provider)
    if spec.fail_page and spec.fail_page == page and sim.faults.take(provider, "fail_page_count"):
        if spec.fail_page_status == 0:
            return Response(200, malformed_body())
        return error(spec.fail_page_status, req)
    return None


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
