"""The llmpulse config: YAML in, typed and validated objects out, secrets resolved once.

Why pydantic: ``extra="forbid"`` rejects typos in keys (blackbox_exporter's KnownFields), discriminated unions pick
the model by ``type``, and every error carries its location, which :func:`load_config` turns into
``file: key.path: reason``. PyYAML alone would silently accept unknown keys and duplicate keys.

Credentials are never inline: ``api_key_env`` names an environment variable, ``api_key_file`` a file (relative to
the config file). The resolved value is a :class:`pydantic.SecretStr` kept in a private attribute, so it never
appears in ``repr()``, model dumps, logs or error messages.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter import contract, yamlio
from exporter.bundle.settings import BundleConfig
from exporter.http import DEFAULT_MAX_RESPONSE_BYTES
from exporter.json_mapping import check_placeholders, compile_path, compile_template
from exporter.modeltypes import (
    NAME_PATTERN,
    Duration,
    HttpUrl,
    OptionalHttpUrl,
    SafeHeaders,
    StaticLabels,
    StrictModel,
)
from exporter.pricing.table import ModelPrice, PriceTable, PriceTableError, load_table
from exporter.redact import redact
from exporter.safefiles import (
    MAX_CA_BYTES,
    MAX_SECRET_BYTES,
    MAX_YAML_BYTES,
    FileProblem,
    decode_utf8,
    read_limited,
    read_text,
)


class ConfigError(Exception):
    """A config that cannot be used. ``str()`` gives one line per problem: ``file: key.path: reason``."""

    def __init__(self, path: str, problems: list[tuple[str, str]]):
        self.path = path
        # one line per problem: a reason quoting a multi-line value must not break the file: key: reason shape
        problems = [(loc, " ".join(msg.split()) or "invalid value") for loc, msg in problems]
        self.problems = problems
        super().__init__("\n".join(f"{path}: {loc}: {msg}" if loc else f"{path}: {msg}" for loc, msg in problems))


def _resolve_secret(env: str | None, file: str | None, info: ValidationInfo, what: str) -> SecretStr | None:
    """Read a credential from an environment variable or a file; the error never contains the value."""
    if env and file:
        raise ValueError(f"set only one of {what}_env and {what}_file")
    if env:
        # The value of a *_env key is never echoed, even when it looks like a variable name: users paste the
        # credential itself here, and Coze tokens (pat_...), hex tokens and signing secrets look like names.
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", env):
            raise ValueError(
                f"{what}_env: must be the NAME of an environment variable (letters, digits, _), not "
                "the credential itself (the value is not shown)"
            )
        value = os.environ.get(env)
        if value is None or not value.strip():
            raise ValueError(
                f"{what}_env: the environment variable it names is not set or is empty (the name is not shown, "
                "in case it is a credential)"
            )
        return SecretStr(value.strip())
    if file:
        base = Path((info.context or {}).get("base_dir", "."))
        path = Path(file) if Path(file).is_absolute() else base / file
        shown = redact(str(path))  # a key pasted as the file name must not be echoed
        try:
            value = read_text(path, max_bytes=MAX_SECRET_BYTES, what=f"{what}_file {shown!r}").strip()
        except FileProblem as exc:
            raise ValueError(f"{what}_file: {exc}") from None
        if not value:
            raise ValueError(f"{what}_file: {shown!r} is empty")
        return SecretStr(value)
    return None


# --- sources --------------------------------------------------------------------------------------------------------
class SourceBase(StrictModel):
    """Keys every source has. Subclasses set ``type`` and their own defaults."""

    name: str = Field(pattern=NAME_PATTERN, description="unique name; becomes the source label")
    base_url: OptionalHttpUrl = ""
    api_key_env: str | None = None
    api_key_file: str | None = None
    interval: Duration = 300.0
    timeout: Duration = 30.0
    labels: StaticLabels = Field(default_factory=dict)
    retries: int = Field(default=3, ge=0, le=10, description="retries of a call on 429/5xx/timeouts")
    max_retry_after: Duration = Field(default=60.0, description="cap on a provider's Retry-After")
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="largest answer body read from the provider (after decompression); larger fails the poll",
    )
    max_series: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="series budget of the source; beyond it new series fold into other",
    )
    max_series_per_family: int | None = Field(
        default=None, ge=1, le=1_000_000, description="series budget of each metric family of the source"
    )

    _api_key: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> SourceBase:
        secret = _resolve_secret(self.api_key_env, self.api_key_file, info, "api_key")
        if secret is None and self._needs_key():
            raise ValueError("missing credential: set api_key_env or api_key_file (inline keys are not accepted)")
        self._api_key = secret
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s)")
        return self

    def _needs_key(self) -> bool:
        return True

    @property
    def api_key(self) -> str:
        """The resolved credential (empty string if the source needs none). Never log it."""
        return self._api_key.get_secret_value() if self._api_key else ""

    @property
    def url(self) -> str:
        """base_url, or the provider's real API when unset."""
        return (self.base_url or type(self).default_base_url()).rstrip("/")

    @classmethod
    def default_base_url(cls) -> str:
        return ""

    @property
    def provider(self) -> str:
        """Value of the provider label."""
        return str(getattr(self, "type", "unknown"))


