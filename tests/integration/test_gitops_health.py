"""What GitOps tools see: one AxiomModel taken through every phase the kwok control plane can
reach, with kstatus' Reconciling / Stalled checked at each, `kubectl wait --for=condition=Ready`
run with the real kubectl against a stale generation, and every object recorded.

With ``AXIOM_WRITE_GITOPS_FIXTURES=1`` the recorded objects are written to
``tests/unit/fixtures/gitops/<name>.json``; the unit tests run Argo CD's health.lua and the Flux
CEL expressions on them (tests/unit/test_gitops_health_checks.py). Regenerate them with:

    AXIOM_WRITE_GITOPS_FIXTURES=1 PYTHONPATH=runtime:operator:devcluster \\
        python -m pytest tests/integration/test_gitops_health.py

The conflict fixture is a real one: a user's Service holds the name the next version's
per-version Service needs, and the operator holds the model (Stalled, ResourceConflict).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Event, Service
from lightkube.types import PatchType
from operator_support import (
    certificate,
    condition,
    deploy_version,
    get_model,
    model_manifest,
    model_when,
    package,
    put_trusted_keys,
    tampered_after_signing,
)

from axiom_devcluster import binaries
from axiom_operator.kube import AxiomModelResource

pytestmark = pytest.mark.timeout(240)

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "gitops"
NAME = "digits"


def phase(name: str) -> Any:
    return lambda m: (m.get("status") or {}).get("phase") == name


def current(model: dict[str, Any]) -> bool:
    status = model.get("status") or {}
    return bool(status.get("observedGeneration") == model["metadata"]["generation"])


def kstatus(model: dict[str, Any]) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(Reconciling, Stalled) as (status, reason), None when absent."""
    found = []
    for kind in ("Reconciling", "Stalled"):
        c = condition(model, kind)
        found.append((c["status"], c["reason"]) if c else None)
        if c:  # every condition says which generation it speaks for
            assert c["observedGeneration"] == model["metadata"]["generation"], c
    return found[0], found[1]


def scrubbed(model: dict[str, Any]) -> dict[str, Any]:
    """The object without what only the apiserver's bookkeeping needs (and a fixed namespace)."""
    meta = dict(model["metadata"])
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp"):
        meta.pop(key, None)
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("kopf.")
    }
    meta["annotations"] = annotations
    if not annotations:
        del meta["annotations"]
    meta["namespace"] = "models"
    return {**model, "metadata": meta}


def kubectl_wait_args(kubeconfig: Path, namespace: str, timeout: str) -> list[str]:
    return [
        str(binaries.binary("kubectl")),
        f"--kubeconfig={kubeconfig}",
        f"--namespace={namespace}",
        "wait",
        "--for=condition=Ready",
        f"--timeout={timeout}",
        f"axiommodel/{NAME}",
    ]


def kubectl_wait_ready(kubeconfig: Path, namespace: str, timeout: str) -> tuple[int, str]:
    args = kubectl_wait_args(kubeconfig, namespace, timeout)
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return result.returncode, (result.stdout + result.stderr).strip()


def stalled_by_conflict(model: dict[str, Any]) -> bool:
    return condition(model, "Stalled").get("reason") == "ResourceConflict"


