"""Which pods land on an agent node, and the Node object that says so.

The decision (docs/node-agent.md): an agent node is tainted ``axiom.dev/node-agent=true:
NoSchedule`` and labelled ``axiom.dev/node-agent=true``, so no pod lands there by accident and
every kwok-based test keeps working while an agent runs. A namespace opts in with two
annotations read by the apiserver's PodNodeSelector and PodTolerationRestriction admission
plugins: every pod created in it gets the node selector and the toleration. The operator
needs to know nothing: its Deployments in an opted-in namespace run on the agent.
A pod of another image that lands on an agent node is refused (left Pending, Warning Event).
"""

from __future__ import annotations

import json
from typing import Any

from axiom_devcluster import addresses

AGENT_LABEL = "axiom.dev/node-agent"
AGENT_LABEL_VALUE = "true"
AGENT_NODE_TYPE = "axiom-agent"
AGENT_TAINT = {"key": AGENT_LABEL, "value": AGENT_LABEL_VALUE, "effect": "NoSchedule"}
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
DEFAULT_TOLERATIONS_ANNOTATION = "scheduler.alpha.kubernetes.io/defaultTolerations"
REFUSED_REASON = "UnsupportedImage"

_CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def namespace_annotations() -> dict[str, str]:
    """Annotations that send every pod of a namespace to the agent node(s)."""
    toleration = {
        "key": AGENT_TAINT["key"],
        "operator": "Equal",
        "value": AGENT_TAINT["value"],
        "effect": AGENT_TAINT["effect"],
    }
    return {
        NODE_SELECTOR_ANNOTATION: f"{AGENT_LABEL}={AGENT_LABEL_VALUE}",
        DEFAULT_TOLERATIONS_ANNOTATION: json.dumps([toleration]),
    }


def agent_node(name: str) -> dict[str, Any]:
    """The Node an agent registers (status is written separately through nodes/status)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                AGENT_LABEL: AGENT_LABEL_VALUE,
                "type": AGENT_NODE_TYPE,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "spec": {"taints": [dict(AGENT_TAINT)]},
    }


def node_status(now: str, kubelet_version: str) -> dict[str, Any]:
    """A Ready node status; ``now`` is an RFC 3339 timestamp."""

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "capacity": dict(_CAPACITY),
        "allocatable": dict(_CAPACITY),
        "addresses": [{"type": "InternalIP", "address": str(addresses.NODE_IP)}],
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            condition("Ready", "True", "KubeletReady", "axiom node agent is posting ready status"),
        ],
        "nodeInfo": {
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": kubelet_version,
            "operatingSystem": "linux",
            "architecture": "amd64",
            "containerRuntimeVersion": "axiom-agent://local-process",
            "osImage": "host",
            "kernelVersion": "",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
    }


def refusal_reason(pod: dict[str, Any], image_pattern: str) -> str | None:
    """Why the agent will not run ``pod``, or None when every container's image matches."""
    spec = pod.get("spec", {})
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    for container in containers:
        image = str(container.get("image", ""))
        if image_pattern not in image:
            return (
                f"container {container.get('name')!r} has image {image!r}; the axiom node "
                f"agent only runs images containing {image_pattern!r} (as local processes); "
                f"schedule other pods on kwok nodes"
            )
    return None