GroupBy = Literal["project", "model", "api_key", "user"]


def _default_group_by() -> list[GroupBy]:
    return ["project", "model"]


class UsageSourceBase(SourceBase):
    group_by: list[GroupBy] = Field(default_factory=_default_group_by)
    project_names: bool = Field(default=False, description="export llmpulse_project_info with project names")
    page_size: int | None = Field(default=None, ge=1, le=31, description="buckets per page (default: max)")
    revision_window: Duration = Field(
        default=2 * 86400.0,
        le=31 * 86400.0,
        description="days before today refetched on every poll for late data (rounded up to whole UTC days)",
    )
    full_refetch_interval: Duration = Field(
        default=3600.0, description="how often the whole month is refetched (at most the interval: every poll)"
    )

    @field_validator("group_by")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("group_by has duplicates")
        return v


class OpenAISource(UsageSourceBase):
    type: Literal["openai"]

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.openai.com"


class AnthropicSource(UsageSourceBase):
    type: Literal["anthropic"]
    anthropic_version: str = "2023-06-01"

    @field_validator("group_by")
    @classmethod
    def _no_user(cls, v: list[str]) -> list[str]:
        if "user" in v:
            raise ValueError("Anthropic's usage report has no per-user breakdown; remove 'user'")
        return v

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.anthropic.com"


class BalanceSourceBase(SourceBase):
    interval: Duration = 600.0


class DeepSeekSource(BalanceSourceBase):
    type: Literal["deepseek"]

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.deepseek.com"


class MoonshotSource(BalanceSourceBase):
    type: Literal["moonshot"]
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="currency label (default: USD for api.moonshot.ai, else CNY)"
    )

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.moonshot.cn"


class OpenRouterSource(BalanceSourceBase):
    type: Literal["openrouter"]
    credits: bool = Field(default=True, description="also read /credits (needs a management key)")

    @classmethod
    def default_base_url(cls) -> str:
        return "https://openrouter.ai"


class SiliconFlowSource(BalanceSourceBase):
    type: Literal["siliconflow"]
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="currency label (default: USD for api.siliconflow.com, else CNY)",
    )

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.siliconflow.cn"


class StepFunSource(BalanceSourceBase):
    """StepFun account balance (``GET /v1/accounts``, CNY)."""

    type: Literal["stepfun"]

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.stepfun.com"


class MiniMaxSource(SourceBase):
    """MiniMax Token Plan quotas (``GET /v1/token_plan/remains``); China accounts use https://api.minimaxi.com."""

    type: Literal["minimax"]

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.minimax.io"


class ZhipuSource(SourceBase):
    """Zhipu GLM coding plan quotas (undocumented ``/api/monitor/usage/quota/limit``); z.ai: https://api.z.ai."""

    type: Literal["zhipu"]

    @classmethod
    def default_base_url(cls) -> str:
        return "https://open.bigmodel.cn"


CozeResource = Literal["chat", "workflow", "plugin"]


def _default_coze_resources() -> list[CozeResource]:
    return ["chat", "workflow"]


