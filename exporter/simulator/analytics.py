"""Simulated analytics APIs for ``http_json`` sources: a bot platform's daily metrics and Langfuse's daily metrics.

- ``GET /analytics/bots/{bot_id}/metrics?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD`` (Bearer auth with a simulator
  key; or ``POST`` with the dates in a JSON body and the key in an ``X-Api-Key`` header): the per-day shape bot
  platforms' analytics describe,
  ``{"code": 0, "msg": "", "data": {"bot_id", "granularity": "day", "metrics": [{"date", "total_messages",
  "success_rate", "avg_response_time_ms", "active_users", "conversations"}, ...]}}``, oldest day first. Without
  dates it answers the last ``bot_days`` days including today (UTC). ``success_rate`` is a ratio (0..1).
  Errors use the envelope ``{"code": 4100, "msg": "authentication is invalid"}``. No real platform is implied:
  Coze has no public analytics API (provider-apis.md section 3.1).
- ``GET /api/public/metrics/daily`` (Basic auth: a ``pk-lf-...`` public key as user name and a simulator key as
  the secret): Langfuse's shape, ``{"data": [{"date", "countTraces", "countObservations", "totalCost",
  "usage": [{"model", "inputUsage", "outputUsage", "totalUsage", "countTraces", "countObservations",
  "totalCost"}]}], "meta": {"page", "limit", "totalItems", "totalPages"}}``, newest day first and only days with
  data, with ``page``/``limit`` pagination and ``fromTimestamp``/``toTimestamp`` (ISO 8601) filters. ``model`` can
  be null (generations logged without one), as in Langfuse.

Numbers are deterministic per seed, bot (or Langfuse model) and day. Today's row grows in 5-minute steps through
the day (a past day never changes), so a test can fetch the JSON and compare with what the exporter read.

Fault switches: the shared ones under provider key ``analytics``; ``error_status: 200`` answers a business error
with HTTP 200, as many Chinese platforms do. Admin: ``GET/POST /_sim/analytics`` ``{"drop_fields": ["x"],
"bot_days": 7}`` removes fields from every row (an upstream rename) and sets the default bot window;
``POST /_sim/reset`` restores both.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from exporter.httpserver import Request, Response
from exporter.simulator.admin import AdminModel, BadBody, read_body
from exporter.simulator.common import stable_random, with_faults

PROVIDER = "analytics"
STEP = 300  # today's figures grow in 5-minute steps
DEFAULT_BOT_DAYS = 7
MAX_DAYS = 366
LANGFUSE_WINDOW_DAYS = 30

#: Models in the simulated Langfuse project: (name, share of generations, Langfuse's own USD prices per 1M
#: input/output tokens). Langfuse prices at ingestion with its model table, so its totalCost can differ from
#: llmpulse's estimate (an older DeepSeek price, no price for the self-hosted model).
LANGFUSE_MODELS: tuple[tuple[str | None, float, float, float], ...] = (
    ("gpt-4o-mini-2024-07-18", 0.45, 0.15, 0.60),
    ("claude-sonnet-4-20250514", 0.20, 3.00, 15.00),
    ("deepseek-chat", 0.20, 0.27, 1.10),
    ("my-finetuned-llama", 0.10, 0.0, 0.0),
    (None, 0.05, 0.0, 0.0),
)


def _day_fraction(day: date, now: float) -> float:
    """1.0 for a past day; the share of today elapsed (in STEP steps); 0 for a future day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    elapsed = now - start
    if elapsed >= 86400:
        return 1.0
    if elapsed <= 0:
        return 0.0
    return (int(elapsed) // STEP * STEP) / 86400


def _weekday_factor(day: date) -> float:
    return 0.65 if day.weekday() >= 5 else 1.0


def bot_row(seed: int, bot_id: str, day: date, now: float) -> dict[str, Any]:
    """One day of a bot's analytics (the whole day for past days, so far for today)."""

    def r(name: str) -> float:
        return stable_random(seed, "bot", bot_id, day.isoformat(), name)

    scale = 600 + 1400 * stable_random(seed, "bot", bot_id, "scale")
    full = scale * _weekday_factor(day) * (0.8 + 0.4 * r("messages"))
    messages = round(full * _day_fraction(day, now))
    success = round(0.95 + 0.045 * r("success"), 4) if messages else 1.0
    return {
        "date": day.isoformat(),
        "total_messages": messages,
        "success_rate": success,
        "avg_response_time_ms": round(650 + 900 * r("latency"), 1),
        "active_users": round(messages / (6 + 6 * r("per_user"))),
        "conversations": round(messages / (3 + 3 * r("per_conversation"))),
    }


def langfuse_day(seed: int, day: date, now: float) -> dict[str, Any] | None:
    """One day of the simulated Langfuse project, or None on a day without data (Langfuse omits those)."""

    def r(*name: object) -> float:
        return stable_random(seed, "langfuse", day.isoformat(), *name)

    fraction = _day_fraction(day, now)
    if fraction <= 0 or (fraction == 1.0 and r("idle") < 0.08):
        return None
    generations = 1800 * _weekday_factor(day) * (0.8 + 0.4 * r("volume")) * fraction
    usage: list[dict[str, Any]] = []
    for model, share, in_price, out_price in LANGFUSE_MODELS:
        observations = round(generations * share * (0.85 + 0.3 * r(model, "share")))
        if observations <= 0:
            continue
        inp = round(observations * (900 + 1600 * r(model, "input")))
        out = round(observations * (120 + 380 * r(model, "output")))
        usage.append(
            {
                "model": model,
                "inputUsage": inp,
                "outputUsage": out,
                "totalUsage": inp + out,
                "countTraces": round(observations * 0.8),
                "countObservations": observations,
                "totalCost": round((inp * in_price + out * out_price) / 1e6, 6),
            }
        )
    if not usage:
        return None
    model_traces = [u["countTraces"] for u in usage]
    return {
        "date": day.isoformat(),
        "countTraces": max(model_traces) + round(sum(model_traces) * 0.3),
        "countObservations": sum(u["countObservations"] for u in usage) * 3,
        "totalCost": round(math.fsum(u["totalCost"] for u in usage), 6),
        "usage": usage,
    }


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text)


