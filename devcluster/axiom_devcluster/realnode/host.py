"""What the host looks like, in the respects a real node changes: network links, routes,
firewall rules (IPv4 and IPv6), mounts, cgroups, sysctls, network namespaces and the fixed
paths the kubelet and CNI write (``network.HOST_PATHS``). Two
snapshots, before a node starts and after it stops, must be equal: that is the no-leftover test.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from axiom_devcluster.realnode import network

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_COUNTERS = re.compile(r"\[\d+:\d+\]")


def _out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False).stdout


def _firewall(save: str) -> tuple[str, ...]:
    lines = []
    for line in _out(save).splitlines():
        if line.startswith("#"):
            continue
        lines.append(_COUNTERS.sub("", line))
    return tuple(lines)


def _cgroups() -> tuple[str, ...]:
    """The first two levels of every cgroup hierarchy (kubepods and its QoS classes)."""
    found = []
    for hierarchy in sorted(_CGROUP_ROOT.iterdir()):
        if not hierarchy.is_dir() or hierarchy.is_symlink():
            continue
        for child in hierarchy.iterdir():
            if child.is_dir() and child.name.startswith(("kubepods", "axiom")):
                found.append(str(child.relative_to(_CGROUP_ROOT)))
    return tuple(sorted(found))


def _mounts(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1]
        if point.startswith(prefixes):
            points.append(point)
    return tuple(sorted(points))


@dataclass(frozen=True)
class HostState:
    links: tuple[str, ...]
    routes: tuple[str, ...]
    iptables: tuple[str, ...]
    ip6tables: tuple[str, ...]
    mounts: tuple[str, ...]
    cgroups: tuple[str, ...]
    sysctls: tuple[tuple[str, str], ...]
    netns: tuple[str, ...]
    fixed_paths: tuple[str, ...]

    def differences(self, other: HostState) -> dict[str, tuple[list[str], list[str]]]:
        """Per field: (only in self, only in other); empty when the two are the same."""
        diff = {}
        for name in self.__dataclass_fields__:
            mine, theirs = set(getattr(self, name)), set(getattr(other, name))
            if mine != theirs:
                diff[name] = (sorted(map(str, mine - theirs)), sorted(map(str, theirs - mine)))
        return diff


def snapshot(node_directory: Path | None = None) -> HostState:
    """The host now. Mounts are those under /run/axiom-realnode, /run/netns, /var/run/netns and
    ``node_directory`` (other mounts change for reasons of their own)."""
    prefixes = ["/run/axiom-realnode", "/run/netns", "/var/run/netns", "/run/containerd"]
    if node_directory is not None:
        prefixes.append(str(node_directory))
    netns_dir = Path("/run/netns")
    links = [
        line.split(":")[1].strip().split("@")[0] for line in _out("ip", "-o", "link").splitlines()
    ]
    return HostState(
        links=tuple(sorted(links)),
        routes=tuple(sorted(_out("ip", "route", "show", "table", "all").splitlines())),
        iptables=_firewall("iptables-save"),
        ip6tables=_firewall("ip6tables-save"),
        mounts=_mounts(tuple(prefixes)),
        cgroups=_cgroups(),
        sysctls=tuple(sorted(network.read_sysctls().items())),
        netns=tuple(sorted(p.name for p in netns_dir.iterdir())) if netns_dir.exists() else (),
        fixed_paths=tuple(str(p) for p in network.HOST_PATHS if p.exists()),
    )