class CozeSource(BalanceSourceBase):
    """Coze account benefits: plan level, API QPS per resource, paid-plugin call allowance; global: api.coze.com."""

    type: Literal["coze"]
    qps_resources: list[CozeResource] = Field(
        default_factory=_default_coze_resources,
        description="API resources whose QPS limit to read (one call each)",
    )

    @field_validator("qps_resources")
    @classmethod
    def _unique_resources(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("qps_resources has duplicates")
        return v

    @classmethod
    def default_base_url(cls) -> str:
        return "https://api.coze.cn"


class StatuspageSource(SourceBase):
    type: Literal["statuspage"]
    base_url: str = Field(description="the status page's root, e.g. https://status.openai.com")
    interval: Duration = 60.0
    timeout: Duration = 15.0
    provider_label: str | None = Field(default=None, description="provider label value (default: from the host)")
    components: list[str] = Field(default_factory=list, description="only these component names (default: all)")

    def _needs_key(self) -> bool:
        return False

    @property
    def provider(self) -> str:
        if self.provider_label:
            return self.provider_label
        host, _, path = re.sub(r"^https?://", "", self.url).partition("/")
        host = host.split(":")[0]
        for where in (host, path):  # the host names the provider; a mirror or the simulator may name it in the path
            for known in (
                "openai",
                "anthropic",
                "claude",
                "deepseek",
                "openrouter",
                "moonshot",
                "coze",
                "groq",
                "mistral",
                "cohere",
                "siliconflow",
            ):
                if known in where.lower():
                    return "anthropic" if known == "claude" else known
        if re.match(r"^[\d.]+$|^\[|^localhost$", host):
            return "statuspage"
        labels = host.split(".")
        if len(labels) >= 3 and labels[-2] in ("co", "com", "org", "net", "ac", "gov", "edu"):
            return labels[-3]  # status.example.co.uk -> example
        return labels[-2] if len(labels) >= 2 else host


class HttpJsonMetric(StrictModel):
    """One metric mapped from a JSON answer (json_exporter style); see docs/http-json-and-pricing.md."""

    name: str = Field(pattern=r"^llmpulse_[a-zA-Z0-9_]+$", description="metric name; must start with llmpulse_")
    help: str = "Value mapped from an http_json source."
    type: Literal["gauge", "counter"] = "gauge"
    path: str = Field(description="dotted path to the value; [*] iterates a list, e.g. data.metrics[*].total")
    labels: dict[str, str] = Field(default_factory=dict, description="label -> path relative to each item")
    select: Literal["all", "last", "first", "sum", "max", "min", "count"] = Field(
        default="all", description="how to reduce several matches (last = newest item, for per-day arrays)"
    )
    scale: float = Field(default=1.0, description="multiply the value (e.g. 0.001 for ms -> s)")
    value_map: dict[str, float] = Field(default_factory=dict, description="string value -> number, e.g. {ok: 1}")
    token_type: Literal["input", "cached_input", "cache_write_input", "output"] | None = Field(
        default=None, description="these are token counts of the model label: price them into the estimated cost"
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if v in contract.FAMILIES or v in contract.exposition_names():
            raise ValueError(f"{v} is a built-in llmpulse metric; pick another name")
        return v

    @field_validator("path")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        compile_template(v)
        return v

    @field_validator("labels")
    @classmethod
    def _label_paths_ok(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            if not contract.LABEL_RE.match(name) or name.startswith("__"):
                raise ValueError(f"invalid label name {name!r}")
            if name in contract.RESERVED_LABELS or name in contract.BASE_LABELS:
                raise ValueError(f"label {name!r} is reserved (provider and source are set by llmpulse)")
            if name.lower() in _DATE_LABELS:
                raise ValueError(
                    f"label {name!r}: date labels are not allowed (one series per day is unbounded); "
                    "reduce per-day rows with select or a [?date==${today}] filter"
                )
            compile_path(path, label=True)
        return v

    @property
    def family(self) -> contract.Family:
        """The metric family this definition exports; equal definitions give equal, interchangeable families (one
        family shared by several sources, each with its own source label)."""
        return contract.CustomFamily(
            name=self.name,
            type=self.type,
            help=self.help,
            labels=(*contract.BASE_LABELS, *sorted(self.labels)),
            group="http_json",
            origin="http_json",
        )

    @model_validator(mode="after")
    def _consistent(self) -> HttpJsonMetric:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"name: counter names must end in _total (e.g. {self.name}_total)")
        if self.type == "gauge" and self.name.endswith("_total"):
            raise ValueError("name: _total is for counters; set type: counter or rename the gauge")
        iterates = compile_template(self.path).iterates
        if self.select == "all" and iterates and not self.labels:
            raise ValueError(
                "select: 'all' over a list gives one series per item and needs labels that tell the "
                "items apart; or reduce the items with select: last, first, sum, max, min or count"
            )
        if self.type == "counter" and self.scale < 0:
            raise ValueError("scale: a counter cannot be scaled by a negative number (it would decrease)")
        if self.token_type and (self.type != "counter" or "model" not in self.labels):
            raise ValueError("token_type: token metrics must be counters with a model label")
        return self


_DATE_LABELS = frozenset({"date", "day", "time", "timestamp", "datetime", "hour", "week", "month", "year"})


class HttpJsonAuth(StrictModel):
    """How an http_json source authenticates. The secret is the source's api_key_env / api_key_file."""

    type: Literal["none", "bearer", "header", "basic"] = "bearer"
    header: str = Field(default="Authorization", description="type header: the header that carries the key")
    prefix: str = Field(default="", description="type header: text before the key, e.g. 'Token '")
    username: str | None = Field(default=None, description="type basic: the user name (the password is the key)")
    username_env: str | None = None
    username_file: str | None = None

    _username: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve_username(self, info: ValidationInfo) -> HttpJsonAuth:
        if self.type != "basic":
            if self.username or self.username_env or self.username_file:
                raise ValueError("username, username_env and username_file apply to auth type basic only")
            return self
        secret = _resolve_secret(self.username_env, self.username_file, info, "username")
        if secret is not None and self.username:
            raise ValueError("set only one of username, username_env and username_file")
        if secret is None and not self.username:
            raise ValueError("auth type basic needs username, username_env or username_file")
        self._username = secret or SecretStr(self.username or "")
        return self

    @property
    def resolved_username(self) -> str:
        return self._username.get_secret_value() if self._username else ""


class HttpJsonSource(SourceBase):
    type: Literal["http_json"]
    provider_label: str = Field(
        default="http_json", pattern=r"^[A-Za-z0-9_.\-]{1,63}$", description="provider label value"
    )
    path: str = ""
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str | int | float] = Field(default_factory=dict)
    headers: SafeHeaders = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    auth: HttpJsonAuth = Field(default_factory=HttpJsonAuth)
    metrics: list[HttpJsonMetric] = Field(min_length=1, max_length=500)
    expect: dict[str, Any] = Field(
        default_factory=dict,
        description="path -> value the answer must have (e.g. code: 0), else the poll fails with the answer's message",
    )
    timezone: str = Field(default="UTC", description="time zone of the ${today}-style placeholders")
    max_series: int | None = Field(
        default=1000, ge=1, le=100_000, description="series budget; beyond it new series fold into other"
    )

    def _needs_key(self) -> bool:
        return self.auth.type != "none"

    @property
    def provider(self) -> str:
        return self.provider_label

    @field_validator("base_url")
    @classmethod
    def _required(cls, v: str) -> str:
        if not v:
            raise ValueError("base_url is required for http_json sources")
        return v.rstrip("/")

    @field_validator("path")
    @classmethod
    def _request_path_ok(cls, v: str) -> str:
        if v and (not v.startswith("/") or re.search(r"\s", v)):
            raise ValueError(f"path must be empty or start with / and contain no spaces, got {v!r}")
        check_placeholders(v)
        return v

    @field_validator("params", "body")
    @classmethod
    def _placeholders_ok(cls, v: Any) -> Any:
        check_placeholders(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz_ok(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as UTC or Asia/Shanghai") from None
        return v

    @field_validator("expect")
    @classmethod
    def _expect_ok(cls, v: dict[str, Any]) -> dict[str, Any]:
        for path, want in v.items():
            if compile_path(path).iterates:
                raise ValueError(f"expect path {path!r} must name one field (no wildcards or filters)")
            if isinstance(want, dict | list):
                raise ValueError(f"expect {path!r}: the expected value must be a scalar")
        return v

    @model_validator(mode="after")
    def _metrics_ok(self) -> HttpJsonSource:
        seen: set[str] = set()
        for i, metric in enumerate(self.metrics):
            if metric.name in seen:
                raise ValueError(f"metrics[{i}].name: {metric.name} is defined twice in this source")
            seen.add(metric.name)
            clash = set(metric.labels) & set(self.labels)
            if clash:
                raise ValueError(f"metrics[{i}].labels: {sorted(clash)} also set as static labels of the source")
        return self


SourceConfig = Annotated[
    OpenAISource
    | AnthropicSource
    | DeepSeekSource
    | MoonshotSource
    | OpenRouterSource
    | SiliconFlowSource
    | StepFunSource
    | MiniMaxSource
    | ZhipuSource
    | CozeSource
    | StatuspageSource
    | HttpJsonSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = (
    "openai",
    "anthropic",
    "deepseek",
    "moonshot",
    "openrouter",
    "siliconflow",
    "stepfun",
    "minimax",
    "zhipu",
    "coze",
    "statuspage",
    "http_json",
)


# --- probes ---------------------------------------------------------------------------------------------------------
class ProbeBase(StrictModel):
    """Keys every probe has. One model per ``type`` below adds its own, so a key of another type (``bot_id`` on an
    http probe) is an unknown key, as it is for sources."""

    name: str = Field(pattern=NAME_PATTERN)
    provider: str | None = Field(default=None, description="provider label (default: from type and host)")
    base_url: HttpUrl
    api_key_env: str | None = None
    api_key_file: str | None = None
    model: str = Field(default="", description="model label of the probe's series (the model called, if any)")
    interval: Duration = 60.0
    timeout: Duration = 30.0
    headers: SafeHeaders = Field(default_factory=dict, description="extra request headers (no credentials)")
    labels: StaticLabels = Field(default_factory=dict)
    path: str | None = Field(default=None, description="request path (default per type; see docs/probes.md)")
    # TLS of https endpoints
    tls_ca_file: str | None = Field(default=None, description="PEM CA bundle to trust (relative to the config)")
    tls_insecure_skip_verify: bool = False

    _api_key: SecretStr | None = PrivateAttr(default=None)
    _ca_path: str | None = PrivateAttr(default=None)

    @field_validator("path")
    @classmethod
    def _path_ok(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or re.search(r"\s", v)):
            raise ValueError(f"path must start with / and contain no spaces, got {v!r}")
        return v

    def _needs_key(self) -> bool:
        return True

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ProbeBase:
        self._api_key = _resolve_secret(self.api_key_env, self.api_key_file, info, "api_key")
        if self._api_key is None and self._needs_key():
            raise ValueError("missing credential: set api_key_env or api_key_file (inline keys are not accepted)")
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s)")
        if self.tls_ca_file:
            if self.tls_insecure_skip_verify:
                raise ValueError("set only one of tls_ca_file and tls_insecure_skip_verify")
            base = Path((info.context or {}).get("base_dir", "."))
            ca = Path(self.tls_ca_file) if Path(self.tls_ca_file).is_absolute() else base / self.tls_ca_file
            try:
                pem = decode_utf8(
                    read_limited(ca, max_bytes=MAX_CA_BYTES, what=f"tls_ca_file {str(ca)!r}"), "tls_ca_file"
                )
                ssl.create_default_context(cadata=pem)
            except FileProblem as exc:
                raise ValueError(str(exc)) from None
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"cannot load tls_ca_file {str(ca)!r}: {getattr(exc, 'strerror', None) or exc}"
                ) from None
            self._ca_path = str(ca)
        return self

    @property
    def api_key(self) -> str:
        return self._api_key.get_secret_value() if self._api_key else ""

    @property
    def ca_path(self) -> str | None:
        """tls_ca_file resolved against the config file's directory (checked loadable at config time)."""
        return self._ca_path

    @property
    def provider_label(self) -> str:
        if self.provider:
            return self.provider
        host = re.sub(r"^https?://", "", self.base_url).split("/")[0].split(":")[0]
        for needle, name in (
            ("openai.com", "openai"),
            ("deepseek", "deepseek"),
            ("moonshot", "moonshot"),
            ("openrouter", "openrouter"),
            ("siliconflow", "siliconflow"),
            ("dashscope", "qwen"),
            ("anthropic", "anthropic"),
            ("coze", "coze"),
        ):
            if needle in host:
                return name
        return self._default_provider()

    def _default_provider(self) -> str:
        return "http"


class ChatProbeBase(ProbeBase):
    """Probes that send one tiny chat request (and may stream the answer)."""

    stream: bool = False
    prompt: str = "ping"
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="merged into the JSON request body (e.g. enable_thinking: false for Qwen3)"
    )


class OpenAICompatibleProbeConfig(ChatProbeBase):
    type: Literal["openai_compatible"]
    model: str = Field(min_length=1, description="the model called (required)")
    max_tokens: int = Field(default=1, ge=1, le=4096)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="the body key of max_tokens (o-series/gpt-5 need max_completion_tokens)",
    )

    def _default_provider(self) -> str:
        return "openai_compatible"


