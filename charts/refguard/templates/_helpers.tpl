{{/* Chart name, possibly overridden. */}}
{{- define "refguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name; also the Service name the certificate must carry. */}}
{{- define "refguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "refguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods; never change them after the first release. */}}
{{- define "refguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "refguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "refguard.labels" -}}
helm.sh/chart: {{ include "refguard.chart" . }}
{{ include "refguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: refguard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "refguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "refguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "refguard.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Secret with the serving certificate (tls.crt, tls.key) mounted into the pods. */}}
{{- define "refguard.tlsSecretName" -}}
{{- if eq .Values.certs.mode "secret" }}
{{- required "certs.secretName is required when certs.mode is secret" .Values.certs.secretName }}
{{- else }}
{{- default (printf "%s-tls" (include "refguard.fullname" .)) .Values.certs.secretName }}
{{- end }}
{{- end }}

{{/* The DNS names the API server may use for the webhook Service. */}}
{{- define "refguard.dnsNames" -}}
{{- $svc := include "refguard.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) (printf "%s.%s" $svc $ns) $svc | toJson }}
{{- end }}

{{/* Deadline of one review: explicit, or 80% of the webhook timeout. */}}
{{- define "refguard.reviewTimeoutMs" -}}
{{- if .Values.server.reviewTimeoutMs }}
{{- .Values.server.reviewTimeoutMs | int64 }}
{{- else }}
{{- mul (int64 .Values.webhook.timeoutSeconds) 800 }}
{{- end }}
{{- end }}

{{/* Namespaces the webhook never sees: the configured ones plus the release namespace. */}}
{{- define "refguard.excludedNamespaces" -}}
{{- append .Values.webhook.excludedNamespaces .Release.Namespace | uniq | toJson }}
{{- end }}

{{/*
Cross-field checks the schema cannot express. Included by the Deployment so that every
render runs them.
*/}}
{{- define "refguard.validate" -}}
{{- $timeoutMs := mul (int64 .Values.webhook.timeoutSeconds) 1000 }}
{{- $reviewMs := include "refguard.reviewTimeoutMs" . | int64 }}
{{- if ge $reviewMs $timeoutMs }}
{{- fail (printf "server.reviewTimeoutMs (%d) must be below webhook.timeoutSeconds (%d ms), or refguard's answer arrives after the API server gave up" $reviewMs $timeoutMs) }}
{{- end }}
{{- /* After the delay, refguard drains for at most the review deadline plus 2 seconds. */}}
{{- $drain := add (div (add $reviewMs 999) 1000) 2 }}
{{- $needed := add (int64 .Values.server.shutdownDelaySecs) $drain }}
{{- if le (int64 .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed server.shutdownDelaySecs + the review deadline + 2 s of draining (%d), or in-flight reviews are cut off at shutdown" (int64 .Values.terminationGracePeriodSeconds) $needed) }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (gt (int .Values.replicaCount) 1) (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below replicaCount (%d), or no node can ever be drained" (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- if and (eq .Values.rbac.secretAccess "namespaces") (empty .Values.rbac.secretNamespaces) }}
{{- fail "rbac.secretNamespaces must list at least one namespace when rbac.secretAccess is namespaces" }}
{{- end }}
{{- if and .Values.webhook.url (ne .Values.certs.mode "secret") }}
{{- fail "webhook.url needs certs.mode secret: the generated and cert-manager certificates name the Service, not the URL's host" }}
{{- end }}
{{- if and (eq .Values.certs.mode "secret") (empty .Values.certs.caBundle) }}
{{- fail "certs.caBundle is required when certs.mode is secret: the API server must know the CA that signed your certificate" }}
{{- end }}
{{- end }}
