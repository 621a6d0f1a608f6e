"""grafana/dashboard-linter's rules, ported as assertions over the generated dashboards (and our house rules).

The linter is a Go binary we cannot download here; each of its rules is a few lines over the dashboard JSON, so
they live here, run on every test run, and fail with the dashboard and panel to fix. Rules and exceptions are
documented in docs/dashboards.md ("Lint rules").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from exporter import contract
from exporter.bundle import dashboards as d
from exporter.bundle.promql import RATE_FUNCTIONS, analyse

FILES = d.grafana_files()
DASHBOARDS = list(d.dashboards_in(FILES))
DS_REF = {"type": "prometheus", "uid": "${datasource}"}

# Units from Grafana's list (lint/rule_panel_units.go) that these dashboards may use.
VALID_UNITS = frozenset(
    {
        "none",
        "short",
        "percent",
        "percentunit",
        "s",
        "ms",
        "m",
        "h",
        "d",
        "dtdurations",
        "reqps",
        "ops",
        "cps",
        "currencyUSD",
        "dateTimeAsIso",
        "dateTimeFromNow",
        "bytes",
        "decbytes",
    }
)
# Current panel types only: Angular graph / singlestat / table-old are removed in Grafana 12.
PANEL_TYPES = frozenset({"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline"})

# target-rate-interval-rule, with our documented exceptions. Allowed everywhere: $__rate_interval (rate, irate,
# increase) and $__range in INSTANT queries (a total over the dashboard's time range, e.g. "Calls" stats).
# Fixed windows, each with its reason:
FIXED_WINDOWS: dict[tuple[str, str, str, str], str] = {
    ("llmpulse / Cost & budget", "Daily spend", "increase", "1d"): "daily spend is a rolling 24 h total by definition",
    (
        "llmpulse / Usage",
        "Requests per hour by model",
        "increase",
        "1h",
    ): "usage APIs report in buckets and late: shorter windows show poll steps, not traffic",
    (
        "llmpulse / Usage",
        "Tokens per hour by type",
        "increase",
        "1h",
    ): "usage APIs report in buckets and late: shorter windows show poll steps, not traffic",
    (
        "llmpulse / Traffic & sessions",
        "Calls per hour by app",
        "increase",
        "1h",
    ): "one heatmap cell per hour (the panel's interval is 1h)",
    (
        "llmpulse / Cost & budget",
        "Balances and runway",
        "deriv",
        "1d",
    ): "the burn window of LLMBalanceRunwayShort (bundle.balance.burn_window), so panel and alert agree",
    (
        "llmpulse / Cost & budget",
        "Runway",
        "deriv",
        "1d",
    ): "the burn window of LLMBalanceRunwayShort (bundle.balance.burn_window), so panel and alert agree",
}

# target-counter-agg-rule exception: these counters' VALUE is the month-to-date total by contract (see their HELP
# text), so "cost this month" is the plain value, not a rate. Everywhere else a *_total sits directly in
# rate/irate/increase.
MONTH_TO_DATE = frozenset(
    f.name
    for f in (
        contract.USAGE_REQUESTS,
        contract.USAGE_TOKENS,
        contract.USAGE_UNITS,
        contract.COST_USD,
        contract.COST_ESTIMATED_USD,
        contract.CACHE_SAVINGS_USD,
    )
)


def panels() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for dash in DASHBOARDS:
        for panel in dash["panels"]:
            yield dash, panel


def targets() -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    for dash, panel in panels():
        for target in panel["targets"]:
            yield dash, panel, target


def where(dash: dict[str, Any], panel: dict[str, Any] | None = None) -> str:
    return f"{dash['title']!r}" + (f" panel {panel['title']!r}" if panel else "")


def test_all_six_dashboards_are_generated() -> None:
    assert {dash["uid"] for dash in DASHBOARDS} == {
        "llmpulse-overview",
        "llmpulse-cost",
        "llmpulse-usage",
        "llmpulse-latency",
        "llmpulse-traffic",
        "llmpulse-health",
    }
    assert len(DASHBOARDS) == 6


# --- dashboard rules ------------------------------------------------------------------------------------------------


def test_template_datasource_rule() -> None:
    for dash in DASHBOARDS:
        ds_vars = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
        assert len(ds_vars) == 1, where(dash)
        assert ds_vars[0]["name"] == "datasource" and ds_vars[0]["label"] == "Data source", where(dash)
        assert ds_vars[0]["query"] == "prometheus", where(dash)
        assert ds_vars[0]["current"]["value"] == d.DATASOURCE_UID, "defaults to the provisioned datasource"


def test_query_variables_reload_on_time_change_and_select_all() -> None:
    for dash in DASHBOARDS:
        query_vars = [v for v in dash["templating"]["list"] if v["type"] == "query"]
        assert query_vars, where(dash)
        for var in query_vars:
            assert var["refresh"] == 2, f"{where(dash)} variable {var['name']}: refresh must be 2 (time change)"
            assert var["datasource"] == DS_REF, f"{where(dash)} variable {var['name']}"
            assert var["multi"] is True and var["includeAll"] is True, f"{where(dash)} variable {var['name']}"
            assert var["allValue"] in (".*", ".+"), f"{where(dash)} variable {var['name']}"
            assert var["query"].startswith("label_values("), f"{where(dash)} variable {var['name']}"


def test_every_dashboard_has_the_domain_variables_it_filters_on() -> None:
    names = {v.name for v in d.VARIABLES_BY_NAME.values()}
    for dash in DASHBOARDS:
        defined = {v["name"] for v in dash["templating"]["list"]}
        assert {"datasource", "provider", "source"} <= defined, where(dash)
        for _, panel, target in ((dash, p, tg) for p in dash["panels"] for tg in p["targets"]):
            used = set(re.findall(r"\$\{?([a-z]+)\b", target["expr"])) & names
            assert used <= defined, f"{where(dash, panel)} uses undefined variables {used - defined}"


def test_uneditable_and_house_settings() -> None:
    for dash in DASHBOARDS:
        assert dash["editable"] is False, where(dash)
        assert dash["id"] is None, where(dash)
        assert dash["graphTooltip"] == 1, where(dash)
        assert "llmpulse" in dash["tags"], where(dash)
        assert dash["time"]["from"].startswith("now-") and dash["time"]["to"] == "now", where(dash)
        assert dash["refresh"] in dash["timepicker"]["refresh_intervals"], where(dash)
        assert "do not edit" in dash["description"], where(dash)
        assert any(link["type"] == "dashboards" and "llmpulse" in link["tags"] for link in dash["links"]), where(dash)


def test_uids_are_short_unique_and_stable() -> None:
    uids = [dash["uid"] for dash in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for uid in uids:
        assert len(uid) <= 40 and re.fullmatch(r"[a-z0-9-]+", uid), uid
    titles = [dash["title"] for dash in DASHBOARDS]
    assert len(set(titles)) == len(titles), "titles must be unique in the folder"


def test_panel_links_point_at_generated_dashboards() -> None:
    uids = {dash["uid"] for dash in DASHBOARDS}
    for dash, panel in panels():
        for link in panel.get("links", []):
            m = re.match(r"^/d/([a-z0-9-]+)\?", link["url"])
            assert m and m.group(1) in uids, f"{where(dash, panel)}: {link['url']}"


# --- panel rules ----------------------------------------------------------------------------------------------------


def test_panel_ids_unique_and_grid_fits() -> None:
    for dash in DASHBOARDS:
        ids = [p["id"] for p in dash["panels"]]
        assert len(set(ids)) == len(ids), where(dash)
        cells: set[tuple[int, int]] = set()
        for panel in dash["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24 and pos["w"] > 0 and pos["h"] > 0, where(dash, panel)
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not mine & cells, f"{where(dash, panel)} overlaps another panel"
            cells |= mine


def test_no_deprecated_panel_types() -> None:
    for dash, panel in panels():
        assert panel["type"] in PANEL_TYPES, f"{where(dash, panel)}: {panel['type']}"


def test_panel_datasource_rule() -> None:
    for dash, panel in panels():
        assert panel["datasource"] == DS_REF, where(dash, panel)
        for target in panel["targets"]:
            assert target["datasource"] == DS_REF, where(dash, panel)


def test_panel_title_description_rule() -> None:
    for dash, panel in panels():
        assert panel["title"].strip(), where(dash, panel)
        assert len(panel["description"].strip()) >= 30, f"{where(dash, panel)}: describe what it shows"
    for dash in DASHBOARDS:
        titles = [p["title"] for p in dash["panels"]]
        assert len(set(titles)) == len(titles), f"{where(dash)}: duplicate panel titles"


def test_panel_units_rule() -> None:
    for dash, panel in panels():
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit in VALID_UNITS, f"{where(dash, panel)}: unit {unit!r}"
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "unit":
                    assert prop["value"] in VALID_UNITS, f"{where(dash, panel)}: column unit {prop['value']!r}"


def test_every_panel_has_queries() -> None:
    for dash, panel in panels():
        assert panel["targets"], where(dash, panel)
        ref_ids = [tg["refId"] for tg in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), where(dash, panel)
        for target in panel["targets"]:
            assert target["expr"].strip() and target["legendFormat"], where(dash, panel)


# --- target rules ---------------------------------------------------------------------------------------------------


def test_target_rate_interval_rule() -> None:
    used_exceptions = set()
    for dash, panel, target in targets():
        for func, window in analyse(target["expr"]).ranges:
            if window == "$__rate_interval":
                continue
            if window == "$__range":
                assert target["instant"], f"{where(dash, panel)}: $__range only in instant queries (range totals)"
                assert func not in ("rate", "irate"), f"{where(dash, panel)}: {func} must use $__rate_interval"
                continue
            key = (dash["title"], panel["title"], func, window)
            assert key in FIXED_WINDOWS, (
                f"{where(dash, panel)}: {func}(...[{window}]) must use $__rate_interval, "
                "or be a documented exception in FIXED_WINDOWS"
            )
            used_exceptions.add(key)
    assert used_exceptions == set(FIXED_WINDOWS), f"stale exceptions: {set(FIXED_WINDOWS) - used_exceptions}"


def test_target_counter_agg_rule() -> None:
    values_of_mtd = 0
    for dash, panel, target in targets():
        for sel in analyse(target["expr"]).selectors:
            if not sel.name.endswith("_total"):
                continue
            if sel.call in RATE_FUNCTIONS and sel.range:
                continue
            assert sel.name in MONTH_TO_DATE and sel.range is None, (
                f"{where(dash, panel)}: counter {sel.name} must sit directly inside rate/irate/increase"
            )
            values_of_mtd += 1
    assert values_of_mtd, "the month-to-date exception is in use (otherwise drop it)"


def test_month_to_date_exception_matches_the_contract() -> None:
    """The exception holds only while the contract says these counters' value is the month-to-date total."""
    for name in MONTH_TO_DATE:
        family = contract.get(name)
        assert family.type == "counter"
        help_text = family.help.lower()
        assert (
            "month-to-date total" in help_text
            or "month-to-date for billing sources" in help_text
            or "same semantics as llmpulse_cost_estimated_usd_total" in help_text
        ), name
    assert "month-to-date for billing sources" in contract.COST_ESTIMATED_USD.help


