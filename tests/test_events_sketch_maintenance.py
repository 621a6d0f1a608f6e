"""Sliding the distinct-user windows never holds the ingest lock for more than one window at a time, and a post
never rebuilds a window itself (a rebuild costs milliseconds; hundreds of windows took seconds under the lock)."""

from __future__ import annotations

import threading
from types import TracebackType

import pytest

from exporter.config import parse_config
from exporter.events_schema import parse_event
from exporter.hll import hash64
from exporter.ingest import EventIngest
from exporter.samples import LiveMetrics

T0 = 1_800_000_000.0


class CountingLock:
    """A lock that counts how often it was taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.taken = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        self.taken += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._lock.release()


def _ingest(monkeypatch: pytest.MonkeyPatch, pairs: int) -> EventIngest:
    monkeypatch.setenv("LLMPULSE_TEST_EVENTS_TOKEN", "t" * 24)
    config = parse_config({"events": {"token_env": "LLMPULSE_TEST_EVENTS_TOKEN"}}).events
    assert config is not None
    ingest = EventIngest(config, LiveMetrics(), refresh_interval=None, clock=lambda: T0)
    for p in range(pairs):
        for window in ingest._windows((f"app{p}", "web")).values():
            for hour in range(3):
                for u in range(50):
                    window.add_hash(hash64(f"{p}-{hour}-{u}"), T0 - hour * 3600, T0)
    return ingest


def test_the_timer_takes_the_lock_once_per_window(monkeypatch: pytest.MonkeyPatch) -> None:
    ingest = _ingest(monkeypatch, pairs=5)
    lock = CountingLock()
    ingest._lock = lock  # type: ignore[assignment]
    ingest.tick(T0 + 2 * 86400)  # every slot of both windows has left
    assert lock.taken >= 2 * 5 + 1  # one per window (5 pairs x 1h, 1d), then the sessions
    for named in ingest._users.values():
        assert all(not w.stale and w.estimate() == 0 for w in named.values())


def test_a_post_after_a_slot_boundary_leaves_the_rebuild_to_the_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    ingest = _ingest(monkeypatch, pairs=1)
    ingest.tick(T0)
    windows = ingest._users[("app0", "web")]
    later = T0 + 2 * 3600 + 1  # the oldest hour left the 1h window
    ingest.clock = lambda: later
    ingest.ingest([parse_event({"app": "app0", "channel": "web", "user_id": "someone", "status": "success"})])
    assert windows["1h"].stale  # advanced by the post, not rebuilt by it
    ingest.tick(later)
    assert not windows["1h"].stale
