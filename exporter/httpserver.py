"""A small threaded HTTP server with a router, shared by the exporter and the simulator.

Why not a framework: the exporter serves four cached endpoints and the simulator needs byte-level control
(stalled streams, malformed bodies, raw SSE), which the stdlib ``http.server`` gives with no dependency. Each
request runs on its own thread, so a slow handler never blocks ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

#: Bodies larger than this are refused before they are read, on routes that set no limit of their own.
DEFAULT_MAX_BODY = 4 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # path parameters from the route pattern
    client: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """All values of a repeated query parameter, accepting both ``name`` and ``name[]``."""
        return [*self.query.get(name, []), *self.query.get(f"{name}[]", [])]

    def header(self, name: str, default: str = "") -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), dict(headers or {}), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), {}, content_type)


Handler = Callable[[Request], Response]


class Router:
    """Routes ``(method, path pattern)`` to handlers. Patterns use ``{name}`` for a path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._limits: list[tuple[str, re.Pattern[str], int, Handler | None]] = []
        self.max_body = DEFAULT_MAX_BODY

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        max_body: int | None = None,
        on_too_large: Handler | None = None,
    ) -> None:
        """Route ``method pattern`` to ``handler``. ``max_body`` sets this route's body limit (checked from
        Content-Length before anything is read); ``on_too_large`` answers such requests (given the request with an
        empty body), e.g. to count them."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method.upper(), regex, handler))
        if max_body is not None:
            self._limits.append((method.upper(), regex, max_body, on_too_large))

    def body_limit(self, method: str, path: str) -> tuple[int, Handler | None]:
        """The body limit of the route a request goes to, and its too-large handler."""
        for route_method, regex, limit, on_too_large in self._limits:
            if route_method == method.upper() and regex.match(path):
                return limit, on_too_large
        return self.max_body, None

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    def dispatch(self, req: Request) -> Response:
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(req.path)
            if not match:
                continue
            if method != req.method and not (method == "GET" and req.method == "HEAD"):
                allowed = True
                continue
            req.params = match.groupdict()
            return handler(req)
        if allowed:
            return Response.json({"error": "method not allowed"}, 405)
        return Response.json({"error": f"not found: {req.path}"}, 404)


class _Handler(BaseHTTPRequestHandler):
    router: Router
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client's delayed ACK stalls the
    # body ~40 ms on every request after the first (Prometheus and our API clients all keep connections alive).
    disable_nagle_algorithm = True
    server_version = "llmpulse"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in self.headers.items()},
            body=b"",
            client=self.client_address[0],
        )
        limit, on_too_large = self.router.body_limit(self.command, parts.path)
        if length < 0 or length > limit:
            # Never read a body that is too large (or of unknown size): answer 413 and close the connection.
            resp = on_too_large(req) if on_too_large and length > limit else None
            self._send(resp or Response.json({"error": f"body larger than {limit} bytes"}, 413), close=True)
            return
        req.body = self.rfile.read(length) if length else b""
        try:
            resp = self.router.dispatch(req)
        except Exception:
            log.exception("handler failed for %s %s", req.method, req.path)
            resp = Response.json({"error": "internal error"}, 500)
        self._send(resp)

    def _send(self, resp: Response, close: bool = False) -> None:
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            if isinstance(resp.body, bytes | bytearray):
                self.send_header("Content-Length", str(len(resp.body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(resp.body)
                return
            # Streaming body: no length, close when done (HTTP/1.1 without chunking is fine with Connection: close).
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            for chunk in resp.body:
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle


class Server:
    """A running server on its own daemon thread. ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (_Handler,), {"router": router})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name=f"http-{port}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def parse_listen(value: str, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``HOST`` into a (host, port) pair."""
    if value.startswith("["):  # [::1]:9877
        host, _, port = value[1:].partition("]:")
        return host, int(port or default_port)
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid port in listen address {value!r}")
    return host or "0.0.0.0", int(port)


def sleep_chunks(chunks: Iterable[tuple[float, bytes]]) -> Iterator[bytes]:
    """Yield bytes after the given delays (seconds): the simulator's streaming and stalling primitive."""
    for delay, data in chunks:
        if delay > 0:
            time.sleep(delay)
        yield data
