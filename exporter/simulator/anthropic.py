"""Simulated Anthropic Admin API: ``usage_report/messages``, ``cost_report`` and the workspace list.

Faithful where a client can tell the difference (see provider-apis.md §2 and §6):

- auth: ``x-api-key`` (an admin key; ``Authorization: Bearer`` is accepted too, as the 2026 API does) and the
  ``anthropic-version`` header; errors in the ``{"type": "error", "error": {type, message}, "request_id"}``
  envelope with a ``request-id`` header (401 authentication_error, 400 invalid_request_error, 429
  rate_limit_error, 500 api_error, 529 overloaded_error...)
- ``starting_at`` required, RFC 3339, snapped to the start of its UTC bucket; ``ending_at`` optional (buckets that
  end by then; default: through the bucket containing now); ``bucket_width`` ``1d|1h|1m`` with ``limit`` 1-31 /
  1-168 / 1-1440 (defaults 7 / 24 / 60); ``cost_report`` only ``1d`` and ``limit`` 1-31
- ``group_by[]`` (``group_by`` accepted too): ``api_key_id``, ``workspace_id``, ``model``, ``service_tier``,
  ``context_window``, ``inference_geo`` for usage; ``workspace_id``, ``description`` for cost; every dimension
  null unless grouped, ``workspace_id: null`` = the default workspace, ``api_key_id: null`` = Console usage
- every bucket ascending with ``starting_at``/``ending_at`` (no ``object`` fields), empty ones as ``results: []``;
  opaque cursors that look like timestamps, as real ``next_page`` tokens do (``2026-12-02T00:00:00.002Z``; the
  ``page_...`` tokens of the legacy shape with ``POST /_sim/usage {"shape": "legacy"}``)
- cost ``amount`` is a decimal STRING in CENTS with up to 5 decimals, ``currency: "USD"``; several descriptions
  per model (input, output, cache read, cache writes, batch, long context), web search and code execution, and
  (current shape) ``cost_type: "session_usage"`` lines ("Claude Code Session Usage") for Console usage
- ``GET /v1/organizations/workspaces`` (``after_id``/``limit`` 1-1000/``include_archived``), one archived

Faults (provider key ``anthropic``): as for OpenAI, with 529 available as ``error_status``. Usage knobs
(multiplier, revise): :mod:`exporter.simulator.usage_data`.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.usage_data import (
    RFC3339,
    AdminApi,
    BadParameter,
    Item,
    Limits,
    OrgSize,
    Rand,
    Rows,
    Stream,
    Traffic,
    UsageModel,
    Values,
    around,
    group,
    logged,
    matches,
    scale_count,
    shape,
)

PROVIDER = "anthropic"
PREFIX = "/v1/organizations"
# bucket_width -> (default limit, maximum limit), in the order the API's error message lists them
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
COST_LIMITS = {"1d": (7, 31)}
MILLION = Decimal(1_000_000)

# --- the simulated organization -------------------------------------------------------------------------------------
PRODUCTION = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
RESEARCH = "wrkspc_01Kp8sXn4Ld2Wq9Rt6Yh3ZbM"
HACKATHON = "wrkspc_01Hc7Vb3Np5Qs8Tw2Xy4Rm6L"
# (id, name, created_at, archived_at)
WORKSPACES = (
    (PRODUCTION, "Production", "2024-10-30T23:58:27.427722Z", None),
    (RESEARCH, "Research", "2025-02-11T09:14:03.118204Z", None),
    (HACKATHON, "Hackathon 2025", "2025-06-02T08:00:00.000000Z", "2025-07-01T12:00:00.000000Z"),
)
KEYS = {
    "apikey_01Rj2N8SVvo6BePZj99NhmiT": PRODUCTION,
    "apikey_01Xb7Kq3Wm9Tz2Lp5Nv8Rc4H": PRODUCTION,
    "apikey_01Gd4Hs8Jq2Vx6Bn9Mk3Pt7W": RESEARCH,
    "apikey_01Lw3Fy7Ct5Qe9Zr2Sh6Nb8K": None,  # a key of the default workspace
}


@dataclass(frozen=True)
class ModelPrice:
    """List prices in dollars per million tokens."""

    display: str
    input: Decimal
    output: Decimal
    write_5m: Decimal
    write_1h: Decimal
    read: Decimal


PRICES = {
    "claude-sonnet-4-20250514": ModelPrice(
        "Claude Sonnet 4", Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("6"), Decimal("0.30")
    ),
    "claude-3-5-haiku-20241022": ModelPrice(
        "Claude Haiku 3.5", Decimal("0.80"), Decimal("4"), Decimal("1.00"), Decimal("1.60"), Decimal("0.08")
    ),
    "claude-opus-4-1-20250805": ModelPrice(
        "Claude Opus 4.1", Decimal("15"), Decimal("75"), Decimal("18.75"), Decimal("30"), Decimal("1.50")
    ),
}
WEB_SEARCH_CENTS = Decimal(1)  # $10 per 1000 searches
CODE_EXECUTION_CENTS_PER_HOUR = Decimal(5)
#: Sizes the simulated organization: about $350 of Anthropic spend in a full month (see the OpenAI simulator).
VOLUME = 0.07
TOKEN_LINES = (  # (value field, description suffix, token_type, price attribute)
    ("uncached_input_tokens", "Input Tokens", "uncached_input_tokens", "input"),
    ("output_tokens", "Output Tokens", "output_tokens", "output"),
    ("cache_read_input_tokens", "Cache Read", "cache_read_input_tokens", "read"),
    ("cache_creation_5m", "Cache Write (5m)", "cache_creation.ephemeral_5m_input_tokens", "write_5m"),
    ("cache_creation_1h", "Cache Write (1h)", "cache_creation.ephemeral_1h_input_tokens", "write_1h"),
)


def messages(
    avg_in: float,
    avg_out: float,
    read_share: float,
    write_share: float,
    *,
    long_writes: float = 0.2,
    web_search: float = 0.0,
    code_seconds: float = 0.0,
) -> Callable[[int, Rand], Values]:
    """Messages traffic: request count -> the usage report's token fields (and tool use for costs)."""

    def make(n: int, rand: Rand) -> Values:
        total_in = round(n * around(rand, "in", avg_in))
        read = round(total_in * around(rand, "read", read_share, 0.3))
        write = min(total_in - read, round(total_in * around(rand, "write", write_share, 0.5)))
        write_1h = round(write * long_writes)
        return {
            "uncached_input_tokens": total_in - read - write,
            "cache_creation_5m": write - write_1h,
            "cache_creation_1h": write_1h,
            "cache_read_input_tokens": read,
            "output_tokens": round(n * around(rand, "out", avg_out)),
            "web_search_requests": round(n * web_search * around(rand, "web", 1.0, 0.5)),
            "code_execution_seconds": round(n * code_seconds * around(rand, "code", 1.0, 0.5)),
        }

    return make


