"""The landing page lists every source with its state, last success and last error; no credential (from an
environment variable or a file, accepted or rejected by the provider) reaches /metrics, the page, the log or
check-config's errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import exporter, run_cli

from exporter.simulator import Simulator

OPENAI_SECRET = "sk-admin-Hk29dLq7Vn4Rx8TbW3zPm5Ys1OPENAI"
ANTHROPIC_SECRET = "sk-ant-admin01-Ju6Tq2Wc9Xn3Lb7Vr4Ks8Pd1ANTHROPIC"
REJECTED_SECRET = "sk-admin-Rf5Gy8Hu2Ji9Ko3Lp7Mq1Nw4REJECTED"
# distinctive middles: a partial leak (e.g. a key echoed with only its prefix masked) is a leak too
FRAGMENTS = ("Hk29dLq7Vn4Rx8TbW3zPm5Ys1", "Ju6Tq2Wc9Xn3Lb7Vr4Ks8Pd1", "Rf5Gy8Hu2Ji9Ko3Lp7Mq1Nw4")


@pytest.fixture
def sim_url() -> Iterator[str]:
    server = Simulator(seed=42, keys=(OPENAI_SECRET, ANTHROPIC_SECRET)).serve("127.0.0.1", 0)
    try:
        yield server.url
    finally:
        server.stop()


def _config(sim_url: str, key_file: Path) -> dict[str, Any]:
    common = {"base_url": sim_url, "interval": "2s", "timeout": "2s"}
    return {
        "sources": [
            {"type": "openai", "name": "openai-prod", "api_key_env": "OA_ADMIN_KEY", **common},
            {"type": "anthropic", "name": "anthropic-prod", "api_key_file": str(key_file), **common},
            {"type": "openai", "name": "openai-rejected", "api_key_env": "OA_REJECTED_KEY", **common},
        ]
    }


def assert_no_secret(text: str, where: str) -> None:
    for secret in (OPENAI_SECRET, ANTHROPIC_SECRET, REJECTED_SECRET, *FRAGMENTS):
        assert secret not in text, f"a credential leaked into {where}"


def test_landing_page_and_no_secret_anywhere(sim_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "anthropic.key"
    key_file.write_text(ANTHROPIC_SECRET + "\n")
    env = {"OA_ADMIN_KEY": OPENAI_SECRET, "OA_REJECTED_KEY": REJECTED_SECRET}
    with exporter(_config(sim_url, key_file), tmp_path, env=env, args=["--log-level", "debug"]) as proc:
        m = proc.wait_for(
            lambda m: (
                m.value("llmpulse_source_up", source="openai-prod") == 1
                and m.value("llmpulse_source_up", source="anthropic-prod") == 1
                and m.value("llmpulse_source_up", source="openai-rejected") == 0
            ),
            what="states",
        )
        assert m.value("llmpulse_source_api_requests_total", source="openai-rejected", code="401") >= 1
        page = requests.get(f"{proc.url}/", timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        html = page.text
        for name in ("openai-prod", "anthropic-prod", "openai-rejected"):
            assert name in html
        assert 'class="up"' in html and 'class="down"' in html
        assert "UTC" in html  # last success time
        assert "HTTP 401" in html and "Incorrect API key provided" in html  # the last error, redacted
        for link in ('href="/metrics"', 'href="/-/healthy"', 'href="/-/ready"'):
            assert link in html
        assert requests.get(f"{proc.url}/-/healthy", timeout=5).status_code == 200
        assert requests.get(f"{proc.url}/-/ready", timeout=5).status_code == 200
        gz = requests.get(f"{proc.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5).text
        assert_no_secret(m.text, "/metrics")
        assert_no_secret(gz, "/metrics (gzip)")
        assert_no_secret(html, "the landing page")
        assert_no_secret(proc.log(), "the log")


def test_check_config_errors_never_contain_the_credentials(tmp_path: Path) -> None:
    key_file = tmp_path / "anthropic.key"
    key_file.write_text(ANTHROPIC_SECRET)
    cfg = tmp_path / "bad.yml"
    cfg.write_text(
        "sources:\n"
        "  - {type: openai, name: a, api_key_env: OA_ADMIN_KEY, interval: soon}\n"
        f"  - {{type: anthropic, name: b, api_key_file: {key_file}, group_by: [user]}}\n"
        f"  - {{type: openai, name: c, api_key_env: {REJECTED_SECRET}}}\n"
    )
    result = run_cli("check-config", str(cfg), env={"OA_ADMIN_KEY": OPENAI_SECRET})
    assert result.returncode == 2
    assert result.stderr.count(str(cfg)) >= 3  # three problems reported
    assert_no_secret(result.stdout + result.stderr, "check-config output")