class AnthropicProbeConfig(ChatProbeBase):
    type: Literal["anthropic"]
    model: str = Field(min_length=1, description="the model called (required)")
    max_tokens: int = Field(default=1, ge=1, le=4096)
    anthropic_version: str = "2023-06-01"

    @property
    def provider_label(self) -> str:
        return self.provider or "anthropic"


class CozeProbeConfig(ChatProbeBase):
    type: Literal["coze"]
    bot_id: str = Field(min_length=1, description="the bot to chat with (required)")
    user_id: str = "llmpulse-probe"

    @property
    def provider_label(self) -> str:
        return self.provider or "coze"


class HttpProbeConfig(ProbeBase):
    """A plain GET (liveness of an endpoint such as /v1/models); the key is optional."""

    type: Literal["http"]
    expected_status: list[int] = Field(default_factory=lambda: [200])
    auth: Literal["bearer", "x-api-key"] = Field(default="bearer", description="how the key (if any) is sent")
    anthropic_version: str = "2023-06-01"

    def _needs_key(self) -> bool:
        return False

    @property
    def stream(self) -> bool:
        """An http probe never streams (the key does not exist for it)."""
        return False


ProbeConfig = Annotated[
    OpenAICompatibleProbeConfig | AnthropicProbeConfig | CozeProbeConfig | HttpProbeConfig,
    Field(discriminator="type"),
]
PROBE_TYPES = ("openai_compatible", "anthropic", "coze", "http")


