"""The ``llmpulse`` command: ``--help`` on every command, ``version``, and ``serve --demo`` serving usage, token
and cost metrics for both billing providers within seconds with no keys."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import requests
from helpers import ROOT, exporter, run_cli

from exporter import __version__
from exporter.cli import main


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(main))


def test_the_documented_commands_exist() -> None:
    assert {c for c in COMMANDS if len(c) == 1} >= {("serve",), ("check-config",), ("simulate",), ("version",)}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "llmpulse")
def test_help_works_on_every_command(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = run_cli(*path, flag, timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage:") and result.stderr == ""


def test_serve_help_documents_the_contracted_flags() -> None:
    out = run_cli("serve", "--help").stdout
    for flag in ("--config", "--listen", "--demo"):
        assert flag in out
    assert "9877" in out  # the default port


def test_version_and_the_installed_entry_point() -> None:
    assert run_cli("version").stdout.strip() == f"llmpulse {__version__}"
    script = Path(sys.executable).parent / "llmpulse"
    exe = str(script) if script.exists() else "llmpulse"
    result = subprocess.run([exe, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and __version__ in result.stdout


def test_serve_without_config_or_demo_is_a_usage_error() -> None:
    result = run_cli("serve", "--listen", "127.0.0.1:0")
    assert result.returncode == 2 and "--config" in result.stderr


def test_serve_demo_serves_usage_tokens_and_costs_for_both_providers(tmp_path: Path) -> None:
    def complete(m: object) -> bool:
        for provider in ("openai", "anthropic"):
            for name in ("llmpulse_usage_tokens_total", "llmpulse_cost_usd_total"):
                if m.total(name, provider=provider) <= 0:  # type: ignore[attr-defined]
                    return False
        return m.total("llmpulse_usage_requests_total", provider="openai") > 0  # type: ignore[attr-defined]

    with exporter(None, tmp_path, args=["--demo", "--simulator-listen", "127.0.0.1:0"]) as proc:
        m = proc.wait_for(complete, timeout=30, what="demo usage, tokens and costs for openai and anthropic")
        for provider in ("openai", "anthropic"):
            assert m.value("llmpulse_source_up", provider=provider, source=f"{provider}-demo") == 1
            assert m.find("llmpulse_project_info", provider=provider)
        assert m.find("llmpulse_build_info", version=__version__)
        # The landing page says where the demo simulator is and how to break it.
        page = requests.get(proc.url + "/", timeout=10).text
        sim_url = re.search(r'href="(http://127\.0\.0\.1:\d+)/_sim/state"', page)
        assert sim_url, page
        assert f"curl -X POST {sim_url.group(1)}/_sim/faults" in page
        assert requests.get(sim_url.group(1) + "/_sim/health", timeout=10).status_code == 200
