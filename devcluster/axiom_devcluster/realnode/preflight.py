"""Can this machine run a real node? ``why_not()`` answers None or the exact reason, which the
``realnode`` tier's skip and ``make demo`` print."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from axiom_devcluster import binaries
from axiom_devcluster.realnode import configs, images

NODE_BINARIES = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "pause")
# Effective capabilities a node needs: NET_ADMIN (bridge, routes, iptables), SYS_ADMIN (mounts,
# namespaces), SYS_CHROOT and SETUID/SETGID (runc), CHOWN, DAC_OVERRIDE.
_CAPABILITIES = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_SETGID": 6, "CAP_SETUID": 7,
                 "CAP_NET_ADMIN": 12, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21}  # fmt: skip
_HOST_TOOLS = {
    "runc": configs.RUNC,
    "CNI bridge plugin": configs.CNI_PLUGIN_DIR / "bridge",
    "CNI host-local plugin": configs.CNI_PLUGIN_DIR / "host-local",
}


def node_bin_dir() -> Path:
    versions = binaries.read_versions()
    key = (
        f"node-k8s-{versions['KUBERNETES_VERSION']}_containerd-{versions['CONTAINERD_VERSION']}"
        f"_r{versions['NODE_BUILD_REVISION']}"
    )
    return binaries.bin_dir().parent / key


def _effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "not root: a real node needs root (bridge, iptables, mounts, cgroups)"
    caps = _effective_capabilities()
    lacking = [name for name, bit in _CAPABILITIES.items() if not caps >> bit & 1]
    if lacking:
        return f"missing capabilities {', '.join(lacking)}"
    for controller in ("cpu", "memory", "pids"):
        if (
            not (Path("/sys/fs/cgroup") / controller).is_dir()
            and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
        ):
            return f"no cgroup: /sys/fs/cgroup/{controller} is not mounted"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay filesystem (containerd's snapshotter)"
    for what, path in _HOST_TOOLS.items():
        if not path.exists():
            return f"{what} not installed ({path}): run `bash hack/node-packages.sh`"
    for tool in ("ip", "iptables", "iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            return f"`{tool}` not installed: run `bash hack/node-packages.sh`"
    bin_dir = node_bin_dir()
    absent = [name for name in NODE_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if absent:
        return f"node binaries not built ({', '.join(absent)} in {bin_dir}): build failed or not run; `make cluster-binaries`"
    lacking_images = images.missing()
    if lacking_images:
        return (
            f"images not built ({', '.join(lacking_images)} in {images.image_dir()}): `make images`"
        )
    return None
