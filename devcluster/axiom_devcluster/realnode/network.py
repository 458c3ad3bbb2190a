"""The real node's share of the host's network, made and unmade: the bridge with the node's
address, the route of the Service range over it, two FORWARD rules, and the sysctls the
kubelet changes.

Why each:
- The bridge exists before the control plane starts, because the apiserver listens on its
  address (pods reach the apiserver through the ``kubernetes`` Service, whose endpoint is that
  address). The CNI bridge plugin finds it and attaches pods to it.
- The Service range is routed over the bridge, so a ClusterIP that kube-proxy has no rule for
  yet is never sent out of the machine by the default route.
- FORWARD accepts pod traffic even where a Docker engine has set the chain's policy to DROP.
- The kubelet sets ``vm.overcommit_memory``, ``kernel.panic`` and ``kernel.panic_on_oops`` at
  start; the values found before are recorded in the node's directory and put back at stop.

Everything is done with ``ip``, ``iptables`` and ``/proc/sys`` so that nothing else is needed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from axiom_devcluster import addresses
from axiom_devcluster.realnode.configs import BRIDGE

SYSCTLS = (
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
)
_COMMENT = "axiom-realnode"
# Fixed paths the kubelet and containerd's CNI library write whatever their configured
# directories (the kubelet's device-plugin socket, libcni's result cache, pod log links):
# removed at stop when they did not exist at start.
HOST_PATHS = (
    Path("/var/lib/kubelet"),
    Path("/var/lib/cni"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/etc/cni"),
    Path("/opt/cni"),
    Path("/opt/containerd"),
    Path("/var/lib/containerd"),
    Path("/run/containerd"),
)
_RECORD_FILE = "host-before.json"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        path = Path("/proc/sys") / name
        if path.exists():
            values[name] = path.read_text().strip()
    return values


def _forward_rules() -> list[list[str]]:
    pods = str(addresses.REALNODE_POD_CIDR)
    comment = ["-m", "comment", "--comment", _COMMENT, "-j", "ACCEPT"]
    return [["-s", pods, *comment], ["-d", pods, *comment]]


def bridge_exists() -> bool:
    return _run("ip", "link", "show", BRIDGE, check=False).returncode == 0


def create(directory: Path) -> None:
    """Record the sysctls, then make the bridge, its route and the FORWARD rules."""
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / _RECORD_FILE
    if not record.exists():
        found = {
            "sysctls": read_sysctls(),
            "nft_tables": nft_tables(),
            "absent_paths": [str(p) for p in HOST_PATHS if not p.exists()],
        }
        record.write_text(json.dumps(found, indent=2) + "\n")
    if bridge_exists():
        raise RuntimeError(
            f"bridge {BRIDGE} already exists: another real node runs, or one was killed "
            f"before its stop (python -m axiom_devcluster.realnode cleanup --dir ITS_DIR)"
        )
    node = f"{addresses.NODE_BRIDGE_IP}/{addresses.REALNODE_POD_CIDR.prefixlen}"
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", node, "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _run(
        "ip", "route", "add", str(addresses.REALNODE_SERVICE_CIDR), "dev", BRIDGE,
        "src", str(addresses.NODE_BRIDGE_IP),
    )  # fmt: skip
    for rule in _forward_rules():
        _run("iptables", "-I", "FORWARD", *rule)


def remove(directory: Path) -> None:
    """Undo ``create`` and restore the recorded sysctls; safe to call twice."""
    for rule in _forward_rules():
        while _run("iptables", "-D", "FORWARD", *rule, check=False).returncode == 0:
            pass
    if bridge_exists():
        _run("ip", "link", "del", BRIDGE)  # its address and route go with it
    record = directory / _RECORD_FILE
    if record.exists():
        found = json.loads(record.read_text())
        for name, value in found["sysctls"].items():
            path = Path("/proc/sys") / name
            if path.exists() and path.read_text().strip() != value:
                path.write_text(value + "\n")
        _remove_new_empty_tables(set(found["nft_tables"]))
        for path in map(Path, found.get("absent_paths", ())):
            shutil.rmtree(path, ignore_errors=True)
        # Where they were there before, only the node's own CNI results go.
        for result in Path("/var/lib/cni/results").glob(f"{_COMMENT}-*"):
            result.unlink(missing_ok=True)


def nft_tables() -> list[str]:
    """The nf_tables tables (``ip nat``, ``ip6 filter``...): iptables-nft creates a table the
    first time a rule goes into it, and deleting the rules leaves the table. None listed
    without the ``nft`` tool (hack/node-packages.sh does not install it): nothing to compare."""
    if shutil.which("nft") is None:
        return []
    listed = _run("nft", "list", "tables", check=False).stdout.splitlines()
    return [line.removeprefix("table ").strip() for line in listed if line.startswith("table ")]


def _remove_new_empty_tables(before: set[str]) -> None:
    for table in nft_tables():
        if table in before:
            continue
        family, name = table.split()
        body = _run("nft", "list", "table", family, name, check=False).stdout
        rules = [
            line for line in body.splitlines()
            if line.strip() and not line.strip().startswith(("table", "chain", "type", "}"))
        ]  # fmt: skip
        if not rules:
            _run("nft", "delete", "table", family, name, check=False)


def remove_kube_chains() -> None:
    """Delete every KUBE-* chain (IPv4 and IPv6) and the jumps to them from built-in chains:
    what kube-proxy --cleanup and the kubelet's own chains may leave."""
    for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
        dump = _run(save, check=False).stdout
        table = ""
        chains: dict[str, list[str]] = {}
        for line in dump.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":KUBE-"):
                chains.setdefault(table, []).append(line[1:].split()[0])
            elif line.startswith("-A ") and " -j KUBE-" in line:
                rule = shlex.split(line)[1:]
                if not rule[0].startswith("KUBE-"):
                    _run(tool, "-t", table, "-D", *rule, check=False)
        for table_name, names in chains.items():
            for name in names:
                _run(tool, "-t", table_name, "-F", name, check=False)
            for name in names:
                _run(tool, "-t", table_name, "-X", name, check=False)
