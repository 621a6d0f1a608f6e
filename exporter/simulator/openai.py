"""Simulated OpenAI Admin API: the Usage API endpoints, the Costs API and the project list.

Faithful where a client can tell the difference (see provider-apis.md §1 and §6):

- auth: ``Authorization: Bearer <admin key>``; no key -> 401 (``code: null``), a wrong key -> 401
  ``invalid_api_key`` echoing a masked key like the real API, a project key (``sk-proj-...``) -> 403 (admin
  endpoints need an admin key); always the ``{"error": {message, type, param, code}}`` envelope
- ``start_time`` required (Unix seconds), ``end_time`` exclusive (default: through the bucket containing now),
  ``bucket_width`` ``1m|1h|1d`` with ``limit`` 1-1440 / 1-168 / 1-31 (defaults 60 / 24 / 7); costs only ``1d``
  with ``limit`` 1-180 (default 7); ``group_by`` values checked per endpoint, ``group_by`` and ``group_by[]``
  both accepted, and the ``project_ids`` / ``user_ids`` / ``api_key_ids`` / ``models`` filters applied
- every bucket in ``[start, end)`` ascending, empty ones as ``"results": []``; dimension fields are null unless
  grouped; pages of ``limit`` buckets with an opaque ``page_...`` cursor
- cost ``amount.value`` in dollars, ``currency: "usd"``, derived from the same usage at list prices (several line
  items per model, plus web search calls and file search storage)
- by default the shapes real organizations got in 2026 (provider-apis.md, Corrections): the first bucket starts at
  the requested ``start_time`` and the last one ends at the request time; completions results carry only the 6
  token fields of older bodies (``input_tokens``, ``output_tokens``, ``input_cached_tokens``,
  ``input_audio_tokens``, ``output_audio_tokens``, ``num_model_requests``) and no ``service_tier``; dimension keys
  that would be null are absent; ``amount.value`` is a decimal string (``"2.25"``) for every other result; line
  items read like ``Text tokens`` and ``Web search tool calls``. ``POST /_sim/usage {"shape": "legacy"}`` serves
  the spec's shapes instead: snapped buckets, all 2026 token fields, null dimension keys, floats, model-named line
  items
- ``GET /v1/organization/projects`` (``after``/``limit`` 1-100 / ``include_archived``), one archived project

Faults (provider key ``openai``; see :mod:`exporter.simulator.faults`): latency, error_rate/error_status, 429
bursts with Retry-After, malformed bodies, ``fail_page`` (the Nth page of any paginated call fails with
``fail_page_status``, 0 = a malformed body). Usage knobs (multiplier, revise): :mod:`exporter.simulator.usage_data`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from exporter.httpserver import Request, Response
from exporter.simulator.common import with_faults
from exporter.simulator.usage_data import (
    UNIX,
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

PROVIDER = "openai"
PREFIX = "/v1/organization"
# bucket_width -> (default limit, maximum limit), in the order the API's error message lists them
USAGE_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
COSTS_LIMITS = {"1d": (7, 180)}
MILLION = Decimal(1_000_000)

# --- the simulated organization -------------------------------------------------------------------------------------
# (id, name, created_at, archived)
PROJECTS = (
    ("proj_7Hq2XbL9vTn4RkWc1sYd8ZaE", "Customer Support Bot", 1711471533, False),
    ("proj_Mz3pK8rQ1wVx6NbT4cHj2LsF", "Search & RAG", 1714064400, False),
    ("proj_Bn5tY2gW9kDq7HxR3mJz6PvC", "Internal Tools", 1719792000, False),
    ("proj_Qe1rT6uI8oPa3SdF5gHj7KlZ", "Legacy prototype", 1704067200, True),
)
SUPPORT, SEARCH, INTERNAL, LEGACY = (p[0] for p in PROJECTS)
USERS = ("user-Ak4Tq9Lm2XvB7nRc", "user-Pz8Wd3Hs6JyE1oKf", "user-Gt5Nb2Vq7MxC9rLs")
# key id -> (project, owner)
KEYS = {
    "key_sUp7Wq2Lk9Xz4Bn1": (SUPPORT, USERS[0]),
    "key_sUp3Rt8Yh6Vm2Cd5": (SUPPORT, USERS[1]),
    "key_sEa5Nj1Kq7Pw3Zx9": (SEARCH, USERS[1]),
    "key_sEa2Gf6Tb8Lh4Mr7": (SEARCH, USERS[2]),
    "key_iNt9Dv3Xc5Qs1Wy6": (INTERNAL, USERS[2]),
    "key_lEg4Hb7Rn2Ty8Ku3": (LEGACY, USERS[0]),
}


@dataclass(frozen=True)
class ChatPrice:
    """List prices in dollars per million tokens."""

    input: Decimal
    cached: Decimal
    output: Decimal
    audio_input: Decimal = Decimal(0)
    audio_output: Decimal = Decimal(0)


CHAT_PRICES = {
    "gpt-4o-2024-08-06": ChatPrice(Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini-2024-07-18": ChatPrice(Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "o3-mini-2025-01-31": ChatPrice(Decimal("1.10"), Decimal("0.55"), Decimal("4.40")),
    "gpt-4o-audio-preview-2024-12-17": ChatPrice(
        Decimal("2.50"), Decimal("1.25"), Decimal("10.00"), Decimal("40.00"), Decimal("80.00")
    ),
}
EMBEDDING_PRICE = {"text-embedding-3-small": Decimal("0.02")}
IMAGE_PRICE = {"1024x1024": Decimal("0.040"), "1792x1024": Decimal("0.080")}
TTS_PRICE_PER_MILLION_CHARS = Decimal("15.00")
WHISPER_PRICE_PER_SECOND = Decimal("0.0001")  # $0.006 per minute
WEB_SEARCH_PRICE = Decimal("0.025")  # $25 per 1000 calls
STORAGE_PRICE_PER_MB_HOUR = Decimal("0.000004")  # about $0.10 per GB-day
#: Sizes the simulated organization: about $250 of OpenAI spend in a full month (Anthropic: about $350), under the
#: bundle's default $1000 budget, so ``POST /_sim/usage {"multiplier": 25}`` is what pushes the demo over it.
VOLUME = 0.18


def chat(
    avg_in: float,
    avg_out: float,
    cached_share: float,
    *,
    write_share: float = 0.0,
    audio_share: float = 0.0,
    image_share: float = 0.0,
    web_search_share: float = 0.0,
) -> Callable[[int, Rand], Values]:
    """Completions traffic: request count -> token fields that satisfy the Usage API's identities."""

    def make(n: int, rand: Rand) -> Values:
        total_in = round(n * around(rand, "in", avg_in))
        cached = min(total_in, round(total_in * around(rand, "cached", cached_share, 0.4)))
        write = min(total_in - cached, round(total_in * write_share * rand("write")))
        uncached = total_in - cached - write
        audio_in = round(uncached * audio_share)
        cached_audio = round(cached * audio_share * 0.5)
        image_in = round((uncached - audio_in) * image_share)
        out = round(n * around(rand, "out", avg_out))
        return {
            "num_model_requests": n,
            "input_tokens": total_in,
            "input_cached_tokens": cached,
            "input_cache_write_tokens": write,
            "input_audio_tokens": audio_in,
            "input_cached_audio_tokens": cached_audio,
            "input_image_tokens": image_in,
            "input_cached_image_tokens": 0,
            "output_tokens": out,
            "output_audio_tokens": round(out * audio_share * 0.8),
            "output_image_tokens": 0,
            "web_search_calls": round(n * web_search_share * around(rand, "web", 1.0)),
        }

    return make


