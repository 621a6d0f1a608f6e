"""Dependencies point one way: no import cycle between the package's modules, counting every import statement
(function-local ones and those under ``TYPE_CHECKING`` included), so no cycle hides behind a deferred import."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "exporter"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                if f"{origin}.{alias.name}" in modules:
                    found.add(f"{origin}.{alias.name}")  # a submodule imported from its package
                elif origin in modules:
                    found.add(origin)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, name, modules) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle_through_a_function_local_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_local_imports() -> None:
    graph = import_graph()
    # exporter.cli imports the demo only inside `serve`; the edge must still be there.
    assert "exporter.demo" in graph["exporter.cli"]
    assert "exporter.stack" in graph["exporter.stack_cli"]


def test_no_import_cycle_in_the_package() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (make the dependency point one way): " + "; ".join(
        " <-> ".join(component) for component in found
    )


def test_the_runtime_does_not_depend_on_the_cli_layer() -> None:
    graph = import_graph()
    cli_layer = {"exporter.cli", "exporter.stack_cli", "exporter.__main__"}
    offenders = sorted(name for name, deps in graph.items() if name not in cli_layer and deps & cli_layer)
    assert not offenders, f"modules that import the CLI layer: {offenders}"


def test_the_config_imports_no_provider_code() -> None:
    """The config validates; providers poll. Validators check http_json paths with ``exporter.json_mapping`` (below
    both), and providers take the config's models, so the dependency runs from providers to config only."""
    graph = import_graph()
    below_config: set[str] = set()
    pending = ["exporter.config"]
    while pending:
        for dep in graph[pending.pop()] - below_config:
            below_config.add(dep)
            pending.append(dep)
    providers = sorted(name for name in below_config if name.startswith("exporter.providers"))
    assert not providers, f"exporter.config depends (directly or not) on provider code: {providers}"
    assert "exporter.json_mapping" in graph["exporter.config"]
    assert "exporter.config" in graph["exporter.providers.base"]
