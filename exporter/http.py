"""One HTTP client for every provider API call: timeouts, bounded retries, error classification, redaction.

Why hand-rolled retries instead of ``urllib3.util.Retry``: every attempt must be counted by HTTP status in
``llmpulse_source_api_requests_total`` and urllib3 retries happen out of sight; urllib3 also honours a
``Retry-After`` of up to six hours by default. Here a ``Retry-After`` up to ``max_retry_after`` is honoured; a
longer one ends the poll at once (a 429 as ``rate_limited``: calling again before the provider allows it only
prolongs the limit). Backoff is exponential with jitter, and 400/401/403/404 (and 402/422) are never retried
because retrying cannot fix them.

Why redirects are followed by hand: requests drops ``Authorization`` when a redirect changes host, but not custom
headers such as Anthropic's ``x-api-key`` or an ``http_json`` source's key header, and it keeps everything on a
change of scheme or port. A request that carries a credential follows a redirect only within its origin (scheme,
host and port); a redirect elsewhere fails the poll and says where it pointed, so the key stays with its host.

Why bodies are streamed: ``timeout`` bounds each socket read, so a body that drips one byte a second never times
out and a 300 MB answer is read whole. Each call has one deadline (``timeout`` after it starts, connect and every
read included) and each answer a size cap (``max_response_bytes``); past either the call fails (``timeout`` /
``invalid_response``) and the partial body is dropped.
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
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from exporter.redact import redact

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
USER_AGENT = "llmpulse (+https://github.com/llmpulse/llmpulse)"
#: Default cap on one answer's body (after decompression). A month of daily usage buckets of a large organisation
#: is a few MB; 32 MiB leaves a wide margin and still bounds what a broken or hostile upstream can make us hold.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_ERROR_BODY = 65536  # of an error answer only the message is shown
MAX_REDIRECTS = 5
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 16384  # small reads: a compressed chunk cannot inflate to much more than the cap allows


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port filled in from the scheme: what "same origin" compares."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def show_origin(url: str) -> str:
    """``scheme://host:port`` of a URL, without path, query or user info (which may hold tokens)."""
    scheme, host, port = origin(url)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
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
        self.max_response_bytes = max_response_bytes
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

    def _wait(self, attempt: int, retry_after: float | None, failure: ApiError) -> None:
        """Sleep before the next attempt, or raise ``failure`` when the provider or the poll deadline does not
        leave time for one (a 429 then stays ``rate_limited``: the poll gave up because of the limit)."""
        if retry_after is not None and retry_after > self.max_retry_after:
            raise ApiError(
                failure.reason,
                f"{failure}; Retry-After {retry_after:g}s is beyond max_retry_after ({self.max_retry_after:g}s)",
                status=failure.status,
            )
        delay = self.backoff_base * (2**attempt) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        delay = min(delay, self.max_retry_after)
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if delay >= remaining:
                raise ApiError(failure.reason, f"{failure}; no time left in the poll to retry", status=failure.status)
        self._sleep(delay)

    @property
    def carries_credential(self) -> bool:
        """True when calls send a secret (a key in a header, a signed URL...): redirects then stay in the origin."""
        return bool(self.secrets)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Make a call with retries; return the final 2xx response (its body read) or raise :class:`ApiError`."""
        url = self._url(path)
        attempt = 0
        while True:
            call_deadline = time.monotonic() + self.timeout
            try:
                resp = self._exchange(method, url, path, params, json_body, headers, call_deadline)
            except requests.RequestException as exc:
                code = classify_exception(exc)
                self.on_response(code)
                failure = ApiError(code, f"{method} {self._safe(path)}: {code}: {self._safe(str(exc))[:200]}")
                if attempt < self.retries and code in ("timeout", "connection"):
                    self._wait(attempt, None, failure)
                    attempt += 1
                    continue
                raise ApiError(code, f"{method} {self._safe(path)}: {describe_exception(exc)}") from None
            self.on_response(str(resp.status_code))
            if resp.status_code < 400:
                return resp
            detail = self._safe(error_detail(resp.text))
            failure = ApiError(
                classify_status(resp.status_code),
                f"{method} {self._safe(path)}: HTTP {resp.status_code}: {detail}",
                status=resp.status_code,
                content_type=resp.headers.get("Content-Type", ""),
            )
            if resp.status_code in RETRYABLE_STATUS and attempt < self.retries:
                self._wait(attempt, parse_retry_after(resp.headers.get("Retry-After")), failure)
                attempt += 1
                continue
            raise failure

    def _exchange(
        self,
        method: str,
        url: str,
        path: str,
        params: Any,
        json_body: Any,
        headers: Mapping[str, str] | None,
        deadline: float,
    ) -> requests.Response:
        """One call: send, follow same-origin redirects, read the body under the deadline and the size cap."""
        for _ in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise requests.Timeout("call deadline reached")
            resp = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=(left, left),
                stream=True,
                allow_redirects=False,
            )
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECT_STATUS or not location:
                limit = self.max_response_bytes if resp.status_code < 400 else MAX_ERROR_BODY
                self._read_body(resp, path, deadline, limit, truncate=resp.status_code >= 400)
                return resp
            target = urljoin(resp.url, location)
            resp.close()
            if not target.startswith(("http://", "https://")):
                raise ApiError("invalid_response", f"{method} {self._safe(path)}: redirect to a non-HTTP URL")
            if self.carries_credential and origin(target) != origin(resp.url):
                self.on_response(str(resp.status_code))
                raise ApiError(
                    "invalid_response",
                    f"{method} {self._safe(path)}: HTTP {resp.status_code} redirect to another origin "
                    f"({self._safe(show_origin(target))}) not followed: the credential is only sent to "
                    f"{show_origin(resp.url)}; set base_url to where the API really is",
                    status=resp.status_code,
                )
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, json_body = "GET", None  # what browsers and requests do
            url, params = target, None  # the Location carries its own query
        raise ApiError("invalid_response", f"{method} {self._safe(path)}: more than {MAX_REDIRECTS} redirects")

    def _read_body(self, resp: requests.Response, path: str, deadline: float, limit: int, truncate: bool) -> None:
        """Read the body in small pieces, each bounded by what is left of the deadline; keep at most ``limit``
        bytes. The result is stored where requests keeps it, so ``resp.text`` and ``resp.json()`` work."""
        declared = resp.headers.get("Content-Length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            resp.close()
            raise ApiError(
                "invalid_response",
                f"{self._safe(path)}: answer of {int(declared)} bytes is larger than max_response_bytes ({limit})",
            )
        raw = resp.raw
        body = bytearray()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise requests.Timeout(f"{self._safe(path)}: call deadline reached while reading the answer")
                sock = getattr(getattr(raw, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(left)
                chunk = raw.read1(_READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > limit:
                    if truncate:
                        del body[limit:]
                        break
                    raise ApiError(
                        "invalid_response",
                        f"{self._safe(path)}: answer is larger than max_response_bytes ({limit})",
                    )
        except urllib3.exceptions.ReadTimeoutError as exc:
            resp.close()
            raise requests.Timeout(str(exc)) from None
        except (urllib3.exceptions.DecodeError, urllib3.exceptions.ProtocolError, OSError) as exc:
            resp.close()
            if isinstance(exc, TimeoutError):
                raise requests.Timeout(str(exc)) from None
            if isinstance(exc, urllib3.exceptions.DecodeError):
                raise ApiError("invalid_response", f"{self._safe(path)}: answer cannot be decoded") from None
            raise requests.ConnectionError(str(exc)) from None
        except BaseException:
            resp.close()
            raise
        resp._content = bytes(body)  # requests' own cache of the body: .text and .json() read it
        resp._content_consumed = True  # type: ignore[attr-defined]
        resp.close()  # the body was read to its end: the connection goes back to the pool

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
