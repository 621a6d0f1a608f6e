"""What every probe type shares: one measurement (:meth:`Probe.run`), its result (:class:`Outcome`) and the
per-measurement scratchpad (:class:`Call`) the type-specific code fills while it reads the answer.

A probe type only builds its request and interprets the answer, raising :class:`ProbeError` for anything that
is not a success. Timing, the deadline, exception classification and redaction happen here, once. A measurement
makes exactly one attempt: a retry would hide the very error the probe exists to count. :class:`ChatProbe` is
the measurement every chat API shares (openai_compatible, anthropic, coze), with hooks for what each API defines.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from exporter.config import ChatProbeBase, ProbeBase
from exporter.probes.errors import decode_error
from exporter.probes.ratelimit import parse_ratelimit_headers
from exporter.probes.sse import iter_events
from exporter.probes.transport import Exchange, PhaseClock, ProbeError, TlsOptions, classify, open_exchange
from exporter.redact import redact

ConfigT = TypeVar("ConfigT", bound=ProbeBase)
ChatConfigT = TypeVar("ChatConfigT", bound=ChatProbeBase)

_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")


def api_path(base_url: str, path: str) -> str:
    """``path`` (``/v1/...``) joined to a base URL, dropping its version prefix when the base URL already ends in a
    version segment, as the OpenAI SDKs' base URLs do (``.../compatible-mode/v1``, ``.../api/v3``, ``.../v4``)."""
    if _VERSIONED.search(urlsplit(base_url).path.rstrip("/")):
        return re.sub(r"^/v\d+", "", path)
    return path


