#!/usr/bin/env python3
"""Copy the CRDs (crds/, the one source) into the Helm chart's crds/ directory.

Why a copy and not a symlink: `helm package` and chart repositories do not follow symlinks out
of the chart, and Helm installs only what is inside charts/axiom-operator/crds/. The copy is
kept honest by `--check` (run by tests/unit/test_chart_crds.py), which fails when the two
directories differ in any file, so an edited CRD that was not synced never ships.

Usage: python hack/sync-crds.py [--check] [--source DIR] [--dest DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT / "crds"
DEST = REPO_ROOT / "charts" / "axiom-operator" / "crds"


def crd_files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.yaml"))}


def differences(source: Path, dest: Path) -> list[str]:
    """Human-readable reasons why dest is not an exact copy of source (empty when it is)."""
    wanted, present = crd_files(source), crd_files(dest) if dest.is_dir() else {}
    problems = [f"missing in {dest}: {name}" for name in sorted(wanted.keys() - present.keys())]
    problems += [f"not in {source}: {name}" for name in sorted(present.keys() - wanted.keys())]
    problems += [
        f"differs from {source / name}: {dest / name}"
        for name in sorted(wanted.keys() & present.keys())
        if wanted[name] != present[name]
    ]
    return problems


def sync(source: Path, dest: Path) -> list[str]:
    """Make dest an exact copy of source's *.yaml files; return what changed."""
    changed = differences(source, dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = crd_files(source)
    for stale in dest.glob("*.yaml"):
        if stale.name not in wanted:
            stale.unlink()
    for name in wanted:
        shutil.copyfile(source / name, dest / name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    if not crd_files(args.source):
        print(f"no CRDs in {args.source}", file=sys.stderr)
        return 2
    if args.check:
        problems = differences(args.source, args.dest)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python hack/sync-crds.py", file=sys.stderr)
        return 1 if problems else 0
    for change in sync(args.source, args.dest):
        print(f"synced ({change})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
