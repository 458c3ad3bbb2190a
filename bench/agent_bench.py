"""Node agent numbers: Deployment created -> all replicas Ready, and memory per runtime pod.

Starts its own control plane (no kwok nodes needed) and node agent, deploys the example
digits model with ``axiom serve`` as N replicas through the same manifests as
tests/integration/test_node_agent.py, and prints, per run: seconds from the Deployment's
creation to readyReplicas == N (real /ready probes, polled every 0.1 s), the resident memory
(RSS, psutil) of each pod's process, and the agent's own RSS. Bounded: every wait has a
timeout and the whole run stops everything it started.

    .venv/bin/python bench/agent_bench.py [--replicas 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from test_node_agent import MODEL, deploy_runtime, pid_of, pods  # noqa: E402

from axiom_devcluster.agent.pytest_plugin import AgentCluster, create_agent_namespace  # noqa: E402
from axiom_devcluster.agent.testing import AgentProcess  # noqa: E402
from axiom_devcluster.controlplane import ControlPlane  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        directory = Path(tmp)
        with (
            ControlPlane(directory / "cluster", kwok_nodes=0) as plane,
            AgentProcess(plane.kubeconfig, directory / "agent") as agent,
        ):
            cluster = AgentCluster(plane, agent, agent.node_name)
            times: list[float] = []
            rss: list[int] = []
            for run in range(args.runs):
                namespace = f"bench-{run}"
                create_agent_namespace(plane, namespace)
                elapsed = deploy_runtime(cluster, namespace, args.replicas, MODEL.read_bytes())
                times.append(elapsed)
                running = pods(cluster, namespace, "app=digits")
                run_rss = [psutil.Process(pid_of(pod)).memory_info().rss for pod in running]
                rss += run_rss
                print(
                    f"run {run}: {args.replicas} replicas Ready in {elapsed:.2f} s; pod RSS MiB "
                    + ", ".join(f"{value / 2**20:.1f}" for value in run_rss),
                    flush=True,
                )
                plane.api_request("DELETE", f"/api/v1/namespaces/{namespace}")
                time.sleep(1)
            agent_rss = psutil.Process(agent.pid).memory_info().rss
    print(
        f"\nDeployment created -> {args.replicas}/{args.replicas} Ready: median "
        f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
        f"{args.runs} runs)\nper-pod RSS (axiom serve, digits model): median "
        f"{statistics.median(rss) / 2**20:.1f} MiB (min {min(rss) / 2**20:.1f}, max "
        f"{max(rss) / 2**20:.1f}, {len(rss)} pods)\nnode agent RSS: {agent_rss / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
