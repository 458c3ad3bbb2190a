"""Configuration files and command lines of the real node: pure functions of ``NodeLayout``.

Choices that matter (each was needed on this machine, see notes/real-node.md):
- containerd: ``restrict_oom_score_adj`` (the machine cannot lower OOM scores; without it every
  sandbox fails in runc), the pinned sandbox image is our own pause image (nothing is pulled),
  state and sockets under a short run directory (unix socket paths are limited to 108 bytes),
  and plugins that would write outside our directories (opt, NRI) disabled.
- kubelet: cgroup v1 allowed (``failCgroupV1: false``), cgroupfs driver, the bridge address as
  node IP (a loopback node IP is refused), x509 + webhook authentication and Webhook
  authorization, no read-only port, a resolv.conf naming 127.0.0.1 only, pod logs under the
  node's directory, high image-GC thresholds and small eviction thresholds.
- kube-proxy: iptables mode, node ports only on the bridge address, no localhost node ports and
  no conntrack sysctl changes (``maxPerCore: 0``, zero timeouts).
- CNI: one bridge plugin, host-local IPAM with its data under the node's directory, no default
  route in pods (only the Service range, via the bridge), no masquerading.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from axiom_devcluster import addresses

NODE_NAME = "axiom-realnode"
BRIDGE = "axbr0"
RUN_DIR = Path("/run/axiom-realnode")
CNI_PLUGIN_DIR = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
CLUSTER_DOMAIN = "cluster.local"
NODE_TYPE = "realnode"
NODE_LABELS = f"type={NODE_TYPE}"


@dataclass(frozen=True)
class NodeLayout:
    """Where one real node lives: its directory, binaries, ports and images."""

    directory: Path
    bin_dir: Path
    kubelet_port: int
    kubelet_healthz_port: int
    proxy_healthz_port: int
    proxy_metrics_port: int
    sandbox_image: str
    pod_cidr: ipaddress.IPv4Network = addresses.REALNODE_POD_CIDR
    service_cidr: ipaddress.IPv4Network = addresses.REALNODE_SERVICE_CIDR
    node_ip: ipaddress.IPv4Address = addresses.NODE_BRIDGE_IP

    @property
    def containerd_socket(self) -> Path:
        return RUN_DIR / "containerd.sock"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def registry_hosts_dir(self) -> Path:
        """containerd's ``config_path``: ``<host:port>/hosts.toml`` per registry."""
        return self.directory / "registry-hosts"


def registry_hosts_toml(host: str, *, plain_http: bool = True) -> str:
    """A hosts.toml that sends pulls of ``host`` to itself (over plain HTTP for a test registry
    on loopback or the bridge: containerd's default for a non-localhost host is HTTPS)."""
    scheme = "http" if plain_http else "https"
    return (
        f'server = "{scheme}://{host}"\n'
        f'[host."{scheme}://{host}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def write_registry_host(layout: NodeLayout, host: str, *, plain_http: bool = True) -> Path:
    """Let the node pull from ``host`` (``ip:port``); containerd reads it at the next pull."""
    directory = layout.registry_hosts_dir / host
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.toml"
    path.write_text(registry_hosts_toml(host, plain_http=plain_http))
    return path


def containerd_config(layout: NodeLayout) -> str:
    """containerd's config.toml (version 3 schema of containerd v2)."""
    cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
    runc = f"{cri_runtime}.containerd.runtimes.runc"
    lines = [
        "version = 3",
        f"root = '{layout.path('containerd')}'",
        f"state = '{RUN_DIR / 'containerd'}'",
        "imports = []",
        "disabled_plugins = ['io.containerd.internal.v1.opt', 'io.containerd.nri.v1.nri',"
        " 'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing']",
        "[grpc]",
        f"  address = '{layout.containerd_socket}'",
        "[ttrpc]",
        f"  address = '{RUN_DIR / 'containerd.ttrpc.sock'}'",
        "[plugins.'io.containerd.cri.v1.images']",
        "  snapshotter = 'overlayfs'",
        # Registries the node may pull from (image volumes from a test's registry): one
        # hosts.toml per registry host under this directory, read at each pull.
        "[plugins.'io.containerd.cri.v1.images'.registry]",
        f"  config_path = '{layout.registry_hosts_dir}'",
        "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
        f"  sandbox = '{layout.sandbox_image}'",
        f"[{cri_runtime}]",
        "  restrict_oom_score_adj = true",
        "  cdi_spec_dirs = []",
        f"[{cri_runtime}.cni]",
        f"  bin_dirs = ['{CNI_PLUGIN_DIR}']",
        f"  conf_dir = '{layout.path('cni')}'",
        f"[{runc}]",
        "  runtime_type = 'io.containerd.runc.v2'",
        f"[{runc}.options]",
        f"  BinaryName = '{RUNC}'",
        f"  Root = '{RUN_DIR / 'runc'}'",
        "  SystemdCgroup = false",
        "[plugins.'io.containerd.grpc.v1.cri']",
        "  stream_server_address = '127.0.0.1'",
        "  stream_server_port = '0'",
    ]
    return "\n".join(lines) + "\n"


def cni_config(layout: NodeLayout) -> dict[str, Any]:
    gateway = str(layout.node_ip)
    return {
        "cniVersion": "1.0.0",
        "name": NODE_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(layout.pod_cidr), "gateway": gateway}]],
                    "routes": [{"dst": str(layout.service_cidr)}],
                    "dataDir": str(layout.path("cni-ipam")),
                },
            }
        ],
    }


