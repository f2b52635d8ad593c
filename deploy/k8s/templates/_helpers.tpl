{{/*
Protomesh chart helpers. Most templates range over the three tiers (protomesh.tiers) and call
the per-tier helpers with a context dict: (dict "root" $ "tier" $tier "v" $tierValues).
*/}}

{{- define "protomesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "protomesh.fullname" -}}
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

{{- define "protomesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The three tiers: values key, service name (also the container argument and the
app.kubernetes.io/component label) and the variable that sets the admin port.
*/}}
{{- define "protomesh.tiers" -}}
- key: mqttEdge
  name: mqtt-edge
  adminEnv: MQTT_ADMIN_PORT
- key: wsEdge
  name: ws-edge
  adminEnv: WS_ADMIN_PORT
- key: bridge
  name: bridge
  adminEnv: BRIDGE_ADMIN_PORT
{{- end }}

{{/* Labels shared by every object of the release. */}}
{{- define "protomesh.commonLabels" -}}
helm.sh/chart: {{ include "protomesh.chart" . }}
app.kubernetes.io/name: {{ include "protomesh.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: protomesh
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of a release-wide object (no tier). */}}
{{- define "protomesh.labels" -}}
{{ include "protomesh.commonLabels" . }}
{{- end }}

{{/* Selector labels of one tier's pods. Context: (dict "root" $ "tier" $tier). */}}
{{- define "protomesh.tierSelectorLabels" -}}
app.kubernetes.io/name: {{ include "protomesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .tier.name }}
{{- end }}

{{/* All labels of one tier's objects. */}}
{{- define "protomesh.tierLabels" -}}
{{ include "protomesh.commonLabels" .root }}
app.kubernetes.io/component: {{ .tier.name }}
{{- end }}

{{- define "protomesh.tierFullname" -}}
{{- printf "%s-%s" (include "protomesh.fullname" .root | trunc 52 | trimSuffix "-") .tier.name }}
{{- end }}

{{- define "protomesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "protomesh.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "protomesh.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/*
Name of the NATS service of the optional `nats` dependency: the same rule as the official
chart's "nats.fullname", evaluated with its values (nats.fullnameOverride, nats.nameOverride).
*/}}
{{- define "protomesh.natsFullname" -}}
{{- $nats := .Values.nats -}}
{{- if $nats.fullnameOverride -}}
{{- $nats.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "nats" $nats.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{- define "protomesh.natsClientPort" -}}
{{- dig "config" "nats" "port" 4222 .Values.nats -}}
{{- end }}

{{/* NATS_URL: the release's NATS when nats.enabled, else externalNats.url. */}}
{{- define "protomesh.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s.%s.svc:%v" (include "protomesh.natsFullname" .) .Release.Namespace (include "protomesh.natsClientPort" .) -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false (the embedded backbone cannot span pods)" .Values.externalNats.url -}}
{{- end -}}
{{- end }}

{{/* TCP ports the pods connect to NATS on, as a YAML list of integers (for NetworkPolicy egress). */}}
{{- define "protomesh.natsPorts" -}}
{{- $ports := list -}}
{{- if .Values.nats.enabled -}}
{{- $ports = append $ports (include "protomesh.natsClientPort" . | int) -}}
{{- else -}}
{{- $defaults := dict "nats" "4222" "tls" "4222" "ws" "80" "wss" "443" -}}
{{- range $url := splitList "," (.Values.externalNats.url | default "") -}}
{{- $url = trim $url -}}
{{- if $url -}}
{{- /* nats://, tls://, ws://, wss:// URLs or a bare host:port, as NATS_URL accepts. */ -}}
{{- $host := $url -}}
{{- $default := "4222" -}}
{{- if contains "://" $url -}}
{{- $u := urlParse $url -}}
{{- $host = $u.host -}}
{{- $default = get $defaults $u.scheme | default "4222" -}}
{{- end -}}
{{- $port := regexFind ":[0-9]+$" $host | trimPrefix ":" | default $default -}}
{{- $ports = append $ports ($port | int) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (uniq $ports) -}}
{{- end }}

{{/* JETSTREAM_REPLICAS: mesh.jetstreamReplicas, else 3 on a clustered NATS dependency, else 1. */}}
{{- define "protomesh.jetstreamReplicas" -}}
{{- if .Values.mesh.jetstreamReplicas -}}
{{- .Values.mesh.jetstreamReplicas -}}
{{- else if and .Values.nats.enabled (dig "config" "cluster" "enabled" false .Values.nats) -}}
{{- min 3 (dig "config" "cluster" "replicas" 3 .Values.nats) -}}
{{- else -}}
1
{{- end -}}
{{- end }}

{{/*
Seconds the kubelet waits between the start of termination and SIGKILL. It must cover the
preStop sleep, the drain (SHUTDOWN_GRACE) and the launcher's 5 s margin after it.
*/}}
{{- define "protomesh.terminationGracePeriodSeconds" -}}
{{- $root := .root -}}
{{- $minimum := add $root.Values.mesh.preStopSleepSeconds $root.Values.mesh.shutdownGraceSeconds 5 -}}
{{- if .v.terminationGracePeriodSeconds -}}
{{- if lt (int .v.terminationGracePeriodSeconds) (int $minimum) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must be at least mesh.preStopSleepSeconds + mesh.shutdownGraceSeconds + 5 = %v, or pods are killed before they drain" .tier.key .v.terminationGracePeriodSeconds $minimum) -}}
{{- end -}}
{{- .v.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add $minimum 10 -}}
{{- end -}}
{{- end }}

{{/* Secrets and their use. */}}
{{- define "protomesh.tlsSecretName" -}}
{{- .Values.mqttEdge.tls.existingSecret | default (printf "%s-mqtt-tls" (include "protomesh.fullname" .)) -}}
{{- end }}

{{- define "protomesh.jwtEnabled" -}}
{{- $jwt := .Values.auth.jwt -}}
{{- if and (or $jwt.publicKey $jwt.hmacSecret) (not (or $jwt.existingSecret $jwt.keys)) -}}
{{- fail "auth.jwt.publicKey and auth.jwt.hmacSecret name keys of auth.jwt.existingSecret or auth.jwt.keys: set one of those" -}}
{{- end -}}
{{- if $jwt.keys -}}
{{- range $key := list $jwt.publicKey $jwt.hmacSecret -}}
{{- if and $key (not (hasKey $jwt.keys $key)) -}}
{{- fail (printf "auth.jwt.keys has no key %q (named by auth.jwt.publicKey or auth.jwt.hmacSecret)" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if or $jwt.existingSecret $jwt.keys }}true{{ end -}}
{{- end }}

{{- define "protomesh.jwtSecretName" -}}
{{- .Values.auth.jwt.existingSecret | default (printf "%s-jwt-keys" (include "protomesh.fullname" .)) -}}
{{- end }}

{{- define "protomesh.passwordFileEnabled" -}}
{{- if or .Values.auth.passwordFile.existingSecret .Values.auth.passwordFile.content }}true{{ end -}}
{{- end }}

{{- define "protomesh.passwordFileSecretName" -}}
{{- .Values.auth.passwordFile.existingSecret | default (printf "%s-passwords" (include "protomesh.fullname" .)) -}}
{{- end }}

{{- define "protomesh.natsAuthEnabled" -}}
{{- $a := .Values.externalNats.auth -}}
{{- if and (not .Values.nats.enabled) (or $a.existingSecret $a.user $a.password $a.token) }}true{{ end -}}
{{- end }}

{{- define "protomesh.natsAuthSecretName" -}}
{{- .Values.externalNats.auth.existingSecret | default (printf "%s-nats-auth" (include "protomesh.fullname" .)) -}}
{{- end }}

{{- define "protomesh.routesEnabled" -}}
{{- if or .Values.bridge.routes.existingConfigMap .Values.bridge.routes.files }}true{{ end -}}
{{- end }}

{{- define "protomesh.routesConfigMapName" -}}
{{- .Values.bridge.routes.existingConfigMap | default (printf "%s-routes" (include "protomesh.fullname" .)) -}}
{{- end }}

{{/* Data of the routes ConfigMap: each file as text (maps and lists are written as YAML). */}}
{{- define "protomesh.routesData" -}}
{{- range $file, $content := .Values.bridge.routes.files }}
{{ $file }}: |-
  {{- if kindIs "string" $content }}
  {{- $content | trimSuffix "\n" | nindent 2 }}
  {{- else }}
  {{- toYaml $content | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
The container's environment. Context: (dict "root" $ "tier" $tier "v" $tierValues).
Computed variables come first, in a fixed order; `env` (all tiers) and `<tier>.env` (tier wins)
may override any of them in place or add more. A value is a string, or a map of EnvVar fields
(for example {valueFrom: {secretKeyRef: {...}}}).
*/}}
{{- define "protomesh.env" -}}
{{- $root := .root -}}
{{- $v := .v -}}
{{- $tier := .tier -}}
{{- $env := list -}}
{{- $env = append $env (dict "name" "POD_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name"))) -}}
{{- $env = append $env (dict "name" "POD_NAMESPACE" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace"))) -}}
{{- $env = append $env (dict "name" "NATS_URL" "value" (include "protomesh.natsUrl" $root)) -}}
{{- $env = append $env (dict "name" "NATS_CLIENT_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name"))) -}}
{{- if include "protomesh.natsAuthEnabled" $root -}}
{{- $secret := include "protomesh.natsAuthSecretName" $root -}}
{{- $a := $root.Values.externalNats.auth -}}
{{- range $pair := list (list "NATS_USER" $a.userKey) (list "NATS_PASS" $a.passwordKey) (list "NATS_TOKEN" $a.tokenKey) -}}
{{- $env = append $env (dict "name" (index $pair 0) "valueFrom" (dict "secretKeyRef" (dict "name" $secret "key" (index $pair 1) "optional" true))) -}}
{{- end -}}
{{- end -}}
{{- $env = append $env (dict "name" "MESH_PREFIX" "value" $root.Values.mesh.prefix) -}}
{{- $env = append $env (dict "name" "JETSTREAM_REPLICAS" "value" (include "protomesh.jetstreamReplicas" $root)) -}}
{{- $env = append $env (dict "name" "LOG_LEVEL" "value" $root.Values.mesh.logLevel) -}}
{{- $env = append $env (dict "name" "SHUTDOWN_GRACE" "value" (printf "%vs" $root.Values.mesh.shutdownGraceSeconds)) -}}
{{- $env = append $env (dict "name" "ADMIN_HOST" "value" "0.0.0.0") -}}
{{- if $root.Values.mesh.config -}}
{{- $env = append $env (dict "name" "PROTOMESH_CONFIG" "value" "/etc/protomesh/config/protomesh.yaml") -}}
{{- end -}}
{{- $env = append $env (dict "name" $tier.adminEnv "value" (toString $v.ports.admin)) -}}
{{- if eq $tier.name "mqtt-edge" -}}
{{- $env = append $env (dict "name" "MQTT_PORT" "value" (toString $v.ports.mqtt)) -}}
{{- if $v.tls.enabled -}}
{{- $env = append $env (dict "name" "MQTT_TLS_PORT" "value" (toString $v.tls.port)) -}}
{{- $env = append $env (dict "name" "MQTT_TLS_CERT_FILE" "value" "/etc/protomesh/tls/tls.crt") -}}
{{- $env = append $env (dict "name" "MQTT_TLS_KEY_FILE" "value" "/etc/protomesh/tls/tls.key") -}}
{{- if $v.tls.verifyClients -}}
{{- $env = append $env (dict "name" "MQTT_TLS_CA_FILE" "value" "/etc/protomesh/tls/ca.crt") -}}
{{- end -}}
{{- end -}}
{{- if include "protomesh.passwordFileEnabled" $root -}}
{{- $env = append $env (dict "name" "MQTT_PASSWORD_FILE" "value" (printf "/etc/protomesh/auth/passwords/%s" $root.Values.auth.passwordFile.key)) -}}
{{- end -}}
{{- else if eq $tier.name "ws-edge" -}}
{{- $env = append $env (dict "name" "WS_PORT" "value" (toString $v.ports.ws)) -}}
{{- $env = append $env (dict "name" "WS_PATH" "value" $v.path) -}}
{{- else if eq $tier.name "bridge" -}}
{{- $env = append $env (dict "name" "BRIDGE_MAX_IN_FLIGHT" "value" (toString $v.maxInFlight)) -}}
{{- if include "protomesh.routesEnabled" $root -}}
{{- $env = append $env (dict "name" "BRIDGE_ROUTES" "value" "/etc/protomesh/routes") -}}
{{- end -}}
{{- end -}}
{{- if and (include "protomesh.jwtEnabled" $root) (ne $tier.name "bridge") -}}
{{- $prefix := ternary "MQTT" "WS" (eq $tier.name "mqtt-edge") -}}
{{- $jwt := $root.Values.auth.jwt -}}
{{- with $jwt.publicKey -}}
{{- $env = append $env (dict "name" (printf "%s_JWT_PUBLIC_KEY_FILE" $prefix) "value" (printf "/etc/protomesh/auth/jwt/%s" .)) -}}
{{- end -}}
{{- with $jwt.hmacSecret -}}
{{- $env = append $env (dict "name" (printf "%s_JWT_SECRET" $prefix) "valueFrom" (dict "secretKeyRef" (dict "name" (include "protomesh.jwtSecretName" $root) "key" .))) -}}
{{- end -}}
{{- end -}}
{{- $env = append $env (dict "name" "OTEL_SERVICE_NAME" "value" $tier.name) -}}
{{- $env = append $env (dict "name" "OTEL_RESOURCE_ATTRIBUTES" "value" (printf "service.namespace=%s,k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)" $root.Release.Name)) -}}
{{- with $root.Values.telemetry.otlpEndpoint -}}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" .) -}}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_PROTOCOL" "value" $root.Values.telemetry.otlpProtocol) -}}
{{- end -}}
{{- $overrides := merge (deepCopy ($v.env | default dict)) ($root.Values.env | default dict) -}}
{{- $seen := dict -}}
{{- range $e := $env }}
{{- $_ := set $seen $e.name true }}
{{- if hasKey $overrides $e.name }}
{{- include "protomesh.envVar" (list $e.name (get $overrides $e.name)) }}
{{- else }}
- {{ toYaml $e | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- range $name := keys $overrides | sortAlpha }}
{{- if not (hasKey $seen $name) }}
{{- include "protomesh.envVar" (list $name (get $overrides $name)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* One EnvVar from (list name value): a string value, or a map of EnvVar fields. */}}
{{- define "protomesh.envVar" -}}
{{- $name := index . 0 }}
{{- $value := index . 1 }}
{{- if kindIs "map" $value }}
- {{ merge (dict "name" $name) $value | toYaml | nindent 2 | trim }}
{{- else }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}

{{/* Checksum of the configuration a tier's pods read, so a change rolls them. */}}
{{- define "protomesh.configChecksum" -}}
{{- $root := .root -}}
{{- $parts := list (toYaml $root.Values.mesh.config) (toYaml $root.Values.auth) (toYaml $root.Values.externalNats.auth) -}}
{{- if eq .tier.name "mqtt-edge" }}{{ $parts = append $parts (toYaml .v.tls) }}{{ end -}}
{{- $parts | join "\n---\n" | sha256sum -}}
{{- end }}
