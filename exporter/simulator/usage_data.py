"""Deterministic usage of the simulated organizations, shared by the OpenAI and Anthropic simulators.

Traffic is a set of :class:`Stream` s, each one steady source at the finest grain the API can report (a project,
a key, its owner, a model...). For every hour a stream gets a request count from a seeded hash (daily and weekly
rhythm, noise, idle hours) and turns it into token/unit values; the provider modules group, sum and price them.
The same seed, hour and stream always give the same numbers, so an answer can be recomputed by anyone.

An hour counts once its start has passed, in full. Values are therefore stable within an hour (a test can fetch
the raw pages and the exporter's metrics and compare), and the month is never empty, not even at 00:05 UTC on the
1st (a demo must show data within seconds).

Both admin APIs serve this usage in pages of time buckets the same way (auth, parameters, cursors, the
``fail_page`` fault, the page); :class:`BucketApi` does that once, and each provider module spells out only its
parameter names, time format, messages and envelopes, and how a bucket's results are grouped and priced.

Admin knobs (the whole simulator; both providers use them):

- ``POST /_sim/usage {"multiplier": 25}``: every usage and cost amount served from then on is multiplied by 25
  (the end-to-end test pushes spend over the budget with it). Tokens and counts are rounded to integers.
- ``POST /_sim/usage {"revise": 0.9}``: the provider revises its data downward: amounts are multiplied by 0.9
  (on top of the multiplier), which must not make an exported counter decrease.
- ``POST /_sim/usage {"revise_days": {"2026-12-03": 0.9}}``: the provider revises single UTC days (0.9 = down,
  1.1 = late data arriving up); the incremental month-to-date tests revise a day inside and one outside the
  exporter's revision window with it. ``{}`` clears them.
- ``GET /_sim/usage``: the knobs and the most recent requests of the usage simulators (time, provider, path,
  page, the start parameter, status), so tests can check retries and their spacing from the server's side.
- ``POST /_sim/usage {"shape": "legacy"}``: answer in the shapes of the API specs instead of the ``"current"``
  default, the shapes real organizations got in 2026 (provider-apis.md, Corrections). Current: OpenAI's first
  bucket starts at the requested ``start_time`` and, without an ``end_time``, the last bucket ends at the request
  time; completions results carry only 6 token fields and no null dimension keys; cost ``amount.value`` is a
  decimal string for every other result; line items read like ``Text tokens``. Anthropic's ``next_page`` tokens
  look like timestamps (``2026-12-02T00:00:00.002Z``; the milliseconds carry the page number) and its cost report
  has ``session_usage`` lines. Legacy: buckets snapped to the width, every 2026 token field, null dimension keys,
  float amounts, model-named line items, ``page_...`` cursors.
- ``POST /_sim/reset`` restores the knobs (1, no revised days, shape current) and clears the request log.

Organization size (``Simulator(org_size=OrgSize.parse("10x10x10"))``, ``llmpulse simulate --org-size 10x10x10``):
instead of the hand-written organizations, both providers serve a generated one of ``projects x models x keys``
steady chat streams (every key of every project calls every model, every hour), so a benchmark or a test can
reproduce the scale of a large organization: grouped by project, model and key, a day has exactly that many
usage results per provider. See :class:`OrgSize`.
"""

from __future__ import annotations

import base64
import math
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from exporter.httpserver import Request, Response
from exporter.simulator.admin import AdminModel, BadBody, read_body
from exporter.simulator.common import broken_page, stable_random

HOUR = 3600
DAY = 86400
WIDTHS = {"1m": 60, "1h": HOUR, "1d": DAY}
STATE_KEY = "usage"
LOG_SIZE = 500
#: The largest generated organization (groups = projects x models x keys); beyond it a full month of answers
#: would take the simulator minutes and gigabytes to serve.
MAX_ORG_GROUPS = 20_000

Rand = Callable[[str], float]
Values = dict[str, int]


@dataclass(frozen=True)
class Stream:
    """One steady source of traffic. ``make(requests, rand)`` turns an hour's request count into values."""

    endpoint: str
    dims: Mapping[str, Any]
    rate: float  # mean requests per hour at the daily peak
    make: Callable[[int, Rand], Values]
    active: float = 1.0  # share of hours with any traffic
    key: str = field(default="")

    def ident(self) -> str:
        return self.key or f"{self.endpoint}|" + "|".join(f"{k}={v}" for k, v in sorted(self.dims.items()))


