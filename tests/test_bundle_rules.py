"""The Prometheus side of the bundle, checked by the real tools (promtool 2.42 as Debian ships it) and against the
metric contract: config and rules load, every alert's unit tests pass, every metric a rule reads exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from exporter import contract
from exporter.bundle.rule_tests import test_files as promtool_test_files
from exporter.bundle.rules import ALERTS_FILE, RULES_FILE, alert_rules
from exporter.bundle.settings import ALERT_NAMES, AlertFor, BundleConfig
from exporter.bundle.writer import bundle_files

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression reads: identifiers that are not functions, keywords, label names or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)  # label lists
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS | AGGREGATIONS:
            continue
        names.add(name)
    return names


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def test_the_metric_name_parser_understands_the_rule_shapes() -> None:
    expr = (
        'sum without (instance, le) (rate(llmpulse_api_call_duration_seconds_bucket{le="10.0"}[5m] offset 1d))\n'
        "and on (provider, source)\ncount by (provider) (x:y:z offset 8d) > (14.4 * 0.01)\n"
        'or absent(up{job="llmpulse"}) or vector(1) or day_of_month() - 1'
    )
    assert promql_metric_names(expr) == {"llmpulse_api_call_duration_seconds_bucket", "x:y:z", "up"}


def test_every_metric_a_rule_reads_is_in_the_contract_or_is_a_recording_rule() -> None:
    recorded = {r["record"] for r in _rules(ROOT / RULES_FILE)}
    known = contract.exposition_names() | recorded | {"up"}
    for path in (ROOT / RULES_FILE, ROOT / ALERTS_FILE):
        for rule in _rules(path):
            unknown = promql_metric_names(rule["expr"]) - known
            assert not unknown, f"{rule.get('record') or rule.get('alert')} reads unknown metrics {unknown}"
    # and recording rule names follow level:metric:operations
    for name in recorded:
        assert re.fullmatch(r"[a-z_]*:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_every_alert_of_the_issue_exists_with_severity_summary_description_and_links() -> None:
    rules = _rules(ROOT / ALERTS_FILE)
    assert {r["alert"] for r in rules} == set(ALERT_NAMES)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info", "none")
        notes = rule["annotations"]
        assert notes["summary"].endswith(".") and "{{" not in notes["summary"]
        assert "{{" in notes["description"] or rule["alert"] in ("Watchdog", "LLMPulseExporterDown")
        assert notes["runbook_url"].endswith("#" + rule["alert"].lower())
        assert notes["dashboard_url"].startswith("http")


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet() -> None:
    files = promtool_test_files(BundleConfig())
    for name in ALERT_NAMES:
        tests = files[f"prometheus/tests/{name}.yml"]["tests"]
        outcomes = [bool(t["alert_rule_test"][0]["exp_alerts"]) for t in tests]
        assert all(t["alert_rule_test"][0]["alertname"] == name for t in tests)
        assert True in outcomes, f"{name}: no firing case"
        if name != "Watchdog":  # always fires by design
            assert False in outcomes, f"{name}: no quiet case"


def test_thresholds_in_the_rules_come_from_the_settings() -> None:
    s = BundleConfig.model_validate(
        {
            "api": {"error_ratio": 0.07, "rate_limited_ratio": 0.03},
            "budget": {"burn_high_ratio": 0.5, "monthly_budget_usd": 300},
        }
    )
    exprs = {(a.name, a.key): a.expr for a in alert_rules(s)}
    assert exprs[("LLMAPIHighErrorRate", "")].splitlines()[0].endswith("> 0.07")
    assert exprs[("LLMAPIRateLimited", "")].splitlines()[0].endswith("> 0.03")
    assert exprs[("LLMBudgetBurnHigh", "total")] == ":llmpulse_cost_usd:month_to_date >= 150"


@needs_promtool
def test_promtool_accepts_the_committed_config_and_rules() -> None:
    for args in (["check", "config", "prometheus/prometheus.yml"], ["check", "rules", RULES_FILE, ALERTS_FILE]):
        result = subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_of_every_alert_pass() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "prometheus" / "tests").glob("*.yml"))
    assert len(files) == len(ALERT_NAMES)
    result = subprocess.run([PROMTOOL, "test", "rules", *files], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert result.stdout.count("SUCCESS") == len(files)


@needs_promtool
def test_a_wrong_expectation_makes_promtool_fail(tmp_path: Path) -> None:
    """The generated tests can fail: a description one percent off is caught."""
    files = bundle_files(BundleConfig())
    for rel in (RULES_FILE, ALERTS_FILE, "prometheus/tests/LLMAPIHighErrorRate.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(files[rel])
    test = tmp_path / "prometheus/tests/LLMAPIHighErrorRate.yml"
    test.write_text(test.read_text().replace("6% of calls", "7% of calls"))
    result = subprocess.run([PROMTOOL, "test", "rules", str(test)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


@needs_promtool
def test_a_short_window_bundle_for_end_to_end_runs_validates_and_its_tests_pass(tmp_path: Path) -> None:
    """The windows an end-to-end test uses (10s for:, 30s windows) produce valid rules whose tests still pass."""
    short = {"for": "10s"}
    s = BundleConfig.model_validate(
        {
            "prometheus": {"scrape_interval": "2s", "scrape_timeout": "1s", "evaluation_interval": "2s"},
            "api": {
                "error_ratio_window": "30s",
                "latency_window": "30s",
                "slow_call_window": "30s",
                "rate_limited_window": "30s",
                "auth_failure_window": "30s",
                "tls_expiry_critical": "1d",
            },
            "slo": {
                "windows": [
                    {"severity": "critical", "long": "2m", "short": "30s", "factor": 14.4, **short},
                    {"severity": "warning", "long": "10m", "short": "1m", "factor": 3, **short},
                ]
            },
            "budget": {
                "spike_window": "2m",
                "spike_baseline_window": "10m",
                "unpriced_window": "1m",
                "forecast_min_elapsed": "1m",
                "provider_budgets_usd": {"openai": 50},
            },
            "balance": {"burn_window": "2m", "runway_days": 1, "runway_min_history": "3m"},
            "exporter": {"stale_after": "1m"},
            "for": dict.fromkeys(AlertFor.model_fields, "10s"),
        }
    )
    files = bundle_files(s)
    for rel, text in files.items():
        if rel.startswith("prometheus/"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
    checks = subprocess.run(
        [PROMTOOL, "check", "rules", RULES_FILE, ALERTS_FILE], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert checks.returncode == 0, checks.stdout + checks.stderr
    tests = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "prometheus" / "tests").glob("*.yml"))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", *tests], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
