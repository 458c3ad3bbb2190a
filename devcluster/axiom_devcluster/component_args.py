"""The local control plane's components, as files and command lines: pure functions of where
the cluster lives (``Layout``: its directory, its ports, its PKI), so that ``ControlPlane``
only starts, watches and stops processes."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from axiom_devcluster import addresses, kubeconfig, nodes, pki

ADMIN_KUBECONFIG = "admin.kubeconfig"
_SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_HEALTH_PATHS = "/healthz,/readyz,/livez,/metrics"


@dataclass(frozen=True)
class Ports:
    """TCP ports on 127.0.0.1, chosen free by the OS at start."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(
            etcd_client=addresses.free_port(),
            etcd_peer=addresses.free_port(),
            apiserver=addresses.free_port(),
            controller_manager=addresses.free_port(),
            scheduler=addresses.free_port(),
        )


@dataclass(frozen=True)
class Layout:
    """Where one control plane lives."""

    directory: Path
    ports: Ports
    pki: pki.PkiPaths
    plan: addresses.AddressPlan = addresses.LOOPBACK

    @property
    def server(self) -> str:
        return f"https://{self.plan.apiserver_ip}:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / ADMIN_KUBECONFIG


# -- configuration files --------------------------------------------------------------------


def write_kubeconfigs(layout: Layout) -> None:
    paths = layout.pki
    kubeconfig.write(
        layout.kubeconfig,
        kubeconfig.build(
            layout.server, paths.ca_cert, paths.admin_cert, paths.admin_key, "axiom-admin"
        ),
    )
    kubeconfig.write(
        layout.directory / "controller-manager.kubeconfig",
        kubeconfig.build(
            layout.server,
            paths.ca_cert,
            paths.controller_manager_cert,
            paths.controller_manager_key,
            "system:kube-controller-manager",
        ),
    )
    kubeconfig.write(
        layout.directory / "scheduler.kubeconfig",
        kubeconfig.build(
            layout.server,
            paths.ca_cert,
            paths.scheduler_cert,
            paths.scheduler_key,
            "system:kube-scheduler",
        ),
    )


def write_kwok_config(layout: Layout) -> None:
    configuration = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            # Only a fallback: every node we create carries its own spec.podCIDR.
            "cidr": str(addresses.node_pod_cidr(255)),
            "nodeIP": str(addresses.NODE_IP),
            # kwok applies its documented defaults only when no KwokConfiguration is
            # given; with ours, unset parallelisms stay 0 and kwok exits ("node leases
            # parallelism must be greater than 0"). These are its defaults.
            "podPlayStageParallelism": 4,
            "nodePlayStageParallelism": 4,
            "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enablePodsOnNodeSyncStreamWatch": False,
        },
    }
    stages = resources.files("axiom_devcluster.kwok").joinpath("stages.yaml").read_text()
    (layout.directory / "kwok.yaml").write_text(
        yaml.safe_dump(configuration, sort_keys=False) + "---\n" + stages
    )


# -- command lines --------------------------------------------------------------------------


def etcd_args(layout: Layout) -> list[str]:
    client = f"http://{addresses.BIND_IP}:{layout.ports.etcd_client}"
    peer = f"http://{addresses.BIND_IP}:{layout.ports.etcd_peer}"
    return [
        "--name=node0",
        f"--data-dir={layout.directory / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=node0={peer}",
        "--initial-cluster-state=new",
        "--auto-compaction-retention=1",
        # Throw-away test data: durability is not worth the fsync latency on every write.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


# Writes only, at Metadata level (who, what, when; no bodies), once each (ResponseComplete):
# what a benchmark needs to count API writes per client without slowing the apiserver down.
_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted", "Panic"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


def audit_log_path(layout: Layout) -> Path:
    return layout.directory / "logs" / "audit.log"


def _audit_args(layout: Layout) -> list[str]:
    policy = layout.directory / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(_AUDIT_POLICY))
    audit_log_path(layout).parent.mkdir(parents=True, exist_ok=True)
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={audit_log_path(layout)}",
        "--audit-log-format=json",
        "--audit-log-mode=batch",
        "--audit-log-maxsize=0",
    ]