@dataclass(frozen=True)
class OrgSize:
    """The size of a generated organization: ``projects`` projects (workspaces), each with ``keys`` API keys, each
    key calling ``models`` models. Grouped by project, model and key that is ``groups`` usage results per day;
    grouped by project and model (the exporter's default), ``projects x models``."""

    projects: int
    models: int
    keys: int

    def __post_init__(self) -> None:
        if min(self.projects, self.models, self.keys) < 1:
            raise ValueError("org size: projects, models and keys must each be at least 1")
        if self.groups > MAX_ORG_GROUPS:
            raise ValueError(f"org size: {self.groups} groups is more than the simulator serves ({MAX_ORG_GROUPS})")

    @classmethod
    def parse(cls, text: str) -> OrgSize:
        """``PROJECTSxMODELSxKEYS``, e.g. ``10x10x10`` (1,000 groups)."""
        parts = text.lower().split("x")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"org size {text!r}: expected PROJECTSxMODELSxKEYS, e.g. 10x10x10")
        return cls(*(int(p) for p in parts))

    @property
    def groups(self) -> int:
        return self.projects * self.models * self.keys

    def __str__(self) -> str:
        return f"{self.projects}x{self.models}x{self.keys}"


def diurnal(hour_start: int) -> float:
    """Traffic shape: a daily wave peaking at 14:00 UTC (Asia evening / Europe afternoon), quieter weekends."""
    hour_of_day = (hour_start // HOUR) % 24
    day_factor = 0.3 + 0.7 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour_of_day - 2) / 24))
    weekday = (hour_start // DAY + 3) % 7  # 1970-01-01 was a Thursday -> 0 = Monday
    return day_factor * (0.6 if weekday >= 5 else 1.0)


def around(rand: Rand, name: str, mean: float, spread: float = 0.3) -> float:
    """A value near ``mean`` (+/- ``spread`` relative), deterministic per name."""
    return mean * (1 - spread + 2 * spread * rand(name))


class UsageModel:
    """Hourly values of a provider's streams, cached (complete days are reused by every later request)."""

    def __init__(self, seed: int, provider: str, streams: Sequence[Stream]) -> None:
        self.seed = seed
        self.provider = provider
        self.streams = list(streams)
        self._lock = threading.Lock()
        self._hours: OrderedDict[int, list[Values | None]] = OrderedDict()
        self._days: OrderedDict[tuple[int, int], list[Values | None]] = OrderedDict()

    def _compute_hour(self, hour_start: int) -> list[Values | None]:
        out: list[Values | None] = []
        shape = diurnal(hour_start)
        for stream in self.streams:
            ident = stream.ident()

            def rand(name: str, _ident: str = ident) -> float:
                return stable_random(self.seed, self.provider, _ident, hour_start, name)

            if rand("active") >= stream.active:
                out.append(None)
                continue
            # stochastic rounding keeps the mean of quiet streams (0.3 requests/hour still happen sometimes)
            requests = int(stream.rate * shape * (0.7 + 0.6 * rand("requests")) + rand("round"))
            out.append(stream.make(requests, rand) if requests > 0 else None)
        return out

    def hour(self, hour_start: int) -> list[Values | None]:
        """Values per stream for one hour (None = no traffic)."""
        with self._lock:
            cached = self._hours.get(hour_start)
            if cached is not None:
                self._hours.move_to_end(hour_start)
                return cached
        values = self._compute_hour(hour_start)
        with self._lock:
            self._hours[hour_start] = values
            while len(self._hours) > 2000:
                self._hours.popitem(last=False)
        return values

    def window(self, start: int, end: int, now: float) -> list[Values | None]:
        """Summed values per stream over the hours starting in ``[start, end)`` that have begun by ``now``.

        ``start``/``end`` are bucket bounds; minute buckets get the whole hour in the minute it starts (the data
        is hourly), so totals are the same at every bucket width.
        """
        last_hour = int(now) // HOUR * HOUR
        first = -(-start // HOUR) * HOUR  # first hour starting at or after start
        stop = min(end, last_hour + 1)
        if first >= stop:
            return [None] * len(self.streams)
        if first % DAY == 0 and end - first == DAY:
            return self._day(first, min(24, (last_hour - first) // HOUR + 1))
        return _sum_hours(self.hour(h) for h in range(first, stop, HOUR))

    def _day(self, day_start: int, hours: int) -> list[Values | None]:
        key = (day_start, hours)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                return cached
        # Straight from the hash, not through the hour cache: a day is computed once and then cached as a day, and
        # a large generated organization (see OrgSize) would otherwise hold every hour of the month in memory.
        values = _sum_hours(self._compute_hour(day_start + i * HOUR) for i in range(hours))
        with self._lock:
            self._days[key] = values
            while len(self._days) > 200:
                self._days.popitem(last=False)
        return values


def _sum_hours(hours: Any) -> list[Values | None]:
    total: list[Values | None] | None = None
    for values in hours:
        if total is None:
            total = [dict(v) if v is not None else None for v in values]
            continue
        for i, v in enumerate(values):
            if v is None:
                continue
            acc = total[i]
            if acc is None:
                total[i] = dict(v)
            else:
                for k, n in v.items():
                    acc[k] = acc.get(k, 0) + n
    return total or []


# --- buckets and cursors --------------------------------------------------------------------------------------------
def bucket_starts(start: int, end: int, width: int) -> list[int]:
    """Bucket starts in ``[start, end)``, ``start`` snapped down to the width (UTC), ascending."""
    first = start // width * width
    return list(range(first, end, width))


def default_end(now: float, width: int) -> int:
    """Without an end, the buckets run up to and including the one that contains ``now``."""
    return (int(now) // width + 1) * width


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TimeFormat:
    """How an API writes a bucket bound: in the buckets it serves and inside its page cursors."""

    show: Callable[[int], Any]  # a bound (Unix seconds) as a bucket field
    pack: Callable[[int, int], bytes]  # (next page's first bucket, its page number) -> cursor payload
    unpack: Callable[[bytes], tuple[int, int]]  # the reverse; ValueError when the payload is not one of ours


def _unpack_unix(raw: bytes) -> tuple[int, int]:
    try:
        bucket, page = struct.unpack(">qI", raw)
    except struct.error:
        raise ValueError("not a cursor payload") from None
    return int(bucket), int(page)


def _unpack_rfc3339(raw: bytes) -> tuple[int, int]:
    when, page = raw.decode().split("|")
    return int(datetime.fromisoformat(when).timestamp()), int(page)


#: OpenAI: Unix seconds, cursors pack them as binary.
UNIX = TimeFormat(int, lambda bucket, page: struct.pack(">qI", bucket, page), _unpack_unix)
#: Anthropic: RFC 3339 strings, cursors carry them as text.
RFC3339 = TimeFormat(rfc3339, lambda bucket, page: f"{rfc3339(bucket)}|{page}".encode(), _unpack_rfc3339)


@dataclass
class Window:
    buckets: list[int]  # the starts of this page's buckets
    width: int
    next_page: str | None
    page: int
    requested_start: int = 0  # the start parameter as asked
    open_end: bool = False  # no end parameter: the last bucket is the one containing now
    now: float = 0.0


def timestamp_cursor(bucket: int, page: int) -> str:
    """A cursor that looks like a timestamp, as Anthropic's do: the next bucket's start, the page in the
    milliseconds."""
    return datetime.fromtimestamp(bucket, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{page % 1000:03d}Z"


def read_timestamp_cursor(cursor: str) -> tuple[int, int] | None:
    if not (len(cursor) == 24 and cursor.endswith("Z") and cursor[19] == "."):
        return None
    try:
        when = datetime.strptime(cursor[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        page = int(cursor[20:23])
    except ValueError:
        return None
    return int(when.timestamp()), page


class BadParameter(Exception):
    """A bad query parameter. Each API subclasses it to answer in its own 400 envelope."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def response(self, req: Request) -> Response:
        raise NotImplementedError


#: The streams with traffic in one bucket, with their summed values.
Traffic = list[tuple[Stream, Values]]
#: Makes a bucket's results from its traffic and the factor of the usage knobs.
Rows = Callable[[Traffic, Decimal], list[dict[str, Any]]]
#: bucket_width -> (default limit, maximum limit) of an endpoint.
Limits = Mapping[str, tuple[int, int]]
#: One object of a list endpoint (a project, a workspace).
Item = dict[str, Any]


@dataclass(frozen=True)
class AdminApi:
    """How one admin API spells its endpoints; :meth:`endpoint` and :meth:`listing` serve them alike.

    An endpoint of time buckets checks auth, then ``bucket_width`` and ``limit``, the endpoint's own parameters and
    the page (the first bad one answers the API's 400), then serves ``limit`` buckets from a required start to an
    optional end, with opaque ``page_...`` cursors: base64 of the next page's first bucket and number, so a cursor
    only fits the query it came from. Those pages honour the ``fail_page`` fault.
    """

    start: str  # start parameter and bucket field: "start_time" / "starting_at"
    end: str
    time: TimeFormat
    read_time: Callable[[Request, str, bool], int | None]  # (req, name, required) -> Unix seconds
    read_limit: Callable[[Request, int, int], int]  # (req, default, maximum) -> limit
    read_width: Callable[[Request, Limits], tuple[str, int]]  # -> (bucket_width, limit)
    bad_request: type[BadParameter]  # what the API answers bad parameters with...
    end_not_after_start: str  # ...and its messages ("{cursor}": the first 40 characters of the cursor)
    bad_cursor: str
    foreign_cursor: str
    auth: Callable[[Any, Request], Response | None]  # (sim, req) -> the API's 401/403, or None
    fault_error: Callable[[int, Request], Response]  # the API's answer to an injected status
    whole_buckets: bool = False  # with an end: only the buckets that end by then (else: those that start before)
    # In the current shape: bucket bounds as asked (first starts at the start parameter, an open last one ends now)
    exact_bounds: bool = False
    # In the current shape: cursors that look like timestamps (Anthropic) instead of page_... tokens
    timestamp_cursors: bool = False
    page_head: Mapping[str, Any] = field(default_factory=dict)  # fields ahead of a page's data
    bucket_head: Mapping[str, Any] = field(default_factory=dict)  # fields ahead of a bucket's bounds

    def encode(self, bucket: int, page: int, current: bool = False) -> str:
        if current and self.timestamp_cursors:
            return timestamp_cursor(bucket, page)
        return "page_" + base64.b64encode(self.time.pack(bucket, page)).decode()

    def _read(self, cursor: str) -> tuple[int, int] | None:
        if self.timestamp_cursors and not cursor.startswith("page_"):
            return read_timestamp_cursor(cursor)
        if not cursor.startswith("page_"):
            return None
        try:
            return self.time.unpack(base64.b64decode(cursor[5:], validate=True))
        except ValueError:
            return None

    def decode(self, cursor: str) -> tuple[int, int]:
        """(first bucket, page number) of a cursor; the API's 400 when it is not one of ours."""
        read = self._read(cursor)
        if read is None:
            raise self.bad_request(self.bad_cursor.format(cursor=cursor[:40]), "page")
        return read

    def page_number(self, req: Request) -> int:
        """The page a request asks for (for the request log): 1 without a cursor, 0 with one that is not ours."""
        cursor = req.arg("page")
        if not cursor:
            return 1
        read = self._read(cursor)
        return 0 if read is None else read[1]

    def window(self, req: Request, now: float, width_name: str, limit: int, current: bool = False) -> Window:
        """This page's buckets: from the start (snapped to its bucket) to the end or, without one, through the
        bucket containing ``now``; ``limit`` of them from the cursor's bucket on."""
        start = self.read_time(req, self.start, True)
        end = self.read_time(req, self.end, False)
        assert start is not None
        width = WIDTHS[width_name]
        if end is None:
            starts = bucket_starts(start, default_end(now, width), width)
        elif end <= start:
            raise self.bad_request(self.end_not_after_start, self.end)
        else:
            starts = [b for b in bucket_starts(start, end, width) if not self.whole_buckets or b + width <= end]
        index, page = 0, 1
        cursor = req.arg("page")
        if cursor:
            bucket, page = self.decode(cursor)
            if bucket not in starts[1:] or page < 2:
                raise self.bad_request(self.foreign_cursor, "page")
            index = starts.index(bucket)
        more = index + limit < len(starts)
        next_page = self.encode(starts[index + limit], page + 1, current) if more else None
        return Window(starts[index : index + limit], width, next_page, page, start, end is None, now)

    def bounds(self, win: Window, bucket: int, exact: bool) -> tuple[int, int]:
        """A bucket's bounds as served: snapped to the width, or (``exact``) clipped to the requested start and,
        for the open last bucket, to now."""
        lo, hi = bucket, bucket + win.width
        if exact:
            lo = max(lo, win.requested_start)
            if win.open_end and lo <= win.now < hi:
                hi = int(win.now)
        return lo, hi

    def body(
        self, win: Window, results_of: Callable[[int, int], list[dict[str, Any]]], current: bool = False
    ) -> dict[str, Any]:
        """The page: each bucket with its bounds and ``results_of(start, width)``, then the cursor of the next."""
        exact = current and self.exact_bounds
        data = []
        for b in win.buckets:
            lo, hi = self.bounds(win, b, exact)
            data.append(
                {
                    **self.bucket_head,
                    self.start: self.time.show(lo),
                    self.end: self.time.show(hi),
                    # the data of an open bucket runs to its end: hours count once begun (see the module docs)
                    "results": results_of(lo, b + win.width - lo),
                }
            )
        return {**self.page_head, "data": data, "has_more": win.next_page is not None, "next_page": win.next_page}

    def endpoint(
        self, sim: Any, model: UsageModel, name: str, limits: Limits, query: Callable[[Request], Rows]
    ) -> Callable[[Request], Response]:
        """A handler of time buckets. ``query`` reads the endpoint's own parameters and returns how to make a
        bucket's results from its traffic; ``now`` and the usage knobs are read once, so a page's buckets agree."""

        def handler(req: Request) -> Response:
            denied = self.auth(sim, req)
            if denied is not None:
                return denied
            current = shape(sim) == "current"
            try:
                width_name, limit = self.read_width(req, limits)
                rows = query(req)
                win = self.window(req, sim.clock(), width_name, limit, current)
            except BadParameter as exc:
                return exc.response(req)
            broken = broken_page(sim, model.provider, win.page, req, self.fault_error)
            if broken is not None:
                return broken
            f, days, now = factor(sim), revised_days(sim), sim.clock()

            def results(start: int, width: int) -> list[dict[str, Any]]:
                per_stream = model.window(start, start + width, now)
                traffic = [(s, v) for s, v in zip(model.streams, per_stream, strict=True) if v is not None]
                return rows(traffic, f * days.get(start // DAY, Decimal(1)))

            return Response.json(self.body(win, results, current))

        handler.__name__ = name
        return handler

    def listing(
        self,
        sim: Any,
        name: str,
        after: str,
        max_limit: int,
        items: Callable[[bool], list[Item]],
        body: Callable[[list[Item], bool], dict[str, Any]],
    ) -> Callable[[Request], Response]:
        """A list endpoint (projects, workspaces): ``items(include_archived)``, 20 a page by default, the page after
        the id in parameter ``after`` (an unknown id: past the end), answered as ``body(page, has_more)``."""

        def handler(req: Request) -> Response:
            denied = self.auth(sim, req)
            if denied is not None:
                return denied
            try:
                limit = self.read_limit(req, 20, max_limit)
            except BadParameter as exc:
                return exc.response(req)
            listed = items((req.arg("include_archived") or "false").lower() == "true")
            last_seen = req.arg(after)
            if last_seen:
                ids = [i["id"] for i in listed]
                listed = listed[ids.index(last_seen) + 1 :] if last_seen in ids else []
            return Response.json(body(listed[:limit], len(listed) > limit))

        handler.__name__ = name
        return handler


def matches(stream: Stream, filters: Mapping[str, set[Any]]) -> bool:
    """Whether a stream passes the request's filters (dimension -> allowed values)."""
    return all(stream.dims.get(dim) in allowed for dim, allowed in filters.items())


def group(
    stream_values: Sequence[tuple[Stream, Values]],
    fields: Sequence[str],
    dims_of: Callable[[Stream], Mapping[str, Any]] | None = None,
) -> list[tuple[dict[str, Any], Values]]:
    """Sum values by the requested dimensions; dimensions not requested are reported as None (as the APIs do)."""
    grouped: dict[tuple[Any, ...], tuple[dict[str, Any], Values]] = {}
    for stream, values in stream_values:
        dims = dims_of(stream) if dims_of else stream.dims
        key = tuple(dims.get(f) for f in fields)
        if key not in grouped:
            grouped[key] = ({f: dims.get(f) for f in fields}, {})
        acc = grouped[key][1]
        for k, n in values.items():
            acc[k] = acc.get(k, 0) + n
    return list(grouped.values())


# --- admin knobs ----------------------------------------------------------------------------------------------------
def _default_knobs() -> dict[str, Any]:
    return {"multiplier": 1.0, "revise": 1.0, "revise_days": {}, "shape": "current"}


def knobs(sim: Any) -> dict[str, Any]:
    state: dict[str, Any] = sim.state.setdefault(STATE_KEY, _default_knobs())
    return state


def shape(sim: Any) -> str:
    """The answer shape the usage simulators serve: ``current`` (as real organizations got in 2026) or
    ``legacy`` (as the API specs describe them)."""
    return str(knobs(sim).get("shape", "current"))


def revised_days(sim: Any) -> dict[int, Decimal]:
    """The ``revise_days`` knob as day number (Unix seconds // 86400) -> factor."""
    out = {}
    for day, f in knobs(sim)["revise_days"].items():
        out[int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) // DAY] = Decimal(repr(float(f)))
    return out


def factor(sim: Any) -> Decimal:
    """The factor every served amount is multiplied by (multiplier x revise)."""
    k = knobs(sim)
    return Decimal(repr(float(k["multiplier"]))) * Decimal(repr(float(k["revise"])))  # the shape is no factor


def scale_count(value: int, f: Decimal) -> int:
    return value if f == 1 else int((Decimal(value) * f).to_integral_value())


class UsageAdmin:
    """The knobs (kept in ``sim.state['usage']`` so /_sim/state shows them) and a bounded request log."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._lock = threading.Lock()
        knobs(sim)

    def record(self, provider: str, req: Request, status: int, page: int | None) -> None:
        with self._lock:
            self.log.append(
                {
                    "t": time.time(),
                    "provider": provider,
                    "method": req.method,
                    "path": req.path,
                    "page": page,
                    "start": req.arg("start_time") or req.arg("starting_at"),
                    "status": status,
                }
            )

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def reset(self) -> None:
        self.sim.state[STATE_KEY] = _default_knobs()
        with self._lock:
            self.log.clear()


Multiplier = Annotated[float, Field(gt=0, lt=1e6, strict=True)]


class UsageKnobs(AdminModel):
    """``/_sim/usage``: scale the simulated spend (``multiplier``), revise past totals (``revise``) or single days
    (``revise_days``), or switch the answer ``shape`` (current 2026 answers, or the specs' legacy shapes)."""

    multiplier: Multiplier | None = None
    revise: Multiplier | None = None
    #: the provider revises single UTC days: YYYY-MM-DD -> factor (0.9 = down, 1.1 = up)
    revise_days: dict[date, Multiplier] | None = None
    shape: Literal["current", "legacy"] | None = None

    @model_validator(mode="after")
    def _something(self) -> UsageKnobs:
        if self.multiplier is None and self.revise is None and self.revise_days is None and self.shape is None:
            raise ValueError("expected multiplier, revise, revise_days and/or shape")
        return self


def install(sim: Any) -> UsageAdmin:
    """Register ``/_sim/usage`` once per simulator (both provider modules call this) and return its admin."""
    admin: UsageAdmin | None = getattr(sim, "usage_admin", None)
    if admin is not None:
        return admin
    admin = UsageAdmin(sim)
    sim.usage_admin = admin
    sim.resetters.append(admin.reset)

    @sim.router.route("GET", "/_sim/usage")
    def get_usage(req: Request) -> Response:
        return Response.json({**knobs(sim), "factor": float(factor(sim)), "requests": admin.requests()})

    @sim.router.route("POST", "/_sim/usage")
    def set_usage(req: Request) -> Response:
        try:
            body = read_body(req, UsageKnobs)
        except BadBody as exc:
            return exc.response()
        changes = body.model_dump(exclude_none=True)
        if body.revise_days is not None:
            changes["revise_days"] = {day.isoformat(): f for day, f in body.revise_days.items()}
        knobs(sim).update(changes)
        return Response.json({**knobs(sim), "factor": float(factor(sim))})

    return admin


def logged(
    sim: Any, provider: str, page_of: Callable[[Request], int | None]
) -> Callable[[Callable[[Request], Response]], Callable[[Request], Response]]:
    """Decorator (outside :func:`with_faults`): record every answer, injected faults included, in the log."""
    admin = install(sim)

    def deco(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(req: Request) -> Response:
            resp = handler(req)
            admin.record(provider, req, resp.status, page_of(req))
            return resp

        wrapped.__name__ = handler.__name__
        return wrapped

    return deco