def _stream(
    key: str | None,
    workspace: str | None,
    model: str,
    rate: float,
    make: Callable[[int, Rand], Values],
    *,
    tier: str = "standard",
    context: str = "0-200k",
    geo: str = "global",
    active: float = 1.0,
) -> Stream:
    dims = {
        "api_key_id": key,
        "workspace_id": workspace,
        "model": model,
        "service_tier": tier,
        "context_window": context,
        "inference_geo": geo,
    }
    return Stream("messages", dims, rate, make, active)


def streams(org_size: OrgSize | None = None) -> list[Stream]:
    """Production chat on Sonnet and Haiku, research on Opus with long context, batch jobs, Console tinkering.

    Relative rates are written as observed shapes; :data:`VOLUME` sizes the whole organization. With
    ``org_size``, a generated organization instead (:func:`generated_streams`).
    """
    if org_size is not None:
        return generated_streams(org_size)
    return [replace(s, rate=s.rate * VOLUME) for s in _shapes(list(KEYS))]


def _shapes(k: list[str | None]) -> list[Stream]:
    sonnet, haiku, opus = "claude-sonnet-4-20250514", "claude-3-5-haiku-20241022", "claude-opus-4-1-20250805"
    return [
        _stream(k[0], PRODUCTION, sonnet, 260, messages(3200, 450, 0.55, 0.06, web_search=0.05)),
        _stream(k[1], PRODUCTION, haiku, 900, messages(1400, 180, 0.35, 0.03)),
        _stream(k[1], PRODUCTION, haiku, 1500, messages(1100, 90, 0.0, 0.0), tier="batch", active=0.3),
        _stream(k[2], RESEARCH, opus, 18, messages(9000, 1600, 0.40, 0.10, long_writes=0.6, code_seconds=20)),
        _stream(k[2], RESEARCH, sonnet, 4, messages(320_000, 2500, 0.30, 0.05), context="200k-1M", active=0.5),
        _stream(k[3], None, sonnet, 40, messages(2000, 600, 0.20, 0.05, web_search=0.2), geo="us"),
        _stream(None, None, sonnet, 4, messages(1500, 700, 0.0, 0.0), active=0.35),  # Console / Workbench
    ]


