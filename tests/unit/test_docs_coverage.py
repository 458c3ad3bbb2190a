"""The reference docs cover every CRD field, annotation, metric and condition reason in the code.

Each inventory is taken from the source, not from a list kept by hand: the CRD file for
fields, the Python AST of runtime/ and operator/ for metric registrations, `axiom.dev/...`
keys and condition reasons. A name the code gains without a doc entry fails here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
CODE_ROOTS = (REPO_ROOT / "runtime" / "axiom_runtime", REPO_ROOT / "operator" / "axiom_operator")
METRIC_FACTORIES = {"Counter", "Gauge", "Histogram", "BatchHistogram"}
AXIOM_KEY = re.compile(r"\baxiom\.dev/[a-z][-a-z0-9]*[a-z0-9]")
API_VERSIONS = {"axiom.dev/v1alpha1"}
REASON = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def python_files() -> Iterator[Path]:
    for root in CODE_ROOTS:
        yield from sorted(root.rglob("*.py"))


def trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in python_files():
        yield path, ast.parse(path.read_text(), filename=str(path))


def _call_name(node: ast.Call) -> str:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name.lstrip("_")


def _metric_name(arg: ast.expr) -> str | None:
    """A metric name given as a literal or as a constant of axiom_runtime.metric_names."""
    from axiom_runtime import metric_names

    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    constant = arg.attr if isinstance(arg, ast.Attribute) else getattr(arg, "id", None)
    value = getattr(metric_names, constant, None) if constant else None
    return value if isinstance(value, str) else None


def registered_metrics() -> set[str]:
    """The `axiom_*` name (first argument) of every Counter/Gauge/(Batch)Histogram(...) call."""
    names = set()
    for _, tree in trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in METRIC_FACTORIES and node.args:
                name = _metric_name(node.args[0])
                if name is not None and name.startswith("axiom_"):
                    names.add(name)
    return names


def axiom_keys() -> set[str]:
    """Every `axiom.dev/<name>` label, annotation or finalizer the code names (in a constant or
    in a message), plus one annotation per field of the rollout's ManualRequests
    (a field ``<annotation>_<value>`` is a value of that annotation)."""
    from dataclasses import fields

    from axiom_operator.rollout.model import ManualRequests

    # promote_step is a value of axiom.dev/promote (=step), not an annotation of its own
    keys = {f"axiom.dev/{field.name.partition('_')[0]}" for field in fields(ManualRequests)}
    for _, tree in trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                keys.update(AXIOM_KEY.findall(node.value))
    return keys - API_VERSIONS


def _string_args(node: ast.Call) -> list[str]:
    return [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def condition_reasons() -> set[str]:
    """Reasons a status condition can carry: ConditionValue(status, reason, message) literals,
    the certificate gate's outcomes (GateOutcome / _outcome), and the certificate verifier's
    FailureReason values (they become the CertificateValid condition's reason)."""
    from axiom_runtime.certificate import FailureReason
    from axiom_runtime.certificate.oms import OmsReason

    reasons = {reason.value for reason in FailureReason} | {reason.value for reason in OmsReason}
    for _, tree in trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name == "ConditionValue":
                candidates = node.args[1:2] + [k.value for k in node.keywords if k.arg == "reason"]
                reasons.update(
                    arg.value
                    for arg in candidates
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                )
            elif name in ("GateOutcome", "outcome"):
                reasons.update(_string_args(node))
    return {reason for reason in reasons if REASON.match(reason)}


def event_reasons() -> set[str]:
    """Reasons of the Events the operator posts: Event(type, reason, message) / .event(...)."""
    reasons = set()
    for _, tree in trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in ("Event", "event"):
                args = node.args[1:2]
                if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                    reasons.add(args[0].value)
    return {reason for reason in reasons if REASON.match(reason)}


def _documented(name: str, document: str) -> bool:
    return f"`{name}`" in document


def test_metric_inventory_finds_the_contract_metrics() -> None:
    # guards the AST scan itself: if it found nothing, the coverage test below would pass vacuously
    assert {"axiom_inference_latency_seconds", "axiom_inference_total", "axiom_ready"} <= (
        registered_metrics()
    )


@pytest.mark.parametrize("metric", sorted(registered_metrics()))
def test_every_registered_metric_is_documented(metric: str) -> None:
    assert _documented(metric, (DOCS / "metrics.md").read_text()), (
        f"{metric} not in docs/metrics.md"
    )


def test_key_inventory_finds_the_model_label() -> None:
    assert "axiom.dev/model" in axiom_keys()


@pytest.mark.parametrize("key", sorted(axiom_keys()))
def test_every_axiom_label_and_annotation_is_documented(key: str) -> None:
    document = (DOCS / "annotations.md").read_text()
    assert _documented(key, document), f"{key} not in docs/annotations.md"


def test_reason_inventory_finds_the_certificate_reasons() -> None:
    assert {"Serving", "CertificateNotFound", "UnknownKey"} <= condition_reasons()


@pytest.mark.parametrize("reason", sorted(condition_reasons() | event_reasons()))
def test_every_condition_and_event_reason_has_a_troubleshooting_entry(reason: str) -> None:
    document = (DOCS / "troubleshooting.md").read_text()
    assert re.search(rf"^#+ .*`{reason}`", document, re.MULTILINE), (
        f"no heading for reason {reason} in docs/troubleshooting.md"
    )


def test_api_reference_covers_every_crd_field_and_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "hack" / "gen-api-docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_api_reference_check_fails_on_an_undocumented_field(tmp_path: Path) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(
        "spec:\n  group: g\n  names: {kind: K}\n  versions:\n  - name: v1\n    storage: true\n"
        "    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n"
        "          spec:\n            type: object\n            description: the spec\n"
        "            properties:\n              size: {type: integer}\n"
    )
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "hack" / "gen-api-docs.py"), "--check", "--crd", str(crd),
         "--out", str(tmp_path / "out.md")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "spec.size has no description" in result.stderr
