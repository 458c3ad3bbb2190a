"""End to end: two operator replicas under Kopf peering never both act, and the standby
takes over when the active one goes.

Both are real ``axiom operator`` processes watching the same namespace through a
``KopfPeering`` object, as the chart runs them with ``replicaCount: 2``. The one with the
higher priority handles every change; the other stays paused and handles nothing.
When the active replica stops (SIGTERM, as in a rolling update: Kopf withdraws it from the
peering object), the standby resumes and finishes the next version change on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ModelWorld, sample, wait_until

from axiom_devcluster.demo.operator_process import OperatorProcess
from axiom_devcluster.demo.traffic import predict
from axiom_operator.handlers.handle_startup import PEERING_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.agent, pytest.mark.slow, pytest.mark.timeout(240)]
# What the operator logs when one of its passes wrote something (queue.py).
HANDLED = "reconciled "
# Kopf starts every replica paused and logs this when the peering object says it may act.
RESUMED = "Resuming operations after the pause"


def log_text(operator: OperatorProcess) -> str:
    return operator.log_path.read_text(errors="replace") if operator.log_path.exists() else ""


@pytest.fixture
def replicas(
    world: ModelWorld, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    """(active, standby): priorities 200 and 100 under one KopfPeering."""
    world.apply(
        {
            "apiVersion": "kopf.dev/v1",
            "kind": "KopfPeering",
            "metadata": {"name": PEERING_NAME, "namespace": world.namespace},
        }
    )
    pair = tuple(
        OperatorProcess(
            world.kubeconfig,
            world.namespace,
            tmp_path / f"operator-{priority}.log",
            peering=PEERING_NAME,
            priority=priority,
        )
        for priority in (200, 100)
    )
    try:
        for operator in pair:
            operator.start()
        yield pair[0], pair[1]
    finally:
        for operator in pair:
            operator.stop()
            print(f"--- {operator.log_path} ---\n{log_text(operator)[-4000:]}")


def test_only_the_highest_priority_replica_acts_and_the_standby_takes_over(
    world: ModelWorld, replicas: tuple[OperatorProcess, OperatorProcess]
) -> None:
    active, standby = replicas
    wait_until(lambda: RESUMED in log_text(active), what="the active replica acting", timeout=60)
    for version in ("1.0.0", "2.0.0"):
        world.publish(version)
    world.apply_model("1.0.0")
    world.wait_ready()

    assert HANDLED in log_text(active)
    assert HANDLED not in log_text(standby), log_text(standby)[-2000:]
    assert RESUMED not in log_text(standby), "both replicas were acting"

    active.stop()  # SIGTERM: Kopf takes this replica out of the peering object on its way out
    world.apply_model("2.0.0")
    wait_until(
        lambda: world.snapshot().stable == "2.0.0" and not world.snapshot().canary,
        what="2.0.0 promoted by the standby",
        timeout=120,
        explain=lambda: (world.model() or {}).get("status"),
    )
    assert RESUMED in log_text(standby)
    assert HANDLED in log_text(standby)
    assert standby.running
    assert predict(world.service_url(), sample(7)).version == "2.0.0"