def generated_workspace(w: int) -> str:
    return f"wrkspc_gen{w:05d}"


def generated_streams(org_size: OrgSize) -> list[Stream]:
    """A generated organization: every key of every workspace calls every model a few times an hour (model ``i``
    is a real model with a ``-sim<i>`` suffix, billed at its prices), as in the OpenAI simulator."""
    bases = list(PRICES)
    out = []
    for w in range(org_size.projects):
        for k in range(org_size.keys):
            for m in range(org_size.models):
                base = bases[m % len(bases)]
                stream = _stream(
                    f"apikey_gen{w:05d}k{k:03d}",
                    generated_workspace(w),
                    f"{base}-sim{m}",
                    4.0,
                    messages(1500, 250, 0.3, 0.03),
                )
                out.append(replace(stream, dims={**stream.dims, "price_as": base}))
    return out


def generated_workspaces(org_size: OrgSize) -> list[tuple[str, str, str, str | None]]:
    created = "2025-01-01T00:00:00.000000Z"
    return [(generated_workspace(w), f"Generated workspace {w}", created, None) for w in range(org_size.projects)]


def cost_lines(stream: Stream, v: Values) -> list[tuple[str, dict[str, Any], Decimal]]:
    """(description, description fields, cents) for one stream's usage at list prices."""
    model = str(stream.dims["model"])
    price = PRICES[str(stream.dims.get("price_as", model))]
    tier = str(stream.dims["service_tier"])
    context = str(stream.dims["context_window"])
    factor_ = Decimal("0.5") if tier == "batch" else Decimal(1)
    if context != "0-200k":
        factor_ *= 2  # long-context requests are billed at premium rates
    label = price.display + (" Batch" if tier == "batch" else "") + (" Long Context" if context != "0-200k" else "")
    out = []
    for field, suffix, token_type, attr in TOKEN_LINES:
        tokens = v.get(field, 0)
        if tokens:
            cents = tokens * getattr(price, attr) * factor_ * 100 / MILLION
            fields: dict[str, Any] = {
                "cost_type": "tokens",
                "model": model,
                "token_type": token_type,
                "service_tier": tier,
                "context_window": context,
            }
            out.append((f"{label} Usage - {suffix}", fields, cents))
    empty: dict[str, str | None] = {"model": None, "token_type": None, "service_tier": None, "context_window": None}
    if v.get("web_search_requests"):
        out.append(
            ("Web Search Usage", {**empty, "cost_type": "web_search"}, v["web_search_requests"] * WEB_SEARCH_CENTS)
        )
    if v.get("code_execution_seconds"):
        out.append(
            (
                "Code Execution Usage",
                {**empty, "cost_type": "code_execution"},
                v["code_execution_seconds"] * CODE_EXECUTION_CENTS_PER_HOUR / 3600,
            )
        )
    return out


# --- errors ---------------------------------------------------------------------------------------------------------
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    429: "Number of requests has exceeded your rate limit. Please try again later.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}


