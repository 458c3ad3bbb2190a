"""`make bench`: run every bench/*_bench.py in turn, each printing its own tables.

Extra arguments are passed to each bench (they share --duration; see each --help).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(BENCH.glob("*_bench.py")):
        print(f"\n===== {script.name} =====\n", flush=True)
        if (
            subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=False).returncode
            != 0
        ):
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
