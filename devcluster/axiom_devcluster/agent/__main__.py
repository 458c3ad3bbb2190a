"""``python -m axiom_devcluster.agent --kubeconfig K --state-dir D``: run one node agent.

Runs until SIGTERM or SIGINT, then stops every process it started, removes its pods and its
Node(s) and exits 0. Writes ``D/agent.ready`` (its pid) once its nodes are registered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from axiom_devcluster.agent.agent import NodeAgent
from axiom_devcluster.agent.config import DEFAULT_IMAGE_PATTERN, DEFAULT_POD_CIDR, AgentConfig

READY_FILE = "agent.ready"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m axiom_devcluster.agent", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--node-name", action="append", dest="node_names")
    parser.add_argument("--image-pattern", default=DEFAULT_IMAGE_PATTERN)
    parser.add_argument("--pod-cidr", type=ipaddress.IPv4Network, default=DEFAULT_POD_CIDR)
    parser.add_argument("--backoff-initial", type=float, default=10.0)
    parser.add_argument("--backoff-max", type=float, default=300.0)
    parser.add_argument("--shutdown-grace", type=float, default=10.0)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    config = AgentConfig(
        state_dir=args.state_dir.resolve(),
        node_names=tuple(args.node_names or ["axiom-agent-0"]),
        image_pattern=args.image_pattern,
        pod_cidr=args.pod_cidr,
        backoff_initial=args.backoff_initial,
        backoff_max=args.backoff_max,
        shutdown_grace_seconds=args.shutdown_grace,
    )
    agent = NodeAgent(args.kubeconfig, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = config.state_dir / READY_FILE
    try:
        await agent.start()
        ready.write_text(f"{os.getpid()}\n")
        await stop.wait()
    finally:
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
        await agent.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