def per_request(field: str, avg: float, spread: float = 0.4) -> Callable[[int, Rand], Values]:
    def make(n: int, rand: Rand) -> Values:
        return {"num_model_requests": n, field: max(1, round(n * around(rand, field, avg, spread)))}

    return make


def storage(mb: float) -> Callable[[int, Rand], Values]:
    def make(n: int, rand: Rand) -> Values:
        return {"storage_mb_hours": round(mb * around(rand, "mb", 1.0, 0.02))}

    return make


def _chat(
    project: str,
    key: str,
    model: str,
    rate: float,
    make: Callable[[int, Rand], Values],
    *,
    batch: bool = False,
    active: float = 1.0,
) -> Stream:
    dims = {
        "project_id": project,
        "api_key_id": key,
        "user_id": KEYS[key][1],
        "model": model,
        "batch": batch,
        "service_tier": "batch" if batch else "default",
    }
    return Stream("completions", dims, rate, make, active)


def _simple(
    endpoint: str,
    project: str,
    key: str,
    model: str,
    rate: float,
    make: Callable[[int, Rand], Values],
    active: float = 1.0,
    **extra: Any,
) -> Stream:
    dims = {"project_id": project, "api_key_id": key, "user_id": KEYS[key][1], "model": model, **extra}
    return Stream(endpoint, dims, rate, make, active)


