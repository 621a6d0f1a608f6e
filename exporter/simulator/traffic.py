"""Simulated application traffic posted to an exporter's ``POST /events``: the demo's and the stack's calls,
sessions and users.

Why: the traffic panels (calls, distinct users, sessions, session length, latency and errors per app/channel) need
a stream of call records the way a Coze workflow or a bot backend would post them. :class:`TrafficModel` produces
that stream (several apps and channels, a skewed user population, sessions that start, make a few calls after
think times and end, some sessionless API calls, a gentle hourly swell, errors with HTTP and Coze codes, durations
from a log-normal distribution); :class:`TrafficGenerator` posts a batch every ``interval`` over real HTTP with the
bearer token, exactly as a client would.

Normal traffic is tuned to stay under the bundle's default alert thresholds: an error ratio of ~0.4 %, under the
1 % error budget of the default 99 % objective (at 1.5 % the slowest error-budget burn alert, 1x the budget over 3d and
6h, would page a healthy demo after three hours) and far under 5 %; a P99 call duration of ~1.7 s < 2 s. When the generator runs next to the simulator (``llmpulse simulate --events-url`` or
``llmpulse serve --demo``) it follows the simulator's fault switches for the key ``events`` (or ``*``):
``error_rate``/``error_status``, ``latency``/``latency_jitter``, ``slow_rate``/``slow_latency`` and ``down``, so
``POST /_sim/faults {"events": {"error_rate": 0.08}}`` turns the application's traffic bad too.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from exporter.simulator.faults import FaultRegistry, FaultSpec

log = logging.getLogger(__name__)

FAULT_KEY = "events"


@dataclass(frozen=True)
class AppProfile:
    """One simulated app (bot or workflow): its channels and models with relative weights."""

    name: str
    channels: dict[str, float]
    models: dict[str, float]
    sessions: bool = True  # False: stateless API calls with no sessions (a workflow called by a backend)
    share: float = 1.0  # relative share of the traffic


DEFAULT_APPS: tuple[AppProfile, ...] = (
    AppProfile(
        "support-bot",
        {"web": 5, "feishu": 3, "wechat": 2},
        {"deepseek-chat": 6, "gpt-4o-mini": 3, "doubao-1.5-pro-32k": 1},
        share=3.0,
    ),
    AppProfile("sales-assistant", {"web": 2, "dingtalk": 1}, {"moonshot-v1-8k": 1, "qwen-plus": 1}, share=1.5),
    AppProfile("doc-qa-workflow", {"api": 1}, {"gpt-4o": 1, "claude-3-5-haiku-latest": 1}, sessions=False),
)
# (code, error_type, weight): HTTP statuses and Coze body codes (4013 rate limit, 5000 internal error).
ERRORS: tuple[tuple[str, str, float], ...] = (
    ("429", "rate_limit", 4),
    ("500", "server_error", 2),
    ("502", "bad_gateway", 1),
    ("504", "timeout", 1),
    ("4013", "rate_limit", 1),
    ("5000", "internal_error", 1),
)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means of one tick."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-min(mean, 500.0)), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class _Session:
    app: AppProfile
    channel: str
    user: str
    session_id: str
    model: str
    calls_left: int
    next_call: float


@dataclass
class TrafficModel:
    """Deterministic (seeded) source of event batches; :meth:`step` advances it to ``now``."""

    seed: int = 42
    users: int = 400
    sessions_per_minute: float = 20.0
    api_calls_per_minute: float = 15.0
    error_rate: float = 0.004  # under the 1 % error budget of the default 99 % objective (see above)
    median_duration: float = 0.9  # seconds; log-normal with sigma below -> P99 about 1.7 s
    duration_sigma: float = 0.27
    apps: tuple[AppProfile, ...] = DEFAULT_APPS
    faults: FaultRegistry | None = None
    max_open_sessions: int = 2000
    rng: random.Random = field(init=False)
    open: list[_Session] = field(init=False, default_factory=list)
    sessions_started: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"traffic:{self.seed}")

    def _fault(self) -> FaultSpec:
        return self.faults.spec(FAULT_KEY) if self.faults is not None else FaultSpec()

    def _user(self) -> str:
        # Skewed: a few heavy users, a long tail (index ~ users * u^2).
        return f"user-{int(self.users * self.rng.random() ** 2):05d}"

    def _app(self, *, sessions: bool) -> AppProfile:
        apps = [a for a in self.apps if a.sessions == sessions]
        return self.rng.choices(apps, [a.share for a in apps])[0]

    def _call(self, app: str, channel: str, model: str, user: str, session_id: str | None, ts: float) -> dict[str, Any]:
        rng, spec = self.rng, self._fault()
        duration = rng.lognormvariate(math.log(self.median_duration), self.duration_sigma)
        if spec.slow_rate and rng.random() < spec.slow_rate:
            duration = max(duration, spec.slow_latency)
        duration += max(
            0.0, spec.latency + (rng.uniform(-spec.latency_jitter, spec.latency_jitter) if spec.latency_jitter else 0.0)
        )
        event: dict[str, Any] = {
            "app": app,
            "channel": channel,
            "model": model,
            "user_id": user,
            "timestamp": rfc3339(ts),
            "duration_ms": round(duration * 1000, 1),
        }
        if session_id:
            event["session_id"] = session_id
        error_rate = spec.error_rate or self.error_rate
        if spec.down or rng.random() < error_rate:
            if spec.down:
                code, error_type = "503", "service_unavailable"
            elif spec.error_rate:
                code, error_type = str(spec.error_status), "server_error" if spec.error_status >= 500 else "client"
            else:
                code, error_type, _ = rng.choices(ERRORS, [w for _, _, w in ERRORS])[0]
            event.update(status="error", code=code, error_type=error_type)
            event["input_tokens"] = int(rng.lognormvariate(math.log(500), 0.6))
        else:
            event.update(
                status="success",
                input_tokens=int(rng.lognormvariate(math.log(600), 0.7)),
                output_tokens=int(rng.lognormvariate(math.log(180), 0.6)),
            )
        return event

    def step(self, now: float, elapsed: float) -> list[dict[str, Any]]:
        """Events that happened in the last ``elapsed`` seconds up to ``now``, oldest first."""
        rng = self.rng
        swell = 1.0 + 0.5 * math.sin(2 * math.pi * now / 3600.0)  # an hourly wave so graphs are not flat
        events: list[dict[str, Any]] = []
        for _ in range(_poisson(rng, self.sessions_per_minute / 60.0 * elapsed * swell)):
            if len(self.open) >= self.max_open_sessions:
                break
            app = self._app(sessions=True)
            self.sessions_started += 1
            ts = now - rng.uniform(0, elapsed)
            session = _Session(
                app,
                _pick(rng, app.channels),
                self._user(),
                f"s-{self.seed}-{self.sessions_started}",
                _pick(rng, app.models),
                1 + int(rng.expovariate(1 / 3.0)),
                ts + rng.uniform(1.0, 8.0),
            )
            self.open.append(session)
            events.append(
                {
                    "event": "session_start",
                    "app": app.name,
                    "channel": session.channel,
                    "session_id": session.session_id,
                    "user_id": session.user,
                    "timestamp": rfc3339(ts),
                }
            )
        still_open: list[_Session] = []
        for s in self.open:
            while s.calls_left > 0 and s.next_call <= now:
                events.append(self._call(s.app.name, s.channel, s.model, s.user, s.session_id, s.next_call))
                s.calls_left -= 1
                s.next_call += rng.expovariate(1 / 20.0) + 2.0  # think time between turns
            if s.calls_left > 0:
                still_open.append(s)
            elif s.next_call <= now:
                if rng.random() >= 0.05:  # 5 % of sessions are abandoned without a session_end
                    events.append(
                        {
                            "event": "session_end",
                            "app": s.app.name,
                            "channel": s.channel,
                            "session_id": s.session_id,
                            "user_id": s.user,
                            "timestamp": rfc3339(min(s.next_call, now)),
                        }
                    )
            else:
                still_open.append(s)
        self.open = still_open
        for _ in range(_poisson(rng, self.api_calls_per_minute / 60.0 * elapsed * swell)):
            app = self._app(sessions=False)
            events.append(
                self._call(
                    app.name,
                    _pick(rng, app.channels),
                    _pick(rng, app.models),
                    self._user(),
                    None,
                    now - rng.uniform(0, elapsed),
                )
            )
        events.sort(key=lambda e: e["timestamp"])
        return events


def events_endpoint(url: str) -> str:
    """``http://host:port`` or ``.../events`` -> the events URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"events URL must be http(s)://HOST:PORT[/events], got {url!r}")
    return url.rstrip("/") if parts.path.rstrip("/") else url.rstrip("/") + "/events"


