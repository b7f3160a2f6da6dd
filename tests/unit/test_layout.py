"""The package's shape, read from its imports: no import cycle between modules, and the
layers the README's layout names import only downwards (the studies never import the
report; the report and the documents never start a server)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "probe"


def _module(path: Path) -> str:
    parts = path.relative_to(PROBE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> the probe modules it imports (at any depth of its body)."""
    modules = {_module(p): p for p in PROBE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


GRAPH = _imports()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_imports_have_no_cycle():
    assert GRAPH, "no modules found: nothing was checked"
    assert _cycle(GRAPH) is None


def test_a_cycle_would_be_seen():
    """The check itself: a graph with a cycle is caught."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# Modules that only declare (no imports of probe, nothing started): any layer may read
# them. The documents' keys for the pre-fork settings come from settings.
TABLES = ("probe.servers.settings", "probe.servers.limits")


def test_the_tables_any_layer_reads_import_nothing_of_probe():
    assert all(GRAPH[t] == set() for t in TABLES), {t: GRAPH[t] for t in TABLES}


@pytest.mark.parametrize(
    ("layer", "never"),
    [
        ("probe.studies", ("probe.report", "probe.cli")),
        ("probe.report", ("probe.studies", "probe.measure", "probe.cli", "probe.servers.process",
                          "probe.servers.pool", "probe.search")),
        ("probe.documents", ("probe.studies", "probe.report", "probe.measure", "probe.cli",
                             "probe.servers", "probe.search")),
        ("probe.search", ("probe.studies", "probe.report", "probe.measure", "probe.servers",
                          "probe.cli")),
        ("probe.servers", ("probe.studies", "probe.report", "probe.measure", "probe.search",
                           "probe.cli", "probe.workload", "probe.plan", "probe.profile")),
        ("probe.plan", ("probe.studies", "probe.report", "probe.cli")),
        ("probe.profile", ("probe.studies", "probe.report", "probe.cli", "probe.measure",
                           "probe.search")),
        ("probe.measure", ("probe.studies", "probe.report", "probe.cli")),
    ],
)  # fmt: skip
def test_layers_import_downwards(layer, never):
    inside = [m for m in GRAPH if m == layer or m.startswith(layer + ".")]
    assert inside, f"no module in {layer}"
    wrong = sorted((m, dep) for m in inside for dep in GRAPH[m]
                   if dep.startswith(never) and dep not in TABLES)  # fmt: skip
    assert wrong == []
