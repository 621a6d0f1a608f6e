"""The README stays true: its metric list is the contract's, its commands exist, CI runs its test command."""

from __future__ import annotations

import re

from helpers import ROOT, run_cli

from exporter import contract

README = (ROOT / "README.md").read_text()
FIX = (
    "regenerate it: python -c \"import re,exporter.contract as c;p='README.md';s=open(p).read();"
    "open(p,'w').write(re.sub(r'(<!-- metrics:start[^>]*-->\\n).*?(<!-- metrics:end -->)',"
    'lambda m:m.group(1)+c.markdown_reference()+m.group(2),s,flags=re.S))"'
)


def test_metric_list_is_generated_from_the_contract() -> None:
    block = re.search(r"<!-- metrics:start[^>]*-->\n(.*?)<!-- metrics:end -->", README, re.S)
    assert block, "README has no metric list markers"
    assert block.group(1) == contract.markdown_reference(), "README metric list is stale; " + FIX


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"Run the tests.*?```sh\n(.+?)\n```", README, re.S)
    assert command, "README must show the test command"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command.group(1).strip() in [line.strip() for line in ci]


def test_every_documented_command_exists() -> None:
    for cmd in ("serve", "check-config", "simulate", "generate", "stack", "version"):
        assert f"llmpulse {cmd}" in README
        result = run_cli(cmd, "--help")
        assert result.returncode == 0, result.stderr


def test_docs_linked_from_the_readme_exist() -> None:
    for link in re.findall(r"\]\(((?:docs|exporter)/[^)#]+)\)", README):
        assert (ROOT / link).exists(), link