def streams(org_size: OrgSize | None = None) -> list[Stream]:
    """The organization's traffic: a busy support bot, a search product, internal tools, a fading prototype.

    Relative rates are written as observed shapes; :data:`VOLUME` sizes the whole organization (see there).
    With ``org_size``, a generated organization instead (:func:`generated_streams`).
    """
    if org_size is not None:
        return generated_streams(org_size)
    k = list(KEYS)
    return [s if s.endpoint == "storage" else replace(s, rate=s.rate * VOLUME) for s in _shapes(k)]


def _shapes(k: list[str]) -> list[Stream]:
    return [
        _chat(SUPPORT, k[0], "gpt-4o-mini-2024-07-18", 700, chat(1800, 260, 0.45)),
        _chat(SUPPORT, k[1], "gpt-4o-mini-2024-07-18", 250, chat(1500, 220, 0.40)),
        _chat(SUPPORT, k[0], "gpt-4o-2024-08-06", 70, chat(2600, 420, 0.30, write_share=0.05)),
        _simple("moderations", SUPPORT, k[0], "omni-moderation-latest", 900, per_request("input_tokens", 180)),
        _simple("embeddings", SUPPORT, k[1], "text-embedding-3-small", 200, per_request("input_tokens", 350)),
        _chat(SEARCH, k[2], "gpt-4o-2024-08-06", 110, chat(4200, 380, 0.55, write_share=0.08, web_search_share=0.12)),
        _chat(SEARCH, k[3], "o3-mini-2025-01-31", 25, chat(3000, 1400, 0.20), active=0.8),
        _chat(SEARCH, k[3], "gpt-4o-mini-2024-07-18", 400, chat(900, 150, 0.0), batch=True, active=0.25),
        _simple("embeddings", SEARCH, k[2], "text-embedding-3-small", 1100, per_request("input_tokens", 600)),
        # storage is billed every hour whatever the traffic (the rate only has to keep the stream active)
        Stream("storage", {"project_id": SEARCH, "api_key_id": None, "user_id": None}, 10, storage(2300)),
        _chat(INTERNAL, k[4], "gpt-4o-mini-2024-07-18", 60, chat(1200, 300, 0.25)),
        _chat(INTERNAL, k[4], "gpt-4o-audio-preview-2024-12-17", 8, chat(900, 500, 0.10, audio_share=0.7), active=0.6),
        _simple(
            "images",
            INTERNAL,
            k[4],
            "dall-e-3",
            5,
            per_request("images", 1.3, 0.3),
            active=0.5,
            size="1024x1024",
            source="image.generation",
        ),
        _simple(
            "images",
            INTERNAL,
            k[4],
            "dall-e-3",
            2,
            per_request("images", 1.0, 0.0),
            active=0.3,
            size="1792x1024",
            source="image.generation",
        ),
        _simple("audio_speeches", INTERNAL, k[4], "tts-1", 12, per_request("characters", 420)),
        _simple("audio_transcriptions", INTERNAL, k[4], "whisper-1", 9, per_request("seconds", 75), active=0.7),
        _chat(LEGACY, k[5], "gpt-4o-mini-2024-07-18", 6, chat(800, 120, 0.0), active=0.15),
    ]


def generated_project(p: int) -> str:
    return f"proj_gen{p:05d}"


