"""Settings of one node agent, with the kubelet's defaults where the kubelet has one."""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Pods of the agent get 127.19.x.y: inside loopback, apart from the Services' 127.100.0.0/16
# and from 127.18.0.0/16 (the loopback twin of kwok's fake 198.18.0.0/16 pod range).
DEFAULT_POD_CIDR = ipaddress.IPv4Network("127.19.0.0/16")
DEFAULT_IMAGE_PATTERN = "axiom-runtime"


def _default_executables() -> dict[str, str]:
    """Container command names that map to programs of this package's environment."""
    bin_dir = Path(sys.executable).parent
    return {
        "axiom": str(bin_dir / "axiom"),
        "python": sys.executable,
        "python3": sys.executable,
    }


@dataclass(frozen=True)
class AgentConfig:
    """Everything a NodeAgent needs besides the kubeconfig."""

    state_dir: Path
    node_names: tuple[str, ...] = ("axiom-agent-0",)
    image_pattern: str = DEFAULT_IMAGE_PATTERN
    pod_cidr: ipaddress.IPv4Network = DEFAULT_POD_CIDR
    # Command used when a container has no `command` (we have no image to read ENTRYPOINT from).
    default_command: tuple[str, ...] = ("axiom", "serve")
    executables: dict[str, str] = field(default_factory=_default_executables)
    # kubelet: 10 s doubling to 5 min, reset after 10 min of a container running fine.
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    lease_duration_seconds: int = 40
    lease_renew_interval: float = 10.0
    node_status_interval: float = 60.0
    # Upper bound on how long the agent waits per pod when it shuts down itself.
    shutdown_grace_seconds: float = 10.0
    proxy_connect_timeout: float = 2.0