def test_counters_from_since_start_families_are_never_read_as_values() -> None:
    since_start = {
        contract.EVENTS_CALLS.name,
        contract.EVENTS_SESSIONS.name,
        contract.API_CALLS.name,
        contract.ERROR_CODES.name,
    }
    for dash, panel, target in targets():
        for sel in analyse(target["expr"]).selectors:
            if sel.name in since_start:
                assert sel.call in RATE_FUNCTIONS, where(dash, panel)


@pytest.mark.parametrize("quantile_panel", ["P50 / P95 / P99 response time", "Time to first token"])
def test_quantiles_aggregate_buckets_by_le(quantile_panel: str) -> None:
    found = False
    for dash, panel, target in targets():
        if panel["title"] != quantile_panel:
            continue
        found = True
        assert re.search(r"histogram_quantile\(0\.\d+, sum by \(le\b", target["expr"]), where(dash, panel)
        assert "_bucket{" in target["expr"], where(dash, panel)
    assert found


#: Grafana units that say "per second": requests, counts and operations per second; CPU seconds per second.
PER_SECOND_UNITS = {"reqps", "cps", "ops", "percentunit"}


def test_rate_panels_have_per_second_units() -> None:
    """A panel that plots rate() as it is (not a ratio, not a quantile) shows a per-second unit, never a bare
    number that reads like a count."""
    for dash, p in panels():
        exprs = [t.get("expr", "") for t in p.get("targets", [])]
        if p.get("type") not in ("timeseries", "stat") or not exprs:
            continue
        plain_rates = [
            e
            for e in exprs
            if "rate(" in e
            and "/" not in e
            and "histogram_quantile" not in e
            and "increase(" not in e
            and not re.match(r"^\d+ \*", e)  # scaled to another period (per hour), said in the title
        ]
        if plain_rates and len(plain_rates) == len(exprs):
            unit = p["fieldConfig"]["defaults"].get("unit")
            assert unit in PER_SECOND_UNITS, f"{dash['title']} / {p['title']}: unit {unit!r} for {plain_rates[0]}"
