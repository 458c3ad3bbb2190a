"""The kind end-to-end script (run.sh): real images on a real cluster via `helm install`.

Runs only where Docker (a reachable daemon) and kind exist; elsewhere it is skipped with the
reason. The script's syntax is checked everywhere, so a broken script cannot hide behind the
skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("run.sh")


def _docker_problem() -> str | None:
    """Why the kind test cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return "the Docker daemon is not reachable (`docker info` failed)"
    if shutil.which("kind") is None:
        return "kind is not installed"
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    return None


def test_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_kind_install_predict_canary_rollback() -> None:
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(f"kind e2e needs Docker and kind: {problem} (see tests/e2e/kind/run.sh)")
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=3500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "PASSED" in result.stderr
