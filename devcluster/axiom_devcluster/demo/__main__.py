"""``python -m axiom_devcluster.demo [--keep] [--down]`` (``make demo``, ``make demo KEEP=1``).

Runs the story step by step; on the first step that does not do what it should, says so,
cleans up and exits 1. Without ``--keep`` nothing is left running (checked with psutil);
with ``--keep`` the cluster, agent and operator stay up and the commands to explore them
are printed; ``--down`` stops what ``--keep`` left.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from axiom_devcluster.demo.manifests import MODEL_NAME, REPO_ROOT
from axiom_devcluster.demo.report import DemoStepError, Reporter, format_duration
from axiom_devcluster.demo.stack import Stack, stop_kept
from axiom_devcluster.demo.story import Story
from axiom_devcluster.realnode import preflight

DEFAULT_DIR = REPO_ROOT / ".demo"


def run(directory: Path, keep: bool, node: str = "auto") -> int:
    report = Reporter()
    # The real node where the machine allows it; KEEP=1 leaves processes detached, which only
    # the node agent supports, so it keeps the agent.
    cannot = "KEEP=1 keeps the node agent" if keep else preflight.why_not()
    realnode = node == "real" or (node == "auto" and cannot is None)
    stack = Stack(directory, keep=keep, realnode=realnode)
    story = Story(stack, report)
    report.say("Axiom operator demo: verified models, canary, automatic and manual rollback")
    report.say(f"(everything runs on this machine, under {directory})")
    report.say(f"Pods run on {stack.node_description}")
    if not realnode and node == "auto":
        report.say(f"(not on a real node: {cannot})")
    leftover = stop_kept(directory)
    if leftover:
        report.say(
            f"(stopped what an earlier `make demo KEEP=1` left running: {', '.join(leftover)})"
        )
    node_name = "a real node" if realnode else "node agent"
    steps = (
        (f"Start a local Kubernetes control plane and {node_name}", story.start_cluster),
        ("Install the AxiomModel CRD from the Helm chart", story.install_crd),
        ("Start the operator", story.start_operator),
        ("Deploy digits 1.0.0 with its signed certificate", story.deploy_first_version),
        ("Canary 2.0.0: split, analysis, promotion", story.canary_good_version),
        ("Bad version 3.0.0: rolled back automatically", story.canary_bad_version),
        ("Roll back by annotation", story.rollback_by_annotation),
        (
            "Confident and wrong 4.0.0: caught in shadow mode",
            story.shadow_catches_a_confident_wrong_version,
        ),
    )
    failed: str | None = None
    try:
        for title, action in steps:
            with report.step(title):
                action()
    except (DemoStepError, Exception) as error:
        failed = f"{type(error).__name__}: {error}"
    except KeyboardInterrupt:
        failed = "interrupted"
    finally:
        story.stop_client()

    if failed is not None:
        report.say(f"\nDEMO STOPPED: {failed}")
        story.explain_failure()

    if keep:
        _print_keep(report, stack, story.service_url)
    else:
        with report.step("Clean up"):
            left = report.run("everything to stop", stack.stop)
            if left:
                report.say(f"  still running after cleanup: pids {sorted(left)}")
                failed = failed or f"processes left running: {sorted(left)}"
            else:
                report.note(
                    f"stopped: operator, {'real node' if realnode else 'node agent'} and its pods, control plane; "
                    f"no process left ({len(stack.started_pids)} started, checked with psutil)"
                )
    report.say("\nTimes on this machine:")
    report.say(report.summary())
    totals = story.totals
    if totals.sent:
        report.say(
            f"\nSteady client: {totals.sent} requests, {totals.failed} failed, "
            f"answered by {', '.join(f'{v}: {n}' for v, n in sorted(totals.by_version.items()))}"
        )
    if failed is not None:
        report.say(f"\nFAILED: {failed}")
        return 1
    report.say("\nThe demo ran to its end.")
    return 0


def _print_keep(report: Reporter, stack: Stack, service_url: str) -> None:
    if stack.plane is None:
        return
    report.say("\nThe cluster is still up (KEEP=1). To explore:")
    report.say(f"  export KUBECONFIG={stack.kubeconfig}")
    report.say(f"  export PATH={stack.kubectl.binary.parent}:$PATH     # the kubectl built for it")
    report.say(f"  kubectl -n {stack.namespace} get axm,deploy,svc,pods")
    report.say(f"  kubectl -n {stack.namespace} describe axm {MODEL_NAME}")
    if service_url:
        report.say(
            f"  curl -si -H 'Content-Type: application/json' {service_url}/predict "
            "-d @examples/digits/sample-digit-3.json"
        )
    # rollback=previous was handled once already (annotations act once per value); a named
    # version is a new request: 2.0.0 is no longer warm, so this is a cold rollback.
    report.say(
        f"  kubectl -n {stack.namespace} annotate axm {MODEL_NAME} axiom.dev/rollback=2.0.0 "
        "--overwrite   # cold rollback: RollingBack until 2.0.0's pod is up"
    )
    if stack.operator is not None:
        report.say(f"  less {stack.operator.log_path}        # the operator's log")
    report.say("When done:")
    report.say("  make demo-down")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m axiom_devcluster.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up at the end")
    parser.add_argument("--down", action="store_true", help="stop what --keep left running")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="working directory")
    parser.add_argument(
        "--node",
        choices=("auto", "real", "agent"),
        default="auto",
        help="where pods run: the real node if this machine allows it (auto), or force one",
    )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.down:
        begun = time.monotonic()
        stopped = stop_kept(directory)
        what = ", ".join(stopped) if stopped else "nothing was running"
        print(f"stopped: {what} ({format_duration(time.monotonic() - begun)})")
        return 0
    return run(directory, args.keep, args.node)


if __name__ == "__main__":
    sys.exit(main())
