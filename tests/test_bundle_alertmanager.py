"""The Alertmanager side of the bundle, checked by the real tools (amtool and Alertmanager 0.25 as Debian ships them):
the config loads, every routing case reaches its receiver, every inhibition mutes (or does not mute) a real
Alertmanager's alerts, the templates render what a person needs, and every receiver type validates."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from helpers import ROOT, free_port, stop_process, wait_http_ok

from exporter.bundle.alertmanager import CONFIG_FILE, INHIBITIONS_FILE, RECEIVERS, ROUTES_FILE, TEMPLATE_DATA_FILE
from exporter.bundle.settings import BundleConfig
from exporter.bundle.writer import bundle_files

AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool is not installed (apt-get install prometheus-alertmanager)"
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None, reason="alertmanager is not installed (apt-get install prometheus-alertmanager)"
)


def amtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert AMTOOL
    return subprocess.run([AMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


class AlertmanagerProcess:
    """A real Alertmanager on a free loopback port, no clustering, data in a temporary directory."""

    def __init__(self, config: Path, tmp: Path) -> None:
        assert ALERTMANAGER
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"alertmanager-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={tmp / f'am-data-{self.port}'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                f"--web.external-url={self.url}/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30) -> AlertmanagerProcess:
        wait_http_ok(f"{self.url}/-/ready", self.proc, timeout, "alertmanager", self.log)
        return self

    def post(self, alerts: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC)
        body = [
            {
                "labels": a,
                "annotations": {"summary": "test"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=10)).isoformat(),
            }
            for a in alerts
        ]
        requests.post(f"{self.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v2/alerts", timeout=5)
        resp.raise_for_status()
        return resp.json()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def write_bundle(tmp_path: Path) -> Iterator[Any]:
    def write(settings: BundleConfig) -> Path:
        for rel, text in bundle_files(settings).items():
            if rel.startswith("alertmanager/"):
                (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / rel).write_text(text)
        return tmp_path / CONFIG_FILE

    yield write


@needs_amtool
def test_amtool_accepts_the_committed_config() -> None:
    result = amtool("check-config", CONFIG_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "4 receivers" in result.stdout and "1 templates" in result.stdout


@needs_amtool
def test_every_routing_case_reaches_its_receiver() -> None:
    cases = yaml.safe_load((ROOT / ROUTES_FILE).read_text())["cases"]
    assert {r for case in cases for r in case["receivers"]} == set(RECEIVERS)
    for case in cases:
        labels = [f"{k}={v}" for k, v in case["labels"].items()]
        result = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG_FILE}",
            f"--verify.receivers={','.join(case['receivers'])}",
            *labels,
        )
        assert result.returncode == 0, f"{case['name']}: {result.stdout}{result.stderr}"


@needs_amtool
def test_a_wrong_receiver_is_caught_by_the_routing_test() -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG_FILE}",
        "--verify.receivers=warning",
        "alertname=LLMPulseExporterDown",
        "severity=critical",
    )
    assert result.returncode != 0


@needs_amtool
def test_timing_critical_pages_faster_than_warning() -> None:
    route = yaml.safe_load((ROOT / CONFIG_FILE).read_text())["route"]
    by_receiver = {r["receiver"]: r for r in route["routes"]}
    assert route["group_by"] == ["alertname", "provider"]

    def seconds(text: str) -> float:
        from exporter.durations import parse_duration

        return parse_duration(text)

    crit, warn = by_receiver["critical"], by_receiver["warning"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert seconds(crit[key]) < seconds(warn[key]), key


@needs_amtool
def test_every_receiver_type_validates_with_secrets_from_files(tmp_path: Path, write_bundle: Any) -> None:
    secret = tmp_path / "wecom-secret"
    secret.write_text("wecom-app-secret-value\n")
    (tmp_path / "slack-url").write_text("https://hooks.slack.com/services/T0/B0/XXXX\n")
    (tmp_path / "smtp-password").write_text("pw\n")
    (tmp_path / "token").write_text("relay-token\n")
    settings = BundleConfig.model_validate(
        {
            "receivers": {
                "webhooks": [
                    {
                        "name": "ops",
                        "url": "https://hooks.example.com/am",
                        "max_alerts": 20,
                        "bearer_token_file": str(tmp_path / "token"),
                    }
                ],
                "email": [
                    {
                        "name": "oncall",
                        "to": ["a@example.com", "b@example.com"],
                        "from": "am@example.com",
                        "smarthost": "smtp.example.com:587",
                        "auth_username": "am",
                        "auth_password_file": str(tmp_path / "smtp-password"),
                        "severities": ["critical"],
                    }
                ],
                "slack": [{"name": "alerts", "api_url_file": str(tmp_path / "slack-url"), "channel": "#llm"}],
                "wecom": [
                    {
                        "name": "ops",
                        "corp_id": "ww1",
                        "agent_id": "1000002",
                        "to_party": "2",
                        "api_secret_file": str(secret),
                    }
                ],
                "relay": {
                    "url": "http://exporter:9877",
                    "bearer_token_file": str(tmp_path / "token"),
                    "bots": [
                        {"target": "feishu", "name": "oncall", "severities": ["critical"]},
                        {"target": "dingtalk", "name": "ops"},
                    ],
                },
                "watchdog_url": "https://hc-ping.com/uuid",
            }
        }
    )
    config = write_bundle(settings)
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    am = yaml.safe_load(config.read_text())
    receivers = {r["name"]: r for r in am["receivers"]}
    crit, warn = receivers["critical"], receivers["warning"]
    assert set(crit) == {"name", "webhook_configs", "email_configs", "slack_configs", "wechat_configs"}
    assert "email_configs" not in warn  # the e-mail channel takes critical only
    assert [h["url"] for h in crit["webhook_configs"]] == [
        "https://hooks.example.com/am",
        "http://exporter:9877/relay/feishu/oncall",
        "http://exporter:9877/relay/dingtalk/ops",
    ]
    assert [h["url"] for h in warn["webhook_configs"]][-1] == "http://exporter:9877/relay/dingtalk/ops"
    assert crit["email_configs"][0]["auth_password_file"] == str(tmp_path / "smtp-password")
    assert crit["slack_configs"][0]["api_url_file"] == str(tmp_path / "slack-url")
    assert crit["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"] == str(tmp_path / "token")
    assert receivers["watchdog"]["webhook_configs"][0]["url"] == "https://hc-ping.com/uuid"
    text = config.read_text()
    assert "hooks.slack.com" not in text and "pw" not in text.split() and "relay-token" not in text
    # Alertmanager 0.25 reads no WeCom secret file: the value is inlined (and the writer warns about it)...
    assert crit["wechat_configs"][0]["api_secret"] == "wecom-app-secret-value"
    # ...while for 0.31+ only the file name is written.
    newer = bundle_files(settings.model_copy(update={"alertmanager_version": "0.31"}))[CONFIG_FILE]
    assert f"api_secret_file: {secret}" in newer and "wecom-app-secret-value" not in newer


@needs_amtool
@pytest.mark.parametrize(
    ("template", "kind", "expected"),
    [
        ("llmpulse.title", "text", ["[FIRING:1] LLMAPIHighErrorRate · openai (warning)"]),
        (
            "llmpulse.text",
            "text",
            [
                "FIRING LLMAPIHighErrorRate (warning)",
                "RESOLVED LLMAPIHighErrorRate",
                "Where:     model=gpt-4o-mini provider=openai source=openai-probe",
                "7.5% of calls to openai model gpt-4o-mini",
                "Runbook:   https://",
                "#llmapihigherrorrate",
                "Dashboard: http://localhost:3000/d/",
            ],
        ),
        (
            "llmpulse.email.html",
            "html",
            [
                "<!DOCTYPE html>",
                "FIRING · LLMAPIHighErrorRate (warning)",
                "#bf8700",
                "#1a7f37",
                "7.5% of calls",
                '<a href="https://github.com/',
            ],
        ),
        ("llmpulse.slack.text", "text", ["*FIRING* LLM API calls are failing at a high rate.", "|Runbook>"]),
        ("llmpulse.slack.color", "text", ["warning"]),
        ("llmpulse.wecom.message", "text", ["## [FIRING:1] LLMAPIHighErrorRate", "[Runbook](https://"]),
    ],
)
def test_templates_say_what_broke_where_how_bad_and_what_to_do(template: str, kind: str, expected: list[str]) -> None:
    result = amtool(
        "template",
        "render",
        "--template.glob=alertmanager/templates/*.tmpl",
        f"--template.type={kind}",
        f'--template.text={{{{ template "{template}" . }}}}',
        f"--template.data={TEMPLATE_DATA_FILE}",
    )
    assert result.returncode == 0, result.stderr
    for snippet in expected:
        assert snippet in result.stdout, f"{snippet!r} not in:\n{result.stdout}"


# --- inhibitions against a real Alertmanager ---------------------------------------------------------------------
def _harnessed_config(tmp: Path) -> Path:
    """The committed config plus one test-only inhibition: a case's source mutes its "control" alert, so once the
    control is muted the inhibitor has certainly seen the source (negative cases are then conclusive)."""
    shutil.copytree(ROOT / "alertmanager", tmp / "alertmanager")
    path = tmp / CONFIG_FILE
    data = yaml.safe_load(path.read_text())
    data["inhibit_rules"].append(
        {"source_matchers": ['ihtest="source"'], "target_matchers": ['ihtest="control"'], "equal": ["ihcase"]}
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _namespaced(labels: dict[str, str], case: int) -> dict[str, str]:
    """Give a case's identity labels their own values, so no other case's alerts can mute (or be muted by) it."""
    return {k: (f"{v}-c{case}" if k in ("provider", "source", "model", "scope") else v) for k, v in labels.items()}


@needs_alertmanager
def test_every_inhibition_mutes_exactly_what_it_should_in_a_real_alertmanager(tmp_path: Path) -> None:
    cases = yaml.safe_load((ROOT / INHIBITIONS_FILE).read_text())["cases"]
    rules = yaml.safe_load((ROOT / CONFIG_FILE).read_text())["inhibit_rules"]
    assert sum(c["inhibited"] for c in cases) >= len(rules)  # a positive case per rule at least
    am = AlertmanagerProcess(_harnessed_config(tmp_path), tmp_path).wait_ready()
    try:
        posted = []
        for i, case in enumerate(cases):
            source = {**_namespaced(case["source"], i), "ihtest": "source", "ihcase": str(i)}
            target = {**_namespaced(case["target"], i), "ihcase": str(i)}
            control = {"alertname": "InhibitionControl", "ihtest": "control", "ihcase": str(i)}
            am.post([source])
            am.post([target, control])
            posted.append((case, target))
        deadline = time.monotonic() + 30
        pending = list(range(len(cases)))
        state: dict[str, Any] = {}
        while pending and time.monotonic() < deadline:
            alerts = am.alerts()
            state = {json.dumps(a["labels"], sort_keys=True): a["status"] for a in alerts}
            still = []
            for i in pending:
                case, target = posted[i]
                control = {"alertname": "InhibitionControl", "ihtest": "control", "ihcase": str(i)}
                control_muted = bool(state.get(json.dumps(control, sort_keys=True), {}).get("inhibitedBy"))
                target_muted = bool(state.get(json.dumps(target, sort_keys=True), {}).get("inhibitedBy"))
                if not control_muted or (case["inhibited"] and not target_muted):
                    still.append(i)
                    continue
                assert target_muted == case["inhibited"], f"{case['name']}: target inhibited={target_muted}"
            pending = still
            if pending:
                time.sleep(0.2)
        assert not pending, "not settled: " + "; ".join(cases[i]["name"] for i in pending) + "\n" + am.log()
    finally:
        am.stop()


def test_an_alertmanager_config_holding_the_wecom_secret_is_written_0600(tmp_path: Path) -> None:
    """Alertmanager 0.25 cannot read the WeCom secret from a file, so it is written inline: that file is then
    readable by its owner only (created so, not narrowed afterwards); without an inline secret it is left alone."""
    from exporter.bundle.writer import run_generate
    from exporter.config import parse_config

    secret = tmp_path / "wecom-secret"
    secret.write_text("wecom-app-secret-value\n")
    wecom = {"name": "ops", "corp_id": "ww1", "agent_id": "1000002", "to_party": "2", "api_secret_file": str(secret)}
    inline = parse_config({"bundle": {"receivers": {"wecom": [wecom]}}})
    out = tmp_path / "out"
    assert run_generate(inline, out, False) == 0
    config = out / CONFIG_FILE
    assert "wecom-app-secret-value" in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    config.chmod(0o644)  # an older, world-readable copy is narrowed even when its content is unchanged
    assert run_generate(inline, out, False) == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    plain = tmp_path / "plain"
    assert run_generate(None, plain, False) == 0
    assert stat.S_IMODE((plain / CONFIG_FILE).stat().st_mode) & 0o044  # nothing secret: readable by Alertmanager
