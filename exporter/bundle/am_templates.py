"""Alertmanager notification templates (Go text/template), written to ``alertmanager/templates/llmpulse.tmpl``.

These are template *text* by nature (Alertmanager renders them per notification), so they live here as one
string; nothing in Python interpolates into them. Every notification says what broke (summary), where (the
identifying labels), how bad (the description with the measured value) and what to do (the description's advice,
the runbook and the dashboard links), for firing and resolved alerts alike.

Defined templates: ``llmpulse.title``, ``llmpulse.text`` (plain text, also the e-mail text part),
``llmpulse.email.subject``, ``llmpulse.email.html``, ``llmpulse.email.text``, ``llmpulse.slack.color``,
``llmpulse.slack.link``, ``llmpulse.slack.text``, ``llmpulse.wecom.message``.
"""

from __future__ import annotations

TEMPLATE_FILE = "alertmanager/templates/llmpulse.tmpl"

# Labels that identify where an alert is; the rest (alertname, severity, job...) is said elsewhere or is noise.
_HIDDEN = '"alertname" "severity" "job" "instance" "__name__"'

TEMPLATES = r"""
{{/* --- shared pieces -------------------------------------------------------------------------------------- */}}

{{ define "llmpulse.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}
{{- with .CommonLabels.provider }} · {{ . }}{{ end }}
{{- with .CommonLabels.severity }} ({{ . }}){{ end }}
{{- end }}

{{ define "llmpulse.where" -}}
{{ range .Labels.SortedPairs }}{{ if not (eq .Name @HIDDEN@) }}{{ .Name }}={{ .Value }} {{ end }}{{ end }}
{{- end }}

{{ define "llmpulse.alert.text" -}}
{{ if eq .Status "firing" }}FIRING{{ else }}RESOLVED{{ end }} {{ .Labels.alertname }} ({{ .Labels.severity }})
What:      {{ .Annotations.summary }}
Where:     {{ template "llmpulse.where" . }}
Details:   {{ .Annotations.description }}
Since:     {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}
{{- if eq .Status "resolved" }}, resolved {{ .EndsAt.Format "2006-01-02 15:04:05 MST" }}{{ end }}
{{- with .Annotations.runbook_url }}
Runbook:   {{ . }}{{ end }}
{{- with .Annotations.dashboard_url }}
Dashboard: {{ . }}{{ end }}
{{- end }}

{{ define "llmpulse.text" -}}
{{ if .Alerts.Firing }}{{ .Alerts.Firing | len }} firing:

{{ range .Alerts.Firing }}{{ template "llmpulse.alert.text" . }}

{{ end }}{{ end -}}
{{ if .Alerts.Resolved }}{{ .Alerts.Resolved | len }} resolved:

{{ range .Alerts.Resolved }}{{ template "llmpulse.alert.text" . }}

{{ end }}{{ end -}}
Alertmanager: {{ .ExternalURL }} (silence or inspect this group there)
{{- end }}

{{/* --- e-mail ---------------------------------------------------------------------------------------------- */}}

{{ define "llmpulse.email.subject" }}{{ template "llmpulse.title" . }}{{ end }}

{{ define "llmpulse.email.text" }}{{ template "llmpulse.text" . }}{{ end }}

{{ define "llmpulse.email.alert" -}}
<table width="100%" cellpadding="6" cellspacing="0" style="border:1px solid #d0d7de;border-radius:6px;margin:0 0 14px 0;font-family:Helvetica,Arial,sans-serif;font-size:14px">
<tr><td colspan="2" style="background:{{ if eq .Status "resolved" }}#1a7f37{{ else if eq .Labels.severity "critical" }}#cf222e{{ else if eq .Labels.severity "warning" }}#bf8700{{ else }}#0969da{{ end }};color:#fff;font-weight:bold">
{{ if eq .Status "firing" }}FIRING{{ else }}RESOLVED{{ end }} · {{ .Labels.alertname }} ({{ .Labels.severity }})</td></tr>
<tr><td style="color:#57606a;width:90px">What</td><td>{{ .Annotations.summary }}</td></tr>
<tr><td style="color:#57606a">Where</td><td><code>{{ template "llmpulse.where" . }}</code></td></tr>
<tr><td style="color:#57606a">Details</td><td>{{ .Annotations.description }}</td></tr>
<tr><td style="color:#57606a">Since</td><td>{{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}{{ if eq .Status "resolved" }}, resolved {{ .EndsAt.Format "2006-01-02 15:04:05 MST" }}{{ end }}</td></tr>
<tr><td style="color:#57606a">Links</td><td>{{ with .Annotations.runbook_url }}<a href="{{ . }}">Runbook</a> · {{ end }}{{ with .Annotations.dashboard_url }}<a href="{{ . }}">Dashboard</a> · {{ end }}<a href="{{ .GeneratorURL }}">Query</a></td></tr>
</table>
{{- end }}

{{ define "llmpulse.email.html" -}}
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ template "llmpulse.title" . }}</title></head>
<body style="margin:0;padding:16px;background:#f6f8fa">
<div style="max-width:760px;margin:0 auto;font-family:Helvetica,Arial,sans-serif">
<h2 style="font-size:18px;margin:0 0 12px 0">{{ template "llmpulse.title" . }}</h2>
{{ range .Alerts.Firing }}{{ template "llmpulse.email.alert" . }}
{{ end }}{{ range .Alerts.Resolved }}{{ template "llmpulse.email.alert" . }}
{{ end }}<p style="color:#57606a;font-size:12px">Sent by Alertmanager (<a href="{{ .ExternalURL }}">{{ .ExternalURL }}</a>) from the llmpulse bundle. Silence this group there.</p>
</div></body></html>
{{- end }}

{{/* --- Slack ----------------------------------------------------------------------------------------------- */}}

{{ define "llmpulse.slack.color" -}}
{{ if eq .Status "resolved" }}good{{ else if eq .CommonLabels.severity "critical" }}danger{{ else }}warning{{ end }}
{{- end }}

{{ define "llmpulse.slack.link" -}}
{{ with .CommonAnnotations.runbook_url }}{{ . }}{{ else }}{{ .ExternalURL }}{{ end }}
{{- end }}

{{ define "llmpulse.slack.alert" -}}
*{{ if eq .Status "firing" }}FIRING{{ else }}RESOLVED{{ end }}* {{ .Annotations.summary }}
`{{ template "llmpulse.where" . }}`
{{ .Annotations.description }}
{{ with .Annotations.runbook_url }}<{{ . }}|Runbook>{{ end }}{{ with .Annotations.dashboard_url }} · <{{ . }}|Dashboard>{{ end }}
{{- end }}

{{ define "llmpulse.slack.text" -}}
{{ range .Alerts.Firing }}{{ template "llmpulse.slack.alert" . }}
{{ end }}{{ range .Alerts.Resolved }}{{ template "llmpulse.slack.alert" . }}
{{ end }}
{{- end }}

{{/* --- WeCom (WeChat Work) markdown ------------------------------------------------------------------------ */}}

{{ define "llmpulse.wecom.alert" -}}
> **{{ if eq .Status "firing" }}<font color="warning">FIRING</font>{{ else }}<font color="info">RESOLVED</font>{{ end }} {{ .Annotations.summary }}**
> Where: {{ template "llmpulse.where" . }}
> {{ .Annotations.description }}
> Since: {{ .StartsAt.Format "2006-01-02 15:04:05 MST" }}
{{- with .Annotations.runbook_url }}
> [Runbook]({{ . }}){{ end }}
{{- end }}

{{ define "llmpulse.wecom.message" -}}
## {{ template "llmpulse.title" . }}
{{ range .Alerts.Firing }}{{ template "llmpulse.wecom.alert" . }}

{{ end }}{{ range .Alerts.Resolved }}{{ template "llmpulse.wecom.alert" . }}

{{ end }}
{{- end }}
""".replace("@HIDDEN@", _HIDDEN)


def template_text(header: str) -> str:
    """The template file: the generated-file header as a Go template comment, then the definitions."""
    comment = "{{/*\n" + header + "*/}}\n"
    return comment + TEMPLATES.lstrip("\n")