def apiserver_args(layout: Layout, *, audit: bool = False) -> list[str]:
    paths = layout.pki
    return [
        *(_audit_args(layout) if audit else []),
        f"--etcd-servers=http://{addresses.BIND_IP}:{layout.ports.etcd_client}",
        "--etcd-prefix=/registry",
        f"--bind-address={layout.plan.apiserver_ip}",
        f"--advertise-address={layout.plan.apiserver_ip}",
        f"--secure-port={layout.ports.apiserver}",
        f"--tls-cert-file={paths.serving_cert}",
        f"--tls-private-key-file={paths.serving_key}",
        f"--client-ca-file={paths.ca_cert}",
        f"--service-account-key-file={paths.service_account_pub}",
        f"--service-account-signing-key-file={paths.service_account_key}",
        f"--service-account-issuer={_SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={layout.plan.service_cidr}",
        "--authorization-mode=Node,RBAC",
        # Request-header (front-proxy) settings: aggregated API servers need them, and
        # without them every delegating component logs "missing content for CA bundle".
        f"--requestheader-client-ca-file={paths.ca_cert}",
        f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={paths.front_proxy_cert}",
        f"--proxy-client-key-file={paths.front_proxy_key}",
        # A namespace annotated for the node agent sends its pods there: these
        # two plugins add the agent node's selector and toleration to every pod in it.
        "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
        "--allow-privileged=true",
        # On loopback the "kubernetes" Service's endpoints would be 127.0.0.1, which Endpoints
        # validation rejects, and nothing in-cluster dials it. With a real node the apiserver
        # listens on the node's bridge and pods reach it through that Service.
        f"--endpoint-reconciler-type={'none' if layout.plan.on_loopback else 'lease'}",
        # Logs and exec go to a node's InternalIP, never to a name the host's resolver would be
        # asked for, with a client certificate a real kubelet authorizes.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={paths.kubelet_client_cert}",
        f"--kubelet-client-key={paths.kubelet_client_key}",
        "--profiling=false",
    ]


def controller_manager_args(layout: Layout) -> list[str]:
    paths = layout.pki
    config = layout.directory / "controller-manager.kubeconfig"
    return [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        f"--bind-address={addresses.BIND_IP}",
        f"--secure-port={layout.ports.controller_manager}",
        f"--authorization-always-allow-paths={_HEALTH_PATHS}",
        f"--root-ca-file={paths.ca_cert}",
        f"--service-account-private-key-file={paths.service_account_key}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={paths.ca_cert}",
        f"--cluster-signing-key-file={paths.ca_key}",
        "--leader-elect=false",
        "--node-monitor-period=5s",
        # 50 s, the default since Kubernetes 1.32 (it was 40 s). What it must cover after an
        # apiserver restart: the Lease's age at the stop (up to the 10 s renew interval), the
        # outage (about 10 s while the apiserver drains its watches, then the downtime and
        # its start), and the controller's own Lease informer re-listing after its backoff.
        # Measured here: with 25 s of downtime the renewal gap was 44.9 s and the controller
        # tried to mark the node Unknown; e2e tests restart for 5 s. When it does, every pod
        # on the node gets Ready=False and leaves its Services until the agent writes back.
        "--node-monitor-grace-period=50s",
        "--profiling=false",
    ]


def scheduler_args(layout: Layout) -> list[str]:
    config = layout.directory / "scheduler.kubeconfig"
    return [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        f"--bind-address={addresses.BIND_IP}",
        f"--secure-port={layout.ports.scheduler}",
        f"--authorization-always-allow-paths={_HEALTH_PATHS}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kwok_args(layout: Layout) -> list[str]:
    return [
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={layout.directory / 'kwok.yaml'}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={nodes.KWOK_SELECTOR}",
        "--node-lease-duration-seconds=40",
    ]
