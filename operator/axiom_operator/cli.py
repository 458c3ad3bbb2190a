"""``axiom operator``: run the operator (Kopf with the registrations in ``axiom_operator.main``).

Equivalent to ``kopf run -m axiom_operator.main`` with the same flags; the operator's own
settings come from ``AXIOM_OPERATOR_*`` variables (see ``settings.py``), and ``--namespace``
and ``--metrics-port`` are passed to them too so one flag configures both sides.
"""

from __future__ import annotations

import argparse
import os

SUMMARY = "run the Kubernetes operator"


def configure(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; globs allowed)",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)"
    )
    parser.add_argument(
        "--standalone", action="store_true", help="no peering: act even if other operators run"
    )
    parser.add_argument("--peering", default=None, help="peering name (default axiom-operator)")
    parser.add_argument(
        "--priority", type=int, default=None, help="peering priority (default: random)"
    )
    parser.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8081/healthz"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="Prometheus metrics port (0: off)"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(handler=run)


def run(options: argparse.Namespace) -> int:
    import kopf

    if options.metrics_port is not None:
        os.environ["AXIOM_OPERATOR_METRICS_PORT"] = str(options.metrics_port)
    if options.namespace:
        os.environ["AXIOM_OPERATOR_NAMESPACES"] = ",".join(options.namespace)
    kopf.configure(verbose=options.verbose)
    import axiom_operator.main  # noqa: F401 - registers the handlers

    kopf.run(
        standalone=options.standalone,
        peering_name=options.peering,
        priority=options.priority,
        namespaces=options.namespace,
        clusterwide=not options.namespace,
        liveness_endpoint=options.liveness,
    )
    return 0
