"""Long-term storage over remote_write: Prometheus (the generated rules, two exporter replicas) remote-writes to a
real VictoriaMetrics (Debian's ``victoria-metrics``), and what a dashboard reads from VictoriaMetrics is what it
reads from Prometheus.

- The month-to-date cost, usage and balance panels and the cost recording rules are equal in both, at one instant.
- Every query of every dashboard panel runs on VictoriaMetrics (MetricsQL accepts it), and every query that shows
  data on Prometheus shows data on VictoriaMetrics too.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_support import Prom, wait_for
from replicas_support import deployment, same, vector

from exporter.bundle.dashboards import panel_queries, substitute

pytestmark = pytest.mark.e2e

#: The month-to-date figures people read off the dashboards (panel titles), and the recording rules alerts use.
MONTH_TO_DATE_PANELS = (
    "Reported cost, month to date",
    "Cost by provider, month to date",
    "Cost by project, month to date",
    "Requests, month to date",
    "Tokens, month to date",
    "Tokens by type, month to date",
    "Balance in the provider's currency",
    "Balances and runway",
)
MONTH_TO_DATE_RULES = (
    ":llmpulse_cost_usd:month_to_date",
    "provider:llmpulse_cost_usd:month_to_date",
    "provider_source:llmpulse_cost_usd:month_to_date",
)


def _has_data(values: dict) -> bool:
    return any(v == v for v in values.values())  # at least one number that is not NaN


def test_victoriametrics_answers_what_prometheus_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = {
        f"{q.dashboard} / {q.panel}: {q.expr.splitlines()[0][:70]}": substitute(
            q.expr, rate_interval="10s", interval="15s", range_="1h"
        )
        for q in panel_queries()
    }
    month_to_date = {w: e for w, e in queries.items() if any(f"/ {p}:" in w for p in MONTH_TO_DATE_PANELS)}
    month_to_date |= {f"recording rule {r}": r for r in MONTH_TO_DATE_RULES}
    assert len(month_to_date) >= len(MONTH_TO_DATE_PANELS) + len(MONTH_TO_DATE_RULES)

    with deployment(tmp_path, replicas=["a", "b"], prometheus={"prom": ["a", "b"]}, remote_write=True) as d:
        prom, vm = Prom(d.url("prom")), Prom(d.url("vm"))
        # Samples reach VictoriaMetrics in remote_write batches: wait until the recorded month-to-date is there.
        wait_for(lambda: vector(vm, MONTH_TO_DATE_RULES[1], time.time()), 90, "recorded cost in VictoriaMetrics")
        diffs: dict[str, str] = {}

        def equal() -> bool:
            at = time.time() - 5.0  # behind the remote_write batch deadline, so both hold this instant
            diffs.clear()
            for what, expr in month_to_date.items():
                p, v = vector(prom, expr, at), vector(vm, expr, at)
                if not p or not same(p, v, 1e-9):
                    diffs[what] = (
                        f"Prometheus {dict(list(p.items())[:3])}\n    VictoriaMetrics {dict(list(v.items())[:3])}"
                    )
            return not diffs

        try:
            wait_for(equal, 60, "month-to-date figures equal in Prometheus and VictoriaMetrics")
        except AssertionError:
            pytest.fail("differ:\n" + "\n".join(f"- {w}\n    {d}" for w, d in sorted(diffs.items())))

        # Every panel query on VictoriaMetrics: accepted, and with data wherever Prometheus has data.
        at = time.time() - 5.0
        missing = []
        shown = 0
        for what, expr in queries.items():
            on_vm = vector(vm, expr, at)  # fails the test if VictoriaMetrics refuses the query
            if _has_data(vector(prom, expr, at)):
                shown += 1
                if not _has_data(on_vm):
                    missing.append(what)
        assert not missing, "no data on VictoriaMetrics where Prometheus has data:\n" + "\n".join(missing)
        assert shown > len(queries) // 2, f"only {shown} of {len(queries)} panel queries show data on Prometheus"
        with capsys.disabled():
            print(
                f"\n[e2e] {len(month_to_date)} month-to-date queries equal on Prometheus and VictoriaMetrics; "
                f"{len(queries)} panel queries accepted by VictoriaMetrics, {shown} with data on both"
            )
