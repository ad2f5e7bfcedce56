{{/*
Names, labels and each role's fanoutd config. A role's templates call these
with (dict "root" $ "role" "users").
*/}}

{{- define "fanout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fanout.fullname" -}}
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

{{/* "<fullname>-<role>", short enough for "-headless" and pod suffixes. */}}
{{- define "fanout.roleName" -}}
{{- printf "%s-%s" (include "fanout.fullname" .root | trunc 36 | trimSuffix "-") .role }}
{{- end }}

{{/*
A role's ClusterIP Service for in-cluster callers (gRPC, admin): the role's
name, but <gateway>-internal for the gateway, whose own name is its public
Service (REST only).
*/}}
{{- define "fanout.internalService" -}}
{{- include "fanout.roleName" . }}{{ if eq .role "gateway" }}-internal{{ end }}
{{- end }}

{{- define "fanout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "fanout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fanout
{{- end }}

{{- define "fanout.roleSelector" -}}
app.kubernetes.io/name: {{ include "fanout.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "fanout.roleLabels" -}}
{{ include "fanout.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "fanout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fanout.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fanout.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
What the chart knows of each role: whether it stores data, the gRPC services
it serves (health names them), and the backends it calls.
*/}}
{{- define "fanout.roleInfo" -}}
gateway:
  stateful: false
  services: []
  needs: [users, orders, recommendations, lab]
users:
  stateful: true
  services: [fanout.users.v1.Users]
  needs: []
orders:
  stateful: true
  services: [fanout.orders.v1.Orders]
  needs: [users]
recommendations:
  stateful: false
  services: [fanout.recommendations.v1.Recommendations]
  needs: [orders]
lab:
  stateful: false
  services: [fanout.lab.v1.Lab]
  needs: []
{{- end }}

{{/*
The backends a role calls in this release's config: the roleInfo needs, but
the gateway calls lab only when roles.lab.enabled or backends.lab.target says
there is one (the lab's fault injection is never routed by default).
*/}}
{{- define "fanout.roleCalls" -}}
{{- $needs := (index (include "fanout.roleInfo" . | fromYaml) .role).needs }}
{{- $calls := list }}
{{- range $backend := $needs }}
{{- if or (ne $backend "lab") $.root.Values.roles.lab.enabled (include "fanout.backendElsewhere" (dict "root" $.root "backend" "lab")) }}
{{- $calls = append $calls $backend }}
{{- end }}
{{- end }}
{{- toYaml $calls }}
{{- end }}

{{/* backends.<backend>.target when set (the backend runs elsewhere), else "". */}}
{{- define "fanout.backendElsewhere" -}}
{{- get (default dict (index .root.Values.backends .backend)) "target" }}
{{- end }}

{{/* The port at the end of a gRPC target or URL (dns:///h:50051, http://h:4317/), else .default. */}}
{{- define "fanout.targetPort" -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+/?$" .target | trimSuffix "/") }}
{{- default (toString .default) $port }}
{{- end }}

{{/*
Whether a role keeps data on a volume of its own: users and orders on SQLite
(the default). On PostgreSQL (store.type: postgres) they are Deployments,
any number of replicas, sharing the database.
*/}}
{{- define "fanout.ownsVolume" -}}
{{- $info := index (include "fanout.roleInfo" . | fromYaml) .role }}
{{- if and $info.stateful (ne .root.Values.store.type "postgres") }}true{{ end }}
{{- end }}

{{/* The Secret and key holding the PostgreSQL DSN (FANOUT_POSTGRES_DSN). */}}
{{- define "fanout.postgresSecret" -}}
{{- if .Values.store.postgres.bundled.enabled -}}
{{- printf "%s-postgres" (include "fanout.fullname" .) }}
{{- else -}}
{{- required "store.type postgres needs store.postgres.existingSecret (a Secret holding the DSN) or store.postgres.bundled.enabled" .Values.store.postgres.existingSecret }}
{{- end }}
{{- end }}

{{/* The roles in the order they are rendered. */}}
{{- define "fanout.roleOrder" -}}
[users, orders, recommendations, lab, gateway]
{{- end }}

{{/* A backend's in-cluster target and load balancing, by values.discovery. */}}
{{- define "fanout.backendTarget" -}}
{{- $name := include "fanout.roleName" (dict "root" .root "role" .backend) }}
{{- $ns := .root.Release.Namespace }}
{{- $port := int .root.Values.ports.grpc }}
{{- if eq .root.Values.discovery "headless" }}
target: {{ printf "dns:///%s-headless.%s.svc.cluster.local:%d" $name $ns $port }}
load_balancing: round_robin
{{- else }}
target: {{ printf "%s.%s.svc.cluster.local:%d" (include "fanout.internalService" (dict "root" .root "role" .backend)) $ns $port }}
load_balancing: pick_first
{{- end }}
{{- end }}

{{/*
fanoutd's node.yaml for one role: values.config, the role's config over it,
then what the chart owns (addresses, roles, data_dir, backends' targets).
*/}}
{{- define "fanout.nodeConfig" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- $info := index (include "fanout.roleInfo" . | fromYaml) $role }}
{{- $values := index $root.Values.roles $role }}
{{- $config := mustMergeOverwrite (deepCopy $root.Values.config) (deepCopy (default dict $values.config)) }}
{{- $_ := set $config "node_name" (include "fanout.roleName" .) }}
{{- $_ = set $config "grpc_address" (printf "0.0.0.0:%d" (int $root.Values.ports.grpc)) }}
{{- $_ = set $config "admin_address" (printf "0.0.0.0:%d" (int $root.Values.ports.admin)) }}
{{- $_ = set $config "roles" (dict $role true) }}
{{- if include "fanout.ownsVolume" . }}
{{- $_ = set $config "data_dir" "/var/lib/fanout" }}
{{- else if $info.stateful }}
{{- $pg := $root.Values.store.postgres }}
{{- $settings := dict }}
{{- range $key := list "pool_size" "statement_timeout_ms" "pool_wait_ms" }}
{{- if index $pg $key }}{{ $_ := set $settings $key (index $pg $key) }}{{ end }}
{{- end }}
{{- /* The DSN comes from the Secret, as FANOUT_POSTGRES_DSN. */}}
{{- $_ = set $config "store" (dict "postgres" $settings) }}
{{- end }}
{{- $calls := include "fanout.roleCalls" . | fromYamlArray }}
{{- if $calls }}
{{- $backends := dict }}
{{- range $backend := $calls }}
{{- $settings := deepCopy (default dict (index $root.Values.backends $backend)) }}
{{- if not $settings.target }}
{{- if not (index $root.Values.roles $backend).enabled }}
{{- fail (printf "roles.%s calls the %s backend: enable roles.%s or set backends.%s.target" $role $backend $backend $backend) }}
{{- end }}
{{- $settings = mustMergeOverwrite $settings (include "fanout.backendTarget" (dict "root" $root "backend" $backend) | fromYaml) }}
{{- end }}
{{- if not $settings.services }}
{{- $_ = set $settings "services" (index (include "fanout.roleInfo" . | fromYaml) $backend).services }}
{{- end }}
{{- $_ = set $backends $backend $settings }}
{{- end }}
{{- $_ = set $config "backends" $backends }}
{{- end }}
{{- if eq $role "gateway" }}
{{- $gateway := default dict $config.gateway }}
{{- $_ = set $gateway "rest_address" (printf "0.0.0.0:%d" (int $root.Values.ports.rest)) }}
{{- if $root.Values.roles.gateway.relay.enabled }}
{{- $_ = set $gateway "grpc_relay_address" (printf "0.0.0.0:%d" (int $root.Values.ports.grpcRelay)) }}
{{- end }}
{{- $_ = set $config "gateway" $gateway }}
{{- end }}
{{- if eq $role "gateway" }}
{{- include "fanout.authConfig" (dict "root" $root "config" $config) }}
{{- end }}
{{- if $root.Values.tls.enabled }}
{{- include "fanout.tlsConfig" (dict "root" $root "role" $role "config" $config "info" $info) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Where a role's TLS Secret is mounted (not under /etc/fanout, a ConfigMap). */}}
{{- define "fanout.tlsDir" -}}/etc/fanout-tls{{- end }}

{{/* The TLS Secret a role mounts. */}}
{{- define "fanout.tlsSecret" -}}
{{- $default := default (printf "%s-tls" (include "fanout.fullname" .root)) .root.Values.tls.secretName }}
{{- default $default (index .root.Values.tls.secretNames .role) }}
{{- end }}

{{/*
values.tls into a role's config (mutates .config): the gRPC door, the calls
to backends in this release (ca.crt; the role's own certificate with mtls),
and the gateway's REST door.
*/}}
{{- define "fanout.tlsConfig" -}}
{{- $tls := .root.Values.tls }}
{{- $dir := include "fanout.tlsDir" . }}
{{- $reload := int $tls.reloadIntervalMs }}
{{- $door := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "reload_interval_ms" $reload }}
{{- if $tls.mtls }}
{{- $_ := set $door "ca_file" (printf "%s/ca.crt" $dir) }}
{{- $_ := set $door "require_client_cert" true }}
{{- end }}
{{- $_ := set .config "grpc_tls" $door }}
{{- range $name, $backend := (default dict .config.backends) }}
{{- if and (not (index $.root.Values.backends $name).target) (not $backend.tls) }}
{{- $client := dict "ca_file" (printf "%s/ca.crt" $dir) "reload_interval_ms" $reload }}
{{- if $tls.mtls }}
{{- $_ := set $client "cert_file" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $client "key_file" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- $_ := set $backend "tls" $client }}
{{- end }}
{{- end }}
{{- if and (eq .role "gateway") $tls.rest }}
{{- $_ := set .config.gateway "rest_tls" (dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "reload_interval_ms" $reload) }}
{{- end }}
{{- end }}

{{/* Where the gateway's auth Secret is mounted (a Secret volume, never subPath). */}}
{{- define "fanout.authDir" -}}/etc/fanout-auth{{- end }}

{{/* The gateway's auth Secret; "" when roles.gateway.auth names no file. */}}
{{- define "fanout.authSecret" -}}
{{- $auth := .Values.roles.gateway.auth }}
{{- if or $auth.jwksKey $auth.apiKeysKey }}
{{- default (printf "%s-gateway-auth" (include "fanout.fullname" . | trunc 49 | trimSuffix "-")) $auth.existingSecret }}
{{- end }}
{{- end }}

{{/*
roles.gateway.auth into the gateway's config (mutates .config): the JWKS and
API keys files' paths under the Secret's mount. Issuer, audiences, modes and
the API key header stay fanoutd's own keys (config.gateway.auth).
*/}}
{{- define "fanout.authConfig" -}}
{{- $auth := .root.Values.roles.gateway.auth }}
{{- $dir := include "fanout.authDir" . }}
{{- if and (or $auth.existingSecret $auth.files) (not (or $auth.jwksKey $auth.apiKeysKey)) }}
{{- fail "roles.gateway.auth: say which key holds what: jwksKey (the JWKS), apiKeysKey (the API keys file)" }}
{{- end }}
{{- if not $auth.existingSecret }}
{{- range $key := list $auth.jwksKey $auth.apiKeysKey }}
{{- if and $key (not (hasKey $auth.files $key)) }}
{{- fail (printf "roles.gateway.auth names the key %q, but roles.gateway.auth.files has no %q (or set roles.gateway.auth.existingSecret)" $key $key) }}
{{- end }}
{{- end }}
{{- else if $auth.files }}
{{- fail "roles.gateway.auth: set files (a Secret the chart creates) or existingSecret (your own), not both" }}
{{- end }}
{{- if or $auth.jwksKey $auth.apiKeysKey }}
{{- $gateway := .config.gateway }}
{{- $config := deepCopy (default dict $gateway.auth) }}
{{- if $auth.jwksKey }}
{{- $jwt := default dict $config.jwt }}
{{- if not (and $jwt.issuer $jwt.audiences) }}
{{- fail "roles.gateway.auth.jwksKey: fanoutd checks tokens against an issuer and audiences too: set config.gateway.auth.jwt.issuer and .audiences (in roles.gateway.config or config)" }}
{{- end }}
{{- $_ := set $jwt "jwks_file" (printf "%s/%s" $dir $auth.jwksKey) }}
{{- $_ = set $config "jwt" $jwt }}
{{- end }}
{{- if $auth.apiKeysKey }}
{{- $keys := default dict $config.api_keys }}
{{- $_ := set $keys "file" (printf "%s/%s" $dir $auth.apiKeysKey) }}
{{- $_ = set $config "api_keys" $keys }}
{{- end }}
{{- $_ := set $gateway "auth" $config }}
{{- end }}
{{- end }}

{{/* The OTLP endpoint roles export to; empty: tracing off. */}}
{{- define "fanout.otlpEndpoint" -}}
{{- if .Values.tracing.enabled }}
{{- if .Values.tracing.otlpEndpoint }}
{{- .Values.tracing.otlpEndpoint }}
{{- else if .Values.tracing.jaeger.enabled }}
{{- printf "http://%s-jaeger.%s.svc.cluster.local:4317" (include "fanout.fullname" . | trunc 56 | trimSuffix "-") .Release.Namespace }}
{{- else }}
{{- fail "tracing.enabled needs a collector: set tracing.otlpEndpoint or tracing.jaeger.enabled" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cross-field checks the schema cannot express. */}}
{{- define "fanout.validate" -}}
{{- $any := false }}
{{- range $role, $r := .Values.roles }}{{ if $r.enabled }}{{ $any = true }}{{ end }}{{ end }}
{{- if not $any }}
{{- fail "no role is enabled: set roles.<gateway|users|orders|recommendations|lab>.enabled" }}
{{- end }}
{{- end }}