def _parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _drop(row: Any, fields: list[str]) -> Any:
    if isinstance(row, dict):
        return {k: _drop(v, fields) for k, v in row.items() if k not in fields}
    if isinstance(row, list):
        return [_drop(v, fields) for v in row]
    return row


def _basic_ok(sim: Any, req: Request) -> bool:
    auth = req.header("Authorization")
    if not auth.lower().startswith("basic "):
        return False
    try:
        user, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user.startswith("pk-lf-") and sim.key_ok(secret)


class AnalyticsKnobs(AdminModel):
    """``/_sim/analytics``: fields to leave out of the answers, and how many days the bot analytics cover."""

    drop_fields: list[str] | None = None
    bot_days: Annotated[int, Field(ge=1, le=92)] | None = None


def register(sim: Any) -> None:
    state = sim.state.setdefault(PROVIDER, {})

    def reset() -> None:
        state.clear()
        state.update({"drop_fields": [], "bot_days": DEFAULT_BOT_DAYS})

    reset()
    sim.resetters.append(reset)
    router = sim.router

    def bot_error(status: int, req: Request) -> Response:
        code = {200: 5000, 401: 4100, 403: 4101, 404: 4200, 429: 4013}.get(status, 5000)
        return Response.json({"code": code, "msg": "internal error" if code == 5000 else f"error {code}"}, status)

    def langfuse_error(status: int, req: Request) -> Response:
        return Response.json(
            {"message": "Internal Server Error" if status >= 500 or status == 200 else f"HTTP {status}"}, status
        )

    def bot_answer(req: Request, start_text: str | None, end_text: str | None) -> Response:
        now = sim.clock()
        today = datetime.fromtimestamp(now, UTC).date()
        try:
            start = _parse_date(start_text)
            end = _parse_date(end_text) or today
        except (ValueError, TypeError) as exc:
            return Response.json({"code": 4000, "msg": f"invalid date: {exc}"}, 400)
        start = start or end - timedelta(days=int(state["bot_days"]) - 1)
        end = min(end, today)
        if (end - start).days >= MAX_DAYS:
            return Response.json({"code": 4000, "msg": f"date range longer than {MAX_DAYS} days"}, 400)
        bot_id = req.params["bot_id"]
        rows = []
        day = start
        while day <= end:
            rows.append(bot_row(sim.seed, bot_id, day, now))
            day += timedelta(days=1)
        data = {"bot_id": bot_id, "granularity": "day", "metrics": rows}
        return Response.json({"code": 0, "msg": "", "data": _drop(data, state["drop_fields"])})

    @router.route("GET", "/analytics/bots/{bot_id}/metrics")
    @with_faults(sim, PROVIDER, bot_error)
    def bot_metrics(req: Request) -> Response:
        if not sim.key_ok(sim.bearer(req)):
            return Response.json({"code": 4100, "msg": "authentication is invalid"}, 401)
        return bot_answer(req, req.arg("start_date"), req.arg("end_date"))

    @router.route("POST", "/analytics/bots/{bot_id}/metrics")
    @with_faults(sim, PROVIDER, bot_error)
    def bot_metrics_query(req: Request) -> Response:
        """The same data queried with a JSON body {start_date, end_date} and the key in an X-Api-Key header."""
        if not sim.key_ok(req.header("X-Api-Key")):
            return Response.json({"code": 4100, "msg": "authentication is invalid"}, 401)
        try:
            body = req.json() if req.body else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            return Response.json({"code": 4000, "msg": f"json fail: {exc}"}, 400)
        return bot_answer(req, body.get("start_date"), body.get("end_date"))

    @router.route("GET", "/api/public/metrics/daily")
    @with_faults(sim, PROVIDER, langfuse_error)
    def langfuse_daily(req: Request) -> Response:
        if not _basic_ok(sim, req):
            return Response.json(
                {"message": "Invalid credentials. Confirm that you've configured the correct host."}, 401
            )
        now = sim.clock()
        try:
            page = int(req.arg("page") or 1)
            limit = int(req.arg("limit") or 50)
            since = _parse_ts(req.arg("fromTimestamp"))
            until = _parse_ts(req.arg("toTimestamp"))
            if page < 1 or not 1 <= limit <= 100:
                raise ValueError("page must be >= 1 and limit within 1..100")
        except ValueError as exc:
            return Response.json({"message": "Invalid request data", "error": str(exc)}, 400)
        today = datetime.fromtimestamp(now, UTC).date()
        first = today - timedelta(days=LANGFUSE_WINDOW_DAYS - 1)
        days = []
        day = today
        while day >= first:
            begin = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if (since is None or begin + timedelta(days=1) > since) and (until is None or begin <= until):
                row = langfuse_day(sim.seed, day, now)
                if row is not None:
                    days.append(row)
            day -= timedelta(days=1)
        total = len(days)
        chunk = days[(page - 1) * limit : page * limit]
        return Response.json(
            {
                "data": _drop(chunk, state["drop_fields"]),
                "meta": {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)},
            }
        )

    @router.route("GET", "/_sim/analytics")
    def get_admin(req: Request) -> Response:
        return Response.json(dict(state))

    @router.route("POST", "/_sim/analytics")
    def set_admin(req: Request) -> Response:
        try:
            body = read_body(req, AnalyticsKnobs)
        except BadBody as exc:
            return exc.response()
        state.update(body.model_dump(exclude_none=True))
        return Response.json(dict(state))
