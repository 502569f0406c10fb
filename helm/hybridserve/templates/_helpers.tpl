{{/* Names, labels and shared snippets of the hybridserve chart. */}}
{{- define "hybridserve.fullname" -}}
{{- printf "%s-hybridserve" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridserve.labels" -}}
app.kubernetes.io/name: hybridserve
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hybridserve.selector" -}}
app.kubernetes.io/name: hybridserve
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hybridserve.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "hybridserve.apiKeySecret" -}}
{{- .Values.apiKey.existingSecret | default (printf "%s-api-key" (include "hybridserve.fullname" .)) -}}
{{- end -}}

{{- define "hybridserve.securityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
{{- end -}}