# --- traffic events ------------------------------------------------------------------------------------------------
class EventsConfig(StrictModel):
    """The POST /events ingest route."""

    name: str = Field(default="events", pattern=NAME_PATTERN, description="source label of ingested series")
    provider: str = Field(default="events", description="provider label of ingested series")
    token_env: str | None = None
    token_file: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    max_events: int = Field(default=1000, ge=1, le=100_000, description="events per post")
    max_label_values: int = Field(
        default=200, ge=1, description="distinct app/channel/model values kept before new ones fold into 'other'"
    )
    max_series_per_family: int = Field(
        default=5000,
        ge=10,
        le=1_000_000,
        description="series of one family (label combinations; a histogram counts its buckets) before new "
        "combinations fold into 'other'",
    )
    max_series: int = Field(
        default=20_000, ge=10, le=10_000_000, description="series of all events families before new ones fold"
    )
    session_ttl: Duration = Field(
        default=86400.0, description="open sessions with no session_end are forgotten after this long"
    )
    max_open_sessions: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="open sessions remembered for session length (oldest dropped first)",
    )
    labels: StaticLabels = Field(default_factory=dict)

    _token: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> EventsConfig:
        self._token = _resolve_secret(self.token_env, self.token_file, info, "token")
        if self._token is None:
            raise ValueError("missing credential: set token_env or token_file so /events is protected")
        return self

    @property
    def token(self) -> str:
        return self._token.get_secret_value() if self._token else ""