def generated_streams(org_size: OrgSize) -> list[Stream]:
    """A generated organization: every key of every project calls every model a few times an hour.

    Model ``i`` is named after a real chat model with a ``-sim<i>`` suffix and billed at its prices, so a day has
    ``org_size.groups`` completions results (grouped by project, model and key) and three cost line items per
    project and model.
    """
    bases = list(CHAT_PRICES)[:3]  # the text models (the audio one needs audio traffic to make sense)
    out = []
    for p in range(org_size.projects):
        for k in range(org_size.keys):
            key = f"key_gen{p:05d}k{k:03d}"
            for m in range(org_size.models):
                base = bases[m % len(bases)]
                dims = {
                    "project_id": generated_project(p),
                    "api_key_id": key,
                    "user_id": f"user-gen{k:03d}",
                    "model": f"{base}-sim{m}",
                    "price_as": base,
                    "batch": False,
                    "service_tier": "default",
                }
                out.append(Stream("completions", dims, 4.0, chat(1500, 250, 0.3)))
    return out


def generated_projects(org_size: OrgSize) -> list[tuple[str, str, int, bool]]:
    return [(generated_project(p), f"Generated project {p}", 1704067200, False) for p in range(org_size.projects)]


# --- the Usage API --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointSpec:
    name: str
    object: str
    fields: tuple[str, ...]  # metric fields served
    group_by: tuple[str, ...]
    dims: tuple[str, ...]  # dimension fields present on every result


BASE_GROUPS = ("project_id", "user_id", "api_key_id", "model")
COMPLETION_FIELDS = (
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
    "num_model_requests",
)
ENDPOINTS = {
    e.name: e
    for e in (
        EndpointSpec(
            "completions",
            "organization.usage.completions.result",
            COMPLETION_FIELDS,
            (*BASE_GROUPS, "batch", "service_tier"),
            (*BASE_GROUPS, "batch", "service_tier"),
        ),
        EndpointSpec(
            "embeddings",
            "organization.usage.embeddings.result",
            ("input_tokens", "num_model_requests"),
            BASE_GROUPS,
            BASE_GROUPS,
        ),
        EndpointSpec(
            "moderations",
            "organization.usage.moderations.result",
            ("input_tokens", "num_model_requests"),
            BASE_GROUPS,
            BASE_GROUPS,
        ),
        EndpointSpec(
            "images",
            "organization.usage.images.result",
            ("images", "num_model_requests"),
            (*BASE_GROUPS, "size", "source"),
            ("source", "size", *BASE_GROUPS),
        ),
        EndpointSpec(
            "audio_speeches",
            "organization.usage.audio_speeches.result",
            ("characters", "num_model_requests"),
            BASE_GROUPS,
            BASE_GROUPS,
        ),
        EndpointSpec(
            "audio_transcriptions",
            "organization.usage.audio_transcriptions.result",
            ("seconds", "num_model_requests"),
            BASE_GROUPS,
            BASE_GROUPS,
        ),
    )
}
FILTERS = {
    "project_ids": "project_id",
    "user_ids": "user_id",
    "api_key_ids": "api_key_id",
    "models": "model",
    "sizes": "size",
    "sources": "source",
}
COST_GROUPS = ("project_id", "line_item", "api_key_id")
#: The token fields older completions bodies carry (what real organizations got in 2026).
SPARSE_COMPLETION_FIELDS = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
)


def real_line_item(line_item: str) -> str:
    """The billing name a 2026 cost result gives a line item (``Text tokens``), from the model-named one."""
    kind = line_item.rsplit(", ", 1)[-1]
    if kind in ("input", "cached input", "output", "batch input", "batch output"):
        return "Text tokens"
    if kind.startswith("audio"):
        return "Audio tokens"
    return {
        "web search tool calls": "Web search tool calls",
        "file search storage": "File search storage",
        "characters": "Text to speech",
        "transcription": "Transcription",
    }.get(kind, "Image generation" if "x" in kind else "Embeddings")


def _present(result: dict[str, Any]) -> dict[str, Any]:
    """A result without the dimension keys that would be null, as real grouped results come."""
    return {k: v for k, v in result.items() if v is not None}


def _amount(amount: Decimal, as_string: bool) -> float | str:
    return format(amount.normalize(), "f") if as_string else float(amount)


