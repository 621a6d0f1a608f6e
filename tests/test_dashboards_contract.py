"""The generated Grafana files against the metric contract, the bundle config and Prometheus itself.

- every metric a dashboard queries exists in the contract (or is a recording rule the bundle generates), and every
  label it filters on exists on that family: a renamed metric breaks this test, not a panel in production;
- the output is deterministic and follows the bundle config (budget, thresholds, scrape interval);
- the provisioning files say what the compose stack expects;
- every query, with Grafana's variables substituted, is valid PromQL for promtool (Prometheus 2.42).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter import contract
from exporter.bundle import dashboards as d
from exporter.bundle.boards import health
from exporter.bundle.promql import PromQLSyntaxError, analyse, metric_names
from exporter.bundle.rules import recording_groups
from exporter.bundle.settings import BundleConfig

ROOT = Path(__file__).resolve().parent.parent
FILES = d.grafana_files()
QUERIES = d.panel_queries(FILES)


DESIGNED_FOR = frozenset(
    f.name
    for f in (
        contract.USAGE_REQUESTS,
        contract.USAGE_TOKENS,
        contract.USAGE_UNITS,
        contract.COST_USD,
        contract.PROJECT_INFO,
        contract.COST_ESTIMATED_USD,
        contract.CACHE_SAVINGS_USD,
        contract.UNPRICED_TOKENS,
        contract.SOURCE_UP,
        contract.SOURCE_LAST_SUCCESS,
        contract.SOURCE_POLL_DURATION,
        contract.SOURCE_API_REQUESTS,
        contract.SOURCE_POLL_ERRORS,
        contract.SOURCE_REVISIONS,
        contract.SOURCE_SERIES,
        contract.BUILD_INFO,
        contract.API_CALL_DURATION,
        contract.TIME_TO_FIRST_TOKEN,
        contract.ERROR_CODES,
        contract.API_CALLS,
        contract.PROBE_SUCCESS,
        contract.PROBE_DURATION,
        contract.PROBE_TOKENS,
        contract.RATELIMIT_LIMIT,
        contract.RATELIMIT_REMAINING,
        contract.RATELIMIT_RESET,
        contract.PROBE_PHASE,
        contract.TLS_CERT_EXPIRY,
        contract.BALANCE,
        contract.BALANCE_USD,
        contract.BALANCE_AVAILABLE,
        contract.KEY_LIMIT_USD,
        contract.KEY_LIMIT_REMAINING_USD,
        contract.KEY_USAGE_USD,
        contract.STATUS_COMPONENT,
        contract.STATUS_INDICATOR,
        contract.STATUS_INCIDENTS_OPEN,
        contract.EVENTS_CALLS,
        contract.EVENTS_SESSIONS,
        contract.EVENTS_SESSION_DURATION,
        contract.EVENTS_DISTINCT_USERS,
        contract.EVENTS_TOKENS,
        contract.EVENTS_RECEIVED,
        contract.EVENTS_REJECTED,
        contract.HTTP_JSON_MISSING,
        contract.RELAY_NOTIFICATIONS,
    )
)


def recording_rule_names() -> set[str]:
    """Recording rules the bundle generates (committed under prometheus/rules/), which dashboards may use."""
    names: set[str] = set()
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            names |= {rule["record"] for rule in group.get("rules", []) if "record" in rule}
    return names


def family_of(sample_name: str) -> contract.Family:
    for family in contract.FAMILIES.values():
        if sample_name in family.series_names:
            return family
    raise KeyError(sample_name)


def test_there_are_queries_for_every_dashboard() -> None:
    assert {q.dashboard for q in QUERIES} == {dash["title"] for dash in d.dashboards_in(FILES)}
    assert len(QUERIES) >= 60


def test_every_metric_name_exists_in_the_contract() -> None:
    known = contract.exposition_names() | recording_rule_names() | health.SCRAPE_METRICS
    used: set[str] = set()
    for q in QUERIES:
        names = metric_names(q.expr)
        assert names or re.fullmatch(r"vector\([0-9.e+]+\)", q.expr), f"{q.dashboard} / {q.panel}: {q.expr!r}"
        missing = names - known
        assert not missing, f"{q.dashboard} / {q.panel}: {sorted(missing)} not in exporter/contract.py"
        used |= names
    # Every family of the contract as it stood when the dashboards were designed is on a dashboard (a family added
    # later is not required to be, but deserves a panel).
    shown = {family_of(n).name for n in used if n.startswith("llmpulse_")}
    assert DESIGNED_FOR - shown == set(), "a family lost its panel"


def test_every_label_matcher_exists_on_its_family() -> None:
    for q in QUERIES:
        for sel in analyse(q.expr).selectors:
            if sel.name in health.SCRAPE_METRICS or sel.name in recording_rule_names():
                continue
            family = family_of(sel.name)
            # job and instance: the scrape variables every selector carries.
            allowed = family.all_labels | {"job", "instance"} | ({"le"} if sel.name.endswith("_bucket") else set())
            extra = set(sel.labels) - allowed
            assert not extra, f"{q.dashboard} / {q.panel}: {sel.name} has no label {extra}"


def test_variable_queries_read_a_few_small_llmpulse_families() -> None:
    """label_values of a few named families is cheap; of every llmpulse series (a name regex) it is not."""
    small = {fam.name for fam in contract.FAMILIES.values() if "user" not in fam.optional_labels}
    for dash in d.dashboards_in(FILES):
        names = [var["name"] for var in dash["templating"]["list"] if var["type"] == "query"]
        assert names[:2] == ["job", "instance"], dash["title"]
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            query = var["query"]
            assert ".+" not in query.split(",")[0] and ".*" not in query.split(",")[0], query
            match = re.match(r'label_values\((?:\{__name__=~"([a-z_|]+)"|([a-z_]+))', query)
            assert match, query
            families = (match.group(1) or match.group(2)).split("|")
            assert 1 <= len(families) <= 3 and set(families) <= small, query


def test_generation_is_deterministic_and_sorted() -> None:
    again = d.grafana_files()
    assert again == FILES
    for path, text in FILES.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        if path.endswith(".json"):
            assert json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n" == text, path


def test_every_file_says_it_is_generated() -> None:
    for path, text in FILES.items():
        if path.endswith(".json"):
            assert "do not edit" in json.loads(text)["description"], path
        else:
            assert text.startswith("# Generated by llmpulse generate; DO NOT EDIT."), path


def test_committed_grafana_files_are_up_to_date() -> None:
    """grafana/ in the repository is what `llmpulse generate` writes (compose mounts it as is)."""
    for path, text in FILES.items():
        committed = ROOT / path
        assert committed.is_file(), f"{path} missing: run llmpulse generate"
        assert committed.read_text(encoding="utf-8") == text, f"{path} is stale: run llmpulse generate"
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "grafana").rglob("*") if p.is_file()}
    assert on_disk <= set(FILES), f"stale generated files: {sorted(on_disk - set(FILES))}"


def test_file_layout() -> None:
    assert set(FILES) == {
        "grafana/provisioning/datasources/llmpulse.yml",
        "grafana/provisioning/dashboards/llmpulse.yml",
        *(
            f"grafana/dashboards/llmpulse/{slug}.json"
            for slug in ("overview", "cost", "usage", "latency", "traffic", "health")
        ),
    }


# --- provisioning ---------------------------------------------------------------------------------------------------


def test_datasource_provisioning() -> None:
    data = yaml.safe_load(FILES[d.DATASOURCES_FILE])
    assert data["apiVersion"] == 1
    prom, am = data["datasources"]
    assert prom["uid"] == d.DATASOURCE_UID and prom["type"] == "prometheus" and prom["isDefault"] is True
    assert prom["url"] == "http://prometheus:9090" and prom["access"] == "proxy" and prom["editable"] is False
    assert prom["jsonData"]["timeInterval"] == "15s", "the default scrape interval of prometheus.yml"
    assert prom["jsonData"]["alertmanagerUid"] == am["uid"] == d.ALERTMANAGER_UID
    assert am["type"] == "alertmanager" and am["url"] == "http://alertmanager:9093"
    assert am["jsonData"]["implementation"] == "prometheus"


def test_dashboard_provider_matches_the_compose_mount() -> None:
    from exporter.bundle.stackfiles import COMPOSE_MOUNTS

    (provider,) = yaml.safe_load(FILES[d.PROVIDER_FILE])["providers"]
    assert provider["type"] == "file" and provider["folder"] == "llmpulse"
    assert provider["disableDeletion"] is True and provider["allowUiUpdates"] is False
    assert provider["options"]["foldersFromFilesStructure"] is False
    service, mount = COMPOSE_MOUNTS["grafana/dashboards"]
    assert service == "grafana"
    assert provider["options"]["path"] == mount, "Grafana must look where compose mounts ./grafana/dashboards"


# --- the bundle config drives thresholds ----------------------------------------------------------------------------


def panel(files: dict[str, str], slug: str, title: str) -> dict:
    dash = json.loads(files[f"{d.DASHBOARDS_DIR}/{slug}.json"])
    (found,) = [p for p in dash["panels"] if p["title"] == title]
    return found


def test_budget_and_thresholds_come_from_the_bundle_config() -> None:
    config = BundleConfig.model_validate(
        {
            "budget": {"monthly_budget_usd": 250, "burn_high_ratio": 0.6},
            "api": {"error_ratio": 0.02, "slow_call_seconds": 5, "latency_threshold_seconds": 1.5},
            "prometheus": {"scrape_interval": "30s", "scrape_timeout": "10s"},
        }
    )
    files = d.grafana_files(config)
    gauge = panel(files, "overview", "Cost month to date")
    assert gauge["type"] == "gauge" and gauge["fieldConfig"]["defaults"]["max"] == 250
    steps = gauge["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 150, 250]
    # the budget line and "Budget used" read the budget Prometheus has (the recording rule from the same setting)
    budget_rule = ':llmpulse_budget_usd:monthly{scope="total"}'
    assert any(tg["expr"] == budget_rule for tg in panel(files, "cost", "Forecast vs budget")["targets"])
    assert budget_rule in panel(files, "cost", "Budget used")["targets"][0]["expr"]
    rules = {r["record"]: r for g in recording_groups(config) for r in g["rules"] if "record" in r}
    assert rules[":llmpulse_budget_usd:monthly"]["expr"] == "vector(250)"
    # the forecast waits for the alert's 3 days
    assert ">= 259200" in panel(files, "cost", "Month-end forecast")["targets"][0]["expr"]
    error_steps = panel(files, "overview", "Error rate")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert error_steps[-1]["value"] == 0.02
    slow = panel(files, "latency", "Slow-call share by provider (> 5 s)")["targets"][0]["expr"]
    assert 'le="5.0"' in slow
    latency_steps = panel(files, "latency", "P99 response time")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert latency_steps[-1]["value"] == 1.5
    assert yaml.safe_load(files[d.DATASOURCES_FILE])["datasources"][0]["jsonData"]["timeInterval"] == "30s"
    assert files != FILES


def test_no_budget_draws_no_budget() -> None:
    files = d.grafana_files(BundleConfig.model_validate({"budget": {"monthly_budget_usd": None}}))
    assert panel(files, "overview", "Cost month to date")["type"] == "stat"
    assert all("vector(" not in tg["expr"] for tg in panel(files, "cost", "Forecast vs budget")["targets"])


def test_provider_budgets_add_a_panel() -> None:
    assert "Provider budgets used" not in {p.panel for p in QUERIES}
    files = d.grafana_files(BundleConfig.model_validate({"budget": {"provider_budgets_usd": {"openai": 600}}}))
    expr = panel(files, "cost", "Provider budgets used")["targets"][0]["expr"]
    assert 'label_replace(vector(600), "provider", "openai", "", "")' in expr


def test_a_whole_config_is_accepted_too() -> None:
    class Config:
        bundle = BundleConfig.model_validate({"budget": {"monthly_budget_usd": 42}})

    assert d.grafana_files(Config()) == d.grafana_files(Config.bundle)


# --- queries for the end-to-end test --------------------------------------------------------------------------------


def test_substitute_replaces_every_grafana_variable() -> None:
    for q in QUERIES:
        expr = d.substitute(q.expr, rate_interval="2m", interval="30s", range_="3h")
        assert "$" not in expr, expr
    expr = d.substitute('sum(rate(x{provider=~"$provider", model=~"${model}"}[$__rate_interval])) / $__range')
    assert expr == 'sum(rate(x{provider=~".+", model=~".*"}[1m])) / 1h'
    with pytest.raises(ValueError, match=r"\$nope"):
        d.substitute('x{a=~"$nope"}')


def test_preconditions_name_what_the_demo_does_not_feed() -> None:
    needs = {q.panel: d.preconditions(q.expr) for q in QUERIES}
    assert "https" in needs["Certificate expiry"][contract.TLS_CERT_EXPIRY.name]
    assert needs["Sessions started"] and not needs["Error rate"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    """Each substituted query as a recording rule: `promtool check rules` parses every expression."""
    rules = [{"record": f"llmpulse_dashboard_query_{i}", "expr": d.substitute(q.expr)} for i, q in enumerate(QUERIES)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_rejects_a_broken_query(tmp_path: Path) -> None:
    """The check above can fail: a query with an unbalanced bracket is refused."""
    path = tmp_path / "broken.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {
                                "record": "broken",
                                "expr": d.substitute("sum(rate(llmpulse_api_calls_total[$__rate_interval])"),
                            }
                        ],
                    }
                ]
            }
        )
    )
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


# --- the analyser the lint rules stand on ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum by (le, provider) (rate(a_bucket{x="1"}[$__rate_interval]))', [("a_bucket", "$__rate_interval", "rate")]),
        ("histogram_quantile(0.9, sum(rate(a[5m])) by (le))", [("a", "5m", "rate")]),
        ("sum(a_total) or vector(0)", [("a_total", None, "sum")]),
        ("a_total / on (p) group_left (q) b", [("a_total", None, None), ("b", None, None)]),
        ("clamp_min(-86400 * sum(deriv(b[1d])), 0)", [("b", "1d", "deriv")]),
        ("rate(a_total[5m]) + a_total", [("a_total", "5m", "rate"), ("a_total", None, None)]),
        ('count(up{job="x"} == 0)', [("up", None, None)]),
    ],
)
def test_analyse_finds_selectors(expr: str, expected: list) -> None:
    assert [(s.name, s.range, s.call) for s in analyse(expr).selectors] == expected


def test_analyse_ignores_label_lists_strings_and_keywords() -> None:
    expr = (
        "max by (provider, project_name) (x) * on (provider) group_left (project_name) "
        'label_replace(vector(1), "provider", "openai", "", "") unless y offset 5m'
    )
    assert analyse(expr).metric_names == {"x", "y"}


def test_analyse_rejects_unbalanced_expressions() -> None:
    with pytest.raises(PromQLSyntaxError):
        analyse("sum(rate(x[5m])")
    with pytest.raises(PromQLSyntaxError):
        analyse('x{a="1"')
