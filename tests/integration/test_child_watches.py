"""The operator's own watches of its children, against the real apiserver.

- With the operator running, its passes read children from the watches' cache: once a model
  is Ready, further passes send no list of any child kind (counted by the operator's own
  ``axiom_operator_api_reads_total``), and the model still follows its Deployment.
- A watch broken by the network lists again when it can, and a deletion it missed meanwhile
  asks for a pass of the owner. The break is a TCP relay on loopback between the watch and
  the apiserver that the test cuts (a stand-in for a network failure, which cannot be
  ordered from a real network here); everything behind it is the real apiserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.types import PatchType
from operator_support import (
    deploy_version,
    model_manifest,
    model_when,
    put_trusted_keys,
    wait_for,
)

from axiom_devcluster.controlplane import ControlPlane
from axiom_operator.child_cache import ChildCache
from axiom_operator.handlers.watch_children import ChildWatches
from axiom_operator.kube import AxiomModelResource, Kube
from axiom_operator.metrics import OperatorMetrics
from axiom_operator.resources import labels as names
from axiom_runtime.metrics import parse_prometheus_text

pytestmark = pytest.mark.timeout(180)


def operator_metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (name, tuple(sorted(sample.labels.items()))): sample.value
        for name, samples in parse_prometheus_text(text).items()
        for sample in samples
    }


def child_lists(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(
        value
        for (name, labels), value in metrics.items()
        if name == "axiom_operator_api_reads_total"
        and dict(labels).get("verb") == "list"
        and dict(labels).get("kind")
        in ("Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler")
    )


def passes(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(
        value for (name, _), value in metrics.items() if name == "axiom_operator_reconciles_total"
    )


async def until(check: Callable[[], bool], within: float, what: str) -> None:
    async def probe() -> bool:
        return check()

    await wait_for(probe, within=within, what=what)


def is_ready(model: dict[str, Any]) -> bool:
    conditions = (model.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def test_passes_read_children_from_the_cache_not_the_apiserver(
    kube_client: AsyncClient, namespace: str, operator_runner: Any
) -> None:
    await put_trusted_keys(kube_client, namespace)
    sha, secret = await deploy_version(kube_client, namespace, "digits", "1.0.0")
    manifest = model_manifest("digits", namespace, "1.0.0", sha, secret)
    await kube_client.create(AxiomModelResource.from_dict(manifest))
    await model_when(kube_client, "digits", is_ready)

    port = operator_runner.metrics_port
    before = operator_metrics(port)
    # Three passes asked for by a person's annotation (each a change the model watch acts on).
    for n in range(3):
        await kube_client.patch(
            AxiomModelResource,
            "digits",
            {"metadata": {"annotations": {"example.com/touch": str(n)}}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        expected = passes(before) + n + 1
        await until(
            lambda: passes(operator_metrics(port)) >= expected,  # noqa: B023 - awaited here
            within=30,
            what=f"pass {n + 1} after the annotation",
        )
    after = operator_metrics(port)
    assert passes(after) >= passes(before) + 3
    assert child_lists(after) == child_lists(before), "a pass listed children itself"
    assert after[("axiom_operator_cached_children", ())] == 2  # its Deployment and Service

    # The cache is what the passes saw: scaling the Deployment behind the operator's back is
    # repaired (the watch event reached the cache and asked for a pass).
    deployment_name = names.version_object_name("digits", "1.0.0")
    await kube_client.patch(
        Deployment,
        deployment_name,
        {"spec": {"replicas": 3}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    async def replicas_back() -> bool:
        live = await kube_client.get(Deployment, deployment_name, namespace=namespace)
        return live.spec is not None and live.spec.replicas == 1

    await wait_for(replicas_back, within=30, what="the scaled Deployment repaired")


class CuttableRelay:
    """A TCP relay on 127.0.0.1 to the apiserver; ``cut`` closes every connection through
    it and refuses new ones until ``mend``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def cut(self) -> None:
        self.open = False
        for writer in list(self.writers):
            writer.transport.abort()

    def mend(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_deletion_missed_while_the_watch_was_broken_asks_for_a_pass(
    kube_client: AsyncClient,
    namespace: str,
    control_plane: ControlPlane,
    axiom_crds: list[str],
    tmp_path: Path,
) -> None:
    # A real AxiomModel as the owner (the garbage collector would delete children of a
    # missing owner); no operator runs: the watch under test is the only consumer.
    model = await kube_client.create(
        AxiomModelResource.from_dict(
            model_manifest("owner", namespace, "1.0.0", "0" * 64, "owner-cert")
        )
    )
    owner = {
        "apiVersion": "axiom.dev/v1alpha1",
        "kind": "AxiomModel",
        "name": "owner",
        "uid": model.metadata.uid,
        "controller": True,
    }
    for version in ("1", "2"):
        await kube_client.create(
            Deployment.from_dict(
                {
                    "metadata": {
                        "name": f"owner-v{version}",
                        "namespace": namespace,
                        "labels": {
                            names.MODEL_LABEL: "owner",
                            names.MANAGED_BY_LABEL: names.MANAGED_BY,
                        },
                        "ownerReferences": [owner],
                    },
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"app": f"owner-v{version}"}},
                        "template": {
                            "metadata": {"labels": {"app": f"owner-v{version}"}},
                            "spec": {"containers": [{"name": "c", "image": "none"}]},
                        },
                    },
                }
            )
        )

    # Let the deployment controller write its first status of both (replicas 0: nothing more
    # follows), so no event of theirs is still on its way when the watch starts.
    async def settled() -> bool:
        for version in ("1", "2"):
            live = await kube_client.get(Deployment, f"owner-v{version}", namespace=namespace)
            if live.status is None or live.status.observedGeneration != live.metadata.generation:
                return False
        return True

    await wait_for(settled, within=30, what="both Deployments observed by their controller")

    # The watch's client goes through the relay: the same kubeconfig, the relay's address.
    document = yaml.safe_load(control_plane.kubeconfig.read_text())
    server = urlsplit(document["clusters"][0]["cluster"]["server"])
    relay = CuttableRelay(server.hostname or "127.0.0.1", server.port or 443)
    relay_port = await relay.start()
    document["clusters"][0]["cluster"]["server"] = f"https://{server.hostname}:{relay_port}"
    relayed = tmp_path / "relayed-kubeconfig"
    relayed.write_text(yaml.safe_dump(document))
    metrics = OperatorMetrics()
    kube = Kube(
        AsyncClient(config=KubeConfig.from_file(relayed), trust_env=False),
        metrics,
        ChildCache(["Deployment"]),
    )
    asked: list[tuple[str, str]] = []
    watches = ChildWatches(
        kube, kube.children, lambda key, _why: asked.append(key), namespaces=(namespace,)
    )
    watches.start()
    try:
        await until(
            lambda: kube.children.synced("Deployment", namespace), within=30, what="first list"
        )
        assert len(kube.children.of_model("Deployment", namespace, "owner")) == 2
        await asyncio.sleep(1.0)
        assert asked == []  # the first list asks for nothing: start-up covers it

        relay.cut()
        await until(
            lambda: not kube.children.synced("Deployment", namespace),
            within=30,
            what="the broken watch noticed",
        )
        # Deleted while no watch can see it (the test's own client does not use the relay).
        await kube_client.delete(Deployment, "owner-v2", namespace=namespace)
        await asyncio.sleep(1.0)
        assert asked == []
        relay.mend()
        await until(
            lambda: kube.children.synced("Deployment", namespace), within=60, what="the re-list"
        )
        assert [
            d["metadata"]["name"] for d in kube.children.of_model("Deployment", namespace, "owner")
        ] == ["owner-v1"]
        assert (namespace, "owner") in asked
    finally:
        await watches.close()
        await kube.close()
        await relay.close()