def error(status: int, message: str, type_: str | None = None, req: Request | None = None) -> Response:
    seed = f"{status}:{message}:{req.path if req else ''}:{req.arg('page') if req else ''}:{time.time_ns()}"
    request_id = "req_011C" + base64.b32encode(hashlib.sha256(seed.encode()).digest()[:15]).decode()[:20]
    body = {
        "type": "error",
        "error": {"type": type_ or ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": request_id,
    }
    return Response.json(body, status, {"request-id": request_id})


def fault_error(status: int, req: Request) -> Response:
    return error(status, ERROR_MESSAGES.get(status, f"Error {status}"), None, req)


class BadRequest(BadParameter):
    def response(self, req: Request) -> Response:
        return error(400, str(self), "invalid_request_error", req)


def auth_error(sim: Any, req: Request) -> Response | None:
    key = req.header("x-api-key") or sim.bearer(req)
    if not key:
        return error(401, "x-api-key header is required", "authentication_error", req)
    if not sim.key_ok(key):
        return error(401, "invalid x-api-key", "authentication_error", req)
    if not req.header("anthropic-version"):
        return error(400, "anthropic-version: header is required", "invalid_request_error", req)
    return None


# --- parameters and pages -------------------------------------------------------------------------------------------
def parse_time(req: Request, name: str, required: bool) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"{name}: Field required")
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}: Input should be a valid datetime, invalid datetime format") from None
    if when.tzinfo is None:
        raise BadRequest(f"{name}: Input should have timezone info")
    return int(when.timestamp())


