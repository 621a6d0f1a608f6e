"""Shared fixtures: an in-process simulator on a loopback port (the fake provider APIs) and demo credentials.

The exporter under test always runs as a real ``llmpulse`` subprocess (see :mod:`tests.helpers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from exporter.demo import DEMO_ENV
from exporter.simulator import Simulator


class RunningSimulator:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.server = sim.serve("127.0.0.1", 0)
        self.url = self.server.url

    def faults(self, spec: dict[str, dict[str, object]]) -> None:
        requests.post(f"{self.url}/_sim/faults", json=spec, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sim/faults", timeout=5).raise_for_status()

    def state(self) -> dict[str, object]:
        return requests.get(f"{self.url}/_sim/state", timeout=5).json()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(autouse=True, scope="session")
def demo_env() -> None:
    for key, value in DEMO_ENV.items():
        os.environ.setdefault(key, value)


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    """A fresh simulator (seed 42, real clock) for one test."""
    running = RunningSimulator(Simulator(seed=42))
    try:
        yield running
    finally:
        running.stop()
