"""Names of the runtime's Prometheus series, spelled once for every reader.

The runtime registers these; the operator's rollout analysis reads them from each pod's
``/metrics`` (``rollout/samples.py``) or asks a Prometheus server for them in PromQL
(``prometheus.py``); the chart's alerts and ``docs/metrics.md`` name them too. A rename
here reaches every reader in the code at once (``tests/unit/test_metric_names.py`` fails
on a second spelling).

Only string constants: the operator's pure ``rollout/`` package imports this module, so it
must not pull in numpy, prometheus_client or anything else with weight.
"""

from __future__ import annotations

from typing import Final

# Labels every runtime series carries.
MODEL_LABEL: Final = "model"
VERSION_LABEL: Final = "version"
MODEL_LABELS: Final = (MODEL_LABEL, VERSION_LABEL)

# Read by the analysis: requests and errors, p99 latency, mean confidence.
INFERENCE_TOTAL: Final = "axiom_inference_total"
INFERENCE_LATENCY: Final = "axiom_inference_latency_seconds"
MODEL_CONFIDENCE: Final = "axiom_model_confidence"
STATUS_LABEL: Final = "status"
STATUS_OK: Final = "ok"
STATUS_CLIENT_ERROR: Final = "client_error"
STATUS_SERVER_ERROR: Final = "server_error"

# Read by the analysis on stable pods: forwards the canary never answered.
CANARY_FORWARD_FAILURES: Final = "axiom_canary_forward_failures_total"
REASON_LABEL: Final = "reason"
REASON_CONNECT: Final = "connect"
REASON_TIMEOUT: Final = "timeout"
REASON_STATUS_5XX: Final = "status_5xx"

# The generation of the traffic weights a pod applies (the operator reads it from /ready).
TRAFFIC_CONFIG_GENERATION: Final = "axiom_traffic_config_generation"

# Exposed for dashboards and alerts; no operator code reads them.
BATCH_SIZE: Final = "axiom_batch_size"
READY: Final = "axiom_ready"
CERTIFICATE_VALID: Final = "axiom_certificate_valid"
SPLIT_REQUESTS_TOTAL: Final = "axiom_split_requests_total"
SPLIT_TARGET_LABEL: Final = "target"
CANARY_FORWARD_LATENCY: Final = "axiom_canary_forward_latency_seconds"
TRAFFIC_CONFIG_ERRORS_TOTAL: Final = "axiom_traffic_config_errors_total"

# Shadow traffic (mirrored requests), counted by the stable pod that holds both answers.
# Read by the analysis: outcomes, agreement, flips, confidence delta, output distance, and
# each side's class mix and confidence (the distribution shift).
CANARY_LABEL: Final = "canary"
OUTCOME_LABEL: Final = "outcome"
SIDE_LABEL: Final = "side"
CLASS_LABEL: Final = "class"
FROM_LABEL: Final = "from"
TO_LABEL: Final = "to"
SHADOW_REQUESTS_TOTAL: Final = "axiom_shadow_requests_total"
SHADOW_ROWS_TOTAL: Final = "axiom_shadow_rows_total"
SHADOW_AGREEMENTS_TOTAL: Final = "axiom_shadow_agreements_total"
SHADOW_LABEL_FLIPS_TOTAL: Final = "axiom_shadow_label_flips_total"
SHADOW_CONFIDENCE_DELTA: Final = "axiom_shadow_confidence_delta"
SHADOW_OUTPUT_DISTANCE: Final = "axiom_shadow_output_distance"
SHADOW_CONFIDENCE: Final = "axiom_shadow_confidence"
SHADOW_CLASS_TOTAL: Final = "axiom_shadow_class_total"
OUTCOME_COMPARED: Final = "compared"
OUTCOME_UNCOMPARABLE: Final = "uncomparable"
OUTCOME_DROPPED: Final = "dropped"
SIDE_STABLE: Final = "stable"
SIDE_CANARY: Final = "canary"

# Requests a tester pinned to one version by header: counted apart, never analysed.
PINNED_REQUESTS_TOTAL: Final = "axiom_pinned_requests_total"
