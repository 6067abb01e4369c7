{{/*
The labels of every object, as `cairn install` sets them (src/controller/install.ts, INSTALL_LABELS).
No Helm labels (helm.sh/chart, app.kubernetes.io/managed-by...): the chart makes exactly the objects
`cairn install` makes, which test/integration/helm-chart.test.ts checks.
*/}}
{{- define "cairn.labels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/part-of: cairn
{{- end }}

{{/* The metrics port of `cairn server` (DEFAULT_METRICS_PORT in src/controller/server.ts). */}}
{{- define "cairn.metricsPort" -}}
8085
{{- end }}

{{/*
location.provider as Cairn names it (Velero's aws and gcp become s3 and gcs, as normalizeProvider in
src/api/location.ts does), or empty when no location is asked for. Fails on what `cairn install` refuses,
with its messages (the flag names become value names).
*/}}
{{- define "cairn.provider" -}}
{{- $loc := .Values.location -}}
{{- $aliases := dict "fs" "fs" "filesystem" "fs" "s3" "s3" "aws" "s3" "velero.io/aws" "s3" "azure" "azure" "velero.io/azure" "azure" "gcs" "gcs" "gcp" "gcs" "velero.io/gcp" "gcs" -}}
{{- $name := $loc.provider | toString | trim | lower -}}
{{- if not $loc.provider -}}
  {{- if or $loc.bucket .Values.credentials.secretContents .Values.credentials.existingSecret -}}
    {{- fail "location.bucket and credentials need location.provider" -}}
  {{- end -}}
{{- else if not (hasKey $aliases $name) -}}
  {{- fail (printf "location.provider %q: must be one of s3, azure, gcs, fs (or Velero's aws, gcp)" (toString $loc.provider)) -}}
{{- else -}}
  {{- $provider := get $aliases $name -}}
  {{- $config := $loc.config | default dict -}}
  {{- if and (eq $provider "fs") (not $config.path) -}}
    {{- fail "location.config.path: an fs location needs a directory" -}}
  {{- end -}}
  {{- if and (ne $provider "fs") (not $loc.bucket) -}}
    {{- fail (printf "location.bucket: %s %s location needs a bucket" (ternary "an" "a" (eq $provider "s3")) $provider) -}}
  {{- end -}}
  {{- if and (eq $provider "s3") (not $config.region) (not $config.s3Url) -}}
    {{- fail "location.config.region: an s3 location needs a region (or an s3Url)" -}}
  {{- end -}}
  {{- if and .Values.credentials.secretContents .Values.credentials.existingSecret -}}
    {{- fail "credentials: set secretContents or existingSecret, not both" -}}
  {{- end -}}
  {{- $provider -}}
{{- end -}}
{{- end }}

{{/* The Secret holding the location's credentials, or empty when there are none. */}}
{{- define "cairn.credentialsSecret" -}}
{{- if .Values.credentials.secretContents -}}
cairn-credentials
{{- else if .Values.credentials.existingSecret -}}
{{- .Values.credentials.existingSecret -}}
{{- end -}}
{{- end }}

{{/* The key in that Secret. */}}
{{- define "cairn.credentialsKey" -}}
{{- if .Values.credentials.secretContents -}}
cloud
{{- else -}}
{{- .Values.credentials.existingSecretKey | default "cloud" -}}
{{- end -}}
{{- end }}
