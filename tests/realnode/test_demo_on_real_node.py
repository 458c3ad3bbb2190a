"""``make demo`` on the real node (where the machine allows it, ``--node auto`` picks it):
it says which node it used, tells the same story with the model pods in containers, and
leaves no process behind. Runs before the tier's session node starts (file order), since one
real node at a time can run on a machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from realnode_support import REPO_ROOT
from test_demo import STORY, processes_mentioning

from axiom_devcluster.realnode.pytest_plugin import skip_unless_possible

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
REAL_STORY = ("1. Start a local Kubernetes control plane and a real node", *STORY[1:])


def test_the_demo_runs_on_the_real_node_and_says_so(tmp_path: Path) -> None:
    skip_unless_possible()
    directory = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "axiom_devcluster.demo", "--dir", str(directory)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Pods run on the real node axiom-realnode" in output, output[:2000]
    positions = [output.find(title) for title in REAL_STORY]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), output[-4000:]
    assert "(reachable through kube-proxy)" in output
    assert "The demo ran to its end." in output
    assert processes_mentioning(directory) == []