async def test_every_phase_reads_right_to_kstatus_and_kubectl_wait(
    kube_client: AsyncClient,
    namespace: str,
    kubeconfig: Path,
    start_operator: Any,
) -> None:
    client = kube_client
    seen: dict[str, dict[str, Any]] = {}

    def keep(name: str, model: dict[str, Any]) -> dict[str, Any]:
        seen[name] = scrubbed(model)
        return model

    await put_trusted_keys(client, namespace)
    versions = {v: await deploy_version(client, namespace, NAME, v) for v in ("1.0.0", "2.0.0")}
    bad = package(NAME, "3.0.0")
    versions["3.0.0"] = await deploy_version(
        client, namespace, NAME, "3.0.0", data=bad, cert=tampered_after_signing(certificate(bad))
    )
    versions["4.0.0"] = await deploy_version(client, namespace, NAME, "4.0.0")

    async def set_spec(version: str, **spec: Any) -> None:
        sha, secret = versions[version]
        manifest = model_manifest(NAME, namespace, version, sha, secret, **spec)
        await client.patch(
            AxiomModelResource, NAME, {"spec": manifest["spec"]}, patch_type=PatchType.MERGE
        )

    async def annotate(key: str, value: str | None) -> None:
        patch = {"metadata": {"annotations": {key: value}}}
        await client.patch(AxiomModelResource, NAME, patch, patch_type=PatchType.MERGE)

    # Created before the operator starts, and watched from before its first pass: kwok pods
    # become Ready at once, so the Deploying status lasts only one pass.
    sha, secret = versions["1.0.0"]
    await client.create(
        AxiomModelResource.from_dict(model_manifest(NAME, namespace, "1.0.0", sha, secret))
    )
    watching, deploying = asyncio.Event(), []

    async def watch() -> None:
        async for _, obj in client.watch(AxiomModelResource, namespace=namespace):
            watching.set()
            model = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
            if phase("Deploying")(model) and not deploying:
                deploying.append(model)

    watcher = asyncio.create_task(watch())
    await asyncio.wait_for(watching.wait(), 30)
    operator: AbstractContextManager[Any] = start_operator(namespace)
    with operator:
        stable = keep("stable", await model_when(client, NAME, phase("Stable"), within=60))
        watcher.cancel()
        assert deploying, "the watch saw no Deploying status"
        keep("deploying", deploying[0])
        assert kstatus(deploying[0]) == (("True", "Deploying"), None)
        assert kstatus(stable) == (None, None)
        assert condition(stable, "Ready")["status"] == "True"
        assert kubectl_wait_ready(kubeconfig, namespace, "10s")[0] == 0

    # Operator stopped: the moment between a spec change and the operator's first pass.
    await set_spec("2.0.0", rollout={"steps": [{"weight": 50}]})
    stale = keep("stale-generation", await get_model(client, NAME))
    assert stale["metadata"]["generation"] == stable["metadata"]["generation"] + 1
    assert condition(stale, "Ready")["status"] == "True"  # written for the old generation
    code, said = kubectl_wait_ready(kubeconfig, namespace, "3s")
    print(f"kubectl wait on a stale Ready: exit {code}: {said}")
    assert code != 0, f"kubectl wait returned on the previous generation's Ready: {said}"

    # kwok pods cannot be asked which split they applied (fake addresses, never contacted):
    # the 2.0.0 rolled back below would drain for the default 180 s before its Service goes,
    # and the conflict at the end needs that name free.
    with start_operator(namespace, AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS="2"):
        canary = keep("canary", await model_when(client, NAME, phase("Canary"), within=60))
        assert current(canary) and kstatus(canary) == (("True", "Canary"), None)
        assert condition(canary, "Ready")["status"] == "False"
        assert condition(canary, "Available")["status"] == "True"
        assert kubectl_wait_ready(kubeconfig, namespace, "2s")[0] != 0

        await annotate("axiom.dev/pause", "true")
        paused = keep("paused", await model_when(client, NAME, phase("Paused"), within=30))
        assert kstatus(paused) == (("True", "Paused"), None)
        await annotate("axiom.dev/pause", None)
        await model_when(client, NAME, phase("Canary"), within=30)

        await annotate("axiom.dev/rollback", "previous")
        rolled = keep("rolled-back", await model_when(client, NAME, phase("RolledBack"), 30))
        assert kstatus(rolled) == (None, ("True", "RolledBack"))
        assert condition(rolled, "Ready")["status"] == "False"
        await annotate("axiom.dev/rollback", None)

        await set_spec("3.0.0")
        blocked = keep("blocked", await model_when(client, NAME, phase("Blocked"), within=30))
        assert kstatus(blocked) == (None, ("True", "CertificateRejected"))

        # a canary whose pod can never be scheduled (kwok nodes have 32 CPUs), no auto rollback
        await set_spec(
            "4.0.0",
            resources={"requests": {"cpu": "64"}},
            rollout={"steps": [{"weight": 50}], "autoRollback": False, "progressDeadline": "2s"},
        )
        failed = keep("failed", await model_when(client, NAME, phase("Failed"), within=60))
        assert kstatus(failed) == (None, ("True", "CanaryFailed"))

        await client.patch(
            AxiomModelResource,
            NAME,
            {"spec": {"resources": {"requests": {"cpu": "lots"}}}},
            patch_type=PatchType.MERGE,
        )
        invalid = keep("invalid", await model_when(client, NAME, phase("Invalid"), within=30))
        assert current(invalid) and kstatus(invalid) == (None, ("True", "InvalidSpec"))

        # back to the version that serves: a kubectl wait started now returns once it does
        waiter = await asyncio.create_subprocess_exec(
            *kubectl_wait_args(kubeconfig, namespace, "60s")
        )
        await set_spec("1.0.0", resources=None, rollout=None)
        back = await model_when(client, NAME, lambda m: phase("Stable")(m) and current(m), 60)
        assert await asyncio.wait_for(waiter.wait(), 60) == 0
        assert condition(back, "Ready")["observedGeneration"] == back["metadata"]["generation"]

        # A name the next version needs is taken by a user's Service: a real conflict.
        await client.create(
            Service.from_dict(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{NAME}-v2-0-0", "namespace": namespace},
                    "spec": {"selector": {"app": "payments"}, "ports": [{"port": 80}]},
                }
            )
        )
        await set_spec("2.0.0", rollout={"steps": [{"weight": 50}]})
        conflict = keep("conflict", await model_when(client, NAME, stalled_by_conflict, 60))
        assert kstatus(conflict) == (None, ("True", "ResourceConflict"))
        assert condition(conflict, "Ready")["reason"] == "ResourceConflict"
        code, said = kubectl_wait_ready(kubeconfig, namespace, "2s")
        assert code != 0, said

        events = [
            (e.type, e.reason)
            async for e in client.list(Event, fields={"involvedObject.name": NAME})
        ]
    stalls = [reason for _, reason in events if reason == "Stalled"]
    # RolledBack, Blocked, Failed, the conflict: one Warning each (InvalidSpec posts its own)
    assert len(stalls) == 4, events

    if os.environ.get("AXIOM_WRITE_GITOPS_FIXTURES") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, model in seen.items():
            text = json.dumps(model, indent=2, sort_keys=True) + "\n"
            (FIXTURES / f"{name}.json").write_text(text)


