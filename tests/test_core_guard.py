"""Month-to-date counters stay monotonic within a UTC month; downward revisions are counted, not subtracted."""

from __future__ import annotations

from datetime import UTC, datetime

from exporter import contract
from exporter.poller import MonthToDateGuard
from exporter.samples import MetricSet

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _ms(**values: float) -> MetricSet:
    ms = MetricSet()
    for project, value in values.items():
        ms.set(contract.COST_USD, value, project=project, line_item="x")
    ms.set(contract.BALANCE, 5.0, currency="USD", kind="total")  # a gauge: never guarded
    return ms


def test_downward_revision_keeps_the_higher_value_and_is_counted_once() -> None:
    guard = MonthToDateGuard()
    assert guard.apply(_ms(a=10.0), NOV) == {}
    revised = _ms(a=9.0)
    assert guard.apply(revised, NOV) == {"llmpulse_cost_usd_total": 1}
    assert revised.get(contract.COST_USD, project="a", line_item="x") == 10.0
    again = _ms(a=9.0)
    assert guard.apply(again, NOV) == {}  # same revised value: not a new revision
    grown = _ms(a=12.0)
    guard.apply(grown, NOV)
    assert grown.get(contract.COST_USD, project="a", line_item="x") == 12.0


def test_a_vanished_series_is_kept_within_the_month() -> None:
    guard = MonthToDateGuard()
    guard.apply(_ms(a=10.0, b=3.0), NOV)
    later = _ms(a=11.0)
    assert guard.apply(later, NOV) == {"llmpulse_cost_usd_total": 1}
    assert later.get(contract.COST_USD, project="b", line_item="x") == 3.0


def test_a_new_month_starts_from_the_providers_value() -> None:
    guard = MonthToDateGuard()
    guard.apply(_ms(a=500.0), NOV)
    december = _ms(a=2.0)
    assert guard.apply(december, datetime(2026, 12, 1, 0, 5, tzinfo=UTC)) == {}
    assert december.get(contract.COST_USD, project="a", line_item="x") == 2.0
    assert december.get(contract.BALANCE, currency="USD", kind="total") == 5.0
