"""``POST /events``: call and session records pushed by bots, workflows and apps, turned into metrics.

Why a push route in a pull exporter: a Coze workflow, a bot webhook or an application knows each call's outcome,
duration, tokens and user, and no provider API reports them per app and channel. The route accepts one JSON event
or a JSON list of them (see docs/events.md for the schema) and feeds the same call families as the probes
(``llmpulse_api_call_duration_seconds``, ``llmpulse_error_code_counter_total``, ``llmpulse_api_calls_total``) plus
the ``llmpulse_events_*`` families.

The contract of a post, in the order the checks run:

1. ``Authorization: Bearer <token>`` must match the configured token (constant-time compare) -> else 401.
2. The body must not exceed ``max_body_bytes`` -> else 413 (bigger ``Content-Length`` values are refused by the
   HTTP server before the body is read).
3. ``Content-Type: application/json``, UTF-8 JSON, an object or a list of objects -> else 400.
4. At most ``max_events`` events -> else 413 (the batch as a whole is too large, like a body over the limit).
5. Every event is validated before any is applied: one bad event refuses the whole post with 400, naming the
   event's index, the field and the reason, and nothing changes. Refused posts are counted in
   ``llmpulse_events_rejected_total{reason}``.

Label values come from clients, so each label dimension (app, channel, model, code, error_type) keeps its first
``max_label_values`` distinct values and folds later ones into ``other``; user and session ids never become labels.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from exporter import contract
from exporter.config import EventsConfig
from exporter.events_schema import EVENT_KINDS, Event, EventError, kind_of, parse_event, parse_timestamp
from exporter.hll import DEFAULT_PRECISION, SlidingDistinct, hash64
from exporter.httpserver import Request, Response
from exporter.samples import LiveBatch, LiveMetrics

__all__ = ["Event", "EventError", "EventIngest", "Refused", "decode_body", "parse_event", "parse_timestamp"]

log = logging.getLogger(__name__)

REASONS = ("unauthorized", "too_large", "invalid_json", "invalid_event", "too_many_events")
OTHER = "other"
UNKNOWN = "unknown"
#: Distinct-user windows: label value, slot length (s), slots. 1h = 12 x 5 min, 1d = 24 x 1 h.
USER_WINDOWS: tuple[tuple[str, int, int], ...] = (("1h", 300, 12), ("1d", 3600, 24))
LABEL_DIMENSIONS = ("app", "channel", "model", "code", "error_type")


class Pricing(Protocol):
    """What ingest needs from the price table (exporter.pricing): USD for the tokens, or None if unpriced."""

    def estimate(self, model: str, tokens: Mapping[str, int]) -> float | None: ...


# --- validation: pure functions of the request (the event schema is exporter.events_schema) ------------------------
class Refused(Exception):
    """A post that is refused as a whole: HTTP status, counted reason, message for the client."""

    def __init__(self, status: int, reason: str, message: str, index: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.index = index
        self.field = field

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.reason, "message": self.message}
        if self.index is not None:
            body["index"] = self.index
        if self.field:
            body["field"] = self.field
        headers = {"WWW-Authenticate": 'Bearer realm="llmpulse events"'} if self.status == 401 else {}
        return Response.json(body, self.status, headers)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:64]!r}")
        out[key] = value
    return out


def decode_body(req: Request, max_body_bytes: int, max_events: int) -> list[Any]:
    """Size, media type and JSON checks of a post; the decoded events (not yet validated). Raises Refused."""
    if len(req.body) > max_body_bytes:
        raise Refused(413, "too_large", f"body is larger than {max_body_bytes} bytes; split the batch")
    media = req.header("Content-Type").split(";")[0].strip().lower()
    if media != "application/json":
        raise Refused(400, "invalid_json", f"Content-Type must be application/json, got {media[:64] or 'none'!r}")
    encoding = req.header("Content-Encoding").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused(400, "invalid_json", f"Content-Encoding {encoding[:32]!r} is not supported; send plain JSON")
    if not req.body.strip():
        raise Refused(400, "invalid_json", "empty body; send a JSON event or a JSON list of events")
    try:
        text = req.body.decode("utf-8-sig")
        data = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise Refused(400, "invalid_json", "body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Refused(
            400, "invalid_json", f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise Refused(400, "invalid_json", f"body is not valid JSON: {str(exc)[:200]}") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise Refused(400, "invalid_json", f"body must be a JSON object or a list of objects, got {kind_of(data)}")
    if len(data) > max_events:
        raise Refused(413, "too_many_events", f"{len(data)} events in one post; the limit is {max_events}")
    return data


def validate_batch(items: list[Any]) -> list[Event]:
    """Validate every event; the first bad one refuses the post (nothing is applied)."""
    events: list[Event] = []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item))
        except EventError as err:
            raise Refused(400, "invalid_event", f"events[{index}]: {err.message}", index, err.field) from None
    return events


def bearer_token(req: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ('' if absent or another scheme)."""
    scheme, _, token = req.header("Authorization").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# --- state kept between posts ---------------------------------------------------------------------------------------
