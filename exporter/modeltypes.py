"""Pydantic building blocks shared by every model of the config, the bundle settings and the HTTP bodies.

Defined once so a duration, a URL, a static label set or a header map is checked the same way (and with the same
message) wherever it appears: sources, probes, events, the relay, the bundle's settings.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from exporter import contract
from exporter.durations import parse_duration

#: A Prometheus-style duration (``30s``, ``5m``, ``1h30m``) or a number of seconds; stored as seconds.
Duration = Annotated[float, BeforeValidator(parse_duration)]

#: Names of sources, probes, bots: they become label values, so short and plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"

_URL_RE = re.compile(r"^https?://[^\s/]+")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
#: Headers that carry credentials: they come from api_key_env / api_key_file, never from the config text.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not be ignored), validated objects do not change, and numbers are
    finite (``.nan``, ``.inf`` or ``1e999`` is never a price, a rate, a threshold or a duration)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _http_url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _optional_http_url(value: str) -> str:
    return _http_url(value) if value else value


def _static_labels(labels: dict[str, str]) -> dict[str, str]:
    reserved = set(contract.BASE_LABELS) | contract.RESERVED_LABELS
    for key, val in labels.items():
        if not contract.LABEL_RE.match(key) or key.startswith("__"):
            raise ValueError(f"invalid label name {key!r}")
        if key in reserved or any(key in f.all_labels for f in contract.FAMILIES.values()):
            raise ValueError(f"label {key!r} is set by llmpulse itself; pick another name")
        if not isinstance(val, str):
            raise ValueError(f"label {key!r} must be a string")
    return labels


def _safe_headers(headers: dict[str, str]) -> dict[str, str]:
    for key, val in headers.items():
        if not _HEADER_NAME_RE.match(key):
            raise ValueError(f"invalid header name {key!r}")
        if key.lower() in CREDENTIAL_HEADERS:
            raise ValueError(f"header {key!r} carries a credential: use api_key_env or api_key_file")
        if re.search(r"[\r\n]", val):
            raise ValueError(f"header {key!r} must be a single-line string")
    return headers


#: An http(s) URL without a trailing slash.
HttpUrl = Annotated[str, AfterValidator(_http_url)]
#: An http(s) URL, or empty for "the provider's default".
OptionalHttpUrl = Annotated[str, AfterValidator(_optional_http_url)]
#: Labels a user adds to every series of a source: valid names, none llmpulse sets itself.
StaticLabels = Annotated[dict[str, str], AfterValidator(_static_labels)]
#: Extra request headers: valid single-line headers that carry no credential.
SafeHeaders = Annotated[dict[str, str], AfterValidator(_safe_headers)]
