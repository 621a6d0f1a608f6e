"""``alertmanager/alertmanager.yml``, its notification templates, and its routing and inhibition cases as data.

Route tree (root groups by alert name and provider): ``Watchdog`` goes to the ``watchdog`` receiver (a dead man's
switch), ``severity=critical`` to ``critical`` with fast timing, ``warning`` to ``warning``, ``info``/``none`` to
``info``; anything else falls back to ``warning``. Each of the four receivers holds the channels (webhook, email,
Slack, WeCom, chat bots through the exporter's relay) whose ``severities`` include it, so one channel can get pages
and tickets and another only pages.

Inhibitions are built so that an alert never matches both sides of a rule, and every rule's ``equal`` labels are
present on both sides (Alertmanager treats labels missing on both sides as equal, which would mute across
providers).

Version limits (Debian's amtool 0.25 validates the output): secrets come from files where 0.25 reads files
(smtp ``auth_password_file``, Slack ``api_url_file``, ``http_config`` ``credentials_file``); webhook ``url_file``
(0.26) is not used; WeCom's ``api_secret_file`` (0.31) only when ``alertmanager_version`` allows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.bundle.rules import AlertRule, alert_rules, dur
from exporter.bundle.settings import BundleConfig, RouteTiming

CONFIG_FILE = "alertmanager/alertmanager.yml"
ROUTES_FILE = "alertmanager/tests/routes.yml"
INHIBITIONS_FILE = "alertmanager/tests/inhibitions.yml"
TEMPLATE_DATA_FILE = "alertmanager/tests/template-data.json"

RECEIVERS = ("critical", "warning", "info", "watchdog")

# Alerts computed from a polled source's data: muted while that source is down or stale.
SOURCE_DATA_ALERTS = ("LLMSpendSpike", "LLMUnpricedUsage", "LLMBalanceLow", "LLMBalanceRunwayShort",
                      "LLMProviderIncident", "LLMStatusPageUnreadable")
# A provider's error and latency alerts: muted while its status page reports an incident.
INCIDENT_MUTED_ALERTS = ("LLMAPIHighErrorRate", "LLMAPIHighLatencyP99", "LLMAPIErrorBudgetBurn", "LLMAPISlowCalls",
                         "LLMAPIProbeFailing")


def _m(label: str, value: str, op: str = "=") -> str:
    return f'{label}{op}"{value}"'


def _names(names: tuple[str, ...] | list[str]) -> str:
    return _m("alertname", "|".join(names), "=~") if len(names) > 1 else _m("alertname", names[0])


def _timing(t: RouteTiming) -> dict[str, str]:
    return {"group_wait": dur(t.group_wait), "group_interval": dur(t.group_interval),
            "repeat_interval": dur(t.repeat_interval)}


def route_tree(s: BundleConfig) -> dict[str, Any]:
    r = s.routing
    return {
        "receiver": "warning",
        "group_by": list(r.group_by),
        **_timing(r.warning),
        "routes": [
            {"receiver": "watchdog", "matchers": [_m("alertname", "Watchdog")], **_timing(r.watchdog)},
            {"receiver": "critical", "matchers": [_m("severity", "critical")], **_timing(r.critical)},
            {"receiver": "warning", "matchers": [_m("severity", "warning")], **_timing(r.warning)},
            {"receiver": "info", "matchers": [_m("severity", "info|none", "=~")], **_timing(r.info)},
        ],
    }


def inhibit_rules(s: BundleConfig) -> list[dict[str, Any]]:
    """Each rule with the reason it exists (the ``#`` key becomes a comment in docs, not in the YAML)."""
    rules: list[dict[str, Any]] = [
        {"#": "A critical alert mutes the warning of the same alert for the same provider, source and model.",
         "source_matchers": [_m("severity", "critical")],
         "target_matchers": [_m("severity", "warning")],
         "equal": ["alertname", "provider", "source", "model"]},
        {"#": "An exceeded budget mutes the 'burning high' and 'forecast over budget' alerts of the same scope.",
         "source_matchers": [_m("alertname", "LLMBudgetExceeded")],
         "target_matchers": [_names(["LLMBudgetBurnHigh", "LLMBudgetForecastExceeded"])],
         "equal": ["scope", "provider"]},
        {"#": "An exhausted balance mutes the low-balance and short-runway alerts of the same source.",
         "source_matchers": [_m("alertname", "LLMBalanceExhausted")],
         "target_matchers": [_names(["LLMBalanceLow", "LLMBalanceRunwayShort"])],
         "equal": ["provider", "source"]},
    ]
    if s.routing.source_problems_mute_data_alerts:
        rules += [
            {"#": "A source that is down explains why its data is stale.",
             "source_matchers": [_m("alertname", "LLMPulseSourceDown")],
             "target_matchers": [_m("alertname", "LLMPulseSourceStale")],
             "equal": ["provider", "source"]},
            {"#": "A down or stale source mutes the cost, usage, balance and status alerts computed from its data.",
             "source_matchers": [_names(["LLMPulseSourceDown", "LLMPulseSourceStale"])],
             "target_matchers": [_names(list(SOURCE_DATA_ALERTS))],
             "equal": ["provider", "source"]},
        ]
    if s.routing.incident_mutes_api_alerts:
        rules.append(
            {"#": "An incident on a provider's status page mutes that provider's error and latency alerts.",
             "source_matchers": [_m("alertname", "LLMProviderIncident")],
             "target_matchers": [_names(list(INCIDENT_MUTED_ALERTS))],
             "equal": ["provider"]})
    return rules


def _webhook(url: str, send_resolved: bool, max_alerts: int = 0, token_file: str | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": url, "send_resolved": send_resolved}
    if max_alerts:
        hook["max_alerts"] = max_alerts
    if token_file:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": token_file}}
    return hook


def _read_secret(path: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read wecom api_secret_file {path!r}: {exc.strerror or exc}") from None
    if not value:
        raise ValueError(f"wecom api_secret_file {path!r} is empty")
    return value


def _integrations(s: BundleConfig, severity: str) -> dict[str, list[dict[str, Any]]]:
    rc = s.receivers
    out: dict[str, list[dict[str, Any]]] = {}
    hooks = [_webhook(w.url, w.send_resolved, w.max_alerts, w.bearer_token_file)
             for w in rc.webhooks if severity in w.severities]
    hooks += [_webhook(f"{rc.relay.url}/relay/{b.target}/{b.name}", b.send_resolved, 0, rc.relay.bearer_token_file)
              for b in rc.relay.bots if severity in b.severities]
    if hooks:
        out["webhook_configs"] = hooks
    emails = []
    for e in rc.email:
        if severity not in e.severities:
            continue
        email: dict[str, Any] = {"to": ", ".join(e.to), "from": e.from_, "smarthost": e.smarthost}
        if e.hello:
            email["hello"] = e.hello
        if e.auth_username:
            email["auth_username"] = e.auth_username
        if e.auth_password_file:
            email["auth_password_file"] = e.auth_password_file
        email |= {
            "require_tls": e.require_tls,
            "send_resolved": e.send_resolved,
            "headers": {"Subject": '{{ template "llmpulse.email.subject" . }}'},
            "html": '{{ template "llmpulse.email.html" . }}',
            "text": '{{ template "llmpulse.email.text" . }}',
        }
        emails.append(email)
    if emails:
        out["email_configs"] = emails
    slack = []
    for sl in rc.slack:
        if severity not in sl.severities:
            continue
        item: dict[str, Any] = {"api_url_file": sl.api_url_file, "send_resolved": sl.send_resolved}
        if sl.channel:
            item["channel"] = sl.channel
        item |= {
            "color": '{{ template "llmpulse.slack.color" . }}',
            "title": '{{ template "llmpulse.title" . }}',
            "title_link": '{{ template "llmpulse.slack.link" . }}',
            "text": '{{ template "llmpulse.slack.text" . }}',
        }
        slack.append(item)
    if slack:
        out["slack_configs"] = slack
    wecom = []
    for wc in rc.wecom:
        if severity not in wc.severities:
            continue
        item = {"send_resolved": wc.send_resolved, "corp_id": wc.corp_id, "agent_id": wc.agent_id}
        if s.alertmanager_version >= "0.31":
            item["api_secret_file"] = wc.api_secret_file
        else:
            item["api_secret"] = _read_secret(wc.api_secret_file)
        for key in ("to_user", "to_party", "to_tag", "api_url"):
            value = getattr(wc, key)
            if value:
                item[key] = value
        item |= {"message_type": "markdown", "message": '{{ template "llmpulse.wecom.message" . }}'}
        wecom.append(item)
    if wecom:
        out["wechat_configs"] = wecom
    return out


def has_inline_secret(s: BundleConfig) -> bool:
    """True when the generated config contains a secret (WeCom on Alertmanager < 0.31): do not commit it."""
    return bool(s.receivers.wecom) and s.alertmanager_version < "0.31"


def receivers(s: BundleConfig) -> list[dict[str, Any]]:
    out = [{"name": sev, **_integrations(s, sev)} for sev in ("critical", "warning", "info")]
    watchdog: dict[str, Any] = {"name": "watchdog"}
    if s.receivers.watchdog_url:
        watchdog["webhook_configs"] = [_webhook(s.receivers.watchdog_url, False)]
    out.append(watchdog)
    return out


def alertmanager_config(s: BundleConfig) -> dict[str, Any]:
    return {
        "global": {"resolve_timeout": dur(s.routing.resolve_timeout)},
        "templates": ["templates/*.tmpl"],
        "route": route_tree(s),
        "inhibit_rules": [{k: v for k, v in rule.items() if k != "#"} for rule in inhibit_rules(s)],
        "receivers": receivers(s),
    }


# --- test cases as data -------------------------------------------------------------------------------------------
_SAMPLE = {"provider": "openai", "source": "openai-probe", "model": "gpt-4o-mini"}


def _labels_of(alert: AlertRule) -> dict[str, str]:
    labels = {"alertname": alert.name, "severity": alert.severity, **alert.labels}
    if alert.name not in ("LLMPulseExporterDown", "Watchdog") and alert.labels.get("scope") != "total":
        labels |= {"provider": _SAMPLE["provider"], "source": _SAMPLE["source"]}
    return labels


def receiver_for(severity: str, alertname: str) -> str:
    if alertname == "Watchdog":
        return "watchdog"
    return {"critical": "critical", "warning": "warning", "info": "info", "none": "info"}.get(severity, "warning")


def route_cases(s: BundleConfig) -> list[dict[str, Any]]:
    """``amtool config routes test`` cases: every receiver, every alert (as generated), and the fallback."""
    cases: list[dict[str, Any]] = [
        {"name": "Watchdog goes to the heartbeat receiver", "labels": {"alertname": "Watchdog", "severity": "none"},
         "receivers": ["watchdog"]},
        {"name": "critical pages", "labels": {"alertname": "AnyCritical", "severity": "critical",
                                               "provider": "openai"}, "receivers": ["critical"]},
        {"name": "warning is a ticket", "labels": {"alertname": "AnyWarning", "severity": "warning",
                                                    "provider": "openai"}, "receivers": ["warning"]},
        {"name": "info has its own receiver", "labels": {"alertname": "AnyInfo", "severity": "info"},
         "receivers": ["info"]},
        {"name": "an alert without a known severity falls back to warning",
         "labels": {"alertname": "Unlabelled"}, "receivers": ["warning"]},
    ]
    seen: set[tuple[str, str]] = set()
    for alert in alert_rules(s):
        if (alert.name, alert.severity) in seen:
            continue
        seen.add((alert.name, alert.severity))
        cases.append({"name": f"{alert.name} ({alert.severity})", "labels": _labels_of(alert),
                      "receivers": [receiver_for(alert.severity, alert.name)]})
    return cases


def inhibition_cases(s: BundleConfig) -> list[dict[str, Any]]:
    """Pairs of alerts and whether the first (source) mutes the second (target), one positive and one negative case
    per inhibition rule; checked against a real Alertmanager by the tests."""
    p, other = "openai", "anthropic"
    src = {"provider": p, "source": "openai-usage"}
    cases: list[dict[str, Any]] = [
        {"name": "critical burn mutes the warning burn of the same model",
         "source": {"alertname": "LLMAPIErrorBudgetBurn", "severity": "critical", "long": "1h", "short": "5m",
                    **_SAMPLE},
         "target": {"alertname": "LLMAPIErrorBudgetBurn", "severity": "warning", "long": "1d", "short": "2h",
                    **_SAMPLE},
         "inhibited": True},
        {"name": "critical burn of one model does not mute another model",
         "source": {"alertname": "LLMAPIErrorBudgetBurn", "severity": "critical", "long": "1h", "short": "5m",
                    **_SAMPLE},
         "target": {"alertname": "LLMAPIErrorBudgetBurn", "severity": "warning", "long": "1d", "short": "2h",
                    **_SAMPLE, "model": "gpt-4o"},
         "inhibited": False},
        {"name": "exceeded total budget mutes the total burn-high alert",
         "source": {"alertname": "LLMBudgetExceeded", "severity": "critical", "scope": "total"},
         "target": {"alertname": "LLMBudgetBurnHigh", "severity": "warning", "scope": "total"},
         "inhibited": True},
        {"name": "exceeded total budget does not mute a provider's forecast alert",
         "source": {"alertname": "LLMBudgetExceeded", "severity": "critical", "scope": "total"},
         "target": {"alertname": "LLMBudgetForecastExceeded", "severity": "warning", "scope": "provider",
                    "provider": p},
         "inhibited": False},
        {"name": "exhausted balance mutes the low-balance alert of the same source",
         "source": {"alertname": "LLMBalanceExhausted", "severity": "critical", "provider": "deepseek",
                    "source": "deepseek-balance"},
         "target": {"alertname": "LLMBalanceLow", "severity": "warning", "provider": "deepseek",
                    "source": "deepseek-balance", "currency": "CNY"},
         "inhibited": True},
        {"name": "exhausted balance of one source does not mute another source",
         "source": {"alertname": "LLMBalanceExhausted", "severity": "critical", "provider": "deepseek",
                    "source": "deepseek-balance"},
         "target": {"alertname": "LLMBalanceRunwayShort", "severity": "warning", "provider": "moonshot",
                    "source": "moonshot-balance", "currency": "CNY"},
         "inhibited": False},
    ]
    if s.routing.source_problems_mute_data_alerts:
        cases += [
            {"name": "a down source mutes its stale alert",
             "source": {"alertname": "LLMPulseSourceDown", "severity": "warning", **src},
             "target": {"alertname": "LLMPulseSourceStale", "severity": "warning", **src},
             "inhibited": True},
            {"name": "a down source mutes the spend alerts computed from its data",
             "source": {"alertname": "LLMPulseSourceDown", "severity": "warning", **src},
             "target": {"alertname": "LLMSpendSpike", "severity": "warning", **src},
             "inhibited": True},
            {"name": "a stale source mutes the balance alerts computed from its data",
             "source": {"alertname": "LLMPulseSourceStale", "severity": "warning", "provider": "deepseek",
                        "source": "deepseek-balance"},
             "target": {"alertname": "LLMBalanceLow", "severity": "warning", "provider": "deepseek",
                        "source": "deepseek-balance", "currency": "CNY"},
             "inhibited": True},
            {"name": "a down source does not mute another source's alerts",
             "source": {"alertname": "LLMPulseSourceDown", "severity": "warning", **src},
             "target": {"alertname": "LLMSpendSpike", "severity": "warning", "provider": p,
                        "source": "openai-usage-2"},
             "inhibited": False},
            {"name": "a down source does not mute an aggregate without source label (equal labels missing on "
                     "one side only)",
             "source": {"alertname": "LLMPulseSourceDown", "severity": "warning", **src},
             "target": {"alertname": "LLMSpendSpike", "severity": "warning"},
             "inhibited": False},
        ]
    if s.routing.incident_mutes_api_alerts:
        cases += [
            {"name": "a provider incident mutes that provider's error-rate alert",
             "source": {"alertname": "LLMProviderIncident", "severity": "warning", "provider": p,
                        "source": "openai-status", "indicator": "major"},
             "target": {"alertname": "LLMAPIHighErrorRate", "severity": "warning", **_SAMPLE},
             "inhibited": True},
            {"name": "a provider incident mutes that provider's latency alert",
             "source": {"alertname": "LLMProviderIncident", "severity": "warning", "provider": p,
                        "source": "openai-status", "indicator": "major"},
             "target": {"alertname": "LLMAPIHighLatencyP99", "severity": "warning", "quantile": "0.99", **_SAMPLE},
             "inhibited": True},
            {"name": "a provider incident does not mute another provider",
             "source": {"alertname": "LLMProviderIncident", "severity": "warning", "provider": other,
                        "source": "anthropic-status", "indicator": "major"},
             "target": {"alertname": "LLMAPIHighErrorRate", "severity": "warning", **_SAMPLE},
             "inhibited": False},
            {"name": "a provider incident does not mute a dead key",
             "source": {"alertname": "LLMProviderIncident", "severity": "warning", "provider": p,
                        "source": "openai-status", "indicator": "major"},
             "target": {"alertname": "LLMAPIAuthFailure", "severity": "critical", "code": "401", **_SAMPLE},
             "inhibited": False},
        ]
    return cases


def template_data(s: BundleConfig) -> dict[str, Any]:
    """An Alertmanager notification (webhook payload shape) to render the templates with in tests."""
    firing = next(a for a in alert_rules(s, include_disabled=True) if a.name == "LLMAPIHighErrorRate")
    annotations = firing.annotations(s)
    annotations = {k: v.replace("{{ $value | humanizePercentage }}", "7.5%")
                   .replace("{{ $labels.provider }}", "openai").replace("{{ $labels.model }}", "gpt-4o-mini")
                   .replace("{{ $labels.source }}", "openai-probe") for k, v in annotations.items()}
    labels = {"alertname": firing.name, "severity": firing.severity, **_SAMPLE, "job": s.prometheus.job}
    return {
        "receiver": "warning",
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": labels, "annotations": annotations,
             "startsAt": "2026-01-15T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus:9090/graph", "fingerprint": "a1b2c3d4e5f60718"},
            {"status": "resolved", "labels": {**labels, "model": "gpt-4o"}, "annotations": annotations,
             "startsAt": "2026-01-15T09:00:00Z", "endsAt": "2026-01-15T09:30:00Z",
             "generatorURL": "http://prometheus:9090/graph", "fingerprint": "0718a1b2c3d4e5f6"},
        ],
        "groupLabels": {"alertname": firing.name, "provider": "openai"},
        "commonLabels": {"alertname": firing.name, "severity": firing.severity, "provider": "openai",
                         "source": "openai-probe", "job": s.prometheus.job},
        "commonAnnotations": {"summary": firing.summary},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="LLMAPIHighErrorRate", provider="openai"}',
        "truncatedAlerts": 0,
    }
