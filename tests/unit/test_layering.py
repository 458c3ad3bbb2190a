"""The import graph follows the architecture: a pass flows handlers -> queue -> pipeline ->
observe / plan / apply -> the modules they stand on, never back up, and nothing in
operator/ or runtime/ imports in a cycle.

The graph is read from the source (every ``import``, including the ones inside functions and
under ``TYPE_CHECKING``: a cycle dodged by a late import is still a cycle in the design).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"axiom_operator": ROOT / "operator", "axiom_runtime": ROOT / "runtime"}

# Highest first. A module may import its own layer's modules and any lower layer's; the
# stages of a pass (observe, plan, apply) do not import one another.
OPERATOR_LAYERS: list[tuple[str, ...]] = [
    ("main", "cli", "crd", "kubectl"),
    ("handlers",),
    ("queue",),
    ("pipeline",),
    ("observe", "plan", "apply"),
    ("context", "events", "kube", "certificates", "prometheus", "status_view", "notify"),
    (
        "status_model",
        "status",
        "rollout_spec",
        "resources",
        "diff",
        "metrics",
        "settings",
        "child_cache",
    ),
    ("values",),
    ("rollout", "api"),
]
INDEPENDENT = ("observe", "plan", "apply")


def modules() -> dict[str, Path]:
    found = {}
    for package, base in SOURCES.items():
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """The project modules ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            # "from pkg import submodule" needs only the submodule; any other name, pkg itself
            targets = submodules + ([] if all(t in known for t in submodules) else [base])
        else:
            continue
        for target in targets:
            # "from pkg import submodule" names the submodule; "from mod import name" the module
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imported(path, name, known)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, top-level part) of an axiom_operator module."""
    parts = module.split(".")
    if parts[0] != "axiom_operator" or len(parts) < 2:
        return None
    for number, layer in enumerate(OPERATOR_LAYERS):
        if parts[1] in layer:
            return number, parts[1]
    raise AssertionError(f"{module} is in no layer: add it to OPERATOR_LAYERS")


def test_the_graph_is_read_from_the_source() -> None:
    edges = graph()
    # guards the reader itself: a graph without these edges would pass the tests vacuously
    assert "axiom_operator.pipeline" in edges["axiom_operator.queue"]
    assert "axiom_operator.observe" in edges["axiom_operator.pipeline"]
    assert "axiom_operator.rollout.machine" in edges["axiom_operator.rollout"]


def test_no_import_cycle_anywhere() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_operator_module_is_in_a_layer() -> None:
    for module in graph():
        layer_of(module)


@pytest.mark.parametrize("module", sorted(m for m in graph() if m.startswith("axiom_operator.")))
def test_imports_go_down_the_layers(module: str) -> None:
    own = layer_of(module)
    assert own is not None
    for target in sorted(graph()[module]):
        theirs = layer_of(target)
        if theirs is None or theirs[1] == own[1]:
            continue
        assert theirs[0] >= own[0], f"{module} imports {target}, a higher layer"
        if own[1] in INDEPENDENT:
            assert theirs[1] not in INDEPENDENT, f"{module} imports {target}: stages are siblings"
