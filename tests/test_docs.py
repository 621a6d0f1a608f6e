"""The reference in docs/ stays true: the metric list is the contract's, and the documented commands exist."""

from __future__ import annotations

import re

from click.testing import CliRunner
from helpers import ROOT

from exporter import contract
from exporter.cli import main

METRICS_DOC = ROOT / "docs" / "metrics.md"
FIX = (
    "regenerate it: python -c \"import re,exporter.contract as c;p='docs/metrics.md';s=open(p).read();"
    "open(p,'w').write(re.sub(r'(<!-- metrics:start[^>]*-->\\n).*?(<!-- metrics:end -->)',"
    'lambda m:m.group(1)+c.markdown_reference()+m.group(2),s,flags=re.S))"'
)


def test_metric_list_is_generated_from_the_contract() -> None:
    block = re.search(r"<!-- metrics:start[^>]*-->\n(.*?)<!-- metrics:end -->", METRICS_DOC.read_text(), re.S)
    assert block, "docs/metrics.md has no metric list markers"
    assert block.group(1) == contract.markdown_reference(), "docs/metrics.md metric list is stale; " + FIX


def test_every_command_in_the_command_reference_exists() -> None:
    text = (ROOT / "docs" / "commands.md").read_text()
    documented = set(re.findall(r"^\| `llmpulse ([a-z-]+(?: [a-z]+)?)", text, re.M))
    expected = {"serve", "check-config", "simulate", "generate", "version", "stack up", "stack status", "stack reload"}
    assert expected | {"stack down", "stack inbox"} <= {d.split(" --")[0] for d in documented}
    for command in sorted(documented):
        words = [w for w in command.split() if not w.startswith("-")]
        result = CliRunner().invoke(main, [*words, "--help"])
        assert result.exit_code == 0, f"llmpulse {command} --help: {result.output}"


def test_links_between_docs_exist() -> None:
    for doc in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / link).exists(), f"{doc.name}: broken link {link}"
