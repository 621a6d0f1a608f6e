"""One timed HTTP exchange on a fresh connection, split into phases and bounded by a single deadline.

Why not ``requests`` (used by the pollers): requests/urllib3 expose only the time to the response headers, not
the DNS, connect and TLS phases a probe must report to tell a network or certificate problem from a slow model,
and their timeouts are per socket operation, so a stream that trickles one byte every few seconds never times
out. ``pycurl`` has the phase timers but is a C dependency; ``httpx`` has trace hooks but is not a dependency of
llmpulse. So a probe drives the stdlib directly: ``socket.getaddrinfo`` (dns), ``socket.connect`` (connect),
``ssl.SSLContext.wrap_socket`` (tls), and :class:`http.client.HTTPConnection` on that socket for the request,
the status line (first_byte) and the body (transfer). Before every blocking step the socket timeout is set to
what is left of the probe's deadline, so the whole measurement, streaming included, ends by ``timeout``.

Every probe opens a new connection (no keep-alive), as blackbox_exporter does: each measurement sees the same
cold path and reports all five phases. Proxies are taken from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` like
the pollers (requests) do; an https target is reached through an HTTP ``CONNECT`` tunnel.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from urllib.parse import SplitResult, unquote, urlsplit

import requests.utils
from cryptography import x509

from exporter.http import USER_AGENT

PHASES = ("dns", "connect", "tls", "first_byte", "transfer")
MAX_BODY = 1_048_576  # a probe answer is tiny; anything bigger is not what we asked for
MAX_STREAM = 4 * 1_048_576
MAX_LINE = 262_144


class ProbeError(Exception):
    """A failed measurement. ``code`` becomes the ``code`` label: an HTTP status, a Coze body code, or one of
    timeout, connection, tls, invalid_response. ``error_type`` is the provider's error type from the body."""

    def __init__(self, code: str, message: str, error_type: str = "") -> None:
        self.code = code
        self.error_type = error_type
        super().__init__(message)