def completion_result(values: Values, f: Decimal) -> dict[str, int]:
    """Scale the stored fields, then derive the split fields so the API's identities hold after rounding."""
    v = {k: scale_count(n, f) for k, n in values.items()}
    uncached = max(0, v["input_tokens"] - v["input_cached_tokens"] - v["input_cache_write_tokens"])
    return {
        "input_tokens": v["input_tokens"],
        "input_cached_tokens": v["input_cached_tokens"],
        "input_cache_write_tokens": v["input_cache_write_tokens"],
        "input_uncached_tokens": uncached,
        "output_tokens": v["output_tokens"],
        "input_text_tokens": max(0, uncached - v["input_audio_tokens"] - v["input_image_tokens"]),
        "output_text_tokens": max(0, v["output_tokens"] - v["output_audio_tokens"] - v["output_image_tokens"]),
        "input_cached_text_tokens": max(
            0, v["input_cached_tokens"] - v["input_cached_audio_tokens"] - v["input_cached_image_tokens"]
        ),
        "input_audio_tokens": v["input_audio_tokens"],
        "input_cached_audio_tokens": v["input_cached_audio_tokens"],
        "output_audio_tokens": v["output_audio_tokens"],
        "input_image_tokens": v["input_image_tokens"],
        "input_cached_image_tokens": v["input_cached_image_tokens"],
        "output_image_tokens": v["output_image_tokens"],
        "num_model_requests": v["num_model_requests"],
    }


def cost_lines(stream: Stream, v: Values) -> list[tuple[str, Decimal, int, str]]:
    """(line_item, dollars, quantity, quantity_unit) for one stream's usage, at list prices."""
    model = stream.dims.get("model")
    if stream.endpoint == "storage":
        return [
            (
                "file search storage",
                v["storage_mb_hours"] * STORAGE_PRICE_PER_MB_HOUR,
                v["storage_mb_hours"],
                "megabyte_hours",
            )
        ]
    if stream.endpoint == "completions":
        price = CHAT_PRICES[str(stream.dims.get("price_as", model))]
        discount = Decimal("0.5") if stream.dims.get("batch") else Decimal(1)
        prefix = f"{model}, batch " if stream.dims.get("batch") else f"{model}, "
        uncached_text = v["input_tokens"] - v["input_cached_tokens"] - v["input_audio_tokens"]
        text_out = v["output_tokens"] - v["output_audio_tokens"]
        lines = [
            (prefix + "input", uncached_text * price.input * discount / MILLION, uncached_text, "tokens"),
            (
                prefix + "cached input",
                v["input_cached_tokens"] * price.cached * discount / MILLION,
                v["input_cached_tokens"],
                "tokens",
            ),
            (prefix + "output", text_out * price.output * discount / MILLION, text_out, "tokens"),
        ]
        if v["input_audio_tokens"] or v["output_audio_tokens"]:
            lines.append(
                (
                    prefix + "audio input",
                    v["input_audio_tokens"] * price.audio_input / MILLION,
                    v["input_audio_tokens"],
                    "tokens",
                )
            )
            lines.append(
                (
                    prefix + "audio output",
                    v["output_audio_tokens"] * price.audio_output / MILLION,
                    v["output_audio_tokens"],
                    "tokens",
                )
            )
        if v.get("web_search_calls"):
            lines.append(
                ("web search tool calls", v["web_search_calls"] * WEB_SEARCH_PRICE, v["web_search_calls"], "calls")
            )
        return [line for line in lines if line[2] > 0]
    if stream.endpoint == "embeddings":
        return [
            (f"{model}, input", v["input_tokens"] * EMBEDDING_PRICE[str(model)] / MILLION, v["input_tokens"], "tokens")
        ]
    if stream.endpoint == "images":
        size = str(stream.dims.get("size"))
        return [(f"{model}, {size}", v["images"] * IMAGE_PRICE[size], v["images"], "images")]
    if stream.endpoint == "audio_speeches":
        return [
            (
                f"{model}, characters",
                v["characters"] * TTS_PRICE_PER_MILLION_CHARS / MILLION,
                v["characters"],
                "characters",
            )
        ]
    if stream.endpoint == "audio_transcriptions":
        return [(f"{model}, transcription", v["seconds"] * WHISPER_PRICE_PER_SECOND, v["seconds"], "duration_seconds")]
    return []  # moderations are free


# --- errors ---------------------------------------------------------------------------------------------------------
def error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None) -> Response:
    return Response.json({"error": {"message": message, "type": type_, "param": param, "code": code}}, status)


class BadRequest(BadParameter):
    def __init__(self, message: str, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message, param)
        self.code = code

    def response(self, req: Request) -> Response:
        return error(400, str(self), "invalid_request_error", self.code, self.param)