class TrafficGenerator:
    """Posts :class:`TrafficModel` batches to an exporter every ``interval`` seconds on a daemon thread."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        interval: float = 2.0,
        model: TrafficModel | None = None,
        clock: Callable[[], float] = time.time,
        max_batch: int = 500,
    ) -> None:
        self.url = events_endpoint(url)
        self.interval = interval
        self.model = model or TrafficModel()
        self.clock = clock
        self.max_batch = max_batch
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._session = requests.Session()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic-generator", daemon=True)
        self.posted = 0  # events accepted by the exporter
        self.failed = 0  # posts that failed (connection error or non-2xx)
        self._last = clock()
        self._complained = False

    def post(self, events: list[dict[str, Any]]) -> bool:
        """Post events in batches of at most ``max_batch``; True if all were accepted."""
        ok = True
        for start in range(0, len(events), self.max_batch):
            chunk = events[start : start + self.max_batch]
            try:
                resp = self._session.post(self.url, json=chunk, headers=self._headers, timeout=5)
            except requests.RequestException as exc:
                self._complain(f"cannot reach {self.url}: {type(exc).__name__}")
                self.failed += 1
                ok = False
                continue
            if resp.status_code != 200:
                self._complain(f"{self.url} answered {resp.status_code}: {resp.text[:200]}")
                self.failed += 1
                ok = False
                continue
            self.posted += len(chunk)
            self._complained = False
        return ok

    def _complain(self, message: str) -> None:
        # The first failure in a row is a warning (wrong URL or token); the rest are debug (exporter restarting).
        (log.debug if self._complained else log.warning)("traffic generator: %s", message)
        self._complained = True

    def tick(self) -> int:
        """Generate and post what happened since the last tick; the number of events generated."""
        now = self.clock()
        elapsed, self._last = max(0.0, now - self._last), now
        events = self.model.step(now, elapsed)
        if events:
            self.post(events)
        return len(events)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # keep the demo alive whatever happens
                log.exception("traffic generator: tick failed")

    def start(self) -> TrafficGenerator:
        log.info("traffic generator posting events to %s every %gs", self.url, self.interval)
        self._last = self.clock()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=6)
        self._session.close()