class LabelFolder:
    """Keeps the first ``limit`` distinct values of a label; later ones become ``other`` (bounded cardinality).

    Folding is planned against a post's pending values (:meth:`fold`) and committed only when the post is applied
    (:meth:`commit`), so a refused or failed post leaves the folder as it was.
    """

    def __init__(self, dimension: str, limit: int) -> None:
        self.dimension = dimension
        self.limit = limit
        self.known: set[str] = set()
        self.folded = 0

    def fold(self, value: str, pending: set[str]) -> str | None:
        """The exported value for ``value`` given the post's ``pending`` new values (added to it); None when it
        folds into ``other``."""
        if value in self.known or value in pending:
            return value
        if len(self.known) + len(pending) < self.limit:
            pending.add(value)
            return value
        return None

    def commit(self, pending: set[str], folded: int) -> None:
        self.known |= pending
        if folded and not self.folded:
            log.warning(
                "events: more than %d distinct %s values; new ones are exported as %r (raise "
                "events.max_label_values to keep more)",
                self.limit,
                self.dimension,
                OTHER,
            )
        self.folded += folded


class _OpenSession(NamedTuple):
    started: float  # event time of the session_start (Unix seconds)
    received: float  # when it was received (expiry)
    labels: tuple[str, str]  # exported (folded) app and channel, shared between sessions


class SessionTable:
    """Open sessions by (app, session_id), bounded: oldest dropped beyond ``limit``, expired after ``ttl``.

    Keys are 64-bit hashes of app and session id (the ids themselves are not kept), about 260 bytes per open
    session: 100 000 open sessions (the default limit) cost about 26 MB.
    """

    def __init__(self, limit: int, ttl: float) -> None:
        self.limit = limit
        self.ttl = ttl
        self._open: OrderedDict[int, _OpenSession] = OrderedDict()
        self.dropped = 0

    @staticmethod
    def key(app: str, session_id: str) -> int:
        return hash64(f"{app}\x00{session_id}")

    def start(self, key: int, session: _OpenSession) -> None:
        self._open.pop(key, None)  # a repeated start restarts the session and moves it to the young end
        self._open[key] = session
        while len(self._open) > self.limit:
            self._open.popitem(last=False)
            self.dropped += 1

    def end(self, key: int) -> _OpenSession | None:
        return self._open.pop(key, None)

    def get(self, key: int) -> _OpenSession | None:
        return self._open.get(key)

    def expire(self, now: float) -> int:
        expired = 0
        while self._open:
            key, oldest = next(iter(self._open.items()))
            if oldest.received > now - self.ttl:
                break
            del self._open[key]
            expired += 1
        return expired

    def __len__(self) -> int:
        return len(self._open)


Labels = tuple[tuple[str, str], ...]