REPO = Path(__file__).resolve().parents[2]
ARGOCD_CM_FILE = Path("deploy/gitops/argocd/argocd-cm.yaml")  # as docs/gitops.md types it
HEALTH_LUA = REPO / "deploy" / "gitops" / "argocd" / "health.lua"


def test_the_argocd_cm_patch_installs_the_health_check(kubeconfig: Path) -> None:
    """The install command of docs/gitops.md, verbatim, with the real kubectl, on an
    argocd-cm that already holds other settings (no Argo CD runs here: only the ConfigMap)."""
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    subprocess.run([*kubectl, "create", "namespace", "argocd"], check=True)
    try:
        existing = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": "argocd"},
            "data": {"url": "https://argocd.example"},
        }
        subprocess.run(
            [*kubectl, "create", "-f", "-"], input=json.dumps(existing), text=True, check=True
        )
        install = ["patch", "configmap", "argocd-cm", "--patch-file", str(ARGOCD_CM_FILE)]
        result = subprocess.run(
            [*kubectl, "-n", "argocd", *install],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        live = json.loads(
            subprocess.run(
                [*kubectl, "-n", "argocd", "get", "configmap", "argocd-cm", "-o", "json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    finally:
        subprocess.run([*kubectl, "delete", "namespace", "argocd", "--wait=false"], check=True)
    assert live["data"]["url"] == "https://argocd.example"
    script = live["data"]["resource.customizations.health.axiom.dev_AxiomModel"]
    assert script == HEALTH_LUA.read_text()
