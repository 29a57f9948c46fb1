{{- define "customs.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "customs.labels" -}}
app.kubernetes.io/name: customs
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "customs.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "customs.tlsSecret" -}}{{ .Values.tls.existingSecret | default (printf "%s-tls" .Release.Name) }}{{- end -}}
{{- define "customs.webhook" -}}
admissionReviewVersions: [v1]
sideEffects: None
failurePolicy: {{ .Values.webhook.failurePolicy }}
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
matchPolicy: Equivalent
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ prepend .Values.webhook.excludeNamespaces .Release.Namespace | toJson }}
{{- end -}}
{{- define "customs.rules" -}}
rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [pods, pods/ephemeralcontainers, replicationcontrollers]
    scope: Namespaced
  - apiGroups: [apps]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    scope: Namespaced
  - apiGroups: [batch]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [jobs, cronjobs]
    scope: Namespaced
{{- end -}}