class _Batch:
    """Writes of one post, summed per series before touching LiveMetrics: one increment per counter series and one
    list of observations per histogram series, whatever the number of events. Series are keyed by the family's
    name and the label pairs as the planner built them (no dict per event)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Labels], float] = {}
        self.observed: dict[tuple[str, Labels], list[float]] = {}
        self.families: dict[str, contract.Family] = {}
        self.touches: list[tuple[contract.Family, Labels]] = []

    def touch(self, family: contract.Family, labels: Labels) -> None:
        """Create a series at zero (e.g. the session-length histogram when a session starts), so that rate() and
        increase() count its first observation instead of taking it for the series' birth."""
        self.touches.append((family, labels))

    def inc(self, family: contract.Family, labels: Labels, value: float = 1.0) -> None:
        key = (family.name, labels)
        counts = self.counts
        if key in counts:
            counts[key] += value
        else:
            counts[key] = value
            self.families[family.name] = family

    def observe(self, family: contract.Family, labels: Labels, value: float) -> None:
        key = (family.name, labels)
        values = self.observed.get(key)
        if values is None:
            self.observed[key] = [value]
            self.families[family.name] = family
        else:
            values.append(value)

    def to_live(self) -> LiveBatch:
        families = self.families
        return LiveBatch(
            touches=[(family, dict(labels)) for family, labels in self.touches],
            incs=[(families[name], dict(labels), value) for (name, labels), value in self.counts.items()],
            observations=[(families[name], dict(labels), values) for (name, labels), values in self.observed.items()],
        )


class _Plan:
    """Everything one post would change, computed without changing anything (see :meth:`EventIngest.ingest`)."""

    def __init__(self) -> None:
        self.batch = _Batch()
        self.labels: dict[str, set[str]] = {dim: set() for dim in LABEL_DIMENSIONS}
        self.folded: dict[str, int] = dict.fromkeys(LABEL_DIMENSIONS, 0)
        self.sessions: dict[int, _OpenSession | None] = {}  # the post's view of open sessions (None: ended)
        self.session_ops: list[tuple[int, _OpenSession | None]] = []  # (key, started session or None for an end)
        self.user_pairs: set[tuple[str, str]] = set()  # sketch pairs the post creates
        self.users: list[tuple[tuple[str, str], int, float]] = []  # (pair, user hash, event time)
        self.touched: set[tuple[str, str]] = set()


