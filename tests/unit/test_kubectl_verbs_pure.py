"""The kubectl plugin's pure parts: the tree, the end of a rollout, which annotation each verb
sets, completion. The verbs against a real cluster: tests/integration/test_kubectl_plugin.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from axiom_operator.kubectl import completion, requests
from axiom_operator.kubectl.cli import build_parser, history_table
from axiom_operator.kubectl.connect import kubeconfig_path
from axiom_operator.kubectl.outcome import Exit, outcome
from axiom_operator.kubectl.requests import Request, RequestRefused
from axiom_operator.kubectl.tree import Verdict, figures_line, render
from axiom_operator.values import GateOutcome


def model(phase: str = "Canary", generation: int = 2, **status: Any) -> dict[str, Any]:
    base = {
        "phase": phase,
        "observedGeneration": 2,
        "stableVersion": "1.0.0",
        "canaryVersion": "2.0.0",
        "canaryWeight": 25.0,
        "effectiveWeight": 25.0,
        "step": 0,
        "message": "canary 2.0.0 at 25%",
    }
    return {
        "metadata": {"name": "digits", "namespace": "ml", "generation": generation},
        "spec": {"version": "2.0.0", "rollout": {"steps": [{"weight": 25}, {"weight": 50}]}},
        "status": {**base, **status},
    }


def labelled(kind: str, name: str, version: str, **body: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": name, "labels": {"axiom.dev/version": version}},
        **body,
    }


def test_the_tree_puts_pods_under_their_version_and_the_stable_first() -> None:
    deployments = [
        labelled("Deployment", "digits-v2-0-0", "2.0.0", spec={"replicas": 1}, status={"readyReplicas": 1}),
        labelled("Deployment", "digits-v1-0-0", "1.0.0", spec={"replicas": 2}, status={"readyReplicas": 2}),
    ]  # fmt: skip
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    pods = [labelled("Pod", "digits-v2-0-0-a", "2.0.0", status=ready)]
    pods += [labelled("Pod", f"digits-v1-0-0-{c}", "1.0.0", status={}) for c in "ab"]
    last = {
        "verdict": "Pass",
        "time": "2026-12-01T17:00:00Z",
        "version": "2.0.0",
        "step": 0,
        "canary": {"requests": 120, "errors": 1, "errorRate": 1 / 120, "p99LatencyMs": 12.5},
        "stable": {"requests": 360, "errors": 0, "errorRate": 0.0},
        "reasons": ["error rate 0.83% <= 1%"],
    }
    verdict = Verdict("2.0.0", GateOutcome(True, True, "Valid", "ok", signer="ci (key k1)"))
    text = render(model(lastAnalysis=last), deployments, pods, verdict)
    assert text.splitlines() == [
        "AxiomModel ml/digits  phase Canary  spec.version 2.0.0",
        "├── stable 1.0.0  Deployment digits-v1-0-0  2/2 ready",
        "│   ├── Pod digits-v1-0-0-a  NotReady",
        "│   └── Pod digits-v1-0-0-b  NotReady",
        "├── canary 2.0.0  Deployment digits-v2-0-0  1/1 ready",
        "│   └── Pod digits-v2-0-0-a  Ready",
        "├── traffic  canary 2.0.0 weight 25% (effective 25%)  step 1/2",
        "├── analysis  Pass at 2026-12-01T17:00:00Z (2.0.0 step 1)",
        "│   ├── canary: 120 req, 1 err (0.83%), p99 12.5 ms",
        "│   ├── stable: 360 req, 0 err (0.00%)",
        "│   └── why: error rate 0.83% <= 1%",
        "├── certificate 2.0.0  Valid (Valid)  signed by ci (key k1)",
        "└── message  canary 2.0.0 at 25%",
    ]


def test_a_refused_certificate_shows_why() -> None:
    verdict = Verdict("2.0.0", GateOutcome(False, False, "HashMismatch", "bytes differ"))
    text = render(model(phase="Blocked"), [], [], verdict)
    assert "├── certificate 2.0.0  Refused (HashMismatch)\n│   bytes differ" in text


def test_a_rollout_waiting_on_a_gate_says_which() -> None:
    text = render(model(waitingFor="ConfirmPromotion"), [], [], None)
    assert "├── waiting  for the ConfirmPromotion gate to answer 2xx" in text


def test_figures_without_any_read_as_such() -> None:
    assert figures_line(None) == "no figures"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"phase": "Stable", "stableVersion": "2.0.0", "canaryVersion": None}, Exit.SUCCEEDED),
        ({"phase": "RolledBack"}, Exit.FAILED),
        ({"phase": "Failed"}, Exit.FAILED),
        ({"phase": "Blocked"}, Exit.FAILED),
        ({"phase": "Canary"}, Exit.RUNNING),
        ({"phase": "Paused"}, Exit.RUNNING),
        ({"phase": "Stable", "observedGeneration": 1}, Exit.RUNNING),  # an older spec's Stable
    ],
)
def test_the_end_of_a_rollout(changes: dict[str, Any], expected: Exit) -> None:
    assert outcome(model(**changes)).exit is expected


def test_promote_ends_a_step_and_full_promotes() -> None:
    assert requests.promote(model(), full=False) == Request("axiom.dev/promote", "step")
    assert requests.promote(model(), full=True) == Request("axiom.dev/promote", "true")
    with pytest.raises(RequestRefused, match="no canary walking its steps"):
        requests.promote(model(phase="Experiment"), full=False)


def test_abort_is_a_rollback_of_the_running_canary_only() -> None:
    assert requests.abort(model()) == Request("axiom.dev/rollback", "previous")
    with pytest.raises(RequestRefused, match="no canary to abort"):
        requests.abort(model(phase="Stable", canaryVersion=None))


def test_resume_removes_the_pause_or_resumes_what_the_operator_paused() -> None:
    paused = model(phase="Paused")
    paused["metadata"]["annotations"] = {"axiom.dev/pause": "true"}
    assert requests.resume(paused) == [Request("axiom.dev/pause", None)]
    assert requests.resume(model(phase="Paused")) == [Request("axiom.dev/resume", "true")]
    with pytest.raises(RequestRefused):
        requests.resume(model())


def test_rollback_to_a_version_must_be_in_history() -> None:
    done = model(history=[{"version": "0.9.0", "outcome": "Promoted", "at": "x"}])
    assert requests.rollback(done, "0.9.0") == Request("axiom.dev/rollback", "0.9.0")
    with pytest.raises(RequestRefused, match=r"known: 0\.9\.0, 1\.0\.0, 2\.0\.0"):
        requests.rollback(done, "3.0.0")


def test_request_ids_are_those_the_operator_records() -> None:
    assert Request("axiom.dev/rollback", "previous").request_id == "rollback=previous"
    assert Request("axiom.dev/pause", "true").request_id is None  # a level, not recorded


def test_a_request_is_settled_once_the_operator_acted() -> None:
    assert requests.settled(
        Request("axiom.dev/promote", "step"), model(handledRequests=["promote=step"])
    )
    assert not requests.settled(Request("axiom.dev/promote", "step"), model())
    assert not requests.settled(Request("axiom.dev/pause", "true"), model())
    assert requests.settled(Request("axiom.dev/pause", "true"), model(phase="Paused"))
    assert requests.settled(Request("axiom.dev/pause", None), model(phase="Canary"))


def test_history_lists_outcomes_then_the_live_canary() -> None:
    done = model(history=[{"version": "1.0.0", "outcome": "Promoted", "at": "t1"}])
    assert history_table(done).splitlines() == [
        "VERSION  OUTCOME   AT   REASON",
        "1.0.0    Promoted  t1",
        "2.0.0    (Canary)  now  canary",
    ]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([""], ["get", "status", "promote", "abort", "pause", "resume", "rollback", "history"]),
        (["ro"], ["rollback"]),
        (["-n", "ml", "get", ""], ["digits"]),
        (["promote", "--f"], ["--full"]),
        (["completion", ""], ["bash", "zsh", "kubectl"]),
        (["get", "digits", ""], []),
        (["-n", ""], []),
    ],
)
def test_completion(words: list[str], expected: list[str]) -> None:
    found = completion.candidates(build_parser(), words, lambda typed: ["digits"])
    assert found[: len(expected)] == expected if words == [""] else found == expected


def test_completion_reads_the_connection_flags_typed_so_far() -> None:
    flags = completion.connection_flags(["--context=dev", "-n", "ml", "get"])
    assert flags == {"context": "dev", "namespace": "ml"}


def test_kubeconfig_is_the_flag_else_the_first_existing_file_of_the_variable(
    tmp_path: Path,
) -> None:
    present = tmp_path / "b"
    present.write_text("")
    variable = f"{tmp_path / 'a'}:{present}"
    assert kubeconfig_path(None, {"KUBECONFIG": variable}) == present
    assert kubeconfig_path("/x/config", {"KUBECONFIG": variable}) == Path("/x/config")


def test_the_krew_manifest_names_the_archive_the_repo_builds() -> None:
    import subprocess
    import sys
    import tomllib

    import yaml

    root = Path(__file__).resolve().parents[2]
    check = [sys.executable, str(root / "hack" / "krew-archive.py"), "--check"]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    manifest = yaml.safe_load((root / "deploy" / "krew" / "axiom.yaml").read_text())
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "axiom"
    assert manifest["spec"]["version"] == f"v{version}"
    (platform,) = manifest["spec"]["platforms"]
    assert platform["bin"] == "kubectl-axiom"
    shim = (root / "deploy" / "krew" / "kubectl-axiom").read_text()
    assert "-m axiom_operator.kubectl" in shim


def test_a_rolled_back_canary_still_draining_says_so() -> None:
    deployments = [
        labelled("Deployment", "digits-v2-0-0", "2.0.0", spec={"replicas": 1}, status={"readyReplicas": 1}),
        labelled("Deployment", "digits-v1-0-0", "1.0.0", spec={"replicas": 2}, status={"readyReplicas": 2}),
    ]  # fmt: skip
    rolled_back = model(
        phase="RolledBack",
        canaryVersion=None,
        blockedVersions=["2.0.0"],
        drainingVersions=["2.0.0"],
    )
    text = render(rolled_back, deployments, [], None)
    assert "blocked, draining 2.0.0  Deployment digits-v2-0-0  1/1 ready" in text, text
    settled = model(phase="RolledBack", canaryVersion=None, blockedVersions=["2.0.0"])
    assert "blocked 2.0.0  Deployment digits-v2-0-0" in render(settled, deployments, [], None)
