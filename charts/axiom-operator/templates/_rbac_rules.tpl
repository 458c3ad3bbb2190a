{{/*
The operator's permissions, one rule per reason. Keep in step with the operator's API calls:
tests/unit/test_chart_rbac.py compares these rules with the calls found in
operator/axiom_operator, and tests/integration/test_helm_install.py runs the operator under them.
*/}}

{{/* Kopf's discovery of CRDs and namespaces (read-only, cluster scope). */}}
{{- define "axiom-operator.discoveryRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end -}}

{{/* What reconciling AxiomModels reads and writes (namespaced resources). */}}
{{- define "axiom-operator.workloadRules" -}}
# The custom resource: watched by Kopf, patched for finalizers, annotations and status.
- apiGroups: [axiom.dev]
  resources: [axiommodels]
  verbs: [get, list, watch, patch]
- apiGroups: [axiom.dev]
  resources: [axiommodels/status]
  verbs: [get, patch]
# Runtime Deployments, Services, HPAs and the traffic ConfigMap: server-side apply (patch),
# create, and delete of what a model no longer needs.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# Gateway API traffic mode: HTTPRoute weights.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch, delete]
# Certificates and trusted keys: read only.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
# Runtime pods: readiness and their /metrics for canary analysis.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Events about reconciliation and rollouts (Kopf posts core/v1 Events).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
