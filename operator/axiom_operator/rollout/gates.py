"""Gates: hooks the rollout waits on (``spec.notifications.gates``).

``PreRollout`` is asked before a new version's canary starts, ``ConfirmPromotion`` before a
canary that passed its steps is promoted. The machine never calls anything: while a gate is
closed, ``status.waiting_for`` names it, :mod:`.desired` asks for the call (``AskGate``), and
the rollout looks again soon; the handler's answer arrives as ``Observations.open_gates`` in a
later run. The wait is decided afresh every run, so it never outlives its reason (a version
changed, a canary rolled back). ``axiom.dev/promote=true`` is a person's decision and does
not wait for ConfirmPromotion.
"""

from __future__ import annotations

from axiom_operator.rollout.model import Gate
from axiom_operator.rollout.run import POLL_SECONDS, Run


def forget_wait(run: Run) -> None:
    run.set(waiting_for=None)


def gate_open(run: Run, gate: Gate, version: str) -> bool:
    """True when ``gate`` is not configured or its hook answered 2xx for ``version``."""
    if gate not in run.spec.gates or (gate, version) in run.obs.open_gates:
        if run.waited is gate:
            run.event("Normal", "GateOpened", f"{gate} hook answered 2xx for {version}")
        return True
    run.set(waiting_for=gate)
    if run.waited is not gate:
        run.event("Normal", "WaitingForGate", f"{version} waits for the {gate} hook to answer 2xx")
    run.requeue(POLL_SECONDS)
    return False


def gate_version(run: Run) -> str | None:
    """The version the gate waited on is asked about."""
    if run.status.waiting_for is Gate.CONFIRM_PROMOTION:
        return run.status.canary_version
    return run.spec.version
