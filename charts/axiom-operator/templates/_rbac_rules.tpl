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
# The custom resource: watched by Kopf, read fresh before each reconcile, patched by Kopf for
# its finalizer and progress annotations.
- apiGroups: [axiom.dev]
  resources: [axiommodels]
  verbs: [get, list, watch, patch]
# Status, conditions and history (merge patch of the status subresource).
- apiGroups: [axiom.dev]
  resources: [axiommodels/status]
  verbs: [patch]
# Children: one Deployment per version, the model and per-version Services, HPAs and the
# runtime/traffic ConfigMaps. Server-side apply is a patch that creates when absent (the
# apiserver then also checks create); the operator lists and watches them (its cache of
# children, and drift); retired versions are deleted.
# ConfigMaps are also read for configmap:// packages and certificates.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# Certificates and trusted keys: read by name, never listed or written.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Rollouts: Ready runtime pods are listed to read their traffic generation (/ready) and
# metrics (/metrics) at their pod IP; never written.
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# GatewayAPI traffic mode: the operator's own HTTPRoute carries the canary weights; listed by
# the model label like the other children (a 404 on the list: the cluster lacks the API).
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, create, patch]
# Events on AxiomModels (the operator's decisions and Kopf's warnings); patch: a repeated
# Event raises the count of the first one (events.EventRecorder).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