def _limit(req: Request, default: int, maximum: int) -> int:
    raw = req.arg("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if limit < 1:
        raise BadRequest("limit: Input should be greater than or equal to 1")
    if limit > maximum:
        raise BadRequest(f"limit: Input should be less than or equal to {maximum}")
    return limit


def _width_and_limit(req: Request, limits: Limits) -> tuple[str, int]:
    width_name = req.arg("bucket_width") or "1d"
    if width_name not in limits:
        *most, last = (f"'{w}'" for w in limits)
        raise BadRequest(
            f"bucket_width: Input should be {', '.join(most)} or {last}"
            if most
            else f"bucket_width: Input should be {last}"
        )
    return width_name, _limit(req, *limits[width_name])


def _group_by(req: Request, allowed: Sequence[str]) -> list[str]:
    fields: list[str] = []
    for i, item in enumerate(req.args("group_by")):
        if item not in allowed:
            choices = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
            raise BadRequest(f"group_by.{i}: Input should be {choices}")
        if item not in fields:
            fields.append(item)
    return fields


API = AdminApi(
    start="starting_at",
    end="ending_at",
    time=RFC3339,
    read_time=parse_time,
    read_limit=_limit,
    read_width=_width_and_limit,
    bad_request=BadRequest,
    end_not_after_start="ending_at: must be after starting_at",
    bad_cursor="page: invalid page token",
    foreign_cursor="page: the page token does not match this query",
    auth=auth_error,
    fault_error=fault_error,
    whole_buckets=True,
    timestamp_cursors=True,
)


FILTERS = {
    "api_key_ids": "api_key_id",
    "workspace_ids": "workspace_id",
    "models": "model",
    "service_tiers": "service_tier",
    "context_window": "context_window",
    "inference_geos": "inference_geo",
}
USAGE_GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo")
USAGE_DIMS = (*USAGE_GROUPS, "account_id", "service_account_id")
COST_GROUPS = ("workspace_id", "description")


def _filters(req: Request) -> dict[str, set[Any]]:
    return {dim: set(req.args(param)) for param, dim in FILTERS.items() if req.args(param)}


def usage_result(dims: dict[str, Any], v: Values, f: Decimal) -> dict[str, Any]:
    s = {k: scale_count(n, f) for k, n in v.items()}
    return {
        **{d: dims.get(d) for d in USAGE_DIMS},
        "uncached_input_tokens": s["uncached_input_tokens"],
        "cache_creation": {
            "ephemeral_1h_input_tokens": s["cache_creation_1h"],
            "ephemeral_5m_input_tokens": s["cache_creation_5m"],
        },
        "cache_read_input_tokens": s["cache_read_input_tokens"],
        "output_tokens": s["output_tokens"],
        "server_tool_use": {"web_search_requests": s["web_search_requests"]},
    }


# --- the endpoints' own parameters and results ----------------------------------------------------------------------
def usage_query(req: Request) -> Rows:
    """Read the usage report's group_by and filters; return how to make a bucket's results."""
    fields = _group_by(req, USAGE_GROUPS)
    filters = _filters(req)

    def rows(traffic: Traffic, f: Decimal) -> list[dict[str, Any]]:
        selected = [(s, v) for s, v in traffic if matches(s, filters)]
        return [usage_result(dims, values, f) for dims, values in group(selected, fields)]

    return rows


SESSION_CENTS_PER_OUTPUT_TOKEN = Decimal("0.002")


def session_lines(stream: Stream, v: Values) -> list[tuple[str, dict[str, Any], Decimal]]:
    """Claude Code session lines (cost_type session_usage, 2026 docs) for Console usage (no API key)."""
    if stream.dims.get("api_key_id") is not None or not v.get("output_tokens"):
        return []
    empty = {"model": None, "token_type": None, "service_tier": None, "context_window": None}
    cents = v["output_tokens"] * SESSION_CENTS_PER_OUTPUT_TOKEN
    return [("Claude Code Session Usage", {**empty, "cost_type": "session_usage"}, cents)]


def cost_query_of(sim: Any) -> Callable[[Request], Rows]:
    return lambda req: cost_query(req, shape(sim) == "current")


def cost_query(req: Request, current: bool = False) -> Rows:
    """Read the cost report's group_by and filter; return how to make a bucket's results."""
    fields = _group_by(req, COST_GROUPS)
    filters = {"workspace_id": set(req.args("workspace_ids"))} if req.args("workspace_ids") else {}

    def rows(traffic: Traffic, f: Decimal) -> list[dict[str, Any]]:
        grouped: dict[tuple[Any, ...], list[Any]] = {}
        for stream, values in traffic:
            if not matches(stream, filters):
                continue
            lines = cost_lines(stream, values) + (session_lines(stream, values) if current else [])
            for description, extra, cents in lines:
                dims = {"workspace_id": stream.dims["workspace_id"], "description": description, **extra}
                key = tuple(dims[g] for g in fields)
                grouped.setdefault(key, [dims, Decimal(0)])[1] += cents
        out = []
        for dims, cents in grouped.values():
            by_description = "description" in fields
            amount = (cents * f).quantize(Decimal("0.00001")).normalize()
            out.append(
                {
                    "amount": f"{amount:f}",
                    "currency": "USD",
                    "cost_type": dims["cost_type"] if by_description else None,
                    "description": dims["description"] if by_description else None,
                    "model": dims["model"] if by_description else None,
                    "service_tier": dims["service_tier"] if by_description else None,
                    "token_type": dims["token_type"] if by_description else None,
                    "context_window": dims["context_window"] if by_description else None,
                    "inference_geo": None,
                    "workspace_id": dims["workspace_id"] if "workspace_id" in fields else None,
                }
            )
        return out

    return rows


def workspace_list(workspaces: Sequence[tuple[str, str, str, str | None]], archived: bool) -> list[Item]:
    colors = ("#6C5BB9", "#2E7D6F", "#C2410C")
    return [
        {
            "id": wid,
            "type": "workspace",
            "name": name,
            "created_at": created,
            "archived_at": gone,
            "display_color": colors[i % len(colors)],
        }
        for i, (wid, name, created, gone) in enumerate(workspaces)
        if archived or gone is None
    ]


def workspace_page(page: list[Item], has_more: bool) -> dict[str, Any]:
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


# --- registration ---------------------------------------------------------------------------------------------------
def register(sim: Any) -> None:
    model = UsageModel(sim.seed, PROVIDER, streams(sim.org_size))
    log = logged(sim, PROVIDER, API.page_number)
    faults = with_faults(sim, PROVIDER, fault_error)
    usage = API.endpoint(sim, model, "usage_messages", USAGE_LIMITS, usage_query)
    costs = API.endpoint(sim, model, "cost_report", COST_LIMITS, cost_query_of(sim))
    sim.router.add("GET", f"{PREFIX}/usage_report/messages", log(faults(usage)))
    sim.router.add("GET", f"{PREFIX}/cost_report", log(faults(costs)))

    org = WORKSPACES if sim.org_size is None else generated_workspaces(sim.org_size)
    workspaces = API.listing(
        sim, "workspaces", "after_id", 1000, lambda archived: workspace_list(org, archived), workspace_page
    )
    sim.router.add("GET", f"{PREFIX}/workspaces", log(faults(workspaces)))
