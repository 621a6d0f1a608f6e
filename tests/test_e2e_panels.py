"""End to end (a): with the native stack running on the simulator's normal traffic, every query of every dashboard
panel and every recording rule returns data from the real Prometheus: no panel is left empty. "Data" means at least
one sample that is a number: a quantile over no observations (NaN) shows nothing in Grafana, so it does not count.

The stack runs the generated bundle (short intervals), the demo config with the simulator's traffic generator
posting to /events, and one extra probe of an HTTPS endpoint with a throw-away certificate, because the simulator
serves plain HTTP and the certificate-expiry panels need a TLS endpoint. The test also posts a finished session to
/events every few seconds, as an app would: the simulated sessions take a minute or more before they end steadily.
The only queries allowed to stay empty are those that look further back than the stack has existed (``offset``
beyond its age, e.g. the 7-day spend baseline): no Prometheus started a minute ago can answer them, and they are
listed in the output.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
from e2e_support import WINDOW, exporter_config, running_stack, self_signed_https, short_bundle, wait_for

from exporter.bundle.dashboards import panel_queries, substitute
from exporter.demo import DEMO_ENV
from exporter.durations import parse_duration

pytestmark = pytest.mark.e2e

#: Grafana's $__rate_interval for a 1 s scrape interval is 4 s; use a little more so every window holds several
#: samples even when the machine is busy.
RATE_INTERVAL = "10s"
_OFFSET = re.compile(r"\boffset\s+((?:\d+(?:ms|s|m|h|d|w|y))+)")


def _needs_history(expr: str) -> float:
    """How far back (seconds) a query must see beyond its own ranges: its largest ``offset``."""
    return max((parse_duration(m) for m in _OFFSET.findall(expr)), default=0.0)


def _has_data(result: list[dict]) -> bool:
    """At least one sample that is a number (a panel of NaN, e.g. a quantile of no observations, shows nothing)."""
    values = [r["value"][1] for r in result if "value" in r]
    return any(v not in ("NaN", "+Inf", "-Inf") for v in values)


def _post_a_finished_session(exporter_url: str, n: int) -> None:
    """A session that started 40 s ago and just ended, posted as an app would. The simulated traffic's own sessions
    last a minute or more (several turns with think time) and only then start ending steadily; the session-length
    panels (rates and increases of the duration histogram) need sessions that end while the test watches."""
    now = time.time()
    common = {"app": "support-bot", "channel": "web", "session_id": f"e2e-session-{n}", "user_id": f"e2e-user-{n}"}
    events = [
        {**common, "event": "session_start", "timestamp": now - 40},
        {**common, "event": "session_end", "timestamp": now},
    ]
    resp = requests.post(
        f"{exporter_url}/events",
        json=events,
        timeout=10,
        headers={"Authorization": f"Bearer {DEMO_ENV['LLMPULSE_DEMO_EVENTS_TOKEN']}"},
    )
    assert resp.status_code == 200, resp.text


def test_every_panel_and_recording_rule_returns_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    https_url, ca_file, stop_https = self_signed_https(tmp_path)
    tls_probe = {
        "name": "tls-probe",
        "type": "http",
        "provider": "openai",
        "base_url": https_url,
        "path": "/v1/models",
        "interval": "3s",
        "timeout": "3s",
        "tls_ca_file": str(ca_file),
    }
    try:
        with running_stack(
            tmp_path, exporter=exporter_config(extra_probes=[tls_probe]), bundle=short_bundle, traffic=True
        ) as st:
            started = time.monotonic()
            generated = st.workdir / "etc"
            files = {
                p.relative_to(generated).as_posix(): p.read_text()
                for p in (generated / "grafana").rglob("*")
                if p.is_file()
            }
            queries = panel_queries(files)
            assert len(queries) > 50, "the dashboards should have many panels"
            records = sorted({r["record"]: r["expr"] for r in st.recording_rules()}.items())
            assert records

            checks: dict[str, tuple[str, str]] = {}
            for q in queries:
                expr = substitute(q.expr, rate_interval=RATE_INTERVAL, interval="15s", range_="1h")
                checks[f"panel {q.dashboard} / {q.panel}: {q.expr}"] = (expr, q.expr)
            for name, expr in records:
                checks[f"recording rule {name}"] = (name, expr)

            def empty() -> dict[str, str]:
                age = time.monotonic() - started
                return {
                    what: expr
                    for what, (expr, source) in checks.items()
                    if _needs_history(source) <= age and not _has_data(st.prom.query(expr))
                }

            # Data arrives over the first seconds (first polls, first rate() windows of WINDOW): poll until every
            # query answers, then report whatever stays empty.
            remaining: dict[str, str] = {}
            posted: list[int] = []

            def all_answer() -> bool:
                _post_a_finished_session(st.url("exporter"), len(posted))
                posted.append(1)
                remaining.clear()
                remaining.update(empty())
                return not remaining

            try:
                wait_for(all_answer, 75, "every panel and recording rule returns data")
            except AssertionError:
                pytest.fail("queries without data after 75 s:\n" + "\n".join(f"- {w}" for w in sorted(remaining)))
            waited = time.monotonic() - started
            skipped = [what for what, (_, source) in checks.items() if _needs_history(source) > 0]
            with capsys.disabled():
                print(
                    f"\n[e2e] {len(queries)} panel queries and {len(records)} recording rules all returned data "
                    f"{waited:.0f} s after the stack was ready (rate window {RATE_INTERVAL}, windows {WINDOW}); "
                    f"{len(skipped)} need more history than a fresh Prometheus has:"
                )
                for what in skipped:
                    print(f"[e2e]   {what.splitlines()[0][:160]}")
    finally:
        stop_https()
