"""What the runtime package may import: nothing of the operator, and no numpy to verify.

The runtime image ships without the operator, so ``axiom_runtime`` must not import
``axiom_operator`` (or the dev tooling); the operator adds ``axiom operator`` through an entry
point. Verifying a certificate runs in the operator and at every runtime start, so it must not
pay for numpy and the model engine.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime" / "axiom_runtime"
EXAMPLES = ROOT / "examples"
FORBIDDEN_PACKAGES = ("axiom_operator", "axiom_devcluster", "kopf", "lightkube", "pydantic")
ENGINE_MODULES = ("numpy", "axiom_runtime.engine", "axiom_runtime.layers", "axiom_runtime.package")


def imported_names(tree: ast.AST) -> set[str]:
    """Modules named by import statements and by string arguments to import_module()."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def test_the_walk_sees_every_form_of_import() -> None:
    tree = ast.parse(
        "import kopf\nfrom axiom_operator import cli\nimportlib.import_module('axiom_operator.cli')"
    )
    assert imported_names(tree) == {"kopf", "axiom_operator", "axiom_operator.cli"}


@pytest.mark.parametrize(
    "path", sorted(RUNTIME.rglob("*.py")), ids=lambda p: str(p.relative_to(RUNTIME))
)
def test_no_runtime_module_imports_the_operator(path: Path) -> None:
    names = imported_names(ast.parse(path.read_text(encoding="utf-8")))
    bad = sorted(n for n in names if n.split(".")[0] in FORBIDDEN_PACKAGES)
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "runtime")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_importing_certificates_and_keys_does_not_import_numpy() -> None:
    result = run_python(
        "import sys, axiom_runtime.certificate, axiom_runtime.keys\n"
        f"loaded = [m for m in {ENGINE_MODULES!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    assert result.returncode == 0, result.stderr


def test_axiom_cert_verify_does_not_import_numpy() -> None:
    digits = EXAMPLES / "digits"
    argv = [
        "cert", "verify", str(digits / "digits-1.0.0.cert.json"),
        "--trusted-keys", str(EXAMPLES / "keys" / "trusted"),
        "--package", str(digits / "digits-1.0.0.axiom"), "--name", "digits", "--version", "1.0.0",
    ]  # fmt: skip
    result = run_python(
        "import sys\nfrom axiom_runtime.cli import main\n"
        f"code = main({argv!r})\n"
        f"loaded = [m for m in {ENGINE_MODULES!r} if m in sys.modules]\n"
        "assert not loaded, loaded\nsys.exit(code)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("certificate valid: digits 1.0.0")


def test_signing_names_still_import_from_the_certificate_package() -> None:
    result = run_python(
        "import sys\nfrom axiom_runtime.certificate import sign_certificate, check_properties\n"
        "assert 'numpy' in sys.modules and callable(sign_certificate)\n"
    )
    assert result.returncode == 0, result.stderr


# Import name -> the distribution that provides it, where the two differ.
DISTRIBUTION_OF = {
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "joblib": "scikit-learn",
    "grpc": "grpcio",
    "google": "protobuf",  # google.protobuf, imported by the generated stubs
    "prometheus_client": "prometheus-client",
    "model_signing": "model-signing",
}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", requirement)[0].lower() for requirement in requirements}


def test_every_third_party_import_of_the_runtime_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())["project"]
    declared = requirement_names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= requirement_names(extra)
    imported = {
        name.split(".")[0]
        for path in RUNTIME.rglob("*.py")
        for name in imported_names(ast.parse(path.read_text(encoding="utf-8")))
    }
    third_party = {
        DISTRIBUTION_OF.get(name, name)
        for name in imported
        if name not in sys.stdlib_module_names and name not in ("axiom_runtime", "__future__")
    }
    assert third_party - declared == set()
    assert {"numpy", "aiohttp", "cryptography", "orjson", "pyyaml"} <= third_party


def test_the_operator_distribution_depends_on_this_runtime_version() -> None:
    runtime = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())["project"]
    operator = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"axiom-runtime=={runtime['version']}" in operator["dependencies"]
    assert runtime["version"] == operator["version"]