# --- the route ------------------------------------------------------------------------------------------------------
class EventIngest:
    """Validates posts to ``/events`` and turns accepted events into live metrics.

    Distinct-user gauges are refreshed for the touched app/channel pairs after every accepted post, and for all
    pairs by a light timer thread (every ``refresh_interval`` seconds) so the 1h/1d windows slide even when no
    events arrive; the timer also expires open sessions. Pass ``refresh_interval=None`` to drive :meth:`tick`
    yourself (tests).
    """

    def __init__(
        self,
        config: EventsConfig,
        live: LiveMetrics,
        pricing: Pricing | None = None,
        *,
        clock: Any = time.time,
        refresh_interval: float | None = 5.0,
        precision: int = DEFAULT_PRECISION,
    ) -> None:
        self.config = config
        self.live = live
        self.pricing = pricing
        self.clock = clock
        self.precision = precision
        self._token = config.token.encode("utf-8")
        self._base = {"provider": config.provider, "source": config.name}
        self._base_pairs: Labels = tuple(self._base.items())
        self._extra = dict(config.labels)
        self._lock = threading.Lock()
        self._fold = {dim: LabelFolder(dim, config.max_label_values) for dim in LABEL_DIMENSIONS}
        self._sessions = SessionTable(config.max_open_sessions, config.session_ttl)
        self._users: dict[tuple[str, str], dict[str, SlidingDistinct]] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        self._exported_users: dict[tuple[str, str, str], int] = {}
        # One sketch per window over every app and channel: the all-apps total, never a sum of per-app estimates.
        self._all_users = {name: SlidingDistinct(slot, slots, self.precision) for name, slot, slots in USER_WINDOWS}
        self._exported_all_users: dict[str, int] = {}
        self._pricing_failed = False
        self._last_warning: dict[str, float] = {}
        for reason in REASONS:
            live.touch(contract.EVENTS_REJECTED, {**self._base, "reason": reason}, extra=self._extra)
        for kind in EVENT_KINDS:
            live.touch(contract.EVENTS_RECEIVED, {**self._base, "event": kind}, extra=self._extra)
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if refresh_interval:
            self._timer = threading.Thread(
                target=self._run_timer, args=(refresh_interval,), name="events-windows", daemon=True
            )
            self._timer.start()

    # --- HTTP ---------------------------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """The ``POST /events`` handler."""
        try:
            if not hmac.compare_digest(bearer_token(req).encode("utf-8"), self._token):
                raise Refused(
                    401,
                    "unauthorized",
                    "missing or wrong bearer token; send Authorization: Bearer "
                    "<token> (the token configured in events.token_env / token_file)",
                )
            items = decode_body(req, self.config.max_body_bytes, self.config.max_events)
            events = validate_batch(items)
        except Refused as refused:
            self._count_refused(refused, req.client)
            return refused.response()
        self.ingest(events)
        return Response.json({"accepted": len(events)})

    def too_large(self, req: Request) -> Response:
        """Answer a post whose Content-Length exceeds max_body_bytes; the server calls this before reading it."""
        refused = Refused(413, "too_large", f"body is larger than {self.config.max_body_bytes} bytes; split the batch")
        self._count_refused(refused, req.client)
        return refused.response()

    def _count_refused(self, refused: Refused, client: str) -> None:
        self.live.inc(contract.EVENTS_REJECTED, {**self._base, "reason": refused.reason}, extra=self._extra)
        log.debug("events: refused a post from %s: %s (%s)", client, refused.reason, refused.message)
        now = time.monotonic()
        with self._lock:
            if now - self._last_warning.get(refused.reason, -math.inf) < 60.0:
                return
            self._last_warning[refused.reason] = now
        log.warning(
            "events: refused a post from %s with %d: %s (%s); further refusals for this reason are logged "
            "at most once a minute",
            client,
            refused.status,
            refused.reason,
            refused.message,
        )

    # --- applying -----------------------------------------------------------------------------------------------
    def ingest(self, events: list[Event]) -> None:
        """Apply validated events, all or nothing: the whole post is planned first without changing any state
        (label folding, sessions, user sketches, metrics); only a complete plan is committed, metrics first in one
        locked write. A failure while planning (a bug) leaves everything as it was and the client gets a 500."""
        with self._lock:
            now = float(self.clock())
            plan = _Plan()
            for ev in events:
                self._plan_event(ev, now, plan)
            self.live.apply(plan.batch.to_live(), self._extra)
            for dim, folder in self._fold.items():
                folder.commit(plan.labels[dim], plan.folded[dim])
            for key, session in plan.session_ops:
                if session is None:
                    self._sessions.end(key)
                else:
                    self._sessions.start(key, session)
            for pair, h, when in plan.users:
                for window in self._windows(pair).values():
                    window.add_hash(h, when, now)
                for window in self._all_users.values():
                    window.add_hash(h, when, now)
            self._refresh_users(plan.touched, now)

    def _label(self, dim: str, value: str, plan: _Plan) -> str:
        folded = self._fold[dim].fold(value, plan.labels[dim])
        if folded is None:
            plan.folded[dim] += 1
            return OTHER
        return folded

    def _plan_event(self, ev: Event, now: float, plan: _Plan) -> None:
        base, batch = self._base_pairs, plan.batch
        app, channel = self._label("app", ev.app, plan), self._label("channel", ev.channel, plan)
        when = now if ev.timestamp is None else min(ev.timestamp, now)  # the future counts as now
        batch.inc(contract.EVENTS_RECEIVED, (*base, ("event", ev.kind)))
        if ev.kind == "call":
            self._plan_call(ev, app, channel, plan)
        elif ev.kind == "session_start":
            batch.inc(contract.EVENTS_SESSIONS, (*base, ("app", app), ("channel", channel)))
            batch.touch(contract.EVENTS_SESSION_DURATION, (*base, ("app", app), ("channel", channel)))
            assert ev.session_id is not None
            key = SessionTable.key(ev.app, ev.session_id)
            session = _OpenSession(when, now, self._pair(app, channel))
            plan.sessions[key] = session
            plan.session_ops.append((key, session))
        else:
            assert ev.session_id is not None
            key = SessionTable.key(ev.app, ev.session_id)
            opened = plan.sessions[key] if key in plan.sessions else self._sessions.get(key)
            plan.sessions[key] = None
            plan.session_ops.append((key, None))
            seconds: float | None = None
            if ev.duration_ms is not None:  # the client's own measure wins
                seconds = ev.duration_ms / 1000.0
            elif opened is not None and when >= opened.started:
                seconds = when - opened.started
            if seconds is not None:
                app, channel = opened.labels if opened else (app, channel)
                batch.observe(contract.EVENTS_SESSION_DURATION, (*base, ("app", app), ("channel", channel)), seconds)
        if ev.user_id is not None:
            pair = self._user_pair(app, channel, plan)
            plan.users.append((pair, hash64(ev.user_id), when))
            plan.touched.add(pair)

    def _plan_call(self, ev: Event, app: str, channel: str, plan: _Plan) -> None:
        base, batch = self._base_pairs, plan.batch
        model = self._label("model", ev.model, plan)
        outcome = ev.status
        batch.inc(contract.API_CALLS, (*base, ("model", model), ("outcome", outcome)))
        batch.inc(contract.EVENTS_CALLS, (*base, ("app", app), ("channel", channel), ("outcome", outcome)))
        if outcome == "error":
            code, error_type = self._label("code", ev.code, plan), self._label("error_type", ev.error_type, plan)
            batch.inc(contract.ERROR_CODES, (*base, ("model", model), ("code", code), ("error_type", error_type)))
        if ev.duration_ms is not None:
            batch.observe(contract.API_CALL_DURATION, (*base, ("model", model)), ev.duration_ms / 1000.0)
        tokens = {"input": ev.input_tokens, "output": ev.output_tokens}
        for token_type, n in tokens.items():
            if n:
                batch.inc(contract.EVENTS_TOKENS, (*base, ("model", model), ("token_type", token_type)), n)
        if not any(tokens.values()):
            return
        usd = self._estimate(ev.model, tokens)
        if usd is None:
            for token_type, n in tokens.items():
                if n:
                    batch.inc(contract.UNPRICED_TOKENS, (*base, ("model", model), ("token_type", token_type)), n)
        elif usd >= 0:
            batch.inc(contract.COST_ESTIMATED_USD, (*base, ("project", app), ("model", model)), usd)

    def _estimate(self, model: str, tokens: dict[str, int]) -> float | None:
        """USD for the tokens from the price table (by the model name as sent), or None when unpriced."""
        if self.pricing is None:
            return None
        try:
            usd = self.pricing.estimate(model, tokens)
        except Exception:  # a pricing bug must not lose the post; count the tokens as unpriced instead
            if not self._pricing_failed:
                log.exception("events: price estimate failed for model %r; counting its tokens as unpriced", model)
                self._pricing_failed = True
            return None
        if usd is None or not math.isfinite(float(usd)):
            return None
        return float(usd)

    def _pair(self, app: str, channel: str) -> tuple[str, str]:
        """One shared tuple per exported (app, channel), so open sessions do not each hold a copy."""
        return self._pairs.setdefault((app, channel), (app, channel))

    # --- distinct users -----------------------------------------------------------------------------------------
    def _user_pair(self, app: str, channel: str, plan: _Plan) -> tuple[str, str]:
        """The sketch pair for (app, channel): at most max_label_values pairs, later ones share (other, other)."""
        pair = (app, channel)
        if pair in self._users or pair in plan.user_pairs:
            return pair
        if len(self._users) + len(plan.user_pairs) >= self.config.max_label_values:
            pair = (OTHER, OTHER)
        if pair not in self._users:
            plan.user_pairs.add(pair)
        return pair

    def _windows(self, pair: tuple[str, str]) -> dict[str, SlidingDistinct]:
        windows = self._users.get(pair)
        if windows is None:
            windows = self._users[pair] = {
                name: SlidingDistinct(slot, slots, self.precision) for name, slot, slots in USER_WINDOWS
            }
        return windows

    def _refresh_users(self, pairs: set[tuple[str, str]], now: float) -> None:
        """Set the distinct-user gauges of ``pairs`` after a post. Holds _lock. A window a slot just left is stale
        and keeps its gauge until the timer rebuilds it (:meth:`tick`): a rebuild costs milliseconds per window
        and a post must never wait for hundreds of them."""
        for pair in pairs:
            for name, window in self._users[pair].items():
                window.advance(now)
                if not window.stale:
                    self._export_users(pair, name, window)
        if not pairs:
            return
        for name, window in self._all_users.items():
            window.advance(now)
            if not window.stale:
                self._export_all_users(name, window)

    def _export_users(self, pair: tuple[str, str], name: str, window: SlidingDistinct) -> None:
        """Set one distinct-user gauge if its estimate changed. Holds _lock."""
        value = round(window.estimate())
        key = (*pair, name)
        if self._exported_users.get(key) != value:
            self._exported_users[key] = value
            labels = {**self._base, "app": pair[0], "channel": pair[1], "window": name}
            self.live.set(contract.EVENTS_DISTINCT_USERS, labels, value, extra=self._extra)

    def _export_all_users(self, name: str, window: SlidingDistinct) -> None:
        """Set one all-apps distinct-user gauge if its estimate changed. Holds _lock."""
        value = round(window.estimate())
        if self._exported_all_users.get(name) != value:
            self._exported_all_users[name] = value
            labels = {**self._base, "window": name}
            self.live.set(contract.EVENTS_DISTINCT_USERS_ALL, labels, value, extra=self._extra)

    def tick(self, now: float | None = None) -> None:
        """Slide the distinct-user windows and expire open sessions (the timer calls this).

        One window at a time, each under the lock for the few milliseconds its rebuild takes, so posts arriving
        meanwhile wait for one window, not for all of them (hundreds of pairs x 2 windows took seconds)."""
        moment = float(self.clock()) if now is None else now
        with self._lock:
            windows = [(pair, name) for pair, named in self._users.items() for name in named]
        for pair, name in windows:
            with self._lock:
                window = self._users[pair][name]
                window.advance(moment)
                self._export_users(pair, name, window)
            time.sleep(0)  # let a waiting post take the lock (a released lock is not handed over by itself)
        for name in list(self._all_users):
            with self._lock:
                window = self._all_users[name]
                window.advance(moment)
                if self._users:
                    self._export_all_users(name, window)
            time.sleep(0)
        with self._lock:
            self._sessions.expire(moment)

    def _run_timer(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # never let the window timer die silently
                log.exception("events: refreshing the distinct-user windows failed")

    def alive(self) -> bool:
        """False once the window timer has ended without being asked to."""
        return self._timer is None or self._timer.is_alive() or self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=2.0)

    # --- introspection (landing page, tests) --------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "open_sessions": len(self._sessions),
                "sessions_dropped": self._sessions.dropped,
                "user_pairs": len(self._users),
                "sketch_bytes": sum(w.memory_bytes() for ws in self._users.values() for w in ws.values()),
                **{f"folded_{dim}": folder.folded for dim, folder in self._fold.items()},
            }