# --- price table ----------------------------------------------------------------------------------------------------
class PricingConfig(StrictModel):
    file: str | None = Field(default=None, description="extra YAML price table merged over the built-in one")
    builtin: bool = Field(default=True, description="use the price table shipped with llmpulse")
    surge_multiplier: float = Field(default=1.0, gt=0)
    models: dict[str, ModelPrice] = Field(default_factory=dict)

    _table: PriceTable | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_table(self, info: ValidationInfo) -> PricingConfig:
        """Load and check the merged price table now, so a bad price file stops check-config and serve."""
        base = Path((info.context or {}).get("base_dir", "."))
        file = None
        if self.file:
            file = Path(self.file) if Path(self.file).is_absolute() else base / self.file
        try:
            self._table = load_table(builtin=self.builtin, file=file, inline=self.models)
        except PriceTableError as exc:
            raise ValueError(f"{exc.key}: {exc}") from None
        return self

    @property
    def table(self) -> PriceTable:
        """The merged price table (built-in, then file, then inline models), loaded when the config was checked."""
        assert self._table is not None
        return self._table


# --- alert relay to chat bots -----------------------------------------------------------------------------------------
class RelayBotConfig(StrictModel):
    """A Feishu, DingTalk or WeCom group bot; Alertmanager posts to the exporter's /relay/{type}/{name}.

    The bot's webhook URL carries its access token, so it is a credential like an API key (env or file only).
    """

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["feishu", "dingtalk", "wecom"]
    webhook_url_env: str | None = None
    webhook_url_file: str | None = None
    secret_env: str | None = Field(default=None, description="signing secret (Feishu/DingTalk 'sign' security)")
    secret_file: str | None = None
    mention_all: bool = Field(default=False, description="@all when a critical alert fires")

    _webhook_url: SecretStr | None = PrivateAttr(default=None)
    _secret: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> RelayBotConfig:
        url = _resolve_secret(self.webhook_url_env, self.webhook_url_file, info, "webhook_url")
        if url is None:
            raise ValueError(
                "missing webhook URL: set webhook_url_env or webhook_url_file (the URL holds the bot's "
                "access token, so it is never written inline)"
            )
        if not re.match(r"^https?://[^\s/]+/\S*$", url.get_secret_value()):
            raise ValueError(
                "webhook_url_env/webhook_url_file must hold the bot's http(s) webhook URL (the value is not shown)"
            )
        self._webhook_url = url
        self._secret = _resolve_secret(self.secret_env, self.secret_file, info, "secret")
        if self._secret is not None and self.type == "wecom":
            raise ValueError("WeCom group bots have no signing secret; remove secret_env/secret_file")
        return self

    @property
    def webhook_url(self) -> str:
        """The bot's webhook URL (a credential: never log it)."""
        return self._webhook_url.get_secret_value() if self._webhook_url else ""

    @property
    def secret(self) -> str:
        return self._secret.get_secret_value() if self._secret else ""


class RelayConfig(StrictModel):
    """Relay Alertmanager webhook notifications to chat group bots (see docs/bundle.md)."""

    timeout: Duration = Field(default=10.0, description="per bot call; Alertmanager retries a failed relay")
    max_alerts: int = Field(default=10, ge=1, le=100, description="alerts listed per message (the rest counted)")
    token_env: str | None = Field(default=None, description="bearer token Alertmanager must send")
    token_file: str | None = None
    allow_unauthenticated: bool = Field(
        default=False,
        description="accept posts without a token (anyone who reaches the exporter could then post to the chats)",
    )
    bots: list[RelayBotConfig] = Field(min_length=1, max_length=100)

    _token: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> RelayConfig:
        self._token = _resolve_secret(self.token_env, self.token_file, info, "token")
        if self._token is None and not self.allow_unauthenticated:
            raise ValueError(
                "missing token: set token_env or token_file (the bearer token Alertmanager sends: "
                "bundle.receivers.relay.bearer_token_file holds the same value), so that not everyone who reaches "
                "the exporter can post to your chats; or set allow_unauthenticated: true"
            )
        if self._token is not None and self.allow_unauthenticated:
            raise ValueError("allow_unauthenticated: set it only when no token is configured")
        seen: set[tuple[str, str]] = set()
        for i, bot in enumerate(self.bots):
            if (bot.type, bot.name) in seen:
                raise ValueError(f"bots[{i}]: duplicate bot {bot.type}/{bot.name}")
            seen.add((bot.type, bot.name))
        return self

    @property
    def token(self) -> str:
        return self._token.get_secret_value() if self._token else ""