def fault_error(status: int, req: Request) -> Response:
    """The envelope OpenAI answers an injected status with."""
    if status == 429:
        return error(
            429,
            "Rate limit reached for default-admin in organization org-llmpulse on requests per min "
            "(RPM): Limit 60, Used 60, Requested 1. Please try again in 1s.",
            "requests",
            "rate_limit_exceeded",
        )
    if status == 500:
        return error(500, "The server had an error while processing your request. Sorry about that!", "server_error")
    if status == 503:
        return error(503, "The engine is currently overloaded, please try again later.", "server_error")
    if status >= 500:
        return error(status, f"Upstream error ({status}).", "server_error")
    return error(status, f"Request failed with status {status}.", "invalid_request_error")


def auth_error(sim: Any, req: Request) -> Response | None:
    key = sim.bearer(req)
    if not key:
        return error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
            "(with blank username) if you're accessing the API from your browser and are prompted for a "
            "username.",
            "invalid_request_error",
        )
    if key.startswith("sk-proj-"):
        return error(
            403,
            "You have insufficient permissions for this operation. Missing scopes: "
            "api.usage.read. Check that you have the correct role in your organization (Owner), and if "
            "you're using a restricted API key, that it has the necessary scopes.",
            "invalid_request_error",
        )
    if not sim.key_ok(key):
        masked = f"{key[:8]}{'*' * 8}{key[-4:]}" if len(key) > 12 else "*" * len(key)
        return error(
            401,
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    return None


# --- parameters and pages -------------------------------------------------------------------------------------------
def _int_param(req: Request, name: str, required: bool = False) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid type for '{name}': expected an integer, but got a string instead.", name, "invalid_type"
        ) from None