def kubelet_config(layout: NodeLayout) -> dict[str, Any]:
    pki = layout.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": str(layout.node_ip),
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "resolvConf": str(layout.path("resolv.conf")),
        "clusterDomain": CLUSTER_DOMAIN,
        "podLogsDir": str(layout.path("pod-logs")),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "5s",
        "shutdownGracePeriod": "0s",
        "maxPods": 60,
        "serializeImagePulls": False,
    }


def kubelet_args(layout: NodeLayout) -> list[str]:
    return [
        f"--config={layout.path('kubelet.yaml')}",
        f"--kubeconfig={layout.path('kubelet.kubeconfig')}",
        # Short: the kubelet makes unix sockets under its root (108-byte path limit).
        f"--root-dir={RUN_DIR / 'kubelet'}",
        f"--cert-dir={layout.pki}",
        f"--node-ip={layout.node_ip}",
        f"--hostname-override={NODE_NAME}",
        f"--node-labels={NODE_LABELS}",
        "--v=1",
    ]


def kube_proxy_config(layout: NodeLayout) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.path("kube-proxy.kubeconfig"))},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": str(layout.node_ip),
        "clusterCIDR": str(layout.pod_cidr),
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        "nodePortAddresses": [f"{layout.node_ip}/32"],
        "iptables": {"localhostNodePorts": False, "syncPeriod": "10s", "minSyncPeriod": "0s"},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
    }


def kube_proxy_args(layout: NodeLayout) -> list[str]:
    return [f"--config={layout.path('kube-proxy.yaml')}", "--v=1"]


def write_all(layout: NodeLayout) -> None:
    """Every file the node's daemons read (certificates and kubeconfigs are written apart)."""
    for name in ("cni", "cni-ipam", "pod-logs", "containerd", "registry-hosts"):
        layout.path(name).mkdir(parents=True, exist_ok=True)
    layout.path("containerd.toml").write_text(containerd_config(layout))
    layout.path("cni/10-axiom-realnode.conflist").write_text(
        json.dumps(cni_config(layout), indent=2) + "\n"
    )
    layout.path("kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(layout)))
    layout.path("kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(layout)))
    # No pod may ask the host's resolver (or anything off the machine) for a name: inside a
    # pod 127.0.0.1 is the pod's own loopback, where nothing listens, so a lookup fails at once.
    layout.path("resolv.conf").write_text(f"nameserver 127.0.0.1\nsearch {CLUSTER_DOMAIN}\n")
