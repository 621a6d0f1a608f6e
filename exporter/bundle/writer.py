"""``llmpulse generate``: build every file of the bundle in memory, then write it or compare it with the disk.

The bundle is a pure function of the metric contract and the ``bundle:`` settings, so the committed files must be
exactly what ``llmpulse generate`` (no config) writes; ``--check`` proves it in the test suite and in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter.bundle import alertmanager as am
from exporter.bundle.am_templates import TEMPLATE_FILE, template_text
from exporter.bundle.dashboards import grafana_files
from exporter.bundle.demofile import stack_files
from exporter.bundle.kubernetes.kustomize import kubernetes_files
from exporter.bundle.mixin import mixin_files
from exporter.bundle.prometheus import prometheus_config
from exporter.bundle.rule_tests import test_files
from exporter.bundle.rules import ALERTS_FILE, RULES_FILE, alert_groups, recording_groups
from exporter.bundle.runbooks import RUNBOOKS_FILE, runbooks_markdown
from exporter.bundle.settings import BundleConfig
from exporter.bundle.topology import COMPOSE, Topology
from exporter.safefiles import write_private
from exporter.yamlio import GENERATED, dump, dump_json, dump_rule_groups, header

if TYPE_CHECKING:
    from exporter.config import Config

PROMETHEUS_FILE = "prometheus/prometheus.yml"
# Directories whose every file the generator owns: a generated file there that is no longer produced is stale.
OWNED_DIRS = (
    "prometheus/rules",
    "prometheus/tests",
    "alertmanager/templates",
    "alertmanager/tests",
    "deploy/kubernetes",
    "deploy/kube-prometheus-stack",
)


def _yaml(source: str, data: Any, note: str = "") -> str:
    return header(source) + (f"# {note}\n" if note else "") + dump(data)


def bundle_files(settings: BundleConfig | None = None, topology: Topology = COMPOSE) -> dict[str, str]:
    """Every generated file for ``topology`` (the compose stack: the committed files): relative path -> text."""
    s = settings or BundleConfig()
    files: dict[str, str] = {
        PROMETHEUS_FILE: _yaml(
            "exporter/bundle/prometheus.py",
            prometheus_config(s, topology),
            "Scrapes the exporter, Prometheus and Alertmanager; rule files are relative to this file.",
        ),
        RULES_FILE: header("exporter/bundle/rules.py") + dump_rule_groups(recording_groups(s)),
        ALERTS_FILE: header("exporter/bundle/rules.py") + dump_rule_groups(alert_groups(s)),
    }
    for path, data in test_files(s).items():
        files[path] = _yaml("exporter/bundle/rule_tests.py", data, "Run: promtool test rules prometheus/tests/*.yml")
    files[am.CONFIG_FILE] = _yaml(
        "exporter/bundle/alertmanager.py",
        am.alertmanager_config(s, topology),
        "Templates are relative to this file; check with: amtool check-config",
    )
    files[TEMPLATE_FILE] = template_text(header("exporter/bundle/am_templates.py"))
    files[am.ROUTES_FILE] = _yaml(
        "exporter/bundle/alertmanager.py",
        {"cases": am.route_cases(s)},
        "Each case: amtool config routes test --config.file=alertmanager/alertmanager.yml "
        "--verify.receivers=RECEIVERS LABELS...",
    )
    files[am.INHIBITIONS_FILE] = _yaml(
        "exporter/bundle/alertmanager.py",
        {"cases": am.inhibition_cases(s)},
        "Checked against a real Alertmanager by tests/test_bundle_alertmanager.py.",
    )
    files[am.TEMPLATE_DATA_FILE] = dump_json(
        {"_comment": f"{GENERATED} Template test data (webhook payload shape).", **am.template_data(s)}
    )
    files[RUNBOOKS_FILE] = runbooks_markdown(s, header("exporter/bundle/runbooks.py", comment="").replace("\n ", "\n"))
    grafana = grafana_files(s, topology)
    files.update(grafana)
    files.update(stack_files(s, topology))
    files.update(kubernetes_files(s, grafana))
    files.update(mixin_files(s, grafana))
    return files


def _stale(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Generated files in the generator's own directories that the current settings no longer produce."""
    stale = []
    for sub in OWNED_DIRS:
        root = out_dir / sub
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(out_dir).as_posix()
            if path.is_file() and rel not in files:
                try:
                    head = path.read_text(encoding="utf-8", errors="replace")[:400]
                except OSError:
                    continue
                if GENERATED in head:
                    stale.append(rel)
    return stale


def _differences(out_dir: Path, files: dict[str, str]) -> list[str]:
    problems = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
            continue
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: unreadable ({exc})")
            continue
        if current != text:
            problems.append(f"{rel}: differs")
    problems += [f"{rel}: no longer generated (remove it)" for rel in _stale(out_dir, files)]
    return problems


def run_generate(config: Config | None, out_dir: Path, check: bool, topology: Topology = COMPOSE) -> int:
    """Write the bundle into ``out_dir`` (or with ``check`` compare it); return the exit status.

    0: written, or up to date; 1: ``--check`` found differences (listed on stderr); 2: the settings cannot produce
    a valid bundle (reason on stderr).
    """
    settings = config.bundle if config is not None else BundleConfig()
    try:
        files = bundle_files(settings, topology)
    except (ValueError, LookupError) as exc:
        print(f"error: cannot generate the bundle: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(out_dir)
    if check:
        problems = _differences(out_dir, files)
        if problems:
            print(
                f"error: {len(problems)} generated file(s) in {out_dir} are not what `llmpulse generate` writes:",
                file=sys.stderr,
            )
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            print("run `llmpulse generate` (with the same --config) and commit the result", file=sys.stderr)
            return 1
        print(f"{out_dir}: {len(files)} generated files are up to date")
        return 0
    changed = 0
    # The Alertmanager config holding a secret inline (WeCom on Alertmanager < 0.31) is readable by its owner only.
    private = {am.CONFIG_FILE} if am.has_inline_secret(settings) else set()
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        if rel in private and path.exists():
            path.chmod(0o600)
        if path.exists() and path.read_text(encoding="utf-8", errors="replace") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel in private:
            write_private(path, text)
        else:
            path.write_text(text, encoding="utf-8")
        changed += 1
    removed = _stale(out_dir, files)
    for rel in removed:
        (out_dir / rel).unlink()
    print(f"{out_dir}: wrote {len(files)} files ({changed} changed, {len(removed)} stale removed)")
    if am.has_inline_secret(settings):
        print(
            f"warning: {am.CONFIG_FILE} contains the WeCom api_secret inline (Alertmanager "
            f"{settings.alertmanager_version} cannot read it from a file): keep that file out of version control",
            file=sys.stderr,
        )
    return 0