class PhaseClock:
    """Attributes elapsed monotonic time to the phase the measurement is in; unreached phases stay at 0."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.durations = dict.fromkeys(PHASES, 0.0)
        self.phase: str | None = None
        self._since = self.started

    def enter(self, phase: str | None) -> None:
        now = time.monotonic()
        if self.phase is not None:
            self.durations[self.phase] += now - self._since
        self.phase, self._since = phase, now


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | None = None
    insecure_skip_verify: bool = False

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (monotonic); raises TimeoutError when none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("probe timeout reached")
    return left


def classify(exc: BaseException, phase: str | None) -> ProbeError:
    """Map an exception raised during ``phase`` to the probe's error code."""
    if isinstance(exc, ProbeError):
        return exc
    where = f" during {phase}" if phase else ""
    if isinstance(exc, TimeoutError):
        return ProbeError("timeout", f"timed out{where}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProbeError("tls", f"TLS certificate not trusted: {getattr(exc, 'verify_message', None) or exc}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        # After the handshake an SSL error is a connection dropped mid-stream, not a certificate problem.
        return ProbeError("tls" if phase in ("tls", None) else "connection", f"TLS error{where}: {exc}")
    if isinstance(exc, socket.gaierror):
        return ProbeError("connection", f"DNS lookup failed: {exc.strerror or exc}")
    if isinstance(exc, http.client.IncompleteRead):
        return ProbeError("connection", f"connection closed before the whole body arrived{where}")
    if isinstance(exc, ConnectionError | OSError):
        return ProbeError("connection", f"connection failed{where}: {getattr(exc, 'strerror', None) or exc}")
    if isinstance(exc, http.client.HTTPException):
        return ProbeError("invalid_response", f"invalid HTTP response{where}: {type(exc).__name__}")
    return ProbeError("connection", f"{type(exc).__name__}{where}: {exc}")


def resolve(host: str, port: int, deadline: float) -> list[tuple]:
    """getaddrinfo with a deadline. The libc resolver cannot be interrupted, so it runs on a helper thread that is
    abandoned (and ends on the resolver's own timeout) if it outlives the probe."""
    try:
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError:
        pass
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["ok"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["err"] = exc

    thread = threading.Thread(target=work, name=f"probe-dns-{host}", daemon=True)
    thread.start()
    thread.join(remaining(deadline))
    if thread.is_alive():
        raise TimeoutError("DNS lookup timed out")
    if "err" in box:
        raise box["err"]  # type: ignore[misc]
    return box["ok"]  # type: ignore[return-value]


def _connect(infos: list[tuple], deadline: float) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining(deadline))
            sock.connect(addr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


def proxy_for(scheme: str, host: str) -> SplitResult | None:
    """The proxy from the environment (HTTPS_PROXY / HTTP_PROXY, honouring NO_PROXY), as requests does."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or requests.utils.should_bypass_proxies(f"{scheme}://{host}", no_proxy=None):
        return None
    url = proxies.get(scheme)
    if not url:
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ProbeError("connection", f"unsupported proxy for {scheme} (only http:// proxies are supported)")
    return parts


def _proxy_auth(proxy: SplitResult) -> dict[str, str]:
    if proxy.username is None:
        return {}
    raw = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(raw).decode()}


def _tunnel(sock: socket.socket, host: str, port: int, proxy: SplitResult, deadline: float) -> None:
    """Open an HTTP CONNECT tunnel to host:port through the proxy on ``sock``."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{k}: {v}" for k, v in _proxy_auth(proxy).items()]
    sock.settimeout(remaining(deadline))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        sock.settimeout(remaining(deadline))
        chunk = sock.recv(4096)
        if not chunk or len(answer) > 65536:
            raise ProbeError("connection", "proxy closed the connection during CONNECT")
        answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise ProbeError("connection", f"proxy refused CONNECT: {status_line[:80]}")


def der_not_after(der: bytes) -> float:
    """The notAfter time (Unix seconds) of a DER X.509 certificate.

    Needed when verification is off (``tls_insecure_skip_verify``): ``getpeercert()`` then returns no fields and
    the stdlib has no public certificate parser, so the ``cryptography`` package reads it.
    """
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


def cert_expiry(sock: ssl.SSLSocket) -> float | None:
    cert = sock.getpeercert()
    if cert and cert.get("notAfter"):
        return float(ssl.cert_time_to_seconds(str(cert["notAfter"])))
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return der_not_after(der)
    except ValueError:  # not a certificate cryptography can parse
        return None


class Exchange:
    """An HTTP response being read under the probe's deadline. Close it when done."""

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        sock: socket.socket,
        deadline: float,
        cert_not_after: float | None,
    ) -> None:
        self._conn = conn
        self._resp = resp
        self._sock = sock
        self.deadline = deadline
        self.status = resp.status
        self.headers: Message = resp.headers
        self.cert_not_after = cert_not_after

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _arm(self) -> None:
        self._sock.settimeout(remaining(self.deadline))

    def read_body(self, limit: int = MAX_BODY) -> bytes:
        out = bytearray()
        while True:
            self._arm()
            chunk = self._resp.read1(65536)
            if not chunk:
                return bytes(out)
            out += chunk
            if len(out) > limit:
                raise ProbeError("invalid_response", f"response body larger than {limit} bytes")

    def lines(self, limit: int = MAX_STREAM) -> Iterator[bytes]:
        """The body line by line as it arrives (for server-sent events)."""
        total = 0
        while True:
            self._arm()
            line = self._resp.readline(MAX_LINE)
            if not line:
                return
            total += len(line)
            if total > limit or (len(line) >= MAX_LINE and not line.endswith(b"\n")):
                raise ProbeError("invalid_response", "stream larger than the probe accepts")
            yield line

    def close(self) -> None:
        self._conn.close()


def open_exchange(
    url: str,
    *,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    deadline: float,
    tls: ssl.SSLContext | None,
    clock: PhaseClock | None = None,
) -> Exchange:
    """Connect, send the request and read the status line and headers. The phases go to ``clock`` if given."""
    clock = clock or PhaseClock()
    parts = urlsplit(url)
    scheme = parts.scheme
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    proxy = proxy_for(scheme, host)
    conn_host, conn_port = (proxy.hostname or "", proxy.port or 80) if proxy else (host, port)

    clock.enter("dns")
    infos = resolve(conn_host, conn_port, deadline)
    clock.enter("connect")
    sock = _connect(infos, deadline)
    try:
        if proxy is not None and scheme == "https":
            _tunnel(sock, host, port, proxy, deadline)
        not_after = None
        if scheme == "https":
            clock.enter("tls")
            sock.settimeout(remaining(deadline))
            sock = (tls or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
            not_after = cert_expiry(sock)
        clock.enter("first_byte")
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        request_headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "User-Agent": USER_AGENT,
            "Connection": "close",
            **headers,
        }
        if proxy is not None and scheme == "http":
            target = f"http://{request_headers['Host']}{target}"  # absolute form through an HTTP proxy
            request_headers.update(_proxy_auth(proxy))
        conn = http.client.HTTPConnection(host, port)
        conn.sock = sock
        sock.settimeout(remaining(deadline))
        conn.request(method, target, body=body, headers=request_headers)
        sock.settimeout(remaining(deadline))
        resp = conn.getresponse()
        clock.enter("transfer")
        return Exchange(conn, resp, sock, deadline, not_after)
    except BaseException:
        sock.close()
        raise
