"""Service + pods -> the addresses kube-proxy would forward to (pure).

Why not EndpointSlices: the apiserver refuses loopback addresses in EndpointSlices and
Endpoints ("may not be in the loopback range"), and the agent's pod IPs are loopback (so that
everything, including the operator scraping pod IPs, stays on this machine). So the agent
applies the EndpointSlice controller's own rule to the Services and pods it watches: a pod
backs a Service when it is in the Service's namespace, matches its selector, has an IP, is
not terminating and is Ready (or the Service publishes not-ready addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServicePort:
    cluster_ip: str
    port: int
    name: str


@dataclass(frozen=True)
class Backend:
    ip: str
    port: int
    pod: str


def proxied_ports(
    service: Mapping[str, Any], allowed: ipaddress.IPv4Network
) -> list[tuple[ServicePort, Any]]:
    """(service port, targetPort) pairs the agent listens for: TCP, ClusterIP inside ``allowed``."""
    spec = service.get("spec") or {}
    cluster_ip = str(spec.get("clusterIP") or "")
    if not cluster_ip or cluster_ip == "None":
        return []
    try:
        if ipaddress.IPv4Address(cluster_ip) not in allowed:
            return []
    except ipaddress.AddressValueError:
        return []
    result: list[tuple[ServicePort, Any]] = []
    for port in spec.get("ports") or []:
        if str(port.get("protocol", "TCP")) != "TCP":
            continue
        number = int(port["port"])
        target = port.get("targetPort", number)
        result.append((ServicePort(cluster_ip, number, str(port.get("name", ""))), target))
    return result


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _ready(pod: Mapping[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return False


def _target_port(target: Any, pod: Mapping[str, Any]) -> int | None:
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and str(port.get("protocol", "TCP")) == "TCP":
                return int(port["containerPort"])
    return None


def backends(
    service: Mapping[str, Any],
    target_port: Any,
    pods: Iterable[Mapping[str, Any]],
    pod_network: ipaddress.IPv4Network,
) -> list[Backend]:
    """Ready pods (with IPs in ``pod_network``) that back ``service`` at ``target_port``."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses", False))
    found: list[Backend] = []
    for pod in pods:
        pod_meta = pod.get("metadata") or {}
        if pod_meta.get("namespace") != meta.get("namespace"):
            continue
        if pod_meta.get("deletionTimestamp") or not _selects(
            selector, pod_meta.get("labels") or {}
        ):
            continue
        ip = str((pod.get("status") or {}).get("podIP") or "")
        if not ip or ipaddress.IPv4Address(ip) not in pod_network:
            continue
        if not (publish_not_ready or _ready(pod)):
            continue
        port = _target_port(target_port, pod)
        if port is not None:
            found.append(Backend(ip, port, str(pod_meta.get("name", ""))))
    found.sort(key=lambda backend: (backend.pod, backend.port))
    return found
