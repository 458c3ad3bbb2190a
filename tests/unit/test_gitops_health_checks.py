"""The GitOps health checks shipped in deploy/gitops give the right verdict on real objects.

The objects are AxiomModels recorded from the real control plane in each phase
(tests/integration/test_gitops_health.py writes tests/unit/fixtures/gitops/). Each check runs
in two engines: health.lua in Lua 5.1 (lupa's lua51) and in gopher-lua, the Lua Argo CD
embeds; the Flux expressions in cel-python and in cel-go, the CEL Flux embeds (both Go ones
through hack/gitops-check, built from the Go module cache/proxy; skipped without Go). The
object is handed over the way the tools do (Argo CD: Lua tables, arrays 1-based; Flux: the
object's top-level fields as variables), and Flux's evaluation order is kept: the object's
generation first, then inProgress, failed, current; none true: in progress.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import celpy
import lupa.lua51 as lua51
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "gitops"
HEALTH_LUA = REPO / "deploy" / "gitops" / "argocd" / "health.lua"
ARGOCD_CM = REPO / "deploy" / "gitops" / "argocd" / "argocd-cm.yaml"
FLUX_KUSTOMIZATION = REPO / "deploy" / "gitops" / "flux" / "kustomization.yaml"
GO_CHECK = REPO / "hack" / "gitops-check"

# fixture -> (Argo CD health, Flux status)
VERDICTS = {
    "deploying": ("Progressing", "InProgress"),
    "stable": ("Healthy", "Current"),
    "stale-generation": ("Progressing", "InProgress"),
    "canary": ("Progressing", "InProgress"),
    "paused": ("Suspended", "InProgress"),
    "rolled-back": ("Degraded", "Failed"),
    "blocked": ("Degraded", "Failed"),
    "failed": ("Degraded", "Failed"),
    "invalid": ("Degraded", "Failed"),
    "conflict": ("Degraded", "Failed"),
}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def argo_health(obj: dict[str, Any], script: str | None = None) -> tuple[str, str]:
    runtime = lua51.LuaRuntime(register_eval=False)
    runtime.globals().obj = _to_lua(runtime, obj)
    hs = runtime.execute(script if script is not None else HEALTH_LUA.read_text())
    return str(hs["status"]), str(hs["message"])


def flux_exprs() -> dict[str, str]:
    doc = yaml.safe_load(FLUX_KUSTOMIZATION.read_text())
    (check,) = [c for c in doc["spec"]["healthCheckExprs"] if c["kind"] == "AxiomModel"]
    assert check["apiVersion"] == "axiom.dev/v1alpha1"
    return {key: check[key] for key in ("inProgress", "failed", "current")}


CelTrue = Callable[[str, dict[str, Any]], bool]


def _cel_true(expr: str, obj: dict[str, Any]) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(expr))
    result = program.evaluate({key: celpy.json_to_cel(value) for key, value in obj.items()})
    if isinstance(result, celpy.CELEvalError):
        raise result
    return bool(result)


def flux_status(obj: dict[str, Any], cel_true: CelTrue = _cel_true) -> str:
    """What Flux's CEL status evaluator answers (fluxcd/pkg runtime/cel, RFC 0009)."""
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    observed = status.get("observedGeneration")
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    exprs = flux_exprs()
    for key, verdict in (
        ("inProgress", "InProgress"),
        ("failed", "Failed"),
        ("current", "Current"),
    ):
        if cel_true(exprs[key], obj):
            return verdict
    return "InProgress"


