"""A small threaded HTTP server with a router, shared by the exporter and the simulator.

Why not a framework: the exporter serves four cached endpoints and the simulator needs byte-level control
(stalled streams, malformed bodies, raw SSE), which the stdlib ``http.server`` gives with no dependency. Each
request runs on its own thread, so a slow handler never blocks ``/metrics``.

What the stdlib server lacks and :class:`ServerLimits` adds, so a flood of connections cannot starve ``/metrics``:
a listen backlog of 128 (not 5), a cap on concurrent connections (beyond it a connection gets a 503 at once), a
deadline for the request head and one for the body (enforced by a watchdog that closes the socket, so a client
dripping one byte a second cannot hold a thread), bodies sent with ``Transfer-Encoding: chunked`` read as such
(never as a second request), and ambiguous framing (both ``Content-Length`` and ``Transfer-Encoding``, or two
different lengths) refused with 400.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
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


@dataclass(frozen=True)
class ServerLimits:
    """How much a client may take from the server (defaults suit the exporter's few, small endpoints)."""

    backlog: int = 128  # connections the kernel queues before accept
    max_connections: int = 512  # connections served at once; more are answered 503 and closed
    header_timeout: float = 10.0  # seconds to send a request line and headers (the first on a connection)
    idle_timeout: float = 60.0  # seconds a kept-alive connection may wait for (and send) its next request head
    body_timeout: float = 30.0  # seconds to send a body, once the head is in


class _Watchdog:
    """Closes sockets whose deadline passed: a hard limit that per-read timeouts cannot give (a client sending a
    byte just before each read times out would hold a connection for ever). One thread for all connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}
        self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
        self._stop = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def watch(self, sock: socket.socket, seconds: float) -> None:
        with self._lock:
            self._deadlines[sock] = time.monotonic() + seconds

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                expired = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
                for sock in expired:
                    del self._deadlines[sock]
            for sock in expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class FramingError(Exception):
    """A request whose body cannot be delimited safely: answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_chunked(rfile: Any, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (RFC 9112 7.1), trailers skipped. Raises FramingError (413 past
    ``limit``, 400 when malformed)."""
    body = bytearray()
    while True:
        line = rfile.readline(1026)
        if not line.endswith(b"\n"):
            raise FramingError(400, "malformed chunked body: chunk size line missing or too long")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise FramingError(400, "malformed chunked body: chunk size is not hexadecimal") from None
        if size < 0 or not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
            raise FramingError(400, "malformed chunked body: chunk size is not hexadecimal")
        if size == 0:
            break
        if len(body) + size > limit:
            raise FramingError(413, f"body larger than {limit} bytes")
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise FramingError(400, "malformed chunked body: chunk shorter than announced")
        body += chunk
    for _ in range(64):  # trailer fields, up to the empty line
        line = rfile.readline(8194)
        if line in (b"\r\n", b"\n"):
            return bytes(body)
        if not line:
            break
    raise FramingError(400, "malformed chunked body: trailer section not terminated")


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
    body: bytes | tuple[bytes, ...] | Iterable[bytes] = b""  # a tuple: parts of a known length, sent in order
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
    server: _LimitedServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client's delayed ACK stalls the
    # body ~40 ms on every request after the first (Prometheus and our API clients all keep connections alive).
    disable_nagle_algorithm = True
    server_version = "llmpulse"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def setup(self) -> None:
        super().setup()
        self._requests = 0

    def handle_one_request(self) -> None:
        limits = self.server.limits
        self.server.watchdog.watch(self.connection, limits.idle_timeout if self._requests else limits.header_timeout)
        try:
            super().handle_one_request()
        except OSError:  # the watchdog closed a client that was too slow, or the client went away
            self.close_connection = True
        finally:
            self.server.watchdog.unwatch(self.connection)
            self._requests += 1

    def _body_length(self) -> int | None:
        """The Content-Length (None for a chunked body). Raises FramingError on ambiguous or invalid framing."""
        lengths = self.headers.get_all("Content-Length") or []
        encodings = self.headers.get_all("Transfer-Encoding") or []
        if lengths and encodings:
            raise FramingError(400, "both Content-Length and Transfer-Encoding: send one of them")
        if encodings:
            codings = [c.strip().lower() for c in ",".join(encodings).split(",") if c.strip()]
            if codings != ["chunked"]:
                raise FramingError(501, f"Transfer-Encoding {', '.join(codings)[:60]!r} is not supported")
            return None
        values = {v.strip() for v in ",".join(lengths).split(",")} if lengths else {"0"}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise FramingError(400, "invalid Content-Length")
        return int(next(iter(values)))

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        try:
            length = self._body_length()
        except FramingError as err:
            self._send(Response.json({"error": err.message}, err.status), close=True)
            return
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in self.headers.items()},
            body=b"",
            client=self.client_address[0],
        )
        limit, on_too_large = self.router.body_limit(self.command, parts.path)
        if length is not None and length > limit:
            # Never read a body that is too large: answer 413 and close the connection.
            resp = on_too_large(req) if on_too_large else None
            self._send(resp or Response.json({"error": f"body larger than {limit} bytes"}, 413), close=True)
            return
        self.server.watchdog.watch(self.connection, self.server.limits.body_timeout)
        try:
            req.body = read_chunked(self.rfile, limit) if length is None else self.rfile.read(length) if length else b""
        except FramingError as err:
            resp = on_too_large(req) if on_too_large and err.status == 413 else None
            self._send(resp or Response.json({"error": err.message}, err.status), close=True)
            return
        finally:
            self.server.watchdog.unwatch(self.connection)
        if length is not None and len(req.body) != length:  # the client went away (or was too slow) mid-body
            self.close_connection = True
            return
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
            if isinstance(resp.body, bytes | bytearray | tuple):
                # bytes, or a tuple of bytes sent one after the other (a cached body and a small tail, not copied
                # into one buffer per request)
                parts = (resp.body,) if isinstance(resp.body, bytes | bytearray) else resp.body
                self.send_header("Content-Length", str(sum(len(part) for part in parts)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    for part in parts:
                        if part:
                            self.wfile.write(part)
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


class _LimitedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen backlog, a connection cap and a deadline watchdog (see ServerLimits)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], limits: ServerLimits) -> None:
        self.limits = limits
        self.request_queue_size = limits.backlog  # read by server_activate() when the socket starts listening
        self.watchdog = _Watchdog()
        self._active = 0
        self._active_lock = threading.Lock()
        self.refused = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            full = self._active >= self.limits.max_connections
            if not full:
                self._active += 1
        if full:
            self.refused += 1
            _refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            with self._active_lock:
                self._active -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    @property
    def active(self) -> int:
        return self._active


def _refuse(sock: socket.socket) -> None:
    """Answer a connection beyond the cap without a thread: a short 503, then close."""
    try:
        sock.setblocking(False)
        sock.send(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
            b"Connection: close\r\n\r\ntoo many connections now\n"
        )
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.close()


class Server:
    """A running server on its own daemon thread. ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(
        self, router: Router, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits | None = None
    ) -> None:
        limits = limits or ServerLimits()
        # ``timeout`` bounds each read or write; the watchdog enforces the tighter deadlines of heads and bodies.
        timeout = max(limits.header_timeout, limits.idle_timeout, limits.body_timeout)
        handler = type("BoundHandler", (_Handler,), {"router": router, "timeout": timeout})
        self.httpd = _LimitedServer((host, port), handler, limits)
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
        self.httpd.watchdog.start()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.watchdog.stop()


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
