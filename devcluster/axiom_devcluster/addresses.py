"""Address plan of the local cluster: every listener on loopback, no 10.x anywhere.

Why these ranges (see docs/local-cluster.md for the whole decision):
- Services get ClusterIPs from ``SERVICE_CIDR`` inside 127.0.0.0/8. kube-apiserver accepts a
  loopback service range, so a ClusterIP, if anything ever dials it, stays on this machine.
- Pod IPs cannot be loopback: the apiserver rejects EndpointSlice (and Endpoints) addresses in
  127.0.0.0/8 ("may not be in the loopback range"), so Services would never get endpoints.
  Fake pods therefore get addresses from ``POD_CIDR`` = 198.18.0.0/16, part of the range
  reserved for network benchmarking (RFC 2544) that is never routed anywhere. Nothing may
  connect to these addresses: they are labels in the API, not reachable hosts. The node agent
  (:mod:`axiom_devcluster.agent`) maps a pod's 198.18.x.y to a loopback address of its own;
  ``loopback_for_pod_ip`` is that mapping.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

SERVICE_CIDR = ipaddress.IPv4Network("127.100.0.0/16")
POD_CIDR = ipaddress.IPv4Network("198.18.0.0/16")
# Address every node reports as its InternalIP (kwok nodes have no real host behind them).
NODE_IP = ipaddress.IPv4Address("127.0.0.1")
BIND_IP = ipaddress.IPv4Address("127.0.0.1")
_POD_LOOPBACK_NET = ipaddress.IPv4Network("127.18.0.0/16")


# The real node (:mod:`axiom_devcluster.realnode`): its bridge holds NODE_BRIDGE_IP, its pods get
# REALNODE_POD_CIDR (a /24 of POD_CIDR no kwok node is given), and Services get
# REALNODE_SERVICE_CIDR: not loopback, because inside a pod 127.0.0.0/8 is the pod's own
# loopback, and off every private range; 198.19.0.0/20 is in the same never-routed RFC 2544
# block as POD_CIDR, and routed over the bridge only.
REALNODE_POD_CIDR = ipaddress.IPv4Network("198.18.250.0/24")
NODE_BRIDGE_IP = REALNODE_POD_CIDR.network_address + 1
REALNODE_SERVICE_CIDR = ipaddress.IPv4Network("198.19.0.0/20")


@dataclass(frozen=True)
class AddressPlan:
    """Where the apiserver listens and which range its Services get: loopback for kwok and the
    node agent; on the real node's bridge (so pods reach it through the ``kubernetes`` Service)
    for a real node."""

    apiserver_ip: ipaddress.IPv4Address
    service_cidr: ipaddress.IPv4Network

    @property
    def first_service_ip(self) -> ipaddress.IPv4Address:
        return self.service_cidr.network_address + 1

    @property
    def on_loopback(self) -> bool:
        return self.apiserver_ip.is_loopback


LOOPBACK = AddressPlan(BIND_IP, SERVICE_CIDR)
REALNODE = AddressPlan(NODE_BRIDGE_IP, REALNODE_SERVICE_CIDR)


def first_service_ip() -> ipaddress.IPv4Address:
    """ClusterIP the apiserver gives the ``kubernetes`` Service (and must be in its cert)."""
    return SERVICE_CIDR.network_address + 1


def node_pod_cidr(index: int) -> ipaddress.IPv4Network:
    """The /24 of POD_CIDR that node number ``index`` hands out (kwok reads spec.podCIDR)."""
    if not 0 <= index < 256:
        raise ValueError(f"node index {index} outside 0..255: POD_CIDR has 256 /24 blocks")
    return list(POD_CIDR.subnets(new_prefix=24))[index]


def loopback_for_pod_ip(pod_ip: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    """198.18.x.y -> 127.18.x.y: where a node agent should really serve a pod."""
    if pod_ip not in POD_CIDR:
        raise ValueError(f"pod IP {pod_ip} is not in POD_CIDR {POD_CIDR}")
    offset = int(pod_ip) - int(POD_CIDR.network_address)
    return _POD_LOOPBACK_NET.network_address + offset


def free_port(host: ipaddress.IPv4Address = BIND_IP) -> int:
    """A TCP port the OS reports free on ``host`` right now (closed before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((str(host), 0))
        port: int = sock.getsockname()[1]
        return port
