"""Two exporter replicas behind one scrape job, proven against one replica: the HA mode of docs/kubernetes.md.

Three exporter processes poll the same simulator with one config: ``ref`` alone is scraped by Prometheus ``one``
(the one-replica deployment), ``a`` and ``b`` by Prometheus ``two`` (the two-replica deployment), both with the
generated rules. Every dashboard panel and recording rule built on the families every replica reports identically
(cost, usage, balance, status: stateless recomputes of the providers' answers) must show the same value in both,
at the same instant; then ``b`` is killed and every one of them must still show the same value. Probe and /events
panels are per-replica work (summed by the rules) and are not compared: two replicas probe twice as often.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_support import Prom, wait_for
from replicas_support import deployment, same, vector

from exporter import contract
from exporter.bundle.dashboards import panel_queries, substitute
from exporter.bundle.promql import metric_names
from exporter.bundle.rules import recording_groups
from exporter.bundle.settings import BundleConfig

pytestmark = pytest.mark.e2e

#: Contract groups whose families every replica recomputes identically from the providers' answers.
IDENTICAL_GROUPS = frozenset({"usage", "cost", "balance", "status"})
_FAMILY_OF = {series: fam for fam in contract.FAMILIES.values() for series in fam.series_names}
#: Relative tolerance: the same numbers, summed in another order.
REL = 1e-9
#: Queries that must show data (the headline month-to-date figures), so equal emptiness cannot pass for success.
MUST_SHOW = (
    "Cost month to date",
    "Reported cost, month to date",
    "Requests, month to date",
    "Tokens, month to date",
    "Balance in the provider's currency",
    "recording rule provider:llmpulse_cost_usd:month_to_date",
)


def replica_identical_queries() -> dict[str, str]:
    """What to compare: every panel query and recording rule that reads only replica-identical families."""
    out: dict[str, str] = {}

    def identical(expr: str) -> bool:
        names = {n for n in metric_names(expr) if n in _FAMILY_OF}
        return bool(names) and all(_FAMILY_OF[n].group in IDENTICAL_GROUPS for n in names)

    for q in panel_queries():
        if identical(q.expr):
            expr = substitute(q.expr, rate_interval="10s", interval="15s", range_="1h")
            out[f"panel {q.dashboard} / {q.panel}: {q.expr.splitlines()[0][:80]}"] = expr
    for group in recording_groups(BundleConfig()):
        for rule in group["rules"]:
            if identical(rule["expr"]):
                out[f"recording rule {rule['record']}"] = rule["record"]
    return out


def _differences(one: Prom, two: Prom, queries: dict[str, str]) -> dict[str, str]:
    at = time.time() - 1.0
    diffs = {}
    for what, expr in queries.items():
        a, b = vector(one, expr, at), vector(two, expr, at)
        if not same(a, b, REL) or (not a and any(m in what for m in MUST_SHOW)):
            diffs[what] = f"one replica: {dict(list(a.items())[:3])}\n    two replicas: {dict(list(b.items())[:3])}"
    return diffs


def test_two_replicas_show_what_one_shows_and_losing_one_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = replica_identical_queries()
    kinds = " ".join(queries)
    assert all(m in kinds for m in MUST_SHOW)
    with deployment(tmp_path, replicas=["ref", "a", "b"], prometheus={"one": ["ref"], "two": ["a", "b"]}) as d:
        one, two = Prom(d.url("one")), Prom(d.url("two"))
        wait_for(lambda: len(two.query("up == 1")) == 2, 60, "both replicas scraped")
        diffs: dict[str, str] = {}

        def equal() -> bool:
            diffs.clear()
            diffs.update(_differences(one, two, queries))
            return not diffs

        def report(when: str) -> str:
            return f"{len(diffs)} of {len(queries)} queries differ {when}:\n" + "\n".join(
                f"- {w}\n    {d}" for w, d in sorted(diffs.items())
            )

        try:
            wait_for(equal, 90, "two replicas show what one shows")
        except AssertionError:
            pytest.fail(report("between one and two replicas"))
        # Lose a replica: the Service's other pod goes on; every panel stays the same.
        d.processes["b"].stop(grace=0)
        wait_for(lambda: len(two.query("up == 0")) == 1, 30, "the lost replica is seen down")
        started = time.monotonic()
        try:
            wait_for(equal, 60, "one replica lost, nothing changed")
        except AssertionError:
            pytest.fail(report("after a replica was killed"))
        with capsys.disabled():
            print(
                f"\n[e2e] {len(queries)} cost/usage/balance/status panel queries and recording rules equal with one "
                f"and two replicas, and {time.monotonic() - started:.0f} s after one of the two was killed"
            )
