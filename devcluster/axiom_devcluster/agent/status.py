"""What the agent knows about a pod -> the ``status`` it writes (pure).

Field meanings follow the kubelet: ``phase`` Pending until a container started, Running
while any runs or will be restarted, Succeeded/Failed when all ended for good; conditions
PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady, Ready, each with the
time it last changed; per container ``state`` (waiting/running/terminated), ``lastState``,
``ready``, ``started`` and ``restartCount``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Termination:
    exit_code: int
    reason: str  # Completed | Error | OOMKilled-like reasons we cannot see: only these two
    started_at: str
    finished_at: str
    message: str = ""
    signal: int = 0

    def as_state(self, container_id: str) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": container_id,
        }
        if self.message:
            terminated["message"] = self.message
        if self.signal:
            terminated["signal"] = self.signal
        return {"terminated": terminated}


@dataclass
class ContainerView:
    """The agent's view of one container, enough to write its status."""

    name: str
    image: str
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    running_since: str | None = None
    terminated: Termination | None = None  # current state when not running/waiting
    last_termination: Termination | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""

    def status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.running_since is not None:
            state = {"running": {"startedAt": self.running_since}}
        elif self.terminated is not None:
            state = self.terminated.as_state(self.container_id)
        else:
            waiting: dict[str, Any] = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        result: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "state": state,
            "lastState": (
                self.last_termination.as_state(self.container_id) if self.last_termination else {}
            ),
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
        }
        if self.container_id:
            result["containerID"] = self.container_id
        return result


@dataclass
class PodView:
    """Everything the status of one pod is built from."""

    pod_ip: str | None
    host_ip: str
    start_time: str
    containers: Sequence[ContainerView]
    init_containers: Sequence[ContainerView] = ()
    restart_policy: str = "Always"
    initialized: bool = True
    refused_message: str | None = None
    previous_conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def phase_of(view: PodView) -> str:
    containers = list(view.containers)
    if any(c.running_since is not None for c in containers):
        return "Running"
    finished = [c.terminated for c in containers if c.terminated is not None]
    if containers and len(finished) == len(containers):
        if all(t.exit_code == 0 for t in finished):
            return "Succeeded"
        return "Failed"
    # Restarting after a crash (CrashLoopBackOff) still counts as Running, like the kubelet.
    if any(c.restart_count > 0 or c.last_termination is not None for c in containers):
        return "Running"
    return "Pending"


def _condition(
    kind: str, ok: bool, now: str, previous: Mapping[str, Mapping[str, Any]], reason: str = ""
) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = previous.get(kind)
    transition = (
        str(before["lastTransitionTime"])
        if before and before.get("status") == status and before.get("lastTransitionTime")
        else now
    )
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": transition,
    }
    if reason and not ok:
        condition["reason"] = reason
    return condition


def pod_status(view: PodView, now: str) -> dict[str, Any]:
    phase = phase_of(view)
    all_ready = bool(view.containers) and all(c.ready for c in view.containers)
    if phase in ("Succeeded", "Failed"):
        all_ready = False
    not_ready = [c.name for c in view.containers if not c.ready]
    reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    previous = view.previous_conditions
    conditions = [
        _condition("PodReadyToStartContainers", view.pod_ip is not None, now, previous),
        _condition("Initialized", view.initialized, now, previous, "ContainersNotInitialized"),
        _condition("Ready", all_ready, now, previous, reason),
        _condition("ContainersReady", all_ready, now, previous, reason),
        _condition("PodScheduled", True, now, previous),
    ]
    if not all_ready and not_ready:
        message = f"containers with unready status: [{' '.join(not_ready)}]"
        conditions[2]["message"] = message
        conditions[3]["message"] = message
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": view.start_time,
        "containerStatuses": [c.status() for c in view.containers],
    }
    if view.init_containers:
        status["initContainerStatuses"] = [c.status() for c in view.init_containers]
    if view.pod_ip is not None:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    return status


def conditions_by_type(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c["type"]): c for c in status.get("conditions") or []}


def diverged(written: Mapping[str, Any], server: Mapping[str, Any]) -> bool:
    """Whether the apiserver holds a pod status other than the one the agent last wrote, in
    what the agent owns: the phase and the status of each condition it wrote.

    Another component changed it behind the agent's back: the node lifecycle controller marks
    every pod of a node Ready=False when it stopped seeing the node's Lease (an apiserver
    restart can do that). The kubelet's status manager writes its own view back when the
    apiserver's differs (``needsReconcile``); so does the agent. Conditions of other types
    (``DisruptionTarget``, readiness gates) belong to others and are not compared.
    """
    if written.get("phase") != server.get("phase"):
        return True
    held = conditions_by_type(server)
    return any(
        str((held.get(kind) or {}).get("status")) != str(condition.get("status"))
        for kind, condition in conditions_by_type(written).items()
    )
