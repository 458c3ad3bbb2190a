"""``python -m axiom_operator.kubectl``: the plugin without the console script."""

from axiom_operator.kubectl.cli import entry_point

entry_point()
