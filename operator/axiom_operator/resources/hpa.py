"""The HorizontalPodAutoscaler (autoscaling/v2) of one version's Deployment."""

from __future__ import annotations

from typing import Any

from axiom_operator import api
from axiom_operator.resources import labels as names
from axiom_operator.resources.owner import Owner, object_meta


def build_hpa(owner: Owner, version: str, autoscaling: api.AutoscalingSpec) -> dict[str, Any]:
    name = names.version_object_name(owner.name, version)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(owner, name, names.version_labels(owner.name, version)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }
