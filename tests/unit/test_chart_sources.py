"""The chart's copies are equal to their sources: CRDs, package version, values documentation."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "axiom-operator"
SYNC_CRDS = REPO_ROOT / "hack" / "sync-crds.py"
GEN_DOCS = REPO_ROOT / "hack" / "gen-helm-docs.py"


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60
    )


def test_chart_crds_equal_the_crd_source() -> None:
    result = _run(SYNC_CRDS, "--check")
    assert result.returncode == 0, result.stderr


def test_crd_check_catches_an_edited_copy(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    (source / "a.yaml").write_text("kind: CustomResourceDefinition\n")
    assert _run(SYNC_CRDS, "--source", str(source), "--dest", str(dest)).returncode == 0
    assert _run(SYNC_CRDS, "--check", "--source", str(source), "--dest", str(dest)).returncode == 0
    (dest / "a.yaml").write_text("kind: CustomResourceDefinition\n# edited\n")
    result = _run(SYNC_CRDS, "--check", "--source", str(source), "--dest", str(dest))
    assert result.returncode == 1
    assert "differs" in result.stderr


def test_crd_check_catches_a_stale_extra_copy(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    (source / "a.yaml").write_text("a\n")
    (dest / "a.yaml").write_text("a\n")
    (dest / "removed.yaml").write_text("b\n")
    result = _run(SYNC_CRDS, "--check", "--source", str(source), "--dest", str(dest))
    assert result.returncode == 1
    assert "removed.yaml" in result.stderr


def test_chart_version_and_app_version_follow_the_package() -> None:
    package_version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "version"
    ]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == package_version
    assert chart["version"] == package_version


def test_every_helm_value_is_documented_and_the_reference_is_current() -> None:
    result = _run(GEN_DOCS, "--check")
    assert result.returncode == 0, result.stderr


def test_an_undocumented_value_fails_the_docs_check(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("# -- documented\nalpha: 1\ngroup:\n  # -- fine\n  beta: 2\n  gamma: 3\n")
    result = _run(GEN_DOCS, "--check", "--values", str(values), "--out", str(tmp_path / "out.md"))
    assert result.returncode == 1
    assert "group.gamma" in result.stderr
    assert "alpha" not in result.stderr


def test_a_stale_values_reference_fails_the_docs_check(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    out = tmp_path / "out.md"
    values.write_text("# -- documented\nalpha: 1\n")
    assert _run(GEN_DOCS, "--values", str(values), "--out", str(out)).returncode == 0
    values.write_text("# -- documented\nalpha: 1\n# -- new\nbeta: true\n")
    result = _run(GEN_DOCS, "--check", "--values", str(values), "--out", str(out))
    assert result.returncode == 1
    assert "stale" in result.stderr
