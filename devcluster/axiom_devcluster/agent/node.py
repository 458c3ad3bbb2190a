"""Register the agent's Node(s) and keep them alive: Lease every 10 s, status every minute
and whenever the apiserver holds the node not Ready.

The node lifecycle controller marks a node NotReady (and taints it, evicting its pods) when
its Lease in ``kube-node-lease`` is not renewed within the grace period; these loops are what
the kubelet does to prevent that.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from axiom_devcluster.agent import placement, status

log = logging.getLogger(__name__)
KUBELET_VERSION = "v1.36.3"
LEASE_NAMESPACE = "kube-node-lease"


async def register(client: AsyncClient, name: str) -> None:
    """Create the Node (or re-claim an existing one) and report it Ready."""
    manifest = placement.agent_node(name)
    try:
        await client.create(cast(Node, Node.from_dict(manifest)))
    except ApiError as error:
        if error.status.code != 409:
            raise
        patch = {"metadata": {"labels": manifest["metadata"]["labels"]}, "spec": manifest["spec"]}
        await client.patch(Node, name, patch, patch_type=PatchType.MERGE)
    await report_status(client, name)


async def report_status(client: AsyncClient, name: str) -> None:
    body = {"status": placement.node_status(status.now_rfc3339(), KUBELET_VERSION)}
    await client.patch(Node.Status, name, body, patch_type=PatchType.MERGE)


async def is_ready(client: AsyncClient, name: str) -> bool:
    """Whether the apiserver holds the Node's Ready condition True."""
    found = await client.get(Node, name)
    conditions = (found.status.conditions if found.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


async def renew_lease(client: AsyncClient, name: str, duration: int) -> None:
    now = status.now_micro()
    try:
        await client.patch(
            Lease,
            name,
            {"spec": {"holderIdentity": name, "renewTime": now, "leaseDurationSeconds": duration}},
            namespace=LEASE_NAMESPACE,
            patch_type=PatchType.MERGE,
        )
    except ApiError as error:
        if error.status.code != 404:
            raise
        node = await client.get(Node, name)
        owner: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Node",
            "name": name,
            "uid": node.metadata.uid if node.metadata else "",
        }
        lease = Lease(
            metadata=ObjectMeta(name=name, namespace=LEASE_NAMESPACE, ownerReferences=[owner]),  # type: ignore[list-item]
            spec=LeaseSpec(holderIdentity=name, leaseDurationSeconds=duration, renewTime=now),  # type: ignore[arg-type]
        )
        await client.create(lease)


async def unregister(client: AsyncClient, name: str) -> None:
    try:
        await client.delete(Node, name)
    except ApiError as error:
        if error.status.code != 404:
            raise
