"""``kubectl axiom`` against the real control plane and the operator, run as a user runs it.

Each verb is the real console entry (``python -m axiom_operator.kubectl``, what the
``kubectl-axiom`` script runs) in a child process with a kubeconfig, so exit codes and output
are what a person or a CI pipeline sees; one test goes through kubectl's own plugin discovery.
Replicas mode on kwok pods: no data path is needed to walk the steps (no analysis).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rollout_fixtures import kwok_world  # noqa: F401 (the world fixture)
from rollout_support import EXAMPLES, MODEL, REPO, RolloutWorld

from axiom_devcluster import binaries

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

# Steps without pause: each is held until promoted, so the test sets the pace.
HELD_STEPS = {"steps": [{"weight": 25}, {"weight": 50}], "scaleDownDelay": "1s"}
TRAFFIC = {"mode": "Replicas"}


@pytest.fixture
def plugin(kubeconfig: Path, namespace: str) -> Iterator[Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("runtime", "operator")),
    }
    env.pop("KUBECONFIG", None)  # the flag, as a user would pass it
    base = [sys.executable, "-m", "axiom_operator.kubectl", "--kubeconfig", str(kubeconfig)]
    base += ["-n", namespace]
    started: list[subprocess.Popen[str]] = []

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([*base, *args], env=env, stdout=subprocess.PIPE, text=True)
        started.append(process)
        return process

    run.popen = popen  # type: ignore[attr-defined]
    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def canary_at_first_step(world: RolloutWorld, plugin: Any) -> None:
    world.apply_model("1.0.0", replicas=2, traffic=TRAFFIC)
    assert plugin("status", MODEL, "--timeout", "60s").returncode == 0
    world.apply_model("2.0.0", replicas=2, traffic=TRAFFIC, rollout=HELD_STEPS)
    world.wait(lambda s: s.get("phase") == "Canary" and s.get("step") == 0, 60, "canary step 1")


def test_get_shows_the_tree_and_status_waits_for_the_end(world: RolloutWorld, plugin: Any) -> None:
    canary_at_first_step(world, plugin)
    world.wait(lambda s: s.get("effectiveWeight") == 33.33, 60, "one canary pod of three")
    tree = plugin("get", MODEL)
    assert tree.returncode == 0, tree.stderr
    out = tree.stdout
    assert f"AxiomModel {world.namespace}/{MODEL}  phase Canary  spec.version 2.0.0" in out
    assert "stable 1.0.0  Deployment digits-v1-0-0  2/2 ready" in out
    assert "canary 2.0.0  Deployment digits-v2-0-0  1/1 ready" in out
    assert "weight 25% (effective 33.33%)  step 1/2" in out
    assert out.count("  Ready") == 3  # the pods under their versions
    assert "certificate 2.0.0  Valid (Valid)  signed by" in out
    still = plugin("status", MODEL, "--no-watch")
    assert still.returncode == 3 and "Canary (canary 2.0.0 at 25%)" in still.stdout


def test_promote_pause_resume_promote_full_history_and_rollback(
    world: RolloutWorld, plugin: Any
) -> None:
    canary_at_first_step(world, plugin)
    step = plugin("promote", MODEL)
    assert step.returncode == 0, step.stderr
    assert "axiom.dev/promote=step" in step.stdout
    world.wait(lambda s: s.get("step") == 1 and s.get("canaryWeight") == 50, 30, "step 2")
    assert plugin("pause", MODEL).returncode == 0
    world.wait(lambda s: s.get("phase") == "Paused", 30, "paused")
    resumed = plugin("resume", MODEL)
    assert resumed.returncode == 0 and "axiom.dev/pause-" in resumed.stdout
    world.wait(lambda s: s.get("phase") == "Canary", 30, "resumed")
    assert plugin("promote", MODEL, "--full").returncode == 0
    done = plugin("status", MODEL, "--timeout", "60s")
    assert done.returncode == 0, done.stdout
    assert "2.0.0 is Stable" in done.stdout.splitlines()[-1]
    history = plugin("history", MODEL).stdout.splitlines()
    assert history[0].split() == ["VERSION", "OUTCOME", "AT", "REASON"]
    assert [row.split()[:2] for row in history[1:]] == [
        ["1.0.0", "Promoted"],
        ["2.0.0", "Promoted"],
    ]
    back = plugin("rollback", MODEL, "--to", "1.0.0")
    assert back.returncode == 0, back.stderr
    assert "now: RolledBack:" in back.stdout
    failed = plugin("status", MODEL)
    assert failed.returncode == 1 and failed.stdout.startswith("RolledBack:")
    unknown = plugin("rollback", MODEL, "--to", "9.9.9")
    assert unknown.returncode == 1 and "9.9.9 is not in status.history" in unknown.stderr


def test_abort_rolls_the_canary_back_and_status_fails(
    world: RolloutWorld, plugin: Any, kubeconfig: Path
) -> None:
    canary_at_first_step(world, plugin)
    watch = plugin.popen("get", MODEL, "--watch")
    # The watch's first frame, before the abort: otherwise a fast rollback is all it sees.
    assert watch.stdout is not None
    first = watch.stdout.readline()
    assert "phase Canary" in first, first
    aborted = plugin("abort", MODEL)
    assert aborted.returncode == 0, aborted.stderr
    assert "axiom.dev/rollback=previous" in aborted.stdout
    assert "now: RolledBack:" in aborted.stdout
    status = plugin("status", MODEL)
    assert status.returncode == 1 and "2.0.0 blocked" in status.stdout
    again = plugin("abort", MODEL)
    assert again.returncode == 1 and "no canary to abort" in again.stderr
    time.sleep(2)  # a poll or two after the rollback
    watch.send_signal(signal.SIGINT)
    shown, _ = watch.communicate(timeout=15)
    assert watch.returncode == 0
    # Later frames each start with a "--- HH:MM:SS" line (the first may start the text).
    later = re.split(r"(?m)^--- ", shown)[1:]
    assert later and "phase RolledBack" in later[-1], shown


def test_verify_checks_any_recorded_version_with_the_operators_check(
    world: RolloutWorld, plugin: Any
) -> None:
    canary_at_first_step(world, plugin)
    ok = plugin("verify", MODEL, "--version", "1.0.0")
    assert ok.returncode == 0 and ok.stdout.startswith("certificate 1.0.0  Valid"), ok.stdout
    # 2.0.0's Secret now holds 1.0.0's certificate: a signed certificate of the wrong model
    wrong = base64.b64encode((EXAMPLES / f"{MODEL}-1.0.0.cert.json").read_bytes()).decode()
    world.merge_patch(
        f"/api/v1/namespaces/{world.namespace}/secrets/{MODEL}-2-0-0-cert",
        {"data": {"certificate.json": wrong}},
    )
    refused = plugin("verify", MODEL)
    assert refused.returncode == 1
    assert refused.stdout.startswith("certificate 2.0.0  Refused"), refused.stdout
    missing = plugin("verify", MODEL, "--version", "7.0.0")
    assert missing.returncode == 4 and "no package and certificate recorded" in missing.stderr


def test_kubectl_finds_the_plugin_on_path_and_completes_names(
    world: RolloutWorld, plugin: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    world.apply_model("1.0.0", replicas=1, traffic=TRAFFIC)
    shim = tmp_path / "kubectl-axiom"
    paths = os.pathsep.join(str(REPO / p) for p in ("runtime", "operator"))
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH={paths} exec {sys.executable} -m axiom_operator.kubectl "$@"\n'
    )
    shim.chmod(0o755)
    kubectl = binaries.bin_dir() / "kubectl"
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    env["KUBECONFIG"] = str(kubeconfig)
    assert shutil.which("kubectl-axiom", path=env["PATH"]) == str(shim)
    listed = subprocess.run(
        [str(kubectl), "plugin", "list"], env=env, capture_output=True, text=True, check=False
    )
    assert str(shim) in listed.stdout
    answer = subprocess.run(
        [str(kubectl), "axiom", "-n", world.namespace, "status", MODEL, "--timeout", "60s"],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert answer.returncode == 0 and "1.0.0 is Stable" in answer.stdout, answer.stdout
    names = plugin("__complete", "-n", world.namespace, "get", "dig")
    assert names.stdout.split() == [MODEL]


def test_the_bash_completion_script_completes_verbs_through_the_plugin(tmp_path: Path) -> None:
    paths = os.pathsep.join(str(REPO / p) for p in ("runtime", "operator"))
    shim = tmp_path / "kubectl-axiom"
    shim.write_text(
        f'#!/bin/sh\nPYTHONPATH={paths} exec {sys.executable} -m axiom_operator.kubectl "$@"\n'
    )
    shim.chmod(0o755)
    script = (
        "source <(kubectl-axiom completion bash)\n"
        'COMP_WORDS=(kubectl-axiom ro); COMP_CWORD=1; _kubectl_axiom; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(kubectl-axiom promote --f); COMP_CWORD=2; _kubectl_axiom; "
        'echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    answer = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert answer.stdout.splitlines() == ["rollback", "--full"], answer.stderr
