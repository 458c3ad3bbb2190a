"""Runtime series names are spelled once, in axiom_runtime.metric_names, for every reader.

The runtime registers them and the operator's analysis reads them (scraped or in PromQL):
a second spelling could drift from the first and the analysis would read nothing, which
it treats as "no requests" (inconclusive), never as a failure anyone would notice.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from axiom_runtime import metric_names

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_ROOTS = (REPO_ROOT / "runtime" / "axiom_runtime", REPO_ROOT / "operator" / "axiom_operator")
NAMES_MODULE = REPO_ROOT / "runtime" / "axiom_runtime" / "metric_names.py"
SERIES = sorted(
    value
    for key, value in vars(metric_names).items()
    if key.isupper() and isinstance(value, str) and value.startswith("axiom_")
)


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes: prose that explains a name is not a second spelling."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def spellings(path: Path) -> Iterator[tuple[str, int, str]]:
    """(series name, line, string) for each code string literal in ``path`` naming a series."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            for series in SERIES:
                if series in node.value:
                    yield series, node.lineno, node.value


def test_the_names_module_defines_the_series_the_analysis_reads() -> None:
    assert {
        "axiom_inference_total",
        "axiom_inference_latency_seconds",
        "axiom_model_confidence",
        "axiom_canary_forward_failures_total",
        "axiom_traffic_config_generation",
    } <= set(SERIES)


def test_the_scan_finds_the_spellings_in_the_names_module() -> None:
    # guards the scan itself: finding nothing anywhere would pass the test below vacuously
    assert {series for series, _, _ in spellings(NAMES_MODULE)} == set(SERIES)


@pytest.mark.parametrize(
    "path",
    [path for root in CODE_ROOTS for path in sorted(root.rglob("*.py")) if path != NAMES_MODULE],
    ids=lambda path: str(path.relative_to(REPO_ROOT)),
)
def test_no_other_module_spells_a_series_name(path: Path) -> None:
    found = [f"line {line}: {text!r}" for _, line, text in spellings(path)]
    assert found == [], f"use axiom_runtime.metric_names instead: {found}"


def test_the_names_module_and_the_analysis_import_nothing_heavy() -> None:
    # rollout/ is pure and light; a names module that pulled numpy in would make it neither.
    code = (
        "import sys, axiom_runtime.metric_names, axiom_operator.rollout.samples; "
        "print(sorted(m for m in ('numpy', 'prometheus_client', 'aiohttp') if m in sys.modules))"
    )
    paths = f"{REPO_ROOT / 'runtime'}:{REPO_ROOT / 'operator'}"
    answer = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": paths},
    )
    assert answer.stdout.strip() == "[]"
