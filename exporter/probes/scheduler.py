"""Runs every probe on its own thread, on its own schedule, and keeps what the landing page shows.

Why a thread per probe: a provider that hangs until the timeout must not delay other probes, the pollers or
/metrics (which only copies cached bytes and never waits for a probe). A probe's first run is spread over the
first seconds after start, later runs start every ``interval`` +/- 10 % (measured from the previous start, so a
slow answer does not stretch the schedule); ``timeout <= interval`` is enforced by the config.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter.config import ProbeConfig
from exporter.durations import format_duration
from exporter.probes.base import Outcome, Probe
from exporter.probes.recorder import ProbeRecorder
from exporter.redact import redact
from exporter.samples import LiveMetrics

log = logging.getLogger(__name__)

JITTER = 0.1
FIRST_RUN_SPREAD = 2.0  # seconds over which the first runs of all probes are spread


def probe_class(kind: str) -> type[Probe[Any]]:
    from exporter.probes.anthropic import AnthropicProbe
    from exporter.probes.coze import CozeProbe
    from exporter.probes.http import HttpProbe
    from exporter.probes.openai_compatible import OpenAICompatibleProbe

    types: dict[str, type[Probe[Any]]] = {
        "openai_compatible": OpenAICompatibleProbe,
        "anthropic": AnthropicProbe,
        "coze": CozeProbe,
        "http": HttpProbe,
    }
    return types[kind]


@dataclass
class _Status:
    success: bool | None = None
    last_run: float = 0.0  # Unix time the last probe started
    last_duration: float = 0.0
    last_error: str = ""
    runs: int = 0


class ProbeRunner:
    """One probe: its thread, its recorder and its last status."""

    def __init__(self, config: ProbeConfig, live: LiveMetrics) -> None:
        self.config = config
        self.probe = probe_class(config.type)(config)
        self.recorder = ProbeRecorder(
            config, live, streams=self.probe.streams and config.stream, spends_tokens=config.type != "http"
        )
        self.status = _Status()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"probe-{config.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(max(0.0, timeout))

    def alive(self) -> bool:
        """False once the probe's thread has ended without being asked to (it never should: see :meth:`_loop`)."""
        return self._thread.ident is None or self._thread.is_alive() or self._stop.is_set()

    def _loop(self) -> None:
        if self._stop.wait(random.uniform(0, min(FIRST_RUN_SPREAD, self.config.interval / 2))):
            return
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except Exception as exc:  # run_once handles its own errors; this is the last line of defence
                self._internal_failure(exc)
            delay = self.config.interval * (1 + random.uniform(-JITTER, JITTER)) - (time.monotonic() - started)
            if self._stop.wait(max(0.0, delay)):
                return

    def run_once(self) -> Outcome | None:
        """One measurement, recorded. Returns None if llmpulse itself failed (logged, nothing invented)."""
        wall = time.time()
        try:
            outcome = self.probe.run()
            self.recorder.record(outcome)
        except Exception as exc:
            self._internal_failure(exc, wall)
            return None
        error = "" if outcome.success else f"{outcome.code}: {outcome.message}"
        self._update(wall, outcome.success, outcome.duration, error)
        return outcome

    def _internal_failure(self, exc: Exception, wall: float | None = None) -> None:
        """A bug in llmpulse, not a provider error: the probe reads as failing (reason ``internal`` on the landing
        page), nothing is invented, and the loop goes on."""
        log.exception("probe=%s failed inside llmpulse", self.config.name)
        try:
            self.recorder.record_internal_failure()
        except Exception:
            log.exception("probe=%s could not record its failure", self.config.name)
        error = redact(f"internal error: {type(exc).__name__}", (self.config.api_key,))
        self._update(time.time() if wall is None else wall, False, 0.0, error)

    def _update(self, wall: float, success: bool, duration: float, error: str) -> None:
        with self._lock:
            before = self.status.success
            self.status = _Status(success, wall, duration, error, self.status.runs + 1)
        if not success and before is not False:
            log.warning("probe=%s type=%s failing: %s", self.config.name, self.config.type, error)
        elif success and before is False:
            log.info("probe=%s type=%s recovered", self.config.name, self.config.type)
        elif not success:
            log.debug("probe=%s still failing: %s", self.config.name, error)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            st = self.status
        if st.runs == 0:
            last_text = "never"
        else:
            when = datetime.fromtimestamp(st.last_run, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            ago = time.time() - st.last_run
            last_text = (
                f"{when} ({format_duration(ago) + ' ago' if ago >= 1 else 'just now'}, took {st.last_duration:.2f} s)"
            )
        return {
            "name": self.config.name,
            "type": self.config.type,
            "model": self.config.model,
            "provider": self.config.provider_label,
            "success": st.success,
            "last_text": last_text,
            "last_error": st.last_error,
            "interval_text": format_duration(self.config.interval),
            "runs": st.runs,
        }


class ProbeScheduler:
    """All configured probes. ``start()`` launches one thread each; ``stop()`` ends them without waiting long."""

    def __init__(self, configs: list[ProbeConfig], live: LiveMetrics) -> None:
        self.live = live
        self.runners = [ProbeRunner(cfg, live) for cfg in configs]

    def start(self) -> None:
        for runner in self.runners:
            runner.start()

    def stop(self, timeout: float = 1.0) -> None:
        for runner in self.runners:
            runner.stop()
        deadline = time.monotonic() + timeout
        for runner in self.runners:
            runner.join(deadline - time.monotonic())  # daemon threads: a probe mid-call never blocks exit

    def stopped(self) -> list[str]:
        """Names of probes whose thread ended unexpectedly."""
        return [runner.config.name for runner in self.runners if not runner.alive()]

    def statuses(self) -> list[dict[str, Any]]:
        return [runner.describe() for runner in self.runners]
