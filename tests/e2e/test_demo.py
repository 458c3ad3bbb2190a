"""``make demo`` itself, run the way a newcomer runs it: it must reach its end, tell the
story in order, and leave no process behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from e2e_support import REPO_ROOT

from axiom_devcluster import binaries

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        bool(binaries.missing_components()),
        reason="local control plane not built (make cluster-binaries)",
    ),
]
STORY = (
    "1. Start a local Kubernetes control plane and node agent",
    "2. Install the AxiomModel CRD from the Helm chart",
    "3. Start the operator",
    "4. Deploy digits 1.0.0 with its signed certificate",
    "5. Canary 2.0.0: split, analysis, promotion",
    "6. Bad version 3.0.0: rolled back automatically",
    "7. Roll back by annotation",
    "8. Confident and wrong 4.0.0: caught in shadow mode",
    "9. Clean up",
)


def processes_mentioning(directory: Path) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or ())
        if str(directory) in command:
            found.append(f"{process.pid}: {command[:120]}")
    return found


def test_demo_runs_to_its_end_and_leaves_nothing_running(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done = subprocess.run(
        # The node agent's demo; tests/realnode runs the same demo on the real node.
        [sys.executable, "-m", "axiom_devcluster.demo", "--dir", str(directory), "--node", "agent"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    positions = [output.find(title) for title in STORY]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), output[-4000:]
    assert "answered by version 1.0.0" in output and "answered by version 2.0.0" in output
    assert "not one client request was answered by 4.0.0, and none failed" in output
    assert "The demo ran to its end." in output
    assert processes_mentioning(directory) == []
