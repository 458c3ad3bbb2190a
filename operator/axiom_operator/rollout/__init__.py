"""The rollout: a pure state machine from (spec, status, observations, now) to (status, actions).

No Kopf, no Kubernetes client, no clock and no I/O in this package (a test keeps it so): the
handler gathers observations, calls :func:`decide`, executes the actions in order and
persists the status (``axiom_operator.status_model``). docs/rollout.md explains the states and decisions.
"""

from axiom_operator.rollout.actions import (
    Action,
    AskGate,
    DeleteDeployment,
    EmitEvent,
    EnsureDeployment,
    PointServiceAt,
    RequeueAfter,
    ScaleDown,
    SetTrafficWeight,
    StartAnalysisWindow,
)
from axiom_operator.rollout.analysis import (
    AnalysisResult,
    AnalysisSample,
    AnalysisThresholds,
    Figures,
    MetricsReading,
    Unreachable,
    Verdict,
    evaluate,
)
from axiom_operator.rollout.machine import Decision, canary_replicas, decide
from axiom_operator.rollout.model import (
    AnalysisRecord,
    AnalysisWindow,
    DeploymentObservation,
    Gate,
    HistoryEntry,
    ManualRequests,
    Observations,
    Outcome,
    PauseReason,
    Phase,
    RolloutSpec,
    RolloutStatus,
    Step,
    TrafficMode,
    TrafficState,
    WarmVersion,
)
from axiom_operator.rollout.samples import histogram_quantile, window_sample

__all__ = [
    "Action",
    "AnalysisRecord",
    "AnalysisResult",
    "AnalysisSample",
    "AnalysisThresholds",
    "AnalysisWindow",
    "AskGate",
    "Decision",
    "DeleteDeployment",
    "DeploymentObservation",
    "EmitEvent",
    "EnsureDeployment",
    "Figures",
    "Gate",
    "HistoryEntry",
    "ManualRequests",
    "MetricsReading",
    "Observations",
    "Outcome",
    "PauseReason",
    "Phase",
    "PointServiceAt",
    "RequeueAfter",
    "RolloutSpec",
    "RolloutStatus",
    "ScaleDown",
    "SetTrafficWeight",
    "StartAnalysisWindow",
    "Step",
    "TrafficMode",
    "TrafficState",
    "Unreachable",
    "Verdict",
    "WarmVersion",
    "canary_replicas",
    "decide",
    "evaluate",
    "histogram_quantile",
    "window_sample",
]
