"""One HTTP client for every provider API call: timeouts, bounded retries, error classification, redaction.

Why hand-rolled retries instead of ``urllib3.util.Retry``: every attempt must be counted by HTTP status in
``llmpulse_source_api_requests_total`` and urllib3 retries happen out of sight; urllib3 also honours a
``Retry-After`` of up to six hours by default. Here ``Retry-After`` is honoured but capped, backoff is exponential
with jitter, and 400/401/403/404 (and 402/422) are never retried because retrying cannot fix them.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from exporter.redact import redact

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
USER_AGENT = "llmpulse (+https://github.com/llmpulse/llmpulse)"


class ApiError(Exception):
    """A failed provider call or an unusable answer. ``reason`` is a small enum used as a metric label."""

    def __init__(self, reason: str, message: str, status: int | None = None, content_type: str = ""):
        self.reason = reason
        self.status = status
        #: the error answer's Content-Type: tells a provider's JSON refusal from a CDN's HTML challenge page
        self.content_type = content_type
        super().__init__(message)


def classify_status(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if 400 <= status < 500:
        return "http_4xx"
    return "http_5xx"


def classify_exception(exc: BaseException) -> str:
    """Map a requests exception to timeout / tls / connection (used as the ``code`` of a call without status)."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        return "tls"
    return "connection"


#: What a person should read for the usual low-level failures (urllib3's text names pools, objects and retries).
_FAILURES = (
    ("connection refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("temporary failure in name resolution", "host name could not be resolved"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("connection reset", "connection reset by the server"),
    ("remote end closed connection", "connection closed by the server without an answer"),
    ("certificate verify failed", "TLS certificate not trusted"),
    ("wrong version number", "TLS handshake failed (plain HTTP on an https URL?)"),
    ("read timed out", "no answer within the timeout"),
    ("connect timeout", "no connection within the timeout"),
    ("timed out", "timed out"),
)


def describe_exception(exc: BaseException) -> str:
    """A short, whole-word reason for a failed call without an HTTP status (``connection refused``), instead of the
    client library's text; the class of failure (timeout, tls, connection) is :func:`classify_exception`'s."""
    text = str(exc).lower()
    for needle, reason in _FAILURES:
        if needle in text:
            return reason
    return {"timeout": "timed out", "tls": "TLS error", "connection": "connection failed"}[classify_exception(exc)]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def error_detail(body: str) -> str:
    """A short, human-readable message from a provider error body (OpenAI, Anthropic, Coze, OpenRouter shapes)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or err)[:200]
        if isinstance(err, str):
            return err[:200]
        if "msg" in data or "message" in data:
            return str(data.get("msg") or data.get("message"))[:200]
    return body.strip()[:200]


class ApiClient:
    """Calls one provider API for one source. Not shared between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        max_retry_after: float = 60.0,
        backoff_base: float = 0.5,
        deadline: float | None = None,
        secrets: tuple[str, ...] = (),
        on_response: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.deadline = deadline
        self.secrets = tuple(s for s in secrets if s)
        self.on_response = on_response or (lambda code: None)
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if headers:
            self.session.headers.update(headers)
        self._sleep = sleep

    def close(self) -> None:
        self.session.close()

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        delay = self.backoff_base * (2**attempt) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        delay = min(delay, self.max_retry_after)
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if delay >= remaining:
                raise ApiError("timeout", "poll deadline reached while backing off")
        self._sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Make a call with retries; return the final 2xx response or raise :class:`ApiError`."""
        url = self._url(path)
        attempt = 0
        while True:
            try:
                resp = self.session.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                code = classify_exception(exc)
                self.on_response(code)
                if attempt < self.retries and code in ("timeout", "connection"):
                    self._wait(attempt, None)
                    attempt += 1
                    continue
                raise ApiError(code, f"{method} {self._safe(path)}: {describe_exception(exc)}") from None
            self.on_response(str(resp.status_code))
            if resp.status_code < 400:
                return resp
            detail = self._safe(error_detail(resp.text))
            if resp.status_code in RETRYABLE_STATUS and attempt < self.retries:
                self._wait(attempt, parse_retry_after(resp.headers.get("Retry-After")))
                attempt += 1
                continue
            raise ApiError(
                classify_status(resp.status_code),
                f"{method} {self._safe(path)}: HTTP {resp.status_code}: {detail}",
                status=resp.status_code,
                content_type=resp.headers.get("Content-Type", ""),
            )

    def get_json(self, path: str, params: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        resp = self.request("GET", path, params=params, headers=headers)
        return self.decode(resp, path)

    def decode(self, resp: requests.Response, path: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ApiError("invalid_response", f"{self._safe(path)}: response is not valid JSON") from None

    def _safe(self, text: str) -> str:
        return redact(text, self.secrets)


def paginate(
    fetch: Callable[[str | None], Mapping[str, Any]],
    *,
    cursor_key: str = "next_page",
    more_key: str = "has_more",
    max_pages: int = 500,
) -> Iterator[Mapping[str, Any]]:
    """Follow ``has_more``/``next_page`` to the end. A repeated cursor, a missing cursor while ``has_more`` is true,
    or more than ``max_pages`` pages raise ``ApiError('pagination')``: a partial result must never look complete."""
    seen: set[str] = set()
    cursor: str | None = None
    for _ in range(max_pages):
        page = fetch(cursor)
        if not isinstance(page, Mapping):
            raise ApiError("invalid_response", "page is not a JSON object")
        yield page
        if not page.get(more_key):
            return
        nxt = page.get(cursor_key)
        if not nxt or not isinstance(nxt, str):
            raise ApiError("pagination", f"{more_key} is true but {cursor_key} is missing")
        if nxt in seen:
            raise ApiError("pagination", "pagination cursor repeated (cursor loop)")
        seen.add(nxt)
        cursor = nxt
    raise ApiError("pagination", f"more than {max_pages} pages; giving up")
