"""resources/ and rollout/ stay pure: no kopf, no Kubernetes client (STYLE habit 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "axiom_operator"
PURE = ["resources", "rollout", "plan.py", "diff.py", "api.py", "status.py", "rollout_spec.py"]
FORBIDDEN = ("kopf", "lightkube", "aiohttp", "httpx")


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for entry in PURE:
        path = PACKAGE / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return files


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_imports_no_io_library(path: Path) -> None:
    assert _imports(path) & set(FORBIDDEN) == set()
