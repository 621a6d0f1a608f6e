"""End to end (a): with the native stack running on the simulator's normal traffic, every query of every dashboard
panel and every recording rule returns data from the real Prometheus: no panel is left empty.

The stack runs the generated bundle (short intervals), the demo config with the simulator's traffic generator
posting to /events, and one extra probe of an HTTPS endpoint with a throw-away certificate, because the simulator
serves plain HTTP and the certificate-expiry panels need a TLS endpoint. The only queries allowed to stay empty are
those that look further back than the stack has existed (``offset`` beyond its age, e.g. the 7-day spend baseline):
no Prometheus started a minute ago can answer them, and they are listed in the output.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from e2e_support import WINDOW, exporter_config, running_stack, self_signed_https, short_bundle, wait_for

from exporter.bundle.dashboards import panel_queries, substitute
from exporter.durations import parse_duration

pytestmark = pytest.mark.e2e

#: Grafana's $__rate_interval for a 1 s scrape interval is 4 s; use a little more so every window holds several
#: samples even when the machine is busy.
RATE_INTERVAL = "10s"
_OFFSET = re.compile(r"\boffset\s+((?:\d+(?:ms|s|m|h|d|w|y))+)")


def _needs_history(expr: str) -> float:
    """How far back (seconds) a query must see beyond its own ranges: its largest ``offset``."""
    return max((parse_duration(m) for m in _OFFSET.findall(expr)), default=0.0)


def test_every_panel_and_recording_rule_returns_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    https_url, ca_file, stop_https = self_signed_https(tmp_path)
    tls_probe = {"name": "tls-probe", "type": "http", "provider": "openai", "base_url": https_url,
                 "path": "/v1/models", "interval": "3s", "timeout": "3s", "tls_ca_file": str(ca_file)}
    try:
        with running_stack(tmp_path, exporter=exporter_config(extra_probes=[tls_probe]), bundle=short_bundle,
                           traffic=True) as st:
            started = time.monotonic()
            generated = st.workdir / "generated"
            files = {p.relative_to(generated).as_posix(): p.read_text()
                     for p in (generated / "grafana").rglob("*") if p.is_file()}
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
                return {what: expr for what, (expr, source) in checks.items()
                        if _needs_history(source) <= age and not st.prom.query(expr)}

            # Data arrives over the first seconds (first polls, first rate() windows of WINDOW): poll until every
            # query answers, then report whatever stays empty.
            remaining: dict[str, str] = {}

            def all_answer() -> bool:
                remaining.clear()
                remaining.update(empty())
                return not remaining

            try:
                wait_for(all_answer, 75, "every panel and recording rule returns data")
            except AssertionError:
                pytest.fail("queries without data after 75 s:\n" + "\n".join(f"- {w}" for w in sorted(remaining)))
            skipped = [what for what, (_, source) in checks.items() if _needs_history(source) > 0]
            with capsys.disabled():
                print(f"\n[e2e] {len(queries)} panel queries and {len(records)} recording rules all returned data "
                      f"(rate window {RATE_INTERVAL}, alert windows {WINDOW}); "
                      f"{len(skipped)} need more history than a fresh Prometheus has:")
                for what in skipped:
                    print(f"[e2e]   {what.splitlines()[0][:160]}")
    finally:
        stop_https()
