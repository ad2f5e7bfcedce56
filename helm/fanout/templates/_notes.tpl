{{- /* The text of NOTES.txt (a named template so the tests can render it offline). */}}
{{- define "fanout.notes" -}}
fanout {{ .Chart.AppVersion }} is installed as release {{ .Release.Name }} in namespace {{ .Release.Namespace }}.
{{- $roles := list }}
{{- range $role := include "fanout.roleOrder" . | fromYamlArray }}{{ if (index $.Values.roles $role).enabled }}{{ $roles = append $roles $role }}{{ end }}{{ end }}
Roles: {{ join ", " $roles }}. Watch them become ready:

  kubectl -n {{ .Release.Namespace }} get pods -l app.kubernetes.io/instance={{ .Release.Name }} -w
{{- if .Values.roles.gateway.enabled }}
{{- $gateway := include "fanout.roleName" (dict "root" . "role" "gateway") }}

Reach the gateway's REST port (Service {{ $gateway }}, {{ .Values.roles.gateway.service.type }}: REST{{ if .Values.roles.gateway.service.exposeGrpc }} and gRPC{{ end }} only):

  kubectl -n {{ .Release.Namespace }} port-forward svc/{{ $gateway }} 8080:{{ .Values.ports.rest }}
  curl -s -X POST http://127.0.0.1:8080/v1/users -H 'content-type: application/json' -d '{"name": "Ada", "email": "ada@example.com"}'
  curl -s http://127.0.0.1:8080/v1/users/1/dashboard

In-cluster callers reach its gRPC door (port {{ .Values.ports.grpc }}) and admin port ({{ .Values.ports.admin }}: /readyz, /metrics) at {{ include "fanout.internalService" (dict "root" . "role" "gateway") }}.{{ .Release.Namespace }}.svc (ClusterIP).
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}

or through the Ingress: curl -s http{{ if $.Values.ingress.tls }}s{{ end }}://{{ .host }}/v1/users/1/dashboard
{{- end }}
{{- end }}

Check it with `helm test {{ .Release.Name }} -n {{ .Release.Namespace }}`.
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{- $np := .Values.networkPolicy }}

NetworkPolicies (enforced where the cluster's network plugin enforces them):
  gRPC into a role only from the roles that call it{{ if $np.grpcFrom }} and networkPolicy.grpcFrom{{ end }}; admin ports only from networkPolicy.metricsFrom
{{- if .Values.roles.gateway.enabled }}
  the gateway's REST and gRPC doors from {{ if $np.ingressFrom }}networkPolicy.ingressFrom only{{ else }}anywhere (networkPolicy.ingressFrom narrows it){{ end }}
{{- end }}
{{- if $np.restrictEgress }}
  egress only to DNS, the roles each calls{{ if .Values.tracing.enabled }}, the OTLP collector{{ end }}{{ if $np.extraEgress }}, networkPolicy.extraEgress{{ end }}
{{- end }}
{{- end }}
{{- if .Values.tracing.jaeger.enabled }}

Open Jaeger's UI:

  kubectl -n {{ .Release.Namespace }} port-forward svc/{{ include "fanout.fullname" . | trunc 56 | trimSuffix "-" }}-jaeger 16686:16686
  then browse http://127.0.0.1:16686
{{- end }}
{{- end }}
