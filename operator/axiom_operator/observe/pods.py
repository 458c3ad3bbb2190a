"""Reads from the model's runtime pods: which are Ready, the traffic generation each applied
(``/ready``), and their ``/metrics``.

Pods are reached at their pod IP (``status.podIP``) on the runtime port, with short timeouts,
and only when the address is inside ``AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST`` (when set): a
test or demo cluster on loopback sets ``127.0.0.0/8`` so the operator can never send a request
off the machine, whatever address a pod reports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from axiom_operator.context import OperatorContext
from axiom_operator.resources import labels as names
from axiom_operator.rollout.samples import Scrape
from axiom_runtime.metrics import MetricsParseError, parse_prometheus_text

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_allowed(address: str, allowlist: Sequence[Network]) -> bool:
    """Whether the operator may connect to ``address`` (an empty allowlist allows any)."""
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in allowlist)


@dataclass(frozen=True)
class RuntimePod:
    name: str
    ip: str  # "": not to be contacted (outside the allowlist)


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def ready_pods(
    ctx: OperatorContext, model: str, namespace: str, version: str
) -> list[RuntimePod]:
    """Ready pods of one version whose address the operator may contact."""
    pods = await ctx.kube.list("Pod", namespace, names.pod_selector(model, version))
    found = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or not _ready(pod):
            continue
        if not address_allowed(ip, ctx.settings.pod_network_allowlist):
            logger.warning(
                "pod %s/%s has address %s outside AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST: "
                "not contacted (counts as unreachable)",
                namespace,
                pod["metadata"]["name"],
                ip,
            )
            found.append(RuntimePod(pod["metadata"]["name"], ""))
            continue
        found.append(RuntimePod(pod["metadata"]["name"], ip))
    return found


def _url(pod: RuntimePod, path: str) -> str:
    host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
    return f"http://{host}:{names.RUNTIME_PORT}{path}"


async def _get_text(ctx: OperatorContext, pod: RuntimePod, path: str) -> tuple[int, str] | None:
    if not pod.ip:
        return None
    try:
        async with ctx.pod_session().get(_url(pod, path)) as response:
            return response.status, await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None


async def traffic_generation(ctx: OperatorContext, pod: RuntimePod) -> int:
    """The traffic generation ``pod`` applied (``/ready``), -1 when it cannot be told."""
    answer = await _get_text(ctx, pod, "/ready")
    if answer is None:
        return -1
    try:
        document = json.loads(answer[1])
        return int(document.get("trafficGeneration", -1))
    except (ValueError, TypeError, AttributeError):
        return -1


async def applied_generations(
    ctx: OperatorContext, model: str, namespace: str, stable_version: str
) -> tuple[int, ...]:
    """The traffic generation each Ready stable pod applied (-1: did not answer)."""
    pods = await ready_pods(ctx, model, namespace, stable_version)
    return tuple(await asyncio.gather(*(traffic_generation(ctx, pod) for pod in pods)))


async def scrape(ctx: OperatorContext, pod: RuntimePod) -> Scrape | None:
    answer = await _get_text(ctx, pod, "/metrics")
    if answer is None or answer[0] != 200:
        return None
    try:
        return parse_prometheus_text(answer[1])
    except MetricsParseError as error:
        logger.warning("metrics of pod %s unreadable: %s", pod.name, error)
        return None


async def scrape_version(
    ctx: OperatorContext, model: str, namespace: str, version: str
) -> dict[str, Scrape]:
    """Parsed /metrics of every Ready pod of ``version`` that answered, by pod name."""
    pods = await ready_pods(ctx, model, namespace, version)
    results = await asyncio.gather(*(scrape(ctx, pod) for pod in pods))
    return {pod.name: result for pod, result in zip(pods, results, strict=True) if result}
