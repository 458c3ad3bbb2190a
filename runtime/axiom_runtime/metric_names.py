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
