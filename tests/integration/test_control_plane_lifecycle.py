"""Starting and stopping the control plane leaves nothing running behind.

These tests start clusters of their own (not the session's), because what they check is what
happens when one goes away.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from axiom_devcluster import binaries
from axiom_devcluster.controlplane import ControlPlane, read_state

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def built() -> None:
    if binaries.missing_components() and not binaries.go_available():
        pytest.skip("control plane not built and `go` is not installed")
    binaries.ensure_built()


def processes_using(directory: Path) -> list[psutil.Process]:
    """Processes whose command line mentions ``directory`` (every component's does)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any(str(directory) in part for part in cmdline):
            found.append(process)
    return found


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if psutil.pid_exists(pid) and not _zombie(pid)]
        time.sleep(0.1)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_stop_leaves_no_component_process(built: None, tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "cluster", kwok_nodes=1).start()
    pids = list(plane.pids.values())
    assert len(pids) == 5
    assert processes_using(plane.directory)

    plane.stop()

    assert wait_gone(pids, timeout=1) == []
    assert processes_using(plane.directory) == []


def test_components_die_when_their_owner_is_killed(built: None, tmp_path: Path) -> None:
    """SIGKILL of the process that started the cluster (a pytest run, say) kills it too."""
    directory = tmp_path / "cluster"
    owner_script = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from axiom_devcluster.controlplane import ControlPlane
        plane = ControlPlane(Path({str(directory)!r}), kwok_nodes=1).start()
        print(json.dumps(plane.pids), flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        pids = list(json.loads(owner.stdout.readline()).values())
        assert len(pids) == 5
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        assert wait_gone(pids, timeout=10) == []
        assert processes_using(directory) == []
    finally:
        if owner.poll() is None:
            owner.kill()


def test_cli_up_detaches_and_down_stops(built: None, tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    command = [sys.executable, "-m", "axiom_devcluster"]
    up = subprocess.run(
        [*command, "up", "--dir", str(directory), "--kwok-nodes", "1", "--no-agent"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={directory / 'admin.kubeconfig'}" in up.stdout
        pids = list(read_state(directory)["pids"].values())
        assert len(pids) == 5
        # `up` has returned; the cluster must still be serving.
        nodes = subprocess.run(
            [
                str(binaries.binary("kubectl")),
                "--kubeconfig",
                str(directory / "admin.kubeconfig"),
                "get",
                "nodes",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert nodes.stdout.split() == ["node/kwok-node-0"], nodes.stderr
    finally:
        down = subprocess.run(
            [*command, "down", "--dir", str(directory)], capture_output=True, text=True, timeout=60
        )
    assert down.returncode == 0, down.stderr
    assert wait_gone(pids, timeout=5) == []
    assert processes_using(directory) == []