def merge_body(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The request body with ``extra_body`` merged over it; a key set to null in ``extra_body`` is removed (for a
    server that rejects a field llmpulse sends, e.g. ``stream_options: null``)."""
    merged = {**body, **extra}
    return {k: v for k, v in merged.items() if v is not None}


@dataclass
class Outcome:
    """The result of one measurement, ready to be recorded."""

    success: bool
    duration: float
    code: str = ""
    error_type: str = ""
    message: str = ""
    ttft: float | None = None
    tokens: dict[str, float] = field(default_factory=dict)
    ratelimits: dict[tuple[str, str], float] | None = None
    phases: dict[str, float] = field(default_factory=dict)
    cert_not_after: float | None = None


class Call:
    """State of one measurement in progress: the deadline, the phase clock and what the answer revealed."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.clock = PhaseClock()
        self.started = self.clock.started
        self.deadline = self.started + probe.config.timeout
        self.ttft: float | None = None
        self.tokens: dict[str, float] = {}
        self.ratelimits: dict[tuple[str, str], float] | None = None
        self.cert_not_after: float | None = None
        self._requests = 0

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Exchange:
        """Send one request. Only the first request of a measurement feeds the phase clock (its connection is the
        one whose dns/connect/tls we report); later ones (Coze polling) count in the total duration only."""
        payload = json.dumps(body).encode() if body is not None else None
        hdrs = {**self.probe.headers(), **(headers or {})}
        if payload is not None:
            hdrs.setdefault("Content-Type", "application/json")
        self._requests += 1
        exchange = open_exchange(
            self.probe.url(path),
            method=method,
            headers=hdrs,
            body=payload,
            deadline=self.deadline,
            tls=self.probe.tls_context,
            clock=self.clock if self._requests == 1 else None,
        )
        if exchange.cert_not_after is not None:
            self.cert_not_after = exchange.cert_not_after
        limits = parse_ratelimit_headers(dict(exchange.headers.items()), time.time())
        if limits:
            self.ratelimits = limits
        return exchange

    def first_token(self) -> None:
        if self.ttft is None:
            self.ttft = time.monotonic() - self.started

    def add_tokens(self, token_type: str, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            self.tokens[token_type] = self.tokens.get(token_type, 0.0) + float(value)


def http_error(exchange: Exchange) -> ProbeError:
    """The error for a non-success HTTP status: code = status, error_type from the provider's body. The status is
    what counts: an error body that is too large, cut off or slower than the deadline only loses the type."""
    try:
        body = exchange.read_body()
    except (ProbeError, OSError, http.client.HTTPException):
        body = b""
    kind, message = decode_error(body)
    return ProbeError(str(exchange.status), f"HTTP {exchange.status}: {message}".rstrip(": "), kind)


def read_json(exchange: Exchange) -> Any:
    """The whole body as JSON; a body that does not parse is ``invalid_response``."""
    body = exchange.read_body()
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProbeError("invalid_response", f"HTTP {exchange.status} with a body that is not valid JSON") from None


def parse_event_json(data: str, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ProbeError("invalid_response", f"{what}: stream event is not valid JSON") from None


def follow_stream(
    call: Call, lines: Iterator[bytes], feed: Callable[[str, str], bool], ended: Callable[[], bool]
) -> None:
    """Hand each server-sent event to ``feed`` until ``ended()`` or the stream closes. ``feed`` returns True for
    an event carrying generated text; the first one is the time to first token, for every chat API alike."""
    for event, data in iter_events(lines):
        if feed(event, data):
            call.first_token()
        if ended():
            break


class Probe(Generic[ConfigT]):
    """One configured probe, typed by its config model. Subclasses set :attr:`kind`, :meth:`default_path`, :meth:`headers`, :meth:`measure`."""

    kind = ""
    streams = False  # whether this type can record time to first token

    def __init__(self, config: ConfigT) -> None:
        self.config: ConfigT = config
        self.path = config.path or api_path(config.base_url, self.default_path())
        needs_tls = config.base_url.startswith("https://")
        self.tls_context: ssl.SSLContext | None = (
            TlsOptions(config.ca_path, config.tls_insecure_skip_verify).context() if needs_tls else None
        )

    def default_path(self) -> str:
        raise NotImplementedError

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.config.base_url}{path}"

    def headers(self) -> dict[str, str]:
        return dict(self.config.headers)

    def measure(self, call: Call) -> None:
        """Make the call and read the answer; raise ProbeError unless it is a success."""
        raise NotImplementedError

    def run(self) -> Outcome:
        """One measurement. Never raises for provider or network problems; those become the outcome."""
        call = Call(self)
        error: ProbeError | None = None
        try:
            self.measure(call)
        except (ProbeError, OSError, http.client.HTTPException) as exc:  # OSError covers timeouts and TLS
            error = classify(exc, call.clock.phase)
        finally:
            call.clock.enter(None)
        duration = time.monotonic() - call.started
        # A first token that arrived counts even if the stream failed later (the stall is in the error counter);
        # tokens the answer reported were spent whatever happened next.
        outcome = Outcome(
            success=error is None,
            duration=duration,
            ttft=call.ttft,
            tokens=call.tokens,
            ratelimits=call.ratelimits,
            phases=dict(call.clock.durations),
            cert_not_after=call.cert_not_after,
        )
        if error is not None:
            outcome.code = error.code
            outcome.error_type = error.error_type
            outcome.message = redact(str(error), (self.config.api_key,))
        return outcome


class ChatProbe(Probe[ChatConfigT]):
    """A chat API probe: POST a JSON body, then read either a JSON answer or a server-sent event stream.

    The sequence is the same for every chat API (a non-2xx status is an error with that status; a stream is read
    only when one was asked for and the server really sent ``text/event-stream``; anything else must be a JSON
    object), so it lives here once. A subclass supplies only what its API defines: :meth:`auth_headers`,
    :meth:`body`, :meth:`answer_error` (an error reported inside a 2xx answer), :meth:`record_answer` (check and
    record a successful JSON answer) and :meth:`read_stream`.
    """

    streams = True

    def headers(self) -> dict[str, str]:
        accept = "text/event-stream" if self.config.stream else "application/json"
        return {"Accept": accept, **super().headers(), **self.auth_headers()}

    def auth_headers(self) -> dict[str, str]:
        """The credentials; they override a same-named header in ``headers:`` so a config cannot drop them."""
        return {"Authorization": f"Bearer {self.config.api_key}"}

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    def answer_error(self, data: dict[str, Any], status: int) -> ProbeError | None:
        """The error a 2xx JSON answer reports in its body, or None."""
        raise NotImplementedError

    def record_answer(self, call: Call, data: dict[str, Any]) -> None:
        """Check that a 2xx JSON answer without an error is a success and record what it spent."""
        raise NotImplementedError

    def read_stream(self, call: Call, lines: Iterator[bytes]) -> None:
        """Read an event stream to its end; raise ProbeError unless it completed."""
        raise NotImplementedError

    def measure(self, call: Call) -> None:
        exchange = call.request("POST", self.path, self.body())
        try:
            if not 200 <= exchange.status < 300:
                raise http_error(exchange)
            if self.config.stream and exchange.content_type == "text/event-stream":
                self.read_stream(call, exchange.lines())
                return
            data = read_json(exchange)
        finally:
            exchange.close()
        if not isinstance(data, dict):
            raise ProbeError("invalid_response", "answer is not a JSON object")
        error = self.answer_error(data, exchange.status)
        if error is not None:
            raise error
        self.record_answer(call, data)
