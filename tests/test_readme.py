"""The README works as written: its install-then-test path, its own-keys config through ``check-config``, its
commands and links; CI runs its test commands. The reference moved to docs/ stays true too (test_docs.py)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT

from exporter.cli import main

README = (ROOT / "README.md").read_text()


def _block_after(heading: str, lang: str = "sh") -> str:
    """The first fenced code block after ``heading`` (dedented: blocks inside list items are indented)."""
    match = re.search(re.escape(heading) + r".*?```" + lang + r"\n(.*?)\n\s*```", README, re.S)
    assert match, f"README: no ```{lang} block after {heading!r}"
    lines = match.group(1).splitlines()
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
    return "\n".join(ln[indent:] for ln in lines)


def _test_commands() -> list[str]:
    return [ln.strip() for ln in _block_after("## Run the tests").splitlines() if ln.strip()]


def test_the_readme_stays_a_short_front_page() -> None:
    assert len(README.splitlines()) <= 150
    assert "| `llmpulse_" not in README, "the metric reference lives in docs/metrics.md"


def test_ci_runs_the_readme_test_commands() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = _test_commands()
    assert any("pip install" in c and ".[test]" in c for c in commands), "install the test extras before testing"
    for command in commands:
        assert command in ci, f".ci/run does not run the README's {command!r}"


def test_own_keys_config_passes_check_config_with_the_variables_the_readme_exports(tmp_path: Path) -> None:
    write = _block_after("1. Write a config")
    heredoc = re.search(r"cat > (\S+) <<'EOF'\n(.*?)\nEOF", write, re.S)
    assert heredoc, "the README writes the config with a here-document"
    name, text = heredoc.groups()
    run = _block_after("2. Export the keys")
    exported = dict(re.findall(r"\b([A-Z][A-Z0-9_]+)=(\S+)", run.splitlines()[0]))
    named = set(re.findall(r"(?:api_key_env|token_env): (\w+)", text))
    assert named and named == set(exported), f"the README must export exactly the variables its config names: {named}"
    (tmp_path / name).write_text(text + "\n")
    check = next(shlex.split(ln) for ln in run.splitlines() if ln.startswith("llmpulse check-config"))
    assert check[2] == name
    env = {var: value.replace("...", "0123456789abcdef") for var, value in exported.items()}
    result = subprocess.run(
        [sys.executable, "-m", "exporter", *check[1:]],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{name}: OK" in result.stdout


def test_every_command_the_readme_shows_exists() -> None:
    shown = set(re.findall(r"^\s*llmpulse ([a-z-]+(?: (?:up|down|status|reload|inbox))?)", README, re.M))
    assert {"serve", "check-config", "stack up", "stack status", "stack down"} <= shown
    for command in shown:
        result = CliRunner().invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0, f"llmpulse {command} --help: {result.output}"


def test_links_from_the_readme_exist() -> None:
    links = re.findall(r"\]\(((?:docs/|exporter/|LICENSE)[^)#]*)\)", README)
    assert "LICENSE" in links and "docs/design.md" in links
    for link in links:
        assert (ROOT / link).exists(), link


def test_license_is_the_apache_license_the_package_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression, the form setuptools keeps building
    assert project["license-files"] == ["LICENSE"]


def _pip_unreachable(output: str) -> bool:
    return any(s in output for s in ("Failed to establish a new connection", "Temporary failure in name resolution"))


def test_the_readme_install_then_test_path_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """A fresh virtualenv, the README's install command, then its test command (on one small test file, since the
    whole suite is what is running this): pytest and its plugins must come from the install, not from elsewhere."""
    install, test = _test_commands()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    args = shlex.split(install)
    assert args[:4] == ["python", "-m", "pip", "install"]
    pip = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", *args[4:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode and _pip_unreachable(pip.stdout + pip.stderr):
        pytest.skip("the package index is unreachable from here")
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    run = subprocess.run(
        [python, *shlex.split(test)[1:], "-p", "no:cacheprovider", "tests/test_core_contract.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout), run.stdout[-2000:]