@pytest.fixture(scope="session")
def go_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hack/gitops-check built once per source version (Go's build cache makes a rebuild
    cheap; the first build of cel-go takes about a minute on two cores)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain: gopher-lua and cel-go cross-checks not run")
    digest = hashlib.sha256()
    for path in sorted(GO_CHECK.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "axiom"
    binary = cache / f"gitops-check-{digest.hexdigest()[:16]}"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = tmp_path_factory.mktemp("go") / "gitops-check"
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false"}
        subprocess.run(
            [go, "build", "-o", str(partial), "."],
            cwd=GO_CHECK,
            env=env,
            check=True,
            timeout=600,
        )
        shutil.move(partial, binary)
    return binary


def _go(binary: Path, check: str, argument: str, obj: dict[str, Any], tmp: Path) -> Any:
    path = tmp / "object.json"
    path.write_text(json.dumps(obj))
    result = subprocess.run(
        [str(binary), check, argument, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)


def test_every_recorded_phase_has_a_verdict() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(VERDICTS)


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_argo_cd_health(name: str) -> None:
    status, message = argo_health(fixture(name))
    assert status == VERDICTS[name][0], message
    assert message


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_flux_health(name: str) -> None:
    assert flux_status(fixture(name)) == VERDICTS[name][1]


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_argo_cd_health_in_gopher_lua(name: str, go_check: Path, tmp_path: Path) -> None:
    answer = _go(go_check, "lua", str(HEALTH_LUA), fixture(name), tmp_path)
    assert (answer["status"], answer["message"]) == argo_health(fixture(name))
    assert answer["status"] == VERDICTS[name][0]


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_flux_health_in_cel_go(name: str, go_check: Path, tmp_path: Path) -> None:
    def cel_go(expr: str, obj: dict[str, Any]) -> bool:
        answer = _go(go_check, "cel", expr, obj, tmp_path)
        assert "error" not in answer, answer
        return bool(answer["result"])

    assert flux_status(fixture(name), cel_go) == VERDICTS[name][1]


def test_cel_go_errors_where_there_is_no_status_yet(go_check: Path, tmp_path: Path) -> None:
    """cel-go (unlike cel-python, below) cannot select from a ``status`` the object does not
    have: Flux's evaluator returns that error; it never says Current."""
    created = {k: v for k, v in fixture("stable").items() if k != "status"}
    current = flux_exprs()["current"]
    answer = _go(go_check, "cel", current, created, tmp_path)
    assert answer == {"error": "no such attribute(s): status.conditions"}


def test_argo_cd_message_says_why_it_is_degraded() -> None:
    _, message = argo_health(fixture("conflict"))
    assert message.startswith(
        "ResourceConflict: Service digits-v2-0-0 exists and is not this model's"
    )


def test_argo_cd_waits_on_a_stale_generation() -> None:
    _, message = argo_health(fixture("stale-generation"))
    assert message == (
        "Waiting for the Axiom operator to observe generation 2 (status is of generation 1)"
    )


def test_argo_cd_waits_for_a_first_status() -> None:
    created = {k: v for k, v in fixture("stable").items() if k != "status"}
    assert argo_health(created) == (
        "Progressing",
        "Waiting for the Axiom operator to report status",
    )


def test_flux_is_never_current_without_any_status() -> None:
    """Before the operator's first write there is no ``status`` to read. cel-python answers
    ``has(status.conditions)`` with False there (so: in progress); cel-go answers with an
    error (the test above). Neither is Current."""
    created = {k: v for k, v in fixture("stable").items() if k != "status"}
    assert flux_status(created) == "InProgress"


def test_flux_current_needs_ready_of_this_generation() -> None:
    """Without status.observedGeneration (Flux's first check), the Ready condition's own
    observedGeneration still keeps an old Ready from counting."""
    stale = fixture("stale-generation")
    del stale["status"]["observedGeneration"]
    assert flux_status(stale) == "InProgress"


def test_the_argocd_cm_snippet_carries_health_lua_verbatim() -> None:
    doc = yaml.safe_load(ARGOCD_CM.read_text())
    script = doc["data"]["resource.customizations.health.axiom.dev_AxiomModel"]
    assert script == HEALTH_LUA.read_text()
    assert argo_health(fixture("stable"), script)[0] == "Healthy"


if __name__ == "__main__":
    # The verdict table of docs/gitops.md: python tests/unit/test_gitops_health_checks.py
    print("| recorded object | phase | Argo CD | Argo CD message | Flux |")
    print("|---|---|---|---|---|")
    for name in VERDICTS:
        obj = fixture(name)
        health, message = argo_health(obj)
        print(f"| {name} | {obj['status']['phase']} | {health} | {message} | {flux_status(obj)} |")
