"""Upstream benchmark: what a hostile provider answer costs the poller, before and after the call limits.

A loopback server answers with (a) a 200 MB body as fast as the client reads, with its Content-Length, (b) the
same without one (chunked: the size shows only while reading) and (c) a body that drips 10 bytes every 0.2 s for a
minute. Each is read in a fresh process (so peak RSS is that read's alone) two ways:

- ``requests``: what the pollers did before (``session.get(url, timeout=T).json()``: the body read whole, the
  timeout applied to each socket read only),
- ``ApiClient``: the pollers' client now (one deadline per call, ``max_response_bytes`` 32 MiB by default).

Printed per case and way: outcome, seconds until the call returned, and the process's peak RSS in MB (the baseline
is the same process before any call). Run: ``python benchmarks/upstream_bench.py [--size-mb 200] [--timeout 2]``.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(size_mb: int) -> ThreadingHTTPServer:
    chunk = b"[" + b"0," * 32767 + b"0]"  # 64 KiB of valid-looking JSON per chunk

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            try:
                if self.path.startswith("/chunked"):  # no Content-Length: the size shows only while reading
                    n = size_mb * 1024 * 1024 // len(chunk)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"1\r\n[\r\n")
                    for i in range(n):
                        part = (b"," if i else b"") + chunk
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"1\r\n]\r\n0\r\n\r\n")
                elif self.path.startswith("/big"):
                    n = size_mb * 1024 * 1024 // len(chunk)
                    body_len = 2 + n * len(chunk) + (n - 1)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(body_len))
                    self.end_headers()
                    self.wfile.write(b"[")
                    for i in range(n):
                        self.wfile.write((b"," if i else b"") + chunk)
                    self.wfile.write(b"]")
                else:  # /drip
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"1\r\n[\r\n")
                    end = time.monotonic() + 60
                    while time.monotonic() < end:
                        self.wfile.write(b"a\r\n0,0,0,0,0,\r\n")
                        self.wfile.flush()
                        time.sleep(0.2)
                    self.wfile.write(b"1\r\n0\r\n2\r\n]\n\r\n0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def child(way: str, url: str, timeout: float) -> None:
    """One read in this process; prints a JSON line."""
    import requests

    from exporter.http import ApiClient, ApiError

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    try:
        if way == "requests":
            data = requests.get(url, timeout=timeout).json()
            outcome = f"ok ({len(data)} items)"
        else:
            data = ApiClient(url, timeout=timeout, retries=0).get_json("")
            outcome = f"ok ({len(data)} items)"
    except ApiError as exc:
        outcome = f"{exc.reason}"
    except Exception as exc:  # the baseline may fail in its own way
        outcome = type(exc).__name__
    took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "seconds": round(took, 2), "base_mb": round(base), "peak_mb": round(peak)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--child", nargs=3, metavar=("WAY", "URL", "TIMEOUT"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    httpd = serve(args.size_mb)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    print(f"{'case':<28} {'way':<10} {'outcome':<22} {'seconds':>8} {'base MB':>8} {'peak MB':>8}")
    cases = (
        (f"{args.size_mb} MB body", "/big"),
        (f"{args.size_mb} MB chunked body", "/chunked"),
        (f"drip, timeout {args.timeout:g}s", "/drip"),
    )
    for case, path in cases:
        for way in ("requests", "ApiClient"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", way, f"{url}{path}", str(args.timeout)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            try:
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                print(f"{case:<28} {way:<10} failed: {proc.stderr.strip()[-200:]}")
                continue
            print(f"{case:<28} {way:<10} {r['outcome']:<22} {r['seconds']:>8} {r['base_mb']:>8} {r['peak_mb']:>8}")
    httpd.shutdown()


if __name__ == "__main__":
    main()
