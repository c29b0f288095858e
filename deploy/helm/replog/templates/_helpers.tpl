{{/* The chart's name. */}}
{{- define "replog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: release-chart, or the release
alone when it already holds the chart's name. Short enough that a pod's
name (prefix-secondary-NN) stays a valid DNS label. */}}
{{- define "replog.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "replog.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "replog.labels" -}}
helm.sh/chart: {{ include "replog.chart" . }}
app.kubernetes.io/name: {{ include "replog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component (master or secondary): call with
(dict "ctx" $ "component" "master"). */}}
{{- define "replog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "replog.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "replog.masterName" -}}{{ include "replog.fullname" . }}-master{{- end }}
{{- define "replog.secondaryName" -}}{{ include "replog.fullname" . }}-secondary{{- end }}
{{/* The headless service that gives each master-capable pod its stable name. */}}
{{- define "replog.peersService" -}}{{ include "replog.fullname" . }}-peers{{- end }}
{{/* The headless service of the secondaries' StatefulSet. */}}
{{- define "replog.secondariesService" -}}{{ include "replog.fullname" . }}-secondaries{{- end }}

{{- define "replog.tls" -}}{{ if .Values.tls.existingSecret }}true{{ end }}{{- end }}
{{- define "replog.scheme" -}}{{ if include "replog.tls" . }}https{{ else }}http{{ end }}{{- end }}
{{- define "replog.wsScheme" -}}{{ if include "replog.tls" . }}wss{{ else }}ws{{ end }}{{- end }}

{{/* The DNS suffix of the master-capable pods' stable names. */}}
{{- define "replog.peersDomain" -}}
{{ include "replog.peersService" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{/* PEERS: every master-capable pod, name=URL; the same list on every
pod (a node ignores its own entry). */}}
{{- define "replog.peers" -}}
{{- $peers := list }}
{{- range $i := until (int .Values.masters.replicas) }}
{{- $pod := printf "%s-%d" (include "replog.masterName" $) $i }}
{{- $peers = append $peers (printf "%s=%s://%s.%s:8080" $pod (include "replog.scheme" $) $pod (include "replog.peersDomain" $)) }}
{{- end }}
{{- join "," $peers }}
{{- end }}

{{/* MASTER_URL: every master-capable pod's /replicate. */}}
{{- define "replog.masterURLs" -}}
{{- $urls := list }}
{{- range $i := until (int .Values.masters.replicas) }}
{{- $pod := printf "%s-%d" (include "replog.masterName" $) $i }}
{{- $urls = append $urls (printf "%s://%s.%s:8080/replicate" (include "replog.wsScheme" $) $pod (include "replog.peersDomain" $)) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/* CLUSTER_SIZE: every node that votes, master-capable or secondary. */}}
{{- define "replog.clusterSize" -}}
{{- add (int .Values.masters.replicas) (int .Values.secondaries.replicas) }}
{{- end }}

{{- define "replog.majority" -}}
{{- add (div (int (include "replog.clusterSize" .)) 2) 1 }}
{{- end }}

{{/* QUORUM: the value, or the majority; never less than the majority. */}}
{{- define "replog.quorum" -}}
{{- $majority := int (include "replog.majority" .) }}
{{- $q := int .Values.quorum }}
{{- if eq $q 0 }}{{ $q = $majority }}{{ end }}
{{- if lt $q $majority }}
{{- fail (printf "quorum: %d is less than the majority of %s nodes (%d): two halves of a partition could both take writes" $q (include "replog.clusterSize" .) $majority) }}
{{- end }}
{{- if gt $q (int (include "replog.clusterSize" .)) }}
{{- fail (printf "quorum: %d is more than the %s nodes of the cluster: no write would ever be accepted" $q (include "replog.clusterSize" .)) }}
{{- end }}
{{- $q }}
{{- end }}

{{/* The Secret and key holding REPLICATION_TOKEN. */}}
{{- define "replog.tokenSecret" -}}
{{- if .Values.replication.existingSecret }}{{ .Values.replication.existingSecret }}{{ else }}{{ include "replog.fullname" . }}-replication{{ end }}
{{- end }}
{{- define "replog.tokenKey" -}}
{{- if .Values.replication.existingSecret }}{{ .Values.replication.secretKey }}{{ else }}token{{ end }}
{{- end }}

{{/* The env entries both kinds of pod share: REPLICATION_TOKEN and TLS. */}}
{{- define "replog.commonEnv" -}}
- name: REPLICATION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "replog.tokenSecret" . }}
      key: {{ include "replog.tokenKey" . }}
{{- if include "replog.tls" . }}
- name: TLS_CERT_FILE
  value: /tls/tls.crt
- name: TLS_KEY_FILE
  value: /tls/tls.key
{{- end }}
{{- end }}

{{/* Anti-affinity of a component: call with (dict "ctx" $ "component"
"master" "mode" "preferred"). Pods of the component spread over nodes
(preferred or required); every pod of the release prefers a node of its
own as well, so that one lost node takes as few votes as possible. */}}
{{- define "replog.affinity" -}}
{{- if ne .mode "none" }}
podAntiAffinity:
  {{- if eq .mode "required" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "replog.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
  {{- end }}
  preferredDuringSchedulingIgnoredDuringExecution:
    {{- if eq .mode "preferred" }}
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "replog.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
    {{- end }}
    - weight: 50
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            app.kubernetes.io/name: {{ include "replog.name" .ctx }}
            app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}
{{- if not (has .mode (list "preferred" "required" "none")) }}
{{- fail (printf "%s podAntiAffinity: %q is not preferred, required or none" .component .mode) }}
{{- end }}
{{- end }}
