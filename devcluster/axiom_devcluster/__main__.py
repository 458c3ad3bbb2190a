"""``python -m axiom_devcluster up|down|status --dir DIR``: the local cluster for people.

``up`` starts the control plane detached (its processes keep running after the command
returns; their pids are in DIR/state.json) and prints how to point kubectl at it. ``down``
stops what ``up`` started. ``make cluster-up`` / ``make cluster-down`` call these.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from axiom_devcluster import binaries
from axiom_devcluster.controlplane import (
    STATE_FILE,
    ControlPlane,
    ControlPlaneStartError,
    read_state,
    stop_from_state,
)


def _running_pids(directory: Path) -> dict[str, int]:
    if not (directory / STATE_FILE).exists():
        return {}
    pids: dict[str, int] = read_state(directory).get("pids", {})
    return pids


def cmd_up(directory: Path, kwok_nodes: int, agent: bool = True) -> int:
    if _running_pids(directory):
        print(f"a cluster is already recorded in {directory}; run `down --dir {directory}` first")
        return 1
    binaries.ensure_built()
    # A fresh directory each time: stale etcd data or certificates would not match new ports.
    if directory.exists():
        shutil.rmtree(directory)
    started = time.monotonic()
    plane = ControlPlane(directory, kwok_nodes=kwok_nodes, tie_to_parent=False)
    try:
        plane.start()
    except ControlPlaneStartError as error:
        print(f"cluster failed to start: {error}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    kubectl = binaries.bin_dir() / "kubectl"
    print(f"control plane up in {elapsed:.1f} s at {plane.server} ({kwok_nodes} kwok node(s))")
    if agent:
        from axiom_devcluster.agent import detached

        detached.start_detached(directory, plane.kubeconfig)
        print(
            f"node agent up: pods in namespaces annotated for it run locally ({directory / 'agent'})"
        )
    print(f"logs: {directory / 'logs'}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    print(f"{kubectl} --kubeconfig {plane.kubeconfig} get nodes")
    return 0


def cmd_down(directory: Path) -> int:
    from axiom_devcluster.agent import detached

    # First, while the apiserver runs: the agent removes its pods and Node on the way out.
    if detached.stop_detached(directory):
        print("stopped: node agent")
    stopped = stop_from_state(directory)
    print(f"stopped: {', '.join(stopped)}" if stopped else f"nothing running in {directory}")
    return 0


def cmd_status(directory: Path) -> int:
    pids = _running_pids(directory)
    if not pids:
        print(f"no cluster in {directory}")
        return 1
    state = read_state(directory)
    print(f"server {state['server']}  kubeconfig {state['kubeconfig']}")
    for name, pid in pids.items():
        print(f"  {name:<24} pid {pid}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m axiom_devcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status"):
        command = sub.add_parser(name)
        command.add_argument("--dir", type=Path, default=Path(".cluster"))
        if name == "up":
            command.add_argument("--kwok-nodes", type=int, default=2)
            command.add_argument(
                "--agent",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="also start the node agent that really runs runtime pods (default: on)",
            )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "up":
        return cmd_up(directory, args.kwok_nodes, args.agent)
    if args.command == "down":
        return cmd_down(directory)
    return cmd_status(directory)


if __name__ == "__main__":
    sys.exit(main())
