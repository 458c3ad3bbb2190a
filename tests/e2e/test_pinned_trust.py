"""End to end: pinned trust with pods that really verify.

The operator runs with AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE pointing at a platform
namespace that holds the example's public key; the model's own namespace has no trusted-keys
Secret at all. The runtime pods on the node agent verify their certificate against the
ConfigMap mirror the operator wrote, become Ready and answer; a version change is still
gated and rolled out the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ModelWorld, sample, wait_until

from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import predict

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def platform_namespace(world: ModelWorld) -> Iterator[str]:
    name = f"{world.namespace[:50]}-trust"
    world.kubectl.run("create", "namespace", name, namespaced=False)
    secret = manifests.trusted_keys_secret(name)
    world.kubectl.run("apply", "-f", "-", stdin=manifests.to_yaml(secret), namespaced=False)
    # The model's namespace trusts nothing of its own.
    world.kubectl.run("delete", "secret", manifests.TRUSTED_KEYS_SECRET)
    try:
        yield name
    finally:
        world.kubectl.run("delete", "namespace", name, "--wait=false", namespaced=False)


@pytest.fixture
def pinned_operator(
    world: ModelWorld, platform_namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    env = {"AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE": platform_namespace}
    with OperatorProcess(
        world.kubeconfig, world.namespace, tmp_path / "operator.log", extra_env=env
    ) as operator:
        yield operator


def test_pods_verify_against_the_mirror_of_the_pinned_keys(
    world: ModelWorld, pinned_operator: OperatorProcess
) -> None:
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()
    mirror = world.kubectl.json("get", "configmap", f"{manifests.MODEL_NAME}-trusted-keys")
    assert set(mirror["data"]) == {p.name for p in manifests.TRUSTED_KEYS_DIR.iterdir()}
    assert predict(world.service_url(), sample(7)).version == "1.0.0"

    world.apply_model("2.0.0")
    wait_until(
        lambda: world.snapshot().stable == "2.0.0" and not world.snapshot().canary,
        what="2.0.0 serving",
        timeout=90,
        explain=lambda: (world.model() or {}).get("status"),
    )
    assert predict(world.service_url(), sample(3)).version == "2.0.0"
