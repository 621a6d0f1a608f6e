"""A server that holds its ground: a chunked body is read as one body (never as a second request), ambiguous
framing is refused, slow or silent clients are cut off by deadlines, connections beyond the cap get a 503, and the
real exporter keeps answering /metrics within a second while 200 idle and 200 slow connections are open.

Raw sockets on loopback, so the test controls every byte; every wait is bounded.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests
from helpers import exporter

from exporter.httpserver import Response, Router, Server, ServerLimits


def _router() -> Router:
    router = Router()
    router.add("GET", "/ping", lambda req: Response.text("pong\n"))
    router.add("POST", "/echo", lambda req: Response(200, req.body, {}, "application/octet-stream"), max_body=64)
    return router


@contextmanager
def running(limits: ServerLimits | None = None) -> Iterator[Server]:
    server = Server(_router(), "127.0.0.1", 0, limits).start()
    try:
        yield server
    finally:
        server.stop()


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.settimeout(5)
    _PENDING.pop(sock.fileno(), None)  # a new socket may reuse a closed one's number
    return sock


_PENDING: dict[int, bytes] = {}  # bytes read past one response, per socket (pipelined answers)


def _read_response(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """One response (status, headers, body) read with Content-Length framing; bytes of the next one are kept."""
    data = _PENDING.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before a full response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(4096)
    _PENDING[sock.fileno()] = rest[length:]
    return int(head.split(b" ")[1]), head, rest[:length]


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (reads drain any answer); fails after ``seconds``."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    raise AssertionError(f"connection still open after {seconds}s")


def test_a_chunked_body_is_read_as_one_body_and_the_connection_goes_on() -> None:
    with running() as server, _connect(server) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
            b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert _read_response(sock)[::2] == (200, b"hello, world")
        assert _read_response(sock)[::2] == (200, b"pong\n")  # the next request, not the body taken for one


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        (b"Content-Length: -5\r\n", 400),
        (b"Content-Length: abc\r\n", 400),
        (b"Transfer-Encoding: gzip, chunked\r\n", 501),
    ],
)
def test_ambiguous_or_unsupported_framing_is_refused_and_the_connection_closed(head: bytes, status: int) -> None:
    with running() as server, _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n" + head + b"\r\nhello" + b"GET /ping HTTP/1.1\r\n\r\n")
        code, headers, _ = _read_response(sock)
        assert code == status and b"Connection: close" in headers
        _closed_within(sock, 5)  # nothing after an unframeable body is ever taken for a request


def test_a_chunked_body_over_the_route_limit_or_malformed_is_refused() -> None:
    with running() as server:
        with _connect(server) as sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + b"x" * 65 + b"\r\n0\r\n\r\n"
            )
            assert _read_response(sock)[0] == 413
        with _connect(server) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
            assert _read_response(sock)[0] == 400


def test_a_client_dripping_its_headers_is_cut_off_at_the_header_deadline() -> None:
    with running(ServerLimits(header_timeout=1.0)) as server, _connect(server) as sock:
        start = time.monotonic()
        request = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        try:
            for byte in request:  # one byte every 0.1 s: each read succeeds, the whole head never arrives
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - start > 5:
                    break
        except OSError:
            pass
        elapsed = time.monotonic() - start + _closed_within(sock, 5)
        assert elapsed < 4, f"a slow head held the connection {elapsed:.1f}s with a 1s header deadline"


def test_a_body_that_never_arrives_is_cut_off_at_the_body_deadline() -> None:
    with running(ServerLimits(body_timeout=1.0)) as server, _connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nonly ten b")
        assert _closed_within(sock, 5) < 4


def test_connections_beyond_the_cap_get_a_503_at_once() -> None:
    with running(ServerLimits(max_connections=5)) as server, ExitStack() as stack:
        idle = [stack.enter_context(_connect(server)) for _ in range(5)]
        deadline = time.monotonic() + 5
        while server.httpd.active < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        extra = stack.enter_context(_connect(server))
        extra.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(extra)[0] == 503
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 5
        while server.httpd.active and time.monotonic() < deadline:
            time.sleep(0.02)
        with _connect(server) as sock:
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock)[0] == 200


def test_the_listen_backlog_is_at_least_128() -> None:
    with running() as server:
        assert server.httpd.request_queue_size >= 128  # what listen() was given when the server started
        # and it holds: 150 connections opened at once are all accepted and answered
        with ExitStack() as stack:
            socks = [stack.enter_context(_connect(server)) for _ in range(150)]
            for sock in socks:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert all(_read_response(sock)[0] == 200 for sock in socks)


def test_metrics_answer_within_a_second_while_200_idle_and_200_slow_connections_are_open(tmp_path: Path) -> None:
    config = {"events": {"name": "ev", "token_env": "LLMPULSE_LIMITS_TOKEN"}}
    with (
        exporter(config, tmp_path, env={"LLMPULSE_LIMITS_TOKEN": "limits-token-0123456789"}) as proc,
        ExitStack() as stack,
    ):
        host, port = "127.0.0.1", proc.port
        idle = [stack.enter_context(socket.create_connection((host, port), timeout=5)) for _ in range(200)]
        slow = [stack.enter_context(socket.create_connection((host, port), timeout=5)) for _ in range(200)]
        for sock in slow:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # a head that never ends
        assert len(idle) == 200
        worst = 0.0
        for _ in range(10):
            start = time.monotonic()
            resp = requests.get(f"{proc.url}/metrics", timeout=5)
            worst = max(worst, time.monotonic() - start)
            assert resp.status_code == 200 and "llmpulse_build_info" in resp.text
        assert worst < 1.0, f"/metrics took {worst:.2f}s with 400 connections open"
