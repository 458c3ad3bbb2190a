"""``python -m axiom_runtime.server ARGS`` is ``axiom serve ARGS`` (for tests and benches)."""

import sys

from axiom_runtime.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