# --- the daily report -----------------------------------------------------------------------------------------------
class ReportWebhookConfig(StrictModel):
    """A generic webhook that gets the daily report as JSON (the URL may carry a token: env or file only)."""

    name: str = Field(pattern=NAME_PATTERN)
    url_env: str | None = None
    url_file: str | None = None

    _url: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> ReportWebhookConfig:
        url = _resolve_secret(self.url_env, self.url_file, info, "url")
        if url is None or not re.match(r"^https?://[^\s/]+\S*$", url.get_secret_value()):
            raise ValueError("set url_env or url_file to the webhook's http(s) URL (the value is not shown)")
        self._url = url
        return self

    @property
    def url(self) -> str:
        return self._url.get_secret_value() if self._url else ""


class ReportEmailConfig(StrictModel):
    """E-mail the daily report as HTML through an SMTP relay."""

    smarthost: str = Field(pattern=r"^[^\s:]+:\d{1,5}$", description="HOST:PORT of the SMTP server")
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[str] = Field(min_length=1)
    require_tls: bool = True

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for address in v:
            if not re.match(r"^[^@\s]+@[^@\s]+$", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return v


class ReportConfig(StrictModel):
    """Send the daily summary (``llmpulse report``) every day at ``time`` in ``timezone`` (see docs/history.md)."""

    enabled: bool = Field(default=True, description="false on all but one replica: one report a day")
    prometheus_url: HttpUrl
    time: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = "UTC"
    bots: list[str] = Field(default_factory=list, description="relay bots as TYPE/NAME, e.g. feishu/ops")
    webhooks: list[ReportWebhookConfig] = Field(default_factory=list)
    email: ReportEmailConfig | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @model_validator(mode="after")
    def _some_receiver(self) -> ReportConfig:
        if not (self.bots or self.webhooks or self.email):
            raise ValueError("no receiver: set bots, webhooks or email")
        return self


# --- the whole file -------------------------------------------------------------------------------------------------
class Config(StrictModel):
    sources: list[SourceConfig] = Field(default_factory=list, max_length=1000)
    probes: list[ProbeConfig] = Field(default_factory=list, max_length=1000)
    events: EventsConfig | None = None
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    exchange_rates: dict[str, float] = Field(
        default_factory=dict, description="USD per unit of a currency, e.g. {CNY: 0.14}; adds USD-normalised series"
    )
    bundle: BundleConfig = Field(default_factory=BundleConfig)
    relay: RelayConfig | None = None
    state_dir: str | None = Field(
        default=None,
        description="directory for state kept across restarts (month-to-date high-water marks); relative to "
        "the config file; serve --state-dir overrides it",
    )
    report: ReportConfig | None = None

    _path: str = PrivateAttr(default="")
    _base_dir: str = PrivateAttr(default=".")

    @field_validator("state_dir")
    @classmethod
    def _state_dir_ok(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or "\x00" in v):
            raise ValueError("state_dir must be a directory path")
        return v

    @property
    def state_path(self) -> Path | None:
        """state_dir resolved against the config file's directory (None when not configured)."""
        if self.state_dir is None:
            return None
        path = Path(self.state_dir)
        return path if path.is_absolute() else Path(self._base_dir) / path

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: dict[str, str] = {}
        names = [(f"sources[{i}]", s.name) for i, s in enumerate(self.sources)]
        names += [(f"probes[{i}]", p.name) for i, p in enumerate(self.probes)]
        if self.events:
            names.append(("events", self.events.name))
        for where, name in names:
            if name in seen:
                raise ValueError(f"{where}.name: duplicate name {name!r} (already used by {seen[name]})")
            seen[name] = where
        for cur, rate in self.exchange_rates.items():
            if not re.match(r"^[A-Z]{3}$", cur) or rate <= 0:
                raise ValueError(f"exchange_rates.{cur}: need a 3-letter currency code and a positive rate")
        return self

    @model_validator(mode="after")
    def _report_bots(self) -> Config:
        """The report's bots are the relay's: each TYPE/NAME must be one of relay.bots."""
        if self.report is None:
            return self
        known = {f"{b.type}/{b.name}" for b in (self.relay.bots if self.relay else [])}
        for i, ref in enumerate(self.report.bots):
            if ref not in known:
                raise ValueError(
                    f"report.bots[{i}]: {ref!r} is not a bot of relay.bots (known: {', '.join(sorted(known)) or 'none'})"
                )
        return self

    @model_validator(mode="after")
    def _http_json_families(self) -> Config:
        """Metrics of http_json sources share one family per name: their definitions must agree."""
        seen: dict[str, tuple[contract.Family, str]] = {}
        for i, source in enumerate(self.sources):
            if not isinstance(source, HttpJsonSource):
                continue
            for j, metric in enumerate(source.metrics):
                family = metric.family
                first = seen.get(family.name)
                if first is None:
                    seen[family.name] = (family, f"sources[{i}]")
                elif first[0] != family:
                    raise ValueError(
                        f"sources[{i}].metrics[{j}].name: {family.name} is also defined by {first[1]} with "
                        "a different type, help or label names; use one definition or another name"
                    )
        return self

    @property
    def path(self) -> str:
        return self._path


# --- loading --------------------------------------------------------------------------------------------------------
def _loc_to_path(loc: tuple[int | str, ...], data: Any) -> tuple[str, str]:
    """Turn a pydantic error location into ``sources[1].interval``, dropping discriminator tags; also return the
    innermost tag (the ``type`` of the source or probe the error is in), or empty."""
    out = ""
    tag = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if isinstance(node, Mapping) and part not in node and part in (*SOURCE_TYPES, *PROBE_TYPES) and "type" in node:
            tag = part
            continue  # the discriminator tag pydantic inserts for unions
        if part.startswith("function-") or part in ("function-after", "function-before"):
            continue
        out += f".{part}" if out else part
        node = node.get(part) if isinstance(node, Mapping) else None
    return out, tag


#: Keys people write a credential under; the config takes credentials from ``<key>_env`` or ``<key>_file`` only.
INLINE_SECRET_KEYS = frozenset({"api_key", "token", "webhook_url", "secret", "password"})


def _shown(value: Any) -> str:
    """A config value quoted in an error: short, and without anything shaped like a credential."""
    text = repr(value)
    return redact(text if len(text) <= 80 else text[:77] + "...")


def _describe(err: Mapping[str, Any], secret: bool = False) -> str:
    """One reason for one pydantic error. ``secret``: the value sits at a ``*_env`` key and is never quoted."""
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    value = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the config reference)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown type {_shown(ctx.get('tag'))}; expected one of: {', '.join(SOURCE_TYPES)}"
    if kind == "union_tag_not_found":
        return "required key 'type' is missing"
    if kind == "literal_error":
        return msg if secret else f"{msg} (got {_shown(value)})"
    msg = msg.removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        if secret:
            return f"{msg} (got a {type(value).__name__}; the value is not shown)"
        return f"{msg} (got {type(value).__name__} {_shown(value)})"
    return msg


