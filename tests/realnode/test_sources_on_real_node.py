"""Model sources on the real node (kubelet + containerd v2.4.2): what the kubelet can pull and
mount, served end to end through the chart's operator and a model Service.

- Image volumes: a pod ``image`` volume of each form a package can take in a registry. What
  containerd mounts (this is what docs/model-sources.md reports): the image form (one tar
  layer holding model.axiom, ``axiom model push --as-image``) mounts as that file; the ORAS-style
  artifact (empty config, one zip layer) is pulled but mounts as an *empty* directory, with no
  error; an artifact config with a tar layer, or an image config with a zip layer, fails with
  ``mismatched image rootfs and manifest layers``.
- ``spec.model.oci.imageVolume``: the kubelet pulls the image with the model's
  kubernetes.io/dockerconfigjson Secret as imagePullSecret, from a registry with token auth;
  the operator verifies the same package from the same registry first.
- ``oci://`` pulled by the runtime pod itself with the same Secret (a secretKeyRef).
- ``pvc://``: a hostPath PersistentVolume (a directory the test creates and removes) bound to a
  claim, the package in it.

The registry is the real distribution registry, on the node's bridge address (pods and
containerd reach it there; containerd over plain HTTP through a hosts.toml in the node's own
config directory). Its token server is the test stand-in of
:mod:`axiom_devcluster.registry_token_server` (no real token service runs here).

Named to sort after test_node_lifecycle.py: that file starts nodes of its own, which it
cannot while the session node these tests use holds the one node lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import sample
from realnode_support import RealModelWorld, pod_log, wait_for

from axiom_devcluster import addresses
from axiom_devcluster.demo import manifests
from axiom_devcluster.demo.traffic import predict
from axiom_devcluster.realnode import configs, images
from axiom_devcluster.realnode.node import RealCluster
from axiom_devcluster.registry_token_server import TokenServer
from axiom_devcluster.storage_plugin import REGISTRY_USERS
from axiom_devcluster.storage_servers import OciRegistry, storage_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
BRIDGE = str(addresses.NODE_BRIDGE_IP)
EXAMPLE = manifests.ExampleVersion.of("1.0.0")


@pytest.fixture(scope="module")
def bridge_registry(
    real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OciRegistry]:
    """distribution with token auth on the bridge; containerd may pull from it over HTTP."""
    if storage_binary("registry") is None:
        pytest.skip("the registry is not built (hack/storage/build.sh)")
    with (
        TokenServer(REGISTRY_USERS, host=BRIDGE) as token,
        OciRegistry(tmp_path_factory.mktemp("bridge-oci"), token=token, bind_ip=BRIDGE) as registry,
    ):
        configs.write_registry_host(real_cluster.node.layout, registry.host)
        yield registry


def docker_config(registry: OciRegistry, user: str = "alice", password: str = "s3cret") -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry.host: {"auth": auth}}})


def push(registry: OciRegistry, reference: str, *extra: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
        config.write(docker_config(registry))
        config.flush()
        done = subprocess.run(
            [sys.executable, "-m", "axiom_runtime.cli", "model", "push", str(EXAMPLE.package),
             f"oci://{registry.host}/{reference}", "--docker-config", config.name, *extra],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "AXIOM_OCI_PLAIN_HTTP": "true"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def registry_secret(namespace: str, registry: OciRegistry) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": docker_config(registry)},
    }


def model(namespace: str, uri: str, **model_fields: Any) -> dict[str, Any]:
    manifest = manifests.axiom_model(
        namespace,
        "1.0.0",
        EXAMPLE.sha256,
        package_uri=uri,
        runtime={"image": images.reference("runtime"), "imagePullPolicy": "Never"},
    )
    manifest["spec"]["model"].update(model_fields)
    return manifest


def runtime_pod(world: RealModelWorld) -> dict[str, Any]:
    pods = [p for p in world.items("pods") if p["metadata"]["name"].startswith("digits-")]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


# -- what an image volume can mount ----------------------------------------------------------


LIST_MOUNT = (
    "import hashlib, json, os; print(json.dumps({name: hashlib.sha256(open('/m/' + name, 'rb')"
    ".read()).hexdigest() for name in os.listdir('/m')}))"
)


def image_volume_pod(name: str, reference: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [
                {
                    "name": "list",
                    "image": images.reference("runtime"),
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", LIST_MOUNT],
                    "volumeMounts": [{"name": "m", "mountPath": "/m", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "m", "image": {"reference": reference}}],
        },
    }


def raw_push(registry: OciRegistry, repository: str, config: bytes, config_type: str,
             layer: bytes, layer_type: str) -> str:  # fmt: skip
    """A manifest of one layer as given (the forms `axiom model push` does not write)."""
    import asyncio

    from axiom_runtime.sources import oci
    from axiom_runtime.sources.registry_auth import credentials_for

    reference = oci.OciReference.parse(f"oci://{registry.host}/{repository}:1")
    access = oci.OciAccess(credentials_for(docker_config(registry), registry.host), True)

    async def run() -> str:
        pull = oci._Pull(reference, access, 60, scope="pull,push")
        async with pull as session:
            for blob in (layer, config):
                digest = hashlib.sha256(blob).hexdigest()
                await oci._push_blob(session, pull.base, digest, len(blob), blob)
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": oci.MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": config_type, "size": len(config),
                           "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
                "layers": [{"mediaType": layer_type, "size": len(layer),
                            "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}],
            }).encode()  # fmt: skip
            url = f"{pull.base}/manifests/1"
            headers = {"Content-Type": oci.MANIFEST_MEDIA_TYPE}
            async with session.request("PUT", url, data=manifest, headers=headers) as put:
                assert put.status == 201, put.status
        return f"{registry.host}/{repository}@sha256:{hashlib.sha256(manifest).hexdigest()}"

    return asyncio.run(run())


def test_what_containerd_mounts_as_an_image_volume(
    world: RealModelWorld, real_cluster: RealCluster, bridge_registry: OciRegistry
) -> None:
    from axiom_runtime.sources import oci

    world.apply(registry_secret(world.namespace, bridge_registry))
    package = EXAMPLE.package.read_bytes()
    tar = oci._tar_header(len(package)) + package + b"\0" * (-len(package) % 512 + 1024)
    os_name, arch = oci.docker_platform()

    def image_config(diff_id: str) -> bytes:
        rootfs = {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}
        return json.dumps({"architecture": arch, "os": os_name, "rootfs": rootfs}).encode()

    def pinned(uri: str) -> str:
        return oci.OciReference.parse(uri).image_reference

    forms = {
        "artifact": pinned(push(bridge_registry, f"{world.namespace}/artifact:1")),
        "image": pinned(push(bridge_registry, f"{world.namespace}/image:1", "--as-image")),
        "artifact-config-tar-layer": raw_push(
            bridge_registry, f"{world.namespace}/c", b"{}", oci.EMPTY_MEDIA_TYPE,
            tar, oci.TAR_LAYER_MEDIA_TYPE,
        ),
        "image-config-zip-layer": raw_push(
            bridge_registry, f"{world.namespace}/d", image_config(EXAMPLE.sha256),
            oci.IMAGE_CONFIG_MEDIA_TYPE, package, oci.LAYER_MEDIA_TYPE,
        ),
    }  # fmt: skip
    forms["artifact-again"] = forms["artifact"]

    def outcome(name: str) -> str | None:
        pod = world.kubectl.json("get", "pod", name)
        if pod["status"].get("phase") == "Succeeded":
            return "mounted " + pod_log(real_cluster.plane, world.namespace, name).strip()
        failed = [
            e for e in world.events(**{"involvedObject.name": name}) if e["reason"] == "Failed"
        ]
        return f"failed: {failed[0]['message']}" if failed else None

    found: dict[str, str] = {}
    for name, reference in forms.items():  # one at a time: the order matters (below)
        world.apply(image_volume_pod(name, reference))
        found[name] = wait_for(lambda n=name: outcome(n), what=f"pod {name}", timeout=120)  # type: ignore[misc]
    print(json.dumps(found, indent=1))
    assert found["image"] == "mounted " + json.dumps({"model.axiom": EXAMPLE.sha256}), found
    assert found["artifact"] == "mounted {}", found  # pulled, mounted empty, no error
    for name in ("artifact-config-tar-layer", "image-config-zip-layer"):
        assert "mismatched image rootfs and manifest layers" in found[name], found
    # The CRI names an image by its config digest, and every artifact with the empty config
    # has the same one: once another such manifest was pulled, the first one's reference
    # mounts what that one holds.
    assert "mismatched image rootfs and manifest layers" in found["artifact-again"], found


# -- AxiomModels served from the registry and from a PVC ---------------------------------------


def test_an_oci_model_is_served_through_an_image_volume_with_token_auth(
    world: RealModelWorld, bridge_registry: OciRegistry
) -> None:
    world.publish("1.0.0")
    world.apply(registry_secret(world.namespace, bridge_registry))
    uri = push(bridge_registry, f"{world.namespace}/digits:1.0.0", "--as-image")
    oci = {"credentialsSecretRef": {"name": "regcred"}, "plainHttp": True, "imageVolume": True}
    world.apply(model(world.namespace, uri, oci=oci))
    world.wait_ready(timeout=180)
    answer = predict(world.service_url(), sample(3))
    assert (answer.version, answer.predicted_class) == ("1.0.0", 3)
    pod = runtime_pod(world)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "model")
    assert volume["image"]["reference"].startswith(
        f"{bridge_registry.host}/{world.namespace}/digits@"
    )
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    pulled = [e["message"] for e in world.events(reason="Pulled")]
    assert any(volume["image"]["reference"] in message for message in pulled), pulled


def test_an_oci_model_the_runtime_pulls_itself_with_token_auth(
    world: RealModelWorld, bridge_registry: OciRegistry
) -> None:
    world.publish("1.0.0")
    world.apply(registry_secret(world.namespace, bridge_registry))
    uri = push(bridge_registry, f"{world.namespace}/digits:1.0.0")
    oci = {"credentialsSecretRef": {"name": "regcred"}, "plainHttp": True}
    world.apply(model(world.namespace, uri, oci=oci))
    world.wait_ready(timeout=180)
    answer = predict(world.service_url(), sample(3))
    assert (answer.version, answer.predicted_class) == ("1.0.0", 3)
    env = {e["name"]: e for e in runtime_pod(world)["spec"]["containers"][0]["env"]}
    assert env["AXIOM_OCI_DOCKER_CONFIG_JSON"]["valueFrom"]["secretKeyRef"]["name"] == "regcred"


@pytest.fixture
def volume_directory() -> Iterator[Path]:
    """A directory for a hostPath PersistentVolume, readable by the runtime's user; removed."""
    path = Path("/var/tmp") / f"axiom-pv-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_pvc_model_is_served_end_to_end(
    world: RealModelWorld, real_cluster: RealCluster, volume_directory: Path
) -> None:
    world.publish("1.0.0")
    (volume_directory / "models").mkdir(mode=0o755)
    target = volume_directory / "models" / "digits-1.0.0.axiom"
    shutil.copyfile(EXAMPLE.package, target)
    target.chmod(0o444)
    pv_name = f"{world.namespace}-models"
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "axiom-test-manual",
            "hostPath": {"path": str(volume_directory), "type": "Directory"},
            "claimRef": {"namespace": world.namespace, "name": "models"},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models", "namespace": world.namespace},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "axiom-test-manual",
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    try:
        world.apply(volume, claim)
        wait_for(
            lambda: world.kubectl.json("get", "pvc", "models")["status"].get("phase") == "Bound",
            what="claim models Bound",
            timeout=60,
        )
        world.apply(model(world.namespace, "pvc://models/models/digits-1.0.0.axiom"))
        world.wait_ready(timeout=180)
        answer = predict(world.service_url(), sample(3))
        assert (answer.version, answer.predicted_class) == ("1.0.0", 3)
        pod = runtime_pod(world)
        claim_volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "model")
        assert claim_volume["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    finally:
        world.kubectl.run("delete", "axiommodel", "--all", "--wait=true")
        world.kubectl.run("delete", "pvc", "models", "--wait=true")
        real_cluster.plane.api_request("DELETE", f"/api/v1/persistentvolumes/{pv_name}")
