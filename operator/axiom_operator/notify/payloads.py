"""Rollout events and their webhook bodies (pure).

A rollout event is one of the operator's own Events (the ones ``kubectl describe`` shows),
so a webhook says exactly what the cluster says, when it says it. The bodies:

- Generic: ``{"apiVersion": "axiom.dev/v1alpha1", "kind": "RolloutEvent", "event", "type",
  "reason", "message", "time", "model": {namespace, name, uid}, "version", "phase",
  "stableVersion", "canaryVersion", "canaryWeight"}`` (docs/notifications.md);
- Slack: an incoming-webhook message, ``{"text", "attachments": [{"color", "fields"}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axiom_operator import api

# The operator's Event reasons -> the rollout event a webhook subscribes to.
EVENT_BY_REASON = {
    "Deploying": "Started",
    "CanaryStarted": "Started",
    "StepAdvanced": "StepAdvanced",
    "AnalysisFailed": "AnalysisFailed",
    "CanaryFailed": "AnalysisFailed",
    "Promoted": "Promoted",
    "RolledBack": "RolledBack",
    "AutoRollback": "RolledBack",
    "CertificateRefused": "CertificateBlocked",
}
SLACK_COLORS = {"Normal": "#2eb886", "Warning": "#e01e5a"}


@dataclass(frozen=True)
class Notice:
    """One rollout event of one model, as the pass that posted it saw it."""

    namespace: str
    name: str
    uid: str
    event: str  # one of api.NOTIFICATION_EVENTS
    type: str  # Normal | Warning
    reason: str  # the operator Event's reason
    message: str
    time: str  # RFC 3339


def rollout_event(reason: str) -> str | None:
    return EVENT_BY_REASON.get(reason)


def _state(model: Mapping[str, Any]) -> dict[str, Any]:
    status = model.get("status") or {}
    return {
        "version": (model.get("spec") or {}).get("version"),
        "phase": status.get("phase"),
        "stableVersion": status.get("stableVersion"),
        "canaryVersion": status.get("canaryVersion"),
        "canaryWeight": status.get("canaryWeight"),
    }


def generic(notice: Notice, model: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": "RolloutEvent",
        "event": notice.event,
        "type": notice.type,
        "reason": notice.reason,
        "message": notice.message,
        "time": notice.time,
        "model": {"namespace": notice.namespace, "name": notice.name, "uid": notice.uid},
        **_state(model),
    }


def slack(notice: Notice, model: Mapping[str, Any]) -> dict[str, Any]:
    state = _state(model)
    fields = [
        {"title": title, "value": str(state[key]), "short": True}
        for title, key in (
            ("phase", "phase"),
            ("stable", "stableVersion"),
            ("canary", "canaryVersion"),
            ("weight", "canaryWeight"),
        )
        if state[key] is not None
    ]
    return {
        "text": f"*{notice.namespace}/{notice.name}* {notice.event}: {notice.message}",
        "attachments": [
            {
                "color": SLACK_COLORS.get(notice.type, "#daa038"),
                "fields": fields,
                "footer": f"axiom-operator {notice.reason}",
            }
        ],
    }


def body(format_: str, notice: Notice, model: Mapping[str, Any]) -> dict[str, Any]:
    return slack(notice, model) if format_ == "Slack" else generic(notice, model)
