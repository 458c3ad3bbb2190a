"""One loopback address per pod, handed out and given back (what a CNI's IPAM does)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable


class AddressPoolExhaustedError(RuntimeError):
    """Every address of the agent's pod range is in use."""


class LoopbackPool:
    """Allocates host addresses of ``network`` by owner key; the same key gets the same IP.

    The network and broadcast addresses are skipped only because some tools treat x.y.z.0
    and x.y.z.255 specially; on loopback every address works.
    """

    def __init__(self, network: ipaddress.IPv4Network, start_offset: int = 0) -> None:
        if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
            raise ValueError(f"pod range {network} is not inside loopback 127.0.0.0/8")
        self._network = network
        self._by_owner: dict[str, ipaddress.IPv4Address] = {}
        self._in_use: set[ipaddress.IPv4Address] = set()
        # Agents of parallel test sessions share the machine's loopback: each starts at its
        # own (random) offset, and ``allocate`` skips addresses found busy.
        self._next = int(network.network_address) + 2 + start_offset

    def allocate(
        self,
        owner: str,
        is_free: Callable[[ipaddress.IPv4Address], bool] = lambda _address: True,
    ) -> ipaddress.IPv4Address:
        if owner in self._by_owner:
            return self._by_owner[owner]
        first = int(self._network.network_address) + 2
        last = int(self._network.broadcast_address) - 1
        size = last - first + 1
        for step in range(size):
            candidate = ipaddress.IPv4Address(first + (self._next - first + step) % size)
            if candidate.packed[-1] in (0, 255) or candidate in self._in_use:
                continue
            if not is_free(candidate):
                continue
            self._in_use.add(candidate)
            self._by_owner[owner] = candidate
            # Round-robin so a just-released address is not reused at once (stale clients).
            self._next = int(candidate) + 1
            return candidate
        raise AddressPoolExhaustedError(f"no free address left in {self._network}")

    def release(self, owner: str) -> None:
        address = self._by_owner.pop(owner, None)
        if address is not None:
            self._in_use.discard(address)

    def owner_of(self, address: ipaddress.IPv4Address) -> str | None:
        for owner, owned in self._by_owner.items():
            if owned == address:
                return owner
        return None
