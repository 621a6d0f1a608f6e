"""Simulated prepaid-balance APIs: DeepSeek, Moonshot/Kimi, OpenRouter and SiliconFlow, with their real shapes,
types and error envelopes (see provider-apis.md section 4).

Endpoints (Bearer auth with a simulator key; each provider's own error envelope when it fails):

- DeepSeek ``GET /user/balance``: amounts as **strings** ("110.00"), one ``balance_infos`` entry per currency:
  CNY only by default, as real accounts answer (a USD entry is added with ``{"deepseek": {"currency": "USD",
  "topped_up": 25}}``); 401 ``{"error": {"message", "type", "param", "code"}}``.
- Moonshot ``GET /v1/users/me/balance``: **floats** in a ``{"code": 0, "data": {...}, "scode": "0x0",
  "status": true}`` wrapper; ``cash_balance`` may be set negative (arrears), ``available_balance`` then equals
  the voucher balance.
- OpenRouter ``GET /api/v1/key`` and the legacy ``GET /api/v1/auth/key`` (any simulator key; limit nullable,
  usage by window, ``is_management_key``) and ``GET /api/v1/credits``, which shows the account only to the
  management key ``exporter.simulator.common.DEMO_MANAGEMENT_KEY``; an ordinary key gets what real ordinary keys got in
  2026: **HTTP 200 ``{"total_credits": 0, "total_usage": 0}``** (``credits_refusal: "403"`` answers the
  documented 403 "Only management keys can perform this operation" instead). ``key_shape: "legacy"`` serves the
  older ``/key`` answer: no ``is_management_key``, no daily/weekly/monthly or byok fields, ``rate_limit``
  ``{"requests": 40, "interval": "10s"}``. Errors are ``{"error": {"code": <int = HTTP status>, "message": ...}}``.
- SiliconFlow ``GET /v1/user/info``: **strings** and success code **20000**; a bad key gets HTTP 401 with the
  plain-text body ``Invalid token``. ``retired: true`` answers **HTTP 410**, as api.siliconflow.cn has since late
  August 2026 (the real body was not recorded; this one is a plain JSON message).

Balances **burn down** at a steady rate per provider (``burn_per_hour``), spending gift/voucher parts first, so a
runway panel has a slope. By default an account is "topped up" back to its starting level each time 80 % of it
has been spent (a sawtooth), so a long-running demo never runs dry; an explicitly set balance is not topped up.

Admin (fault switches are the shared ones under provider keys ``deepseek``, ``moonshot``, ``openrouter``,
``siliconflow``; ``POST /_sim/reset`` restores every balance below):

- ``GET /_sim/balances``: what each endpoint serves right now, the burn settings, and hits per endpoint path.
- ``POST /_sim/balances`` ``{"<provider>" | "*": {...}}``, validated as a whole (a 400 changes nothing):

  ===========  ==============================================================================================
  all          ``total`` (spendable amount, >= 0: ``{"deepseek": {"total": 0}}`` exhausts it, so the exported
               total and ``llmpulse_balance_available`` both drop to 0), ``burn_per_hour`` (>= 0; 0 freezes the
               balance), ``auto_topup`` (bool; setting ``total`` or a part turns it off unless given),
               ``amounts`` ("string" | "number": how amounts are typed; DeepSeek and SiliconFlow default to
               strings as today, older DeepSeek docs showed numbers)
  deepseek     ``currency`` (apply to that entry only, creating it if new), ``granted``, ``topped_up``,
               ``remove`` (drop that currency's entry)
  moonshot     ``voucher``, ``cash`` (may be negative), ``code`` (non-zero: the wrapper reports an error)
  openrouter   ``purchased`` and ``used`` (total_credits / total_usage), ``limit`` (number or null =
               unlimited), ``limit_reset`` (null, "daily", "weekly", "monthly"), ``legacy_only`` (``/key``
               answers 404 so clients must use ``/auth/key``), ``credits_refusal`` ("zeros" | "403": what
               ``/credits`` answers an ordinary key), ``key_shape`` ("current" | "legacy")
  siliconflow  ``granted`` (balance), ``charged`` (chargeBalance), ``code`` and ``message`` (any code other
               than 20000 is an error answered with HTTP 200, as SiliconFlow does), ``retired`` (bool: 410)
  ===========  ==============================================================================================
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from exporter.httpserver import Request, Response
from exporter.simulator.admin import AdminModel
from exporter.simulator.admin import validate as admin_validate
from exporter.simulator.common import DEMO_MANAGEMENT_KEY, with_faults

TOPUP_SHARE = 0.8  # an auto-topped-up account refills each time this share of its starting balance is spent
PROVIDERS = ("deepseek", "moonshot", "openrouter", "siliconflow")


@dataclass
class Account:
    """A prepaid account whose parts (in spend order; the last one receives top-ups) burn at a steady rate."""

    parts: dict[str, float]
    burn_per_hour: float
    since: float
    auto_topup: bool = True

    def spendable(self) -> float:
        return sum(max(0.0, v) for v in self.parts.values())

    def spent(self, now: float) -> float:
        """Money spent since ``since``; without top-ups spending stops when the account is empty."""
        spent = max(0.0, self.burn_per_hour * (now - self.since) / 3600.0)
        return spent if self.auto_topup else min(spent, self.spendable())

    def topups(self, now: float) -> float:
        cycle = TOPUP_SHARE * self.spendable()
        if not self.auto_topup or cycle <= 0:
            return 0.0
        return math.floor(self.spent(now) / cycle) * cycle

    def spent_between(self, start: float, now: float) -> float:
        """Spend in [start, now], as if the current burn rate also applied before ``since``."""
        if start >= self.since:
            return self.spent(now) - self.spent(start)
        return self.spent(now) + self.burn_per_hour * (self.since - start) / 3600.0

    def current(self, now: float) -> dict[str, float]:
        left = self.spent(now)
        names = list(self.parts)
        out: dict[str, float] = {}
        for name in names[:-1]:
            value = self.parts[name]
            draw = min(max(0.0, value), left)
            out[name] = value - draw
            left -= draw
        last = names[-1]
        out[last] = self.parts[last] - left + self.topups(now)
        return out

    def reanchor(self, now: float, **parts: float) -> Account:
        """A copy starting now from the current values (then ``parts`` overridden)."""
        return replace(self, parts={**self.current(now), **parts}, since=now)


@dataclass
class OpenRouterState:
    account: Account  # one part, "credits": what can still be spent
    used: float  # total_usage at account.since
    limit: float | None = 50.0
    limit_reset: str | None = "monthly"
    legacy_only: bool = False
    credits_refusal: str = "zeros"  # what /credits answers an ordinary key: "zeros" (seen in 2026) or "403"
    key_shape: str = "current"

    def purchased(self, now: float) -> float:
        return self.used + self.account.parts["credits"] + self.account.topups(now)

    def usage(self, now: float) -> float:
        return self.used + self.account.spent(now)


@dataclass
class BalanceState:
    deepseek: dict[str, Account]
    moonshot: Account
    openrouter: OpenRouterState
    siliconflow: Account
    amounts: dict[str, str] = field(
        default_factory=lambda: {
            "deepseek": "string",
            "moonshot": "number",
            "openrouter": "number",
            "siliconflow": "string",
        }
    )
    codes: dict[str, tuple[int, str]] = field(default_factory=dict)  # moonshot / siliconflow body error codes
    siliconflow_retired: bool = False
    hits: dict[str, int] = field(default_factory=dict)


def default_state(now: float) -> BalanceState:
    """A healthy start: every balance above the bundle's default low-balance thresholds (USD 10, CNY 70) with more
    than the default 7 days of runway, so the demo alerts only when someone drains a balance on purpose."""
    return BalanceState(
        # Real accounts return one currency (provider-apis.md, Corrections); add USD with
        # {"deepseek": {"currency": "USD", "topped_up": 25}} for the documented one-entry-per-currency shape.
        deepseek={"CNY": Account({"granted": 10.0, "topped_up": 300.0}, burn_per_hour=1.2, since=now)},
        moonshot=Account({"voucher": 146.58893, "cash": 3.00001}, burn_per_hour=0.6, since=now),
        openrouter=OpenRouterState(Account({"credits": 74.75}, burn_per_hour=0.25, since=now), used=25.75),
        siliconflow=Account({"granted": 14.0, "charged": 188.0}, burn_per_hour=0.6, since=now),
    )


# --- answers --------------------------------------------------------------------------------------------------------
def _money(value: float, style: str, decimals: int) -> str | float:
    value = round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{value:.{decimals}f}" if style == "string" else value


def deepseek_body(state: BalanceState, now: float) -> dict[str, Any]:
    style = state.amounts["deepseek"]
    infos = []
    available = False
    for currency, account in state.deepseek.items():
        parts = {k: round(max(0.0, v), 2) for k, v in account.current(now).items()}
        total = round(parts["granted"] + parts["topped_up"], 2)
        available = available or total > 0
        infos.append(
            {
                "currency": currency,
                "total_balance": _money(total, style, 2),
                "granted_balance": _money(parts["granted"], style, 2),
                "topped_up_balance": _money(parts["topped_up"], style, 2),
            }
        )
    return {"is_available": available, "balance_infos": infos}


def moonshot_body(state: BalanceState, now: float) -> dict[str, Any]:
    style = state.amounts["moonshot"]
    parts = {k: round(v, 5) for k, v in state.moonshot.current(now).items()}
    voucher = max(0.0, parts["voucher"])
    available = round(voucher + max(0.0, parts["cash"]), 5)  # cash in arrears does not reduce what vouchers cover
    code, message = state.codes.get("moonshot", (0, ""))
    if code:
        return {"code": code, "error": message or "request failed", "scode": f"0x{code:x}", "status": False}
    return {
        "code": 0,
        "data": {
            "available_balance": _money(available, style, 5),
            "voucher_balance": _money(voucher, style, 5),
            "cash_balance": _money(parts["cash"], style, 5),
        },
        "scode": "0x0",
        "status": True,
    }


def siliconflow_body(state: BalanceState, now: float) -> dict[str, Any]:
    style = state.amounts["siliconflow"]
    code, message = state.codes.get("siliconflow", (20000, "OK"))
    if code != 20000:
        return {"code": code, "message": message or "request failed", "data": None}
    parts = {k: round(max(0.0, v), 2) for k, v in state.siliconflow.current(now).items()}
    total = round(parts["granted"] + parts["charged"], 2)
    return {
        "code": 20000,
        "message": "OK",
        "status": True,
        "data": {
            "id": "userid-llmpulse-demo",
            "name": "",
            "image": "",
            "email": "",
            "isAdmin": False,
            "balance": _money(parts["granted"], style, 2),
            "status": "normal",
            "introduction": "",
            "role": "",
            "chargeBalance": _money(parts["charged"], style, 2),
            "totalBalance": _money(total, style, 2),
        },
    }


def _window_start(now: float, window: str) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "weekly":
        day -= timedelta(days=day.weekday())  # OpenRouter weeks run Monday-Sunday, UTC
    elif window == "monthly":
        day = day.replace(day=1)
    return day.timestamp()


def openrouter_credits_body(state: BalanceState, now: float) -> dict[str, Any]:
    o = state.openrouter
    return {"data": {"total_credits": round(o.purchased(now), 6), "total_usage": round(o.usage(now), 6)}}


def openrouter_key_body(state: BalanceState, now: float, key: str) -> dict[str, Any]:
    o = state.openrouter
    usage = o.usage(now)
    windows = {
        w: round(min(usage, o.account.spent_between(_window_start(now, w), now)), 6)
        for w in ("daily", "weekly", "monthly")
    }
    remaining = None
    if o.limit is not None:
        in_window = windows.get(o.limit_reset or "", usage)
        remaining = round(max(0.0, o.limit - in_window), 6)
    management = key == DEMO_MANAGEMENT_KEY
    if o.key_shape == "legacy":
        return {
            "data": {
                "label": f"{key[:12]}...{key[-3:]}",
                "limit": o.limit,
                "limit_remaining": remaining,
                "usage": round(usage, 6),
                "is_free_tier": False,
                "rate_limit": {"requests": 40, "interval": "10s"},
            }
        }
    return {
        "data": {
            "label": f"{key[:12]}...{key[-3:]}",
            "limit": o.limit,
            "limit_remaining": remaining,
            "limit_reset": o.limit_reset if o.limit is not None else None,
            "include_byok_in_limit": False,
            "usage": round(usage, 6),
            "usage_daily": windows["daily"],
            "usage_weekly": windows["weekly"],
            "usage_monthly": windows["monthly"],
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
            "is_free_tier": False,
            "is_management_key": management,
            "is_provisioning_key": management,
            "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000",
            "expires_at": None,
            "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."},
        }
    }


# --- error envelopes ------------------------------------------------------------------------------------------------
DEEPSEEK_MESSAGES = {
    400: "Invalid Format",
    401: "Authentication Fails (no such user)",
    402: "Insufficient Balance",
    422: "Invalid Parameters",
    429: "Rate Limit Reached",
    500: "Server Error",
    503: "Server Overloaded",
}


def deepseek_error(status: int, req: Request | None = None) -> Response:
    kind = {401: "authentication_error", 402: "unknown_error", 429: "rate_limit_error"}.get(status, "api_error")
    return Response.json(
        {
            "error": {
                "message": DEEPSEEK_MESSAGES.get(status, "Server Error"),
                "type": kind,
                "param": None,
                "code": "invalid_request_error",
            }
        },
        status,
    )


def moonshot_error(status: int, req: Request | None = None) -> Response:
    kind, message = {
        401: ("invalid_authentication_error", "Invalid Authentication"),
        429: ("rate_limit_reached_error", "Your account is suffering from rate limiting, please try again later"),
    }.get(status, ("server_error", "Service is temporarily unavailable, please retry later"))
    return Response.json({"error": {"message": message, "type": kind}}, status)


def openrouter_error(status: int, message: str | None = None) -> Response:
    default = {
        401: "Missing Authentication header",
        402: "Insufficient credits",
        403: "Forbidden",
        404: "Not Found",
        429: "Rate limit exceeded",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }
    return Response.json({"error": {"code": status, "message": message or default.get(status, "Error")}}, status)


def siliconflow_error(status: int, req: Request | None = None) -> Response:
    if status == 401:
        return Response.text("Invalid token", 401)
    return Response.json(
        {"code": 50000 + status % 100, "message": "System busy, please retry later", "data": None}, status
    )


# --- admin: validation then application ----------------------------------------------------------------------------
PART_KEYS = {
    "deepseek": ("granted", "topped_up"),
    "moonshot": ("voucher", "cash"),
    "siliconflow": ("granted", "charged"),
    "openrouter": ("purchased", "used"),
}

Amount = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Signed = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class CommonChanges(AdminModel):
    """Settings every simulated prepaid account has (``*`` sets them on all four)."""

    total: Amount | None = None
    burn_per_hour: Amount | None = None
    auto_topup: StrictBool | None = None
    amounts: Literal["string", "number"] | None = None


class _AccountChanges(CommonChanges):
    provider: ClassVar[str]

    @model_validator(mode="after")
    def _total_or_parts(self) -> _AccountChanges:
        parts = PART_KEYS[self.provider]
        if "total" in self.model_fields_set and any(part in self.model_fields_set for part in parts):
            raise ValueError(f"give total or its parts {parts}, not both")
        return self


class DeepSeekChanges(_AccountChanges):
    provider = "deepseek"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    granted: Amount | None = None
    topped_up: Amount | None = None
    remove: StrictBool | None = None


class MoonshotChanges(_AccountChanges):
    provider = "moonshot"
    voucher: Amount | None = None
    cash: Signed | None = None  # negative = arrears
    code: StrictInt | None = None


class OpenRouterChanges(_AccountChanges):
    provider = "openrouter"
    purchased: Amount | None = None
    used: Amount | None = None
    limit: Amount | None = None  # null: unlimited
    limit_reset: Literal["daily", "weekly", "monthly"] | None = None
    legacy_only: StrictBool | None = None
    credits_refusal: Literal["zeros", "403"] | None = None  # what /credits answers an ordinary key
    key_shape: Literal["current", "legacy"] | None = None

    @model_validator(mode="after")
    def _purchased_covers_used(self) -> OpenRouterChanges:
        if self.purchased is not None and self.used is not None and self.purchased < self.used:
            raise ValueError("purchased must be >= used")
        return self


class SiliconFlowChanges(_AccountChanges):
    provider = "siliconflow"
    granted: Amount | None = None
    charged: Amount | None = None
    code: StrictInt | None = None
    message: str | None = None
    retired: StrictBool | None = None  # answer 410, as api.siliconflow.cn does since 2026-08


class BalanceChanges(AdminModel):
    """``/_sim/balances``: provider (or ``*``) -> the settings to change."""

    deepseek: DeepSeekChanges | None = None
    moonshot: MoonshotChanges | None = None
    openrouter: OpenRouterChanges | None = None
    siliconflow: SiliconFlowChanges | None = None
    every: CommonChanges | None = Field(default=None, alias="*")

    @model_validator(mode="after")
    def _not_empty(self) -> BalanceChanges:
        if not self.model_fields_set:
            raise ValueError('expected changes, e.g. {"deepseek": {"total": 0}}')
        return self


def validate(body: Any) -> dict[str, dict[str, Any]]:
    """Check an admin request completely; returns provider -> changes ("*" expanded). Raises BadBody."""
    changes = admin_validate(BalanceChanges, body)
    out: dict[str, dict[str, Any]] = {}
    if changes.every is not None:
        for provider in PROVIDERS:
            out[provider] = changes.every.model_dump(exclude_unset=True)
    for provider in PROVIDERS:
        model = getattr(changes, provider)
        if model is not None:
            out.setdefault(provider, {}).update(model.model_dump(exclude_unset=True))
    return out


def _set_account(account: Account, c: dict[str, Any], parts: tuple[str, str], now: float) -> Account:
    """Apply total/parts/burn/auto_topup changes to an account, re-anchored at ``now``."""
    current = account.current(now)
    new = {k: c[k] for k in parts if k in c}
    if "total" in c:
        gift = min(max(0.0, current[parts[0]]), c["total"])
        new = {parts[0]: gift, parts[1]: c["total"] - gift}
    moved = account.reanchor(now, **new)
    if "burn_per_hour" in c:
        moved = replace(moved, burn_per_hour=float(c["burn_per_hour"]))
    if "auto_topup" in c:
        moved = replace(moved, auto_topup=c["auto_topup"])
    elif new:
        moved = replace(moved, auto_topup=False)  # an explicitly set balance stays where the test put it
    return moved


def apply(state: BalanceState, changes: dict[str, dict[str, Any]], now: float) -> BalanceState:
    """A new state with ``changes`` applied (the old one is left untouched)."""
    s = replace(state, deepseek=dict(state.deepseek), amounts=dict(state.amounts), codes=dict(state.codes))
    for provider, c in changes.items():
        if "amounts" in c:
            s.amounts[provider] = c["amounts"]
        if provider == "deepseek":
            currencies = [c["currency"]] if "currency" in c else list(s.deepseek)
            for cur in currencies:
                if c.get("remove"):
                    s.deepseek.pop(cur, None)
                    continue
                base = s.deepseek.get(cur) or Account({"granted": 0.0, "topped_up": 0.0}, 0.0, now, False)
                s.deepseek[cur] = _set_account(base, c, PART_KEYS["deepseek"], now)
        elif provider in ("moonshot", "siliconflow"):
            setattr(s, provider, _set_account(getattr(s, provider), c, PART_KEYS[provider], now))
            if "code" in c:
                s.codes[provider] = (c["code"], c.get("message", ""))
            if "retired" in c:
                s.siliconflow_retired = c["retired"]
        elif provider == "openrouter":
            s.openrouter = _apply_openrouter(s.openrouter, c, now)
    return s


def _apply_openrouter(o: OpenRouterState, c: dict[str, Any], now: float) -> OpenRouterState:
    used, purchased = o.usage(now), o.purchased(now)
    if "used" in c or "purchased" in c:
        used = c.get("used", used)
        purchased = max(c.get("purchased", purchased), used)
    credits = c["total"] if "total" in c else purchased - used
    explicit = any(k in c for k in ("total", "used", "purchased"))
    account = Account(
        {"credits": credits},
        o.account.burn_per_hour,
        now,
        c.get("auto_topup", False if explicit else o.account.auto_topup),
    )
    if "burn_per_hour" in c:
        account = replace(account, burn_per_hour=float(c["burn_per_hour"]))
    out = replace(o, account=account, used=used)
    if "limit" in c:
        out = replace(out, limit=None if c["limit"] is None else float(c["limit"]))
    if "limit_reset" in c:
        out = replace(out, limit_reset=c["limit_reset"])
    if "legacy_only" in c:
        out = replace(out, legacy_only=c["legacy_only"])
    for key in ("credits_refusal", "key_shape"):
        if key in c:
            out = replace(out, **{key: c[key]})
    return out


def describe(state: BalanceState, now: float) -> dict[str, Any]:
    """What every endpoint serves now, plus the knobs (for GET /_sim/balances and tests)."""
    burn = {
        "deepseek": {
            cur: {"burn_per_hour": a.burn_per_hour, "auto_topup": a.auto_topup} for cur, a in state.deepseek.items()
        },
        "moonshot": {"burn_per_hour": state.moonshot.burn_per_hour, "auto_topup": state.moonshot.auto_topup},
        "openrouter": {
            "burn_per_hour": state.openrouter.account.burn_per_hour,
            "auto_topup": state.openrouter.account.auto_topup,
            "legacy_only": state.openrouter.legacy_only,
            "credits_refusal": state.openrouter.credits_refusal,
            "key_shape": state.openrouter.key_shape,
        },
        "siliconflow": {"burn_per_hour": state.siliconflow.burn_per_hour, "auto_topup": state.siliconflow.auto_topup},
    }
    return {
        "deepseek": deepseek_body(state, now),
        "moonshot": moonshot_body(state, now),
        "openrouter": {
            "key": openrouter_key_body(state, now, "sk-or-v1-simulated-key"),
            "credits": openrouter_credits_body(state, now),
        },
        "siliconflow": siliconflow_body(state, now),
        "siliconflow_retired": state.siliconflow_retired,
        "settings": burn,
        "amounts": dict(state.amounts),
        "hits": dict(state.hits),
    }


# --- registration ---------------------------------------------------------------------------------------------------
def register(sim: Any) -> None:
    lock = threading.Lock()
    box = {"state": default_state(sim.clock())}

    def snapshot(path: str) -> BalanceState:
        with lock:
            state: BalanceState = box["state"]
            state.hits[path] = state.hits.get(path, 0) + 1
            return state

    def reset() -> None:
        with lock:
            box["state"] = default_state(sim.clock())

    sim.resetters.append(reset)
    r = sim.router

    @r.route("GET", "/user/balance")
    @with_faults(sim, "deepseek", deepseek_error)
    def deepseek_balance(req: Request) -> Response:
        state = snapshot(req.path)
        if not sim.key_ok(sim.bearer(req)):
            return deepseek_error(401)
        return Response.json(deepseek_body(state, sim.clock()))

    @r.route("GET", "/v1/users/me/balance")
    @with_faults(sim, "moonshot", moonshot_error)
    def moonshot_balance(req: Request) -> Response:
        state = snapshot(req.path)
        if not sim.key_ok(sim.bearer(req)):
            return moonshot_error(401)
        return Response.json(moonshot_body(state, sim.clock()))

    @r.route("GET", "/v1/user/info")
    @with_faults(sim, "siliconflow", siliconflow_error)
    def siliconflow_info(req: Request) -> Response:
        state = snapshot(req.path)
        if not sim.key_ok(sim.bearer(req)):
            return siliconflow_error(401)
        if state.siliconflow_retired:
            return Response.json({"message": "Gone: this endpoint is no longer available"}, 410)
        return Response.json(siliconflow_body(state, sim.clock()))

    def openrouter_auth(req: Request) -> tuple[str, Response | None]:
        if not req.header("Authorization"):
            return "", openrouter_error(401, "Missing Authentication header")
        key = sim.bearer(req)
        if not sim.key_ok(key):
            return "", openrouter_error(401, "User not found.")
        return key, None

    def openrouter_injected(status: int, req: Request) -> Response:
        return openrouter_error(status)

    def key_info(req: Request, legacy: bool) -> Response:
        state = snapshot(req.path)
        key, denied = openrouter_auth(req)
        if denied:
            return denied
        if state.openrouter.legacy_only and not legacy:
            return openrouter_error(404, "Not Found")
        return Response.json(openrouter_key_body(state, sim.clock(), key))

    @r.route("GET", "/api/v1/key")
    @with_faults(sim, "openrouter", openrouter_injected)
    def openrouter_key(req: Request) -> Response:
        return key_info(req, legacy=False)

    @r.route("GET", "/api/v1/auth/key")
    @with_faults(sim, "openrouter", openrouter_injected)
    def openrouter_auth_key(req: Request) -> Response:
        return key_info(req, legacy=True)

    @r.route("GET", "/api/v1/credits")
    @with_faults(sim, "openrouter", openrouter_injected)
    def openrouter_credits(req: Request) -> Response:
        state = snapshot(req.path)
        key, denied = openrouter_auth(req)
        if denied:
            return denied
        if key != DEMO_MANAGEMENT_KEY:
            if state.openrouter.credits_refusal == "403":
                return openrouter_error(403, "Only management keys can perform this operation")
            return Response.json({"data": {"total_credits": 0, "total_usage": 0}})
        return Response.json(openrouter_credits_body(state, sim.clock()))

    @r.route("GET", "/_sim/balances")
    def get_balances(req: Request) -> Response:
        with lock:
            return Response.json(describe(box["state"], sim.clock()))

    @r.route("POST", "/_sim/balances")
    def set_balances(req: Request) -> Response:
        try:
            changes = validate(req.json())
        except (ValueError, UnicodeDecodeError) as exc:  # BadBody is a ValueError
            return Response.json({"error": str(exc)}, 400)
        with lock:
            box["state"] = apply(box["state"], changes, sim.clock())
            return Response.json(describe(box["state"], sim.clock()))
