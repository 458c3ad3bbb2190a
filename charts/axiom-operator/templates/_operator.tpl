{{/* Command-line arguments of `axiom operator` (Kopf's flags pass through). */}}
{{- define "axiom-operator.args" -}}
- operator
- --liveness=http://0.0.0.0:{{ .Values.operator.healthPort }}/healthz
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
{{- if .Values.peering.enabled }}
- --peering={{ .Values.peering.name }}
{{- else }}
- --standalone
{{- end }}
{{- if .Values.operator.verbose }}
- --verbose
{{- end }}
{{- end -}}

{{/* The operator's settings (AXIOM_OPERATOR_* variables, axiom_operator.settings). */}}
{{- define "axiom-operator.env" -}}
- name: AXIOM_OPERATOR_NAMESPACES
  value: {{ join "," .Values.watchNamespaces | quote }}
- name: AXIOM_OPERATOR_METRICS_HOST
  value: "0.0.0.0"
- name: AXIOM_OPERATOR_METRICS_PORT
  value: {{ .Values.operator.metricsPort | quote }}
- name: AXIOM_OPERATOR_POD_NETWORK_ALLOWLIST
  value: {{ join "," .Values.operator.podNetworkAllowlist | quote }}
- name: AXIOM_OPERATOR_POD_REQUEST_TIMEOUT
  value: {{ .Values.operator.podRequestTimeoutSeconds | quote }}
- name: AXIOM_OPERATOR_RESYNC_SECONDS
  value: {{ .Values.operator.resyncSeconds | quote }}
- name: AXIOM_OPERATOR_MAX_PACKAGE_FETCH_BYTES
  value: {{ .Values.operator.maxPackageFetchBytes | int64 | quote }}
- name: AXIOM_OPERATOR_TRAFFIC_DRAIN_SECONDS
  value: {{ .Values.operator.trafficDrainSeconds | quote }}
- name: AXIOM_OPERATOR_MAX_CONCURRENT_PASSES
  value: {{ .Values.operator.maxConcurrentPasses | quote }}
- name: AXIOM_OPERATOR_CERTIFICATE_EXPIRY_WARNING_SECONDS
  value: {{ .Values.operator.certificateExpiryWarningSeconds | quote }}
- name: AXIOM_OPERATOR_RUNTIME_IMAGE
  value: {{ include "axiom-operator.runtimeImage" . | quote }}
- name: AXIOM_OPERATOR_TRUSTED_KEYS_KIND
  value: Secret
- name: AXIOM_OPERATOR_TRUSTED_KEYS_NAME
  value: {{ .Values.trustedKeys.secretName | quote }}
{{- if .Values.trustedKeys.pinned }}
- name: AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- end }}
{{- end -}}

{{/* Labels the operator puts on every runtime pod (axiom_operator's builders). */}}
{{- define "axiom-operator.runtimePodLabels" -}}
app.kubernetes.io/managed-by: axiom-operator
{{- end -}}
