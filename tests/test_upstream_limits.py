"""A hostile or broken upstream, against the real HTTP client on loopback: a redirect to another origin never gets
the credential, a body that drips ends at the call's deadline, an oversize body is refused without being read
whole, and a long Retry-After on a 429 is counted as ``rate_limited``.

The upstreams are tiny stdlib servers written for these cases (raw control over headers and timing), so the
tests do not depend on how the exporter's own server streams.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter

from exporter.http import ApiClient, ApiError, origin

KEY = "sk-ant-admin01-secretvalue-0123456789"

Script = Callable[[BaseHTTPRequestHandler], None]


class Upstream:
    """A loopback HTTP server running one script per path; remembers the headers of every request."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.sent_bytes = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                upstream.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                script = upstream.scripts.get(self.path.split("?")[0])
                if script is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    script(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_POST = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def upstreams(n: int) -> Iterator[list[Upstream]]:
    running = [Upstream() for _ in range(n)]
    try:
        yield running
    finally:
        for up in running:
            up.stop()


def json_ok(h: BaseHTTPRequestHandler) -> None:
    body = b'{"ok": true}'
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def redirect_to(location: str, status: int = 302) -> Script:
    def script(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return script


def client(url: str, **kw: object) -> ApiClient:
    options: dict[str, object] = {
        "headers": {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        "timeout": 5.0,
        "retries": 0,
        "secrets": (KEY,),
    }
    options.update(kw)
    return ApiClient(url, **options)  # type: ignore[arg-type]


# --- credentials stay with their host -------------------------------------------------------------------------------
def test_origin_compares_scheme_host_and_port() -> None:
    assert origin("https://API.example.com/v1") == origin("https://api.example.com:443/x")
    assert origin("http://api.example.com/v1") != origin("https://api.example.com/v1")
    assert origin("http://127.0.0.1:8000/") != origin("http://127.0.0.1:8001/")
    assert origin("http://a.example.com/") != origin("http://b.example.com/")


def test_redirect_to_another_port_is_refused_and_the_key_never_leaves() -> None:
    with upstreams(2) as (api, elsewhere):
        elsewhere.scripts["/v1/usage"] = json_ok
        api.scripts["/v1/usage"] = redirect_to(f"{elsewhere.url}/v1/usage")
        codes: list[str] = []
        with pytest.raises(ApiError) as info:
            client(api.url, on_response=codes.append).get_json("/v1/usage")
        assert info.value.reason == "invalid_response"
        message = str(info.value)
        assert "redirect to another origin" in message and elsewhere.url in message
        assert KEY not in message
        assert elsewhere.seen == [], "the redirect target must not be called at all"
        assert codes == ["302"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_name_is_refused(status: int) -> None:
    """127.0.0.1 and localhost are different origins even when they reach the same server."""
    with upstreams(1) as (api,):
        port = api.httpd.server_address[1]
        api.scripts["/a"] = redirect_to(f"http://localhost:{port}/b", status)
        api.scripts["/b"] = json_ok
        with pytest.raises(ApiError):
            client(api.url).get_json("/a")
        assert [path for path, _ in api.seen] == ["/a"]


def test_redirect_within_the_origin_is_followed_with_the_key() -> None:
    with upstreams(1) as (api,):
        api.scripts["/old"] = redirect_to("/new?page=2", 308)
        api.scripts["/new"] = json_ok
        assert client(api.url).get_json("/old") == {"ok": True}
        assert [path for path, _ in api.seen] == ["/old", "/new?page=2"]
        assert api.seen[1][1]["x-api-key"] == KEY


def test_redirect_loop_ends() -> None:
    with upstreams(1) as (api,):
        api.scripts["/loop"] = redirect_to("/loop")
        with pytest.raises(ApiError) as info:
            client(api.url).get_json("/loop")
        assert info.value.reason == "invalid_response" and "redirects" in str(info.value)
        assert len(api.seen) == 6


def test_a_call_without_credentials_may_follow_a_redirect_elsewhere() -> None:
    """Status pages need no key: a page that moved to another host is still read."""
    with upstreams(2) as (page, moved):
        page.scripts["/api/v2/summary.json"] = redirect_to(f"{moved.url}/api/v2/summary.json", 301)
        moved.scripts["/api/v2/summary.json"] = json_ok
        assert ApiClient(page.url, retries=0).get_json("/api/v2/summary.json") == {"ok": True}


# --- a deadline and a size per call -----------------------------------------------------------------------------------
def drip(total_seconds: float, step: float = 0.1) -> Script:
    """A 200 whose JSON body arrives one byte per ``step``: every read succeeds, the whole takes forever."""

    def script(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.write(b'{"data": "')
        h.wfile.flush()
        end = time.monotonic() + total_seconds
        while time.monotonic() < end:
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(step)

    return script


def test_a_dripping_body_fails_at_the_call_deadline() -> None:
    with upstreams(1) as (api,):
        api.scripts["/slow"] = drip(total_seconds=20)
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            client(api.url, timeout=1.0).get_json("/slow")
        took = time.monotonic() - started
        assert info.value.reason == "timeout"
        # every socket read returned within 0.1 s, so only a deadline over the whole call can stop it
        assert took < 3.0, f"the call took {took:.1f}s with timeout 1s"


def test_a_dripping_body_is_retried_and_counted_as_timeout() -> None:
    with upstreams(1) as (api,):
        api.scripts["/slow"] = drip(total_seconds=20)
        codes: list[str] = []
        with pytest.raises(ApiError) as info:
            client(api.url, timeout=0.5, retries=1, on_response=codes.append, sleep=lambda s: None).get_json("/slow")
        assert info.value.reason == "timeout"
        assert codes == ["timeout", "timeout"]


def endless(chunk: bytes = b"0" * 65536) -> Script:
    """A chunked 200 that never ends (as fast as the client reads); counts what it managed to send."""

    def script(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.write(b"1\r\n[\r\n")
        for _ in range(20_000):  # 1.3 GB at most, far beyond any cap under test
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")

    return script


def test_an_endless_body_is_cut_at_the_size_cap() -> None:
    with upstreams(1) as (api,):
        api.scripts["/big"] = endless()
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            client(api.url, max_response_bytes=2 * 1024 * 1024, timeout=30.0).get_json("/big")
        assert info.value.reason == "invalid_response"
        assert "max_response_bytes" in str(info.value)
        assert time.monotonic() - started < 10, "the body must not be read to its end"


def test_a_declared_oversize_body_is_refused_before_reading() -> None:
    def huge(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(300 * 1024 * 1024))
        h.end_headers()
        h.wfile.write(b"[")
        h.wfile.flush()
        time.sleep(5)

    with upstreams(1) as (api,):
        api.scripts["/huge"] = huge
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            client(api.url, max_response_bytes=1024 * 1024).get_json("/huge")
        assert info.value.reason == "invalid_response" and "314572800 bytes" in str(info.value)
        assert time.monotonic() - started < 2


def test_a_body_within_the_cap_is_read_and_error_bodies_are_shortened() -> None:
    payload = b'{"data": "' + b"y" * 500_000 + b'"}'

    def big_ok(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def big_error(h: BaseHTTPRequestHandler) -> None:
        body = b'{"error": {"message": "' + b"z" * 2_000_000 + b'"}}'
        h.send_response(400)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with upstreams(1) as (api,):
        api.scripts["/ok"] = big_ok
        api.scripts["/err"] = big_error
        assert len(client(api.url, max_response_bytes=600_000).get_json("/ok")["data"]) == 500_000
        with pytest.raises(ApiError) as info:
            client(api.url, max_response_bytes=600_000).get_json("/err")
        assert info.value.reason == "http_4xx" and len(str(info.value)) < 1000


# --- Retry-After ----------------------------------------------------------------------------------------------------
def test_429_retried_until_the_poll_deadline_stays_rate_limited() -> None:
    def limited(h: BaseHTTPRequestHandler) -> None:
        body = b'{"error": {"message": "rate limit"}}'
        h.send_response(429)
        h.send_header("Retry-After", "30")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with upstreams(1) as (api,):
        api.scripts["/r"] = limited
        c = client(api.url, retries=3, max_retry_after=60.0, deadline=time.monotonic() + 5.0)
        with pytest.raises(ApiError) as info:
            c.get_json("/r")
        assert info.value.reason == "rate_limited"
        assert len(api.seen) == 1, "30 s does not fit in a 5 s poll: no pointless wait"


# --- through the real exporter --------------------------------------------------------------------------------------
def test_exporter_reports_a_cross_origin_redirect_as_a_poll_error_and_keeps_the_key(tmp_path: Path) -> None:
    """An Anthropic source whose API answers with a redirect to another port: the x-api-key header (which
    requests would forward, it only drops Authorization) never reaches the other server; the source is down
    with reason invalid_response and the log says why."""
    with upstreams(2) as (api, elsewhere):
        elsewhere.scripts["/v1/organizations/usage_report/messages"] = json_ok
        api.scripts["/v1/organizations/usage_report/messages"] = redirect_to(
            f"{elsewhere.url}/v1/organizations/usage_report/messages", 307
        )
        config = {
            "sources": [
                {"name": "claude", "type": "anthropic", "base_url": api.url, "api_key_env": "T_ANTHROPIC_ADMIN_KEY"}
            ]
        }
        with exporter(config, tmp_path, env={"T_ANTHROPIC_ADMIN_KEY": KEY}) as proc:
            proc.wait_for(
                lambda m: m.get("llmpulse_source_poll_errors_total", source="claude", reason="invalid_response") >= 1,
                what="the redirect counted as a poll error",
            )
            assert proc.metrics().get("llmpulse_source_up", source="claude") == 0
            log = proc.log()
            assert "redirect to another origin" in log and KEY not in log
            landing = requests.get(proc.url, timeout=5).text
            assert "another origin" in landing and KEY not in landing
        assert api.seen and all(h.get("x-api-key") == KEY for _, h in api.seen)
        assert elsewhere.seen == []


def test_probe_does_not_follow_a_redirect_with_its_key() -> None:
    """Probes never follow redirects: a 302 is the probe's answer (code 302), the key stays with its host."""
    from exporter.config import HttpProbeConfig
    from exporter.probes.http import HttpProbe

    with upstreams(2) as (api, elsewhere):
        elsewhere.scripts["/v1/models"] = json_ok
        api.scripts["/v1/models"] = redirect_to(f"{elsewhere.url}/v1/models")
        os.environ["T_PROBE_KEY"] = KEY
        try:
            config = HttpProbeConfig.model_validate(
                {"name": "p", "type": "http", "base_url": api.url, "api_key_env": "T_PROBE_KEY", "auth": "x-api-key"}
            )
        finally:
            del os.environ["T_PROBE_KEY"]
        outcome = HttpProbe(config).run()
        assert not outcome.success and outcome.code == "302"
        assert api.seen[0][1]["x-api-key"] == KEY
        assert elsewhere.seen == []


def test_relay_does_not_follow_a_bot_redirect(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's webhook URL carries its token: a redirect to another host must not receive the message."""
    from exporter.config import parse_config
    from exporter.relay import Relay
    from exporter.samples import LiveMetrics

    with upstreams(2) as (bot, elsewhere):
        token_path = "/cgi-bin/webhook/send"
        elsewhere.scripts[token_path] = json_ok
        bot.scripts[token_path] = redirect_to(f"{elsewhere.url}{token_path}", 307)
        monkeypatch.setenv("T_WECOM_URL", f"{bot.url}{token_path}?key=wecom-key-0123456789")
        monkeypatch.setenv("T_RELAY_TOKEN", "relay-token-0123456789")
        config = parse_config(
            {
                "relay": {
                    "token_env": "T_RELAY_TOKEN",
                    "bots": [{"name": "ops", "type": "wecom", "webhook_url_env": "T_WECOM_URL"}],
                }
            }
        )
        relay = Relay(config, LiveMetrics())
        assert relay.config is not None
        bot_config = relay.config.bots[0]
        answer = relay._send("wecom", bot_config, bot_config.webhook_url, {"msgtype": "text"}, _notification())
        assert answer.status >= 400
        assert len(bot.seen) == 1 and elsewhere.seen == []


def _notification() -> Any:
    from exporter.relay import Notification

    return Notification(
        status="firing", title="t", severity="warning", alerts=(), omitted=0, firing=1, resolved=0, external_url=""
    )