def _limit(req: Request, default: int, maximum: int) -> int:
    limit = _int_param(req, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise BadRequest(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            "limit",
            "integer_below_min_value",
        )
    if limit > maximum:
        raise BadRequest(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {maximum}, but got {limit} instead.",
            "limit",
            "integer_above_max_value",
        )
    return limit


def _width_and_limit(req: Request, limits: Limits) -> tuple[str, int]:
    width_name = req.arg("bucket_width") or "1d"
    if width_name not in limits:
        *most, last = (f"'{w}'" for w in limits)
        supported = f"{', '.join(most)}, and {last}" if most else last
        raise BadRequest(f"Invalid value: '{width_name}'. Supported values are: {supported}.", "bucket_width")
    return width_name, _limit(req, *limits[width_name])


def _group_by(req: Request, allowed: Sequence[str]) -> list[str]:
    fields: list[str] = []
    for value in req.args("group_by"):
        for item in value.split(","):
            if item not in allowed:
                quoted = ", ".join(f"'{a}'" for a in allowed)
                raise BadRequest(f"Invalid value: '{item}'. Supported values are: {quoted}.", "group_by")
            if item not in fields:
                fields.append(item)
    return fields


API = AdminApi(
    start="start_time",
    end="end_time",
    time=UNIX,
    read_time=_int_param,
    read_limit=_limit,
    read_width=_width_and_limit,
    bad_request=BadRequest,
    end_not_after_start="Invalid 'end_time': must be greater than 'start_time'.",
    bad_cursor="Invalid value for 'page': '{cursor}' is not a valid page cursor.",
    foreign_cursor="Invalid value for 'page': the cursor does not belong to this query.",
    auth=auth_error,
    fault_error=fault_error,
    page_head={"object": "page"},
    bucket_head={"object": "bucket"},
    exact_bounds=True,
)


def _filters(req: Request, bool_filter: bool) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {}
    for param, dim in FILTERS.items():
        values = req.args(param)
        if values:
            out[dim] = {v for value in values for v in value.split(",")}
    if bool_filter and req.arg("batch") not in (None, ""):
        raw = str(req.arg("batch")).lower()
        if raw not in ("true", "false"):
            raise BadRequest(f"Invalid value for 'batch': expected a boolean, got '{raw}'.", "batch")
        out["batch"] = {raw == "true"}
    return out


# --- the endpoints' own parameters and results ----------------------------------------------------------------------
def usage_query(spec: EndpointSpec, sim: Any) -> Callable[[Request], Rows]:
    """Read a usage endpoint's group_by and filters; return how to make a bucket's results."""

    def query(req: Request) -> Rows:
        fields = _group_by(req, spec.group_by)
        filters = _filters(req, spec.name == "completions")
        current = shape(sim) == "current"

        def rows(traffic: Traffic, f: Decimal) -> list[dict[str, Any]]:
            selected = [(s, v) for s, v in traffic if s.endpoint == spec.name and matches(s, filters)]
            out = []
            for dims, values in group(selected, fields):
                if spec.name == "completions":
                    metrics: dict[str, Any] = completion_result(values, f)
                    if current:
                        metrics = {k: metrics[k] for k in SPARSE_COMPLETION_FIELDS}
                else:
                    metrics = {k: scale_count(values[k], f) for k in spec.fields}
                dimensions = {d: dims.get(d) for d in spec.dims if not (current and d == "service_tier")}
                result = {"object": spec.object, **metrics, **dimensions}
                out.append(_present(result) if current else result)
            return out

        return rows

    return query


def costs_query_of(sim: Any) -> Callable[[Request], Rows]:
    return lambda req: costs_query(req, shape(sim) == "current")


def costs_query(req: Request, current: bool = False) -> Rows:
    """Read the Costs API's group_by and filters; return how to make a bucket's results."""
    fields = _group_by(req, COST_GROUPS)
    filters = {dim: vals for dim, vals in _filters(req, False).items() if dim in ("project_id", "api_key_id")}

    def rows(traffic: Traffic, f: Decimal) -> list[dict[str, Any]]:
        grouped: dict[tuple[Any, ...], list[Any]] = {}
        for stream, values in traffic:
            if not matches(stream, filters):
                continue
            for line_item, dollars, quantity, unit in cost_lines(stream, values):
                dims = {
                    "project_id": stream.dims.get("project_id"),
                    "api_key_id": stream.dims.get("api_key_id"),
                    "line_item": real_line_item(line_item) if current else line_item,
                }
                key = tuple(dims[g] for g in fields)
                acc = grouped.setdefault(key, [dims, Decimal(0), 0, unit])
                acc[1] += dollars
                acc[2] += quantity
        out = []
        for i, (dims, dollars, quantity, unit) in enumerate(grouped.values()):
            amount = (dollars * f).quantize(Decimal("1e-9"))
            by_item = "line_item" in fields
            result = {
                "object": "organization.costs.result",
                "amount": {"value": _amount(amount, current and i % 2 == 1), "currency": "usd"},
                "line_item": dims["line_item"] if by_item else None,
                "project_id": dims["project_id"] if "project_id" in fields else None,
                "api_key_id": dims["api_key_id"] if "api_key_id" in fields else None,
                "quantity": scale_count(quantity, f) if by_item else None,
                "quantity_unit": unit if by_item else None,
            }
            out.append(_present(result) if current else result)
        return out

    return rows


def project_list(projects: Sequence[tuple[str, str, int, bool]], archived: bool) -> list[Item]:
    return [
        {
            "id": pid,
            "object": "organization.project",
            "name": name,
            "created_at": created,
            "archived_at": created + 86400 * 200 if gone else None,
            "status": "archived" if gone else "active",
        }
        for pid, name, created, gone in projects
        if archived or not gone
    ]


def project_page(page: list[Item], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }


# --- registration ---------------------------------------------------------------------------------------------------
def register(sim: Any) -> None:
    model = UsageModel(sim.seed, PROVIDER, streams(sim.org_size))
    log = logged(sim, PROVIDER, API.page_number)
    faults = with_faults(sim, PROVIDER, fault_error)
    for spec in ENDPOINTS.values():
        usage = API.endpoint(sim, model, f"usage_{spec.name}", USAGE_LIMITS, usage_query(spec, sim))
        sim.router.add("GET", f"{PREFIX}/usage/{spec.name}", log(faults(usage)))
    costs = API.endpoint(sim, model, "costs", COSTS_LIMITS, costs_query_of(sim))
    sim.router.add("GET", f"{PREFIX}/costs", log(faults(costs)))
    org = PROJECTS if sim.org_size is None else generated_projects(sim.org_size)
    projects = API.listing(sim, "projects", "after", 100, lambda archived: project_list(org, archived), project_page)
    sim.router.add("GET", f"{PREFIX}/projects", log(faults(projects)))