MAX_PROBLEMS = 50  # a list of 50,000 broken entries needs its first errors, not 50,000 lines


def parse_config(data: Any, path: str = "<config>", base_dir: str | Path = ".") -> Config:
    """Validate already-parsed YAML data. Raises :class:`ConfigError` naming file, key path and reason."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(path, [("", f"the top level must be a mapping, got {type(data).__name__}")])
    try:
        cfg = Config.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False, include_input=True)
        for err in errors[:MAX_PROBLEMS]:
            loc, tag = _loc_to_path(tuple(err["loc"]), data)
            secret = any(isinstance(part, str) and part.endswith("_env") for part in err["loc"])
            msg = _describe(err, secret)
            if err["type"] == "extra_forbidden":
                key = loc.rsplit(".", 1)[-1]
                if key in INLINE_SECRET_KEYS:
                    msg = f"inline keys are not accepted: use {key}_env or {key}_file (the value is not shown)"
                elif tag:
                    msg = f"unknown key for type {tag!r} (check its spelling against the config reference)"
            # errors raised by model validators name their own key path below the model's location
            if ": " in msg and re.match(r"^[\w\[\].]+: ", msg):
                sub, msg = msg.split(": ", 1)
                loc = f"{loc}.{sub}" if loc else sub
            problems.append((redact(loc), msg))
        if len(errors) > MAX_PROBLEMS:
            problems.append(("", f"... and {len(errors) - MAX_PROBLEMS} more problems"))
        raise ConfigError(path, problems) from None
    cfg._path = path
    cfg._base_dir = str(base_dir)
    return cfg


def require_something_to_do(config: Config) -> None:
    """Refuse a config that would run an exporter with nothing to do (an empty file, a bundle-only config).

    ``generate --config`` reads only the ``bundle:`` section and does not call this; ``serve`` and ``check-config``
    do, so an empty file is an error there instead of a silent, empty /metrics.
    """
    if not (config.sources or config.probes or config.events or config.relay):
        raise ConfigError(
            config.path or "<config>",
            [("", "nothing to monitor: add at least one of sources, probes, events or relay (see docs/config.md)")],
        )


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file. Raises :class:`ConfigError` on any problem.

    The file is read bounded and as UTF-8 only, and parsed with YAML aliases, nesting and size limited (see
    :mod:`exporter.safefiles` and :mod:`exporter.yamlio`): a hostile or broken file is an error naming the file, never a hang or a traceback.
    """
    p = Path(path)
    try:
        text = read_text(p, max_bytes=MAX_YAML_BYTES, what="config file")
    except FileProblem as exc:
        raise ConfigError(str(p), [("", str(exc))]) from None
    try:
        data = yamlio.load(text)
    except yamlio.YAMLError as exc:
        where, problem = yamlio.error_text(exc, text)
        raise ConfigError(str(p), [(where, f"invalid YAML: {problem}")]) from None
    return parse_config(data, str(p), p.parent)
