"""The GitOps health checks shipped in deploy/gitops give the right verdict on real objects.

The objects are AxiomModels recorded from the real control plane in each phase
(tests/integration/test_gitops_health.py writes tests/unit/fixtures/gitops/). Argo CD's
health.lua runs in a real Lua 5.1 (lupa's lua51: Argo CD's gopher-lua is Lua 5.1), with the
object converted the way Argo CD hands it over (JSON arrays as 1-based tables); the Flux
expressions run in a real CEL interpreter (cel-python) with Flux's evaluation order (the
object's generation first, then inProgress, failed, current; none true: in progress).
"""

from __future__ import annotations

import json
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


def _cel_true(expr: str, obj: dict[str, Any]) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(expr))
    result = program.evaluate({key: celpy.json_to_cel(value) for key, value in obj.items()})
    if isinstance(result, celpy.CELEvalError):
        raise result
    return bool(result)


def flux_status(obj: dict[str, Any]) -> str:
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
        if _cel_true(exprs[key], obj):
            return verdict
    return "InProgress"


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


def test_argo_cd_message_says_why_it_is_degraded() -> None:
    _, message = argo_health(fixture("conflict"))
    assert message.startswith("ResourceConflict: Service digits is not this model's")


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
    ``has(status.conditions)`` with False there (so: in progress); cel-go, which Flux uses,
    may answer with an evaluation error instead (not run here). Neither is Current."""
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
