"""``python -m axiom_devcluster.realnode cleanup --dir DIR``: put the host back after a real
node whose process was killed before its stop could run (see ``node.cleanup_host``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from axiom_devcluster.realnode.node import cleanup_host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m axiom_devcluster.realnode")
    parser.add_argument("command", choices=("cleanup",))
    parser.add_argument("--dir", type=Path, required=True, help="the RealCluster's directory")
    args = parser.parse_args(argv)
    cleanup_host(args.dir.resolve())
    print(f"cleaned up after the real node of {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
