"""`llmpulse generate`: the committed bundle is exactly the default generation, --check catches drift, the output is
deterministic and follows the bundle: config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, run_cli

from exporter.bundle.rules import ALERTS_FILE, RULES_FILE
from exporter.bundle.settings import BundleConfig
from exporter.bundle.writer import bundle_files
from exporter.yamlio import GENERATED


def _write_config(tmp: Path, bundle: dict) -> Path:
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump({"bundle": bundle}), encoding="utf-8")
    return path


def test_committed_bundle_is_the_default_generation() -> None:
    result = run_cli("generate", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_check_lists_a_changed_a_missing_and_a_stale_file(tmp_path: Path) -> None:
    assert run_cli("generate", "--out", str(tmp_path)).returncode == 0
    alerts = tmp_path / ALERTS_FILE
    alerts.write_text(alerts.read_text().replace("> 0.05", "> 0.5"))
    (tmp_path / "alertmanager" / "alertmanager.yml").unlink()
    (tmp_path / "prometheus" / "tests" / "OldAlert.yml").write_text(f"# {GENERATED}\nrule_files: []\n")
    result = run_cli("generate", "--check", "--out", str(tmp_path))
    assert result.returncode == 1
    assert f"{ALERTS_FILE}: differs" in result.stderr
    assert "alertmanager/alertmanager.yml: missing" in result.stderr
    assert "prometheus/tests/OldAlert.yml: no longer generated" in result.stderr
    # Writing again repairs all three (and removes only the stale generated file).
    (tmp_path / "prometheus" / "tests" / "mine.yml").write_text("hand-written, not generated\n")
    assert run_cli("generate", "--out", str(tmp_path)).returncode == 0
    assert not (tmp_path / "prometheus" / "tests" / "OldAlert.yml").exists()
    assert (tmp_path / "prometheus" / "tests" / "mine.yml").exists()
    assert run_cli("generate", "--check", "--out", str(tmp_path)).returncode == 0


def test_generation_is_deterministic() -> None:
    assert bundle_files(BundleConfig()) == bundle_files(BundleConfig())


def test_every_generated_file_says_it_is_generated() -> None:
    for rel, text in bundle_files(BundleConfig()).items():
        if rel.startswith(("prometheus/", "alertmanager/", "docs/runbooks")):
            assert GENERATED in text[:300], f"{rel} does not say it is generated"


def test_multiline_promql_is_a_block_and_templates_stay_intact() -> None:
    text = (ROOT / ALERTS_FILE).read_text()
    assert "expr: |\n" in text
    assert "{{ $labels.provider }}" in text and "{{ $value | humanizePercentage }}" in text
    am = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    assert '{{ template "llmpulse.email.html" . }}' in am
    # and the YAML parses back to the same data the builders made
    rules = yaml.safe_load((ROOT / RULES_FILE).read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert any("\n" in e for e in exprs)


def test_a_changed_bundle_config_changes_thresholds_windows_and_receivers(tmp_path: Path) -> None:
    config = _write_config(
        tmp_path,
        {
            "api": {"error_ratio": 0.08, "error_ratio_window": "30s", "latency_threshold_seconds": 5},
            "for": {"LLMAPIHighErrorRate": "10s"},
            "budget": {"monthly_budget_usd": 250, "provider_budgets_usd": {"openai": 100}},
            "balance": {"low": {"CNY": 20}},
            "prometheus": {"exporter_targets": ["127.0.0.1:19877"], "job": "llm"},
            "receivers": {"webhooks": [{"name": "e2e", "url": "http://127.0.0.1:5001/hook"}]},
        },
    )
    out = tmp_path / "out"
    result = run_cli("generate", "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    alerts = yaml.safe_load((out / ALERTS_FILE).read_text())
    by_name: dict[str, list[dict]] = {}
    for group in alerts["groups"]:
        for rule in group["rules"]:
            by_name.setdefault(rule["alert"], []).append(rule)
    high = by_name["LLMAPIHighErrorRate"][0]
    assert high["expr"].splitlines()[0] == "provider_source_model:llmpulse_api_calls_errors:ratio_rate30s > 0.08"
    assert high["expr"].splitlines()[-1] == "provider_source_model:llmpulse_api_calls:rate30s * 30 >= 20"
    assert high["for"] == "10s"
    assert "8% threshold" in high["annotations"]["description"]
    assert "> 5" in by_name["LLMAPIHighLatencyP99"][0]["expr"]
    exceeded = {r["labels"]["scope"]: r["expr"] for r in by_name["LLMBudgetExceeded"]}
    assert exceeded == {
        "total": ":llmpulse_cost_usd:month_to_date >= 250",
        "provider": 'provider:llmpulse_cost_usd:month_to_date{provider="openai"} >= 100',
    }
    assert (
        by_name["LLMBalanceLow"][0]["expr"]
        == 'max without (instance, pod) (llmpulse_balance{kind="total", currency="CNY"}) < 20'
    )
    assert 'up{job="llm"} == 0' in by_name["LLMPulseExporterDown"][0]["expr"]
    prom = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0] == {"job_name": "llm", "static_configs": [{"targets": ["127.0.0.1:19877"]}]}
    am = yaml.safe_load((out / "alertmanager" / "alertmanager.yml").read_text())
    critical = next(r for r in am["receivers"] if r["name"] == "critical")
    assert critical == {
        "name": "critical",
        "webhook_configs": [{"url": "http://127.0.0.1:5001/hook", "send_resolved": True}],
    }
    # the generated unit tests follow: the fire case of the error-rate alert uses a ratio over 8 %
    test = yaml.safe_load((out / "prometheus" / "tests" / "LLMAPIHighErrorRate.yml").read_text())
    assert test["tests"][0]["interval"] == "6s"
    assert "(threshold 8.00%)" in test["tests"][0]["name"]
    # and the committed default is untouched by that
    assert run_cli("generate", "--check").returncode == 0


def test_disabled_alerts_leave_rules_and_tests_but_keep_their_runbook(tmp_path: Path) -> None:
    config = _write_config(tmp_path, {"disabled_alerts": ["LLMTLSCertExpiringSoon", "Watchdog"]})
    out = tmp_path / "out"
    assert run_cli("generate", "--config", str(config), "--out", str(out)).returncode == 0
    text = (out / ALERTS_FILE).read_text()
    assert "LLMTLSCertExpiringSoon" not in text and "alert: Watchdog" not in text
    assert not (out / "prometheus" / "tests" / "Watchdog.yml").exists()
    assert "## LLMTLSCertExpiringSoon" in (out / "docs" / "runbooks.md").read_text()


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ({"api": {"slow_call_seconds": 9}}, "bundle.api.slow_call_seconds: must be a bucket boundary"),
        ({"api": {"error_ratio": 5}}, "bundle.api.error_ratio"),
        ({"api": {"error_ratio_window": "5"}}, "bundle.api.error_ratio_window: invalid duration"),
        ({"routing": {"group_by": ["..."]}}, "disables grouping"),
        (
            {"slo": {"windows": [{"severity": "critical", "long": "5m", "short": "1h", "factor": 2, "for": "1m"}]}},
            "short must be shorter than long",
        ),
        ({"receivers": {"email": [{"name": "x", "to": ["a@b"], "from": "c@d", "smarthost": "mail"}]}}, "HOST:PORT"),
        ({"thresholds": {}}, "bundle.thresholds: unknown key"),
        ({"balance": {"runway_days": 0.01}}, "runway runs out before the alert may fire"),
    ],
)
def test_bad_bundle_config_is_refused_with_its_key_path(tmp_path: Path, bundle: dict, message: str) -> None:
    result = run_cli("generate", "--config", str(_write_config(tmp_path, bundle)), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "o").exists()


def test_an_empty_bundle_section_is_the_default(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("bundle: {}\n")
    result = run_cli("generate", "--config", str(config), "--check")
    assert result.returncode == 0, result.stderr


def test_runbook_urls_point_at_existing_sections() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbooks, re.M)}
    alerts = yaml.safe_load((ROOT / ALERTS_FILE).read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url.split("#")[1] in anchors, url


def test_template_test_data_is_json_with_a_generated_note() -> None:
    data = json.loads((ROOT / "alertmanager" / "tests" / "template-data.json").read_text())
    assert GENERATED in data["_comment"]
    assert data["alerts"][0]["labels"]["alertname"] == "LLMAPIHighErrorRate"


def _keys(model: type) -> set[str]:
    from pydantic import BaseModel

    out = set()
    for name, info in model.model_fields.items():
        out.add(info.alias or name)
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    out |= _keys(inner)
    return out


def test_every_bundle_and_relay_key_is_documented() -> None:
    from exporter.bundle.settings import EmailReceiver, SlackReceiver, WebhookReceiver, WecomReceiver
    from exporter.config import RelayBotConfig, RelayConfig

    doc = (ROOT / "docs" / "bundle.md").read_text()
    keys = set()
    for model in (
        BundleConfig,
        WebhookReceiver,
        EmailReceiver,
        SlackReceiver,
        WecomReceiver,
        RelayConfig,
        RelayBotConfig,
    ):
        keys |= _keys(model)
    missing = sorted(k for k in keys if not re.search(rf"\b{re.escape(k)}\b", doc))
    assert not missing, f"undocumented keys in docs/bundle.md: {missing}"
