"""The shipped example: its certificates verify, it classifies digits, and it rebuilds identically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from axiom_runtime.certificate import verify_certificate
from axiom_runtime.keys import load_trusted_keys
from axiom_runtime.package import load_package, sha256_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DIGITS = EXAMPLES / "digits"
AXIOM = Path(sys.executable).with_name("axiom")
VERSIONS = ("1.0.0", "2.0.0", "3.0.0", "4.0.0")


@pytest.mark.parametrize("version", VERSIONS)
def test_committed_certificate_verifies_against_its_package(version: str) -> None:
    package = DIGITS / f"digits-{version}.axiom"
    result = verify_certificate(
        (DIGITS / f"digits-{version}.cert.json").read_bytes(),
        load_trusted_keys(EXAMPLES / "keys" / "trusted"),
        package_sha256=sha256_file(package),
        expected_name="digits",
        expected_version=version,
    )
    assert result.ok, result.message


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
@pytest.mark.parametrize("digit", [0, 3, 7])
def test_console_script_classifies_each_sample_digit(version: str, digit: int) -> None:
    completed = subprocess.run(
        [AXIOM, "model", "predict", DIGITS / f"digits-{version}.axiom", DIGITS / f"sample-digit-{digit}.json"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"row 0: class {digit} ")


def test_good_versions_are_accurate_and_the_bad_one_is_not() -> None:
    metrics = json.loads((DIGITS / "metrics.json").read_text())["versions"]
    assert metrics["1.0.0"]["holdout_accuracy"] >= 0.95
    assert metrics["2.0.0"]["holdout_accuracy"] >= 0.95
    assert metrics["3.0.0"]["mean_confidence"] < 0.2


def test_the_permuted_version_is_as_confident_as_1_0_0_and_wrong_on_almost_every_row() -> None:
    metrics = json.loads((DIGITS / "metrics.json").read_text())["versions"]
    assert metrics["4.0.0"]["mean_confidence"] == metrics["1.0.0"]["mean_confidence"]
    assert metrics["4.0.0"]["holdout_accuracy"] < 0.05


@pytest.mark.parametrize("version", VERSIONS)
def test_metrics_describe_the_committed_packages(version: str) -> None:
    metrics = json.loads((DIGITS / "metrics.json").read_text())["versions"][version]
    assert metrics["sha256"] == load_package(DIGITS / f"digits-{version}.axiom").sha256


def test_private_key_is_loudly_marked_test_only() -> None:
    text = (EXAMPLES / "keys" / "TEST-ONLY-signing-key.pem").read_text()
    assert text.startswith("# TEST-ONLY KEY. NEVER USE IN PRODUCTION.")


@pytest.mark.slow
def test_build_script_is_byte_reproducible(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        subprocess.run(
            [sys.executable, EXAMPLES / "build_example.py", "--out-dir", tmp_path / name],
            check=True,
            capture_output=True,
            timeout=240,
        )
        outputs.append(
            {
                p.relative_to(tmp_path / name): p.read_bytes()
                for p in sorted((tmp_path / name).rglob("*"))
                if p.is_file()
            }
        )
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 14  # 4 packages, 4 certificates, 3 samples, metrics, 2 keys
