"""The real node's configuration, pinned where it matters (docs/real-node.md): the settings
this machine needs, and the network rule (only 198.18.0.0/15 and loopback, no resolver but
127.0.0.1, no default route in pods)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from axiom_devcluster import addresses
from axiom_devcluster.realnode import configs, preflight

RFC2544 = ipaddress.IPv4Network("198.18.0.0/15")


@pytest.fixture
def layout(tmp_path: Path) -> configs.NodeLayout:
    return configs.NodeLayout(
        directory=tmp_path,
        bin_dir=tmp_path / "bin",
        kubelet_port=10250,
        kubelet_healthz_port=10248,
        proxy_healthz_port=10256,
        proxy_metrics_port=10249,
        sandbox_image="axiom-pause:0.1.0",
    )


def test_every_node_range_is_inside_the_benchmarking_block() -> None:
    assert addresses.REALNODE_POD_CIDR.subnet_of(RFC2544)
    assert addresses.REALNODE_SERVICE_CIDR.subnet_of(RFC2544)
    assert addresses.NODE_BRIDGE_IP in addresses.REALNODE_POD_CIDR
    assert not addresses.REALNODE_POD_CIDR.overlaps(addresses.REALNODE_SERVICE_CIDR)
    assert addresses.REALNODE.first_service_ip == ipaddress.IPv4Address("198.19.0.1")


def test_containerd_restricts_oom_score_adj_and_pins_our_pause_image(
    layout: configs.NodeLayout,
) -> None:
    toml = configs.containerd_config(layout)
    assert "restrict_oom_score_adj = true" in toml
    assert "sandbox = 'axiom-pause:0.1.0'" in toml
    assert "io.containerd.internal.v1.opt" in toml  # disabled: it would write /opt/containerd


def test_pods_get_no_default_route_and_only_the_service_range(
    layout: configs.NodeLayout,
) -> None:
    bridge = configs.cni_config(layout)["plugins"][0]
    assert bridge["isDefaultGateway"] is False and bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == [{"dst": str(addresses.REALNODE_SERVICE_CIDR)}]
    assert bridge["ipam"]["dataDir"].startswith(str(layout.directory))


def test_pods_resolve_names_only_on_their_own_loopback(layout: configs.NodeLayout) -> None:
    configs.write_all(layout)
    assert layout.path("resolv.conf").read_text().startswith("nameserver 127.0.0.1\n")
    assert configs.kubelet_config(layout)["resolvConf"] == str(layout.path("resolv.conf"))


def test_kubelet_authenticates_and_authorizes_every_caller(layout: configs.NodeLayout) -> None:
    kubelet = configs.kubelet_config(layout)
    assert kubelet["readOnlyPort"] == 0
    assert kubelet["authentication"]["anonymous"] == {"enabled": False}
    assert kubelet["authorization"] == {"mode": "Webhook"}
    assert kubelet["address"] == str(addresses.NODE_BRIDGE_IP)


def test_kube_proxy_changes_no_conntrack_sysctl_and_no_localhost_ports(
    layout: configs.NodeLayout,
) -> None:
    proxy = configs.kube_proxy_config(layout)
    assert proxy["conntrack"]["maxPerCore"] == 0
    assert proxy["iptables"]["localhostNodePorts"] is False
    assert proxy["nodePortAddresses"] == [f"{addresses.NODE_BRIDGE_IP}/32"]


def test_preflight_says_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    reason = preflight.why_not()
    assert reason is not None and reason.startswith("not root")
