"""Write a generated file, or with ``--check`` fail when the committed copy is stale.

Shared by the generators in hack/ (API reference, Helm values table), so that each only
renders its markdown and all of them treat a stale file the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(out: Path, text: str, *, check: bool, regenerate: str) -> int:
    """Return the process exit code: 0 written/up to date, 1 stale (with ``check``)."""
    if check:
        current = out.read_text() if out.exists() else ""
        if current != text:
            print(f"{out} is stale: run {regenerate}", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0
