"""Probes of https endpoints on loopback: the simulator served over TLS with a self-signed certificate made by the
``openssl`` CLI. Checks the certificate-expiry gauge (against what openssl says), the tls phase, trust via
``tls_ca_file`` or ``tls_insecure_skip_verify``, ``code="tls"`` for an untrusted certificate, and proxies from
HTTPS_PROXY/HTTP_PROXY (an HTTP CONNECT tunnel for https)."""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import exporter

from exporter.httpserver import Server
from exporter.probes.transport import der_not_after
from exporter.simulator import Simulator

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """A self-signed certificate for 127.0.0.1, its key, and its notAfter as openssl reports it."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
            "-days",
            "42",
            "-subj",
            "/CN=llmpulse-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["openssl", "x509", "-enddate", "-noout", "-in", str(d / "cert.pem")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    not_after = datetime.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC).timestamp()
    return d / "cert.pem", d / "key.pem", not_after


@pytest.fixture
def tls_simulator(cert: tuple[Path, Path, float]) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    server = Server(Simulator(seed=42).router, "127.0.0.1", 0)
    server.httpd.socket = ctx.wrap_socket(server.httpd.socket, server_side=True)
    server.start()
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        server.stop()


class ConnectProxy:
    """A minimal forward proxy: HTTP CONNECT tunnels and absolute-form requests, piped byte for byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.auth: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return conn.close()
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        self.requests.append(lines[0])
        self.auth += [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("proxy-auth")]
        method, target, _ = lines[0].split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            host_port = target.split("/")[2]
            host, port = host_port.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            upstream.sendall(head)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def test_der_parser_reads_the_expiry_openssl_reports(cert: tuple[Path, Path, float]) -> None:
    der = ssl.PEM_cert_to_DER_cert(cert[0].read_text())
    assert der_not_after(der) == cert[2]


def test_https_probes_report_certificate_expiry_and_tls_phase(
    tls_simulator: str, cert: tuple[Path, Path, float], tmp_path: Path
) -> None:
    common = {"base_url": tls_simulator, "api_key_env": "LLMPULSE_DEMO_KEY", "interval": "20s", "timeout": "3s"}
    probes: list[dict[str, Any]] = [
        {
            "name": "trusted",
            "type": "openai_compatible",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "stream": True,
            "tls_ca_file": str(cert[0]),
            **common,
        },
        {"name": "insecure", "type": "http", "tls_insecure_skip_verify": True, **common},
        {"name": "untrusted", "type": "http", **common},
    ]
    with exporter({"probes": probes}, tmp_path) as exp:
        # The failed call's error-code series is new: it reads 0 for one scrape (zero-first), then 1.
        m = exp.wait_for(
            lambda m: (
                m.total("llmpulse_api_calls_total") == 3
                and m.total("llmpulse_error_code_counter_total", source="untrusted") == 1
            ),
            timeout=20,
            what="one call each, the failed one's error code exported",
        )
    expiry = "llmpulse_tls_cert_expiry_timestamp_seconds"
    assert m.value("llmpulse_probe_success", source="trusted") == 1
    assert m.value(expiry, source="trusted") == cert[2]  # from the verified certificate
    assert m.value(expiry, source="insecure") == cert[2]  # from the DER bytes (verification off)
    assert m.value("llmpulse_probe_success", source="insecure") == 1
    tls_phase = m.value("llmpulse_probe_phase_duration_seconds", source="trusted", phase="tls")
    print(f"tls phase {tls_phase * 1000:.2f} ms, certificate expires {datetime.fromtimestamp(cert[2], UTC)}")
    assert tls_phase > 0
    # an untrusted certificate is a tls error, not a slow model; no expiry is claimed for it
    assert m.value("llmpulse_error_code_counter_total", source="untrusted", code="tls", error_type="") == 1
    assert m.find(expiry, source="untrusted") == []
    assert m.value("llmpulse_probe_phase_duration_seconds", source="untrusted", phase="first_byte") == 0


def test_probes_use_the_proxy_from_the_environment(
    tls_simulator: str, simulator: Any, cert: tuple[Path, Path, float], tmp_path: Path
) -> None:
    proxy = ConnectProxy()
    common = {"api_key_env": "LLMPULSE_DEMO_KEY", "interval": "20s", "timeout": "3s"}
    probes: list[dict[str, Any]] = [
        {
            "name": "via-tunnel",
            "type": "anthropic",
            "model": "claude-3-5-haiku-latest",
            "stream": True,
            "base_url": tls_simulator,
            "tls_ca_file": str(cert[0]),
            **common,
        },
        {"name": "via-proxy", "type": "http", "base_url": simulator.url, **common},
    ]
    proxy_url = f"http://probe:s3cret-pw@127.0.0.1:{proxy.port}"
    env = {"HTTPS_PROXY": proxy_url, "HTTP_PROXY": proxy_url, "NO_PROXY": "", "no_proxy": ""}
    try:
        with exporter({"probes": probes}, tmp_path, env=env) as exp:
            m = exp.wait_for(lambda m: m.total("llmpulse_api_calls_total") == 2, timeout=20, what="one call each")
            log = exp.log()
    finally:
        proxy.close()
    print("proxy saw:", proxy.requests)
    assert m.value("llmpulse_probe_success", source="via-tunnel") == 1
    assert m.value("llmpulse_probe_success", source="via-proxy") == 1
    assert f"CONNECT {tls_simulator.removeprefix('https://')} HTTP/1.1" in proxy.requests
    assert f"GET {simulator.url}/v1/models HTTP/1.1" in proxy.requests
    assert proxy.auth == ["Basic " + base64.b64encode(b"probe:s3cret-pw").decode()] * 2
    assert m.value("llmpulse_tls_cert_expiry_timestamp_seconds", source="via-tunnel") == cert[2]
    assert "s3cret-pw" not in log and "s3cret-pw" not in m.text
