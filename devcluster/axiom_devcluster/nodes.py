"""Node objects of the local cluster.

Two kinds of node: ``kwok`` nodes (this module), whose pods never run anything and are marked
Running/Ready by kwok, and the node agent's nodes (:mod:`axiom_devcluster.agent`), whose pods
run as local processes. Each kind is told apart by the ``type`` label and only its own controller
manages it: kwok only takes nodes annotated ``kwok.x-k8s.io/node: fake``.
"""

from __future__ import annotations

from typing import Any

from axiom_devcluster import addresses

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"
KWOK_NODE_TYPE = "kwok"
KWOK_SELECTOR = f"{KWOK_ANNOTATION}={KWOK_ANNOTATION_VALUE}"

# 110 pods is the kubelet's default. A node cannot hold more than its /24 of POD_CIDR has
# addresses (254), so a bench that needs thousands of pods asks for more nodes, not bigger ones.
DEFAULT_PODS_PER_NODE = 110
MAX_PODS_PER_NODE = 250


def kwok_node_name(index: int) -> str:
    return f"kwok-node-{index}"


def kwok_node(index: int, pods: int = DEFAULT_PODS_PER_NODE) -> dict[str, Any]:
    """A Node that kwok will manage, with its own pod range (spec.podCIDR) from POD_CIDR."""
    if not 1 <= pods <= MAX_PODS_PER_NODE:
        raise ValueError(f"pods per node {pods} outside 1..{MAX_PODS_PER_NODE} (one /24 each)")
    allocatable = {"cpu": "1000", "memory": "4Ti", "pods": str(pods)}
    name = kwok_node_name(index)
    pod_cidr = str(addresses.node_pod_cidr(index))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE,
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "type": KWOK_NODE_TYPE,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "allocatable": allocatable,
            "capacity": dict(allocatable),
            "addresses": [
                {"type": "InternalIP", "address": str(addresses.NODE_IP)},
                {"type": "Hostname", "address": name},
            ],
        },
    }


def is_ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
