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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exporter.bundle.rules import AlertRule, alert_rules, dur
from exporter.bundle.settings import BundleConfig, EmailReceiver, RouteTiming, SlackReceiver, WecomReceiver
from exporter.bundle.topology import COMPOSE, Topology

CONFIG_FILE = "alertmanager/alertmanager.yml"
ROUTES_FILE = "alertmanager/tests/routes.yml"
INHIBITIONS_FILE = "alertmanager/tests/inhibitions.yml"
TEMPLATE_DATA_FILE = "alertmanager/tests/template-data.json"

RECEIVERS = ("critical", "warning", "info", "watchdog")

# Alerts computed from a polled source's data: muted while that source is down or stale.
SOURCE_DATA_ALERTS = (
    "LLMSpendSpike",
    "LLMUnpricedUsage",
    "LLMBalanceLow",
    "LLMBalanceRunwayShort",
    "LLMPlanQuotaLow",
    "LLMProviderIncident",
    "LLMStatusPageUnreadable",
)
# A provider's error and latency alerts: muted while its status page reports an incident.
INCIDENT_MUTED_ALERTS = (
    "LLMAPIHighErrorRate",
    "LLMAPIHighLatencyP99",
    "LLMAPIErrorBudgetBurn",
    "LLMAPISlowCalls",
    "LLMAPIProbeFailing",
)


def _m(label: str, value: str, op: str = "=") -> str:
    return f'{label}{op}"{value}"'


def _names(names: tuple[str, ...] | list[str]) -> str:
    return _m("alertname", "|".join(names), "=~") if len(names) > 1 else _m("alertname", names[0])


def _timing(t: RouteTiming) -> dict[str, str]:
    return {
        "group_wait": dur(t.group_wait),
        "group_interval": dur(t.group_interval),
        "repeat_interval": dur(t.repeat_interval),
    }


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
            # A digest: every info alert in one notification (per severity, not per alert name and provider),
            # re-sent at most every group_interval when it changes, and daily as a reminder.
            {
                "receiver": "info",
                "matchers": [_m("severity", "info|none", "=~")],
                "group_by": ["severity"],
                **_timing(r.info),
            },
        ],
    }


#: Severities in order; an inhibition never mutes an alert more severe than the one that mutes it.
SEVERITY_ORDER = ("critical", "warning", "info")
#: The labels that make two alerts the same problem: the same provider, source and model.
SAME_PROBLEM = ["provider", "source", "model"]
#: Alertmanager counts a label missing on both sides as equal: the severity rules only take alerts that name a
#: provider, so two alerts about nothing in particular (a total budget, the exporter itself) never mute each other.
_HAS_PROVIDER = 'provider=~".+"'


def _at_most(severity: str) -> str:
    """A matcher for ``severity`` and everything below it."""
    return _m("severity", "|".join(SEVERITY_ORDER[SEVERITY_ORDER.index(severity) :]), "=~")


def inhibit_rules(s: BundleConfig) -> list[dict[str, Any]]:
    """Each rule with the reason it exists (the ``#`` key becomes a comment in docs, not in the YAML).

    Only a more severe alert mutes a less severe one about the same problem; the cause-and-effect rules below it
    never reach above their source's severity either (their target matchers say so), and an alert taken from a
    third-party status page mutes nothing above its own severity: a page we do not control cannot mute our pages.
    """
    rules: list[dict[str, Any]] = [
        {
            "#": "A critical alert mutes the warnings and infos about the same provider, source and model.",
            "source_matchers": [_m("severity", "critical"), _HAS_PROVIDER],
            "target_matchers": [_m("severity", "warning|info", "=~"), _HAS_PROVIDER],
            "equal": SAME_PROBLEM,
        },
        {
            "#": "A warning mutes the infos about the same provider, source and model.",
            "source_matchers": [_m("severity", "warning"), _HAS_PROVIDER],
            "target_matchers": [_m("severity", "info"), _HAS_PROVIDER],
            "equal": SAME_PROBLEM,
        },
        {
            "#": "One cause notifies once: the error-budget burn (any tier) says all the high error rate says.",
            "source_matchers": [_m("alertname", "LLMAPIErrorBudgetBurn")],
            "target_matchers": [_m("alertname", "LLMAPIHighErrorRate"), _at_most("warning")],
            "equal": SAME_PROBLEM,
        },
        {
            "#": "An exceeded budget mutes the 'burning high' and 'forecast over budget' alerts of the same scope.",
            "source_matchers": [_m("alertname", "LLMBudgetExceeded")],
            "target_matchers": [_names(["LLMBudgetBurnHigh", "LLMBudgetForecastExceeded"])],
            "equal": ["scope", "provider"],
        },
        {
            "#": "An exhausted balance mutes the low-balance and short-runway alerts of the same source.",
            "source_matchers": [_m("alertname", "LLMBalanceExhausted")],
            "target_matchers": [_names(["LLMBalanceLow", "LLMBalanceRunwayShort"])],
            "equal": ["provider", "source"],
        },
    ]
    if s.routing.source_problems_mute_data_alerts:
        rules += [
            {
                "#": "A source that is down explains why its data is stale.",
                "source_matchers": [_m("alertname", "LLMPulseSourceDown")],
                "target_matchers": [_m("alertname", "LLMPulseSourceStale")],
                "equal": ["provider", "source"],
            },
            {
                "#": "A down or stale source mutes the cost, usage, balance and status alerts computed from its data "
                "(none more severe than itself).",
                "source_matchers": [_names(["LLMPulseSourceDown", "LLMPulseSourceStale"])],
                "target_matchers": [_names(list(SOURCE_DATA_ALERTS)), _at_most("warning")],
                "equal": ["provider", "source"],
            },
        ]
    if s.routing.incident_mutes_api_alerts:
        rules.append(
            {
                "#": "An incident on a provider's status page mutes that provider's error and latency warnings; never "
                "a critical alert (a third-party page must not mute our pages).",
                "source_matchers": [_m("alertname", "LLMProviderIncident")],
                "target_matchers": [_names(list(INCIDENT_MUTED_ALERTS)), _at_most("warning")],
                "equal": ["provider"],
            }
        )
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


def _present(**fields: Any) -> dict[str, Any]:
    """The optional fields that are set; Alertmanager's defaults apply to the others."""
    return {key: value for key, value in fields.items() if value}


def _email(e: EmailReceiver, topology: Topology) -> dict[str, Any]:
    return {
        "to": ", ".join(e.to),
        "from": e.from_,
        "smarthost": topology.localize(e.smarthost),
        **_present(hello=e.hello, auth_username=e.auth_username, auth_password_file=e.auth_password_file),
        "require_tls": e.require_tls,
        "send_resolved": e.send_resolved,
        "headers": {"Subject": '{{ template "llmpulse.email.subject" . }}'},
        "html": '{{ template "llmpulse.email.html" . }}',
        "text": '{{ template "llmpulse.email.text" . }}',
    }


def _slack(sl: SlackReceiver) -> dict[str, Any]:
    return {
        "api_url_file": sl.api_url_file,
        "send_resolved": sl.send_resolved,
        **_present(channel=sl.channel),
        "color": '{{ template "llmpulse.slack.color" . }}',
        "title": '{{ template "llmpulse.title" . }}',
        "title_link": '{{ template "llmpulse.slack.link" . }}',
        "text": '{{ template "llmpulse.slack.text" . }}',
    }


def _wecom(wc: WecomReceiver, alertmanager_version: str) -> dict[str, Any]:
    secret = (
        {"api_secret_file": wc.api_secret_file}
        if alertmanager_version >= "0.31"
        else {"api_secret": _read_secret(wc.api_secret_file)}
    )
    return {
        "send_resolved": wc.send_resolved,
        "corp_id": wc.corp_id,
        "agent_id": wc.agent_id,
        **secret,
        **_present(to_user=wc.to_user, to_party=wc.to_party, to_tag=wc.to_tag, api_url=wc.api_url),
        "message_type": "markdown",
        "message": '{{ template "llmpulse.wecom.message" . }}',
    }


def _integrations(s: BundleConfig, severity: str, topology: Topology) -> dict[str, list[dict[str, Any]]]:
    """The channels of one receiver: every configured one whose ``severities`` include it, by kind."""
    rc = s.receivers

    def taking(channels: Sequence[Any]) -> list[Any]:
        return [ch for ch in channels if severity in ch.severities]

    hooks = [
        _webhook(topology.localize(w.url), w.send_resolved, w.max_alerts, w.bearer_token_file)
        for w in taking(rc.webhooks)
    ]
    relay = topology.localize(rc.relay.url)
    hooks += [
        _webhook(f"{relay}/relay/{b.target}/{b.name}", b.send_resolved, 0, rc.relay.bearer_token_file)
        for b in taking(rc.relay.bots)
    ]
    configs = {
        "webhook_configs": hooks,
        "email_configs": [_email(e, topology) for e in taking(rc.email)],
        "slack_configs": [_slack(sl) for sl in taking(rc.slack)],
        "wechat_configs": [_wecom(wc, s.alertmanager_version) for wc in taking(rc.wecom)],
    }
    return {kind: items for kind, items in configs.items() if items}


def has_inline_secret(s: BundleConfig) -> bool:
    """True when the generated config contains a secret (WeCom on Alertmanager < 0.31): do not commit it."""
    return bool(s.receivers.wecom) and s.alertmanager_version < "0.31"


def receivers(s: BundleConfig, topology: Topology = COMPOSE) -> list[dict[str, Any]]:
    out = [{"name": sev, **_integrations(s, sev, topology)} for sev in ("critical", "warning", "info")]
    watchdog: dict[str, Any] = {"name": "watchdog"}
    if s.receivers.watchdog_url:
        watchdog["webhook_configs"] = [_webhook(topology.localize(s.receivers.watchdog_url), False)]
    out.append(watchdog)
    return out


def alertmanager_config(s: BundleConfig, topology: Topology = COMPOSE) -> dict[str, Any]:
    """The Alertmanager config for ``topology`` (the mail catcher's and the relay's addresses depend on it)."""
    return {
        "global": {"resolve_timeout": dur(s.routing.resolve_timeout)},
        "templates": ["templates/*.tmpl"],
        "route": route_tree(s),
        "inhibit_rules": [{k: v for k, v in rule.items() if k != "#"} for rule in inhibit_rules(s)],
        "receivers": receivers(s, topology),
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
        {
            "name": "Watchdog goes to the heartbeat receiver",
            "labels": {"alertname": "Watchdog", "severity": "none"},
            "receivers": ["watchdog"],
        },
        {
            "name": "critical pages",
            "labels": {"alertname": "AnyCritical", "severity": "critical", "provider": "openai"},
            "receivers": ["critical"],
        },
        {
            "name": "warning is a ticket",
            "labels": {"alertname": "AnyWarning", "severity": "warning", "provider": "openai"},
            "receivers": ["warning"],
        },
        {
            "name": "info has its own receiver",
            "labels": {"alertname": "AnyInfo", "severity": "info"},
            "receivers": ["info"],
        },
        {
            "name": "an alert without a known severity falls back to warning",
            "labels": {"alertname": "Unlabelled"},
            "receivers": ["warning"],
        },
    ]
    seen: set[tuple[str, str]] = set()
    for alert in alert_rules(s):
        if (alert.name, alert.severity) in seen:
            continue
        seen.add((alert.name, alert.severity))
        cases.append(
            {
                "name": f"{alert.name} ({alert.severity})",
                "labels": _labels_of(alert),
                "receivers": [receiver_for(alert.severity, alert.name)],
            }
        )
    return cases


def _case(name: str, source: dict[str, str], target: dict[str, str], inhibited: bool) -> dict[str, Any]:
    return {"name": name, "source": source, "target": target, "inhibited": inhibited}


def inhibition_cases(s: BundleConfig) -> list[dict[str, Any]]:
    """Pairs of alerts and whether the first (source) mutes the second (target), one positive and one negative case
    per inhibition rule; checked against a real Alertmanager by the tests."""
    p, other = "openai", "anthropic"
    src = {"provider": p, "source": "openai-usage"}
    deepseek = {"provider": "deepseek", "source": "deepseek-balance"}
    burn = {"alertname": "LLMAPIErrorBudgetBurn"}
    critical_burn = {**burn, "severity": "critical", "long": "1h", "short": "5m", **_SAMPLE}
    warning_burn = {**burn, "severity": "warning", "long": "1d", "short": "2h", **_SAMPLE}
    total_exceeded = {"alertname": "LLMBudgetExceeded", "severity": "critical", "scope": "total"}
    exhausted = {"alertname": "LLMBalanceExhausted", "severity": "critical", **deepseek}
    balance_low = {"alertname": "LLMBalanceLow", "severity": "warning", **deepseek, "currency": "CNY"}
    down = {"alertname": "LLMPulseSourceDown", "severity": "warning", **src}
    spike = {"alertname": "LLMSpendSpike", "severity": "warning"}
    incident = {
        "alertname": "LLMProviderIncident",
        "severity": "warning",
        "provider": p,
        "source": "openai-status",
        "indicator": "major",
    }
    error_rate = {"alertname": "LLMAPIHighErrorRate", "severity": "warning", **_SAMPLE}
    probe_failing = {"alertname": "LLMAPIProbeFailing", "severity": "critical", **_SAMPLE}
    unpriced = {"alertname": "LLMUnpricedUsage", "severity": "info", **_SAMPLE}
    cases = [
        _case("critical burn mutes the warning burn of the same model", critical_burn, warning_burn, True),
        _case(
            "critical burn of one model does not mute another model",
            critical_burn,
            {**warning_burn, "model": "gpt-4o"},
            False,
        ),
        _case("a critical alert mutes an info about the same model", probe_failing, unpriced, True),
        _case("a warning mutes an info about the same model", error_rate, unpriced, True),
        _case("a warning never mutes a critical alert about the same model", error_rate, probe_failing, False),
        _case("a warning never mutes another warning by severity alone", error_rate, {**warning_burn}, False),
        _case("an info never mutes a warning about the same model", unpriced, error_rate, False),
        _case(
            "a failing probe mutes the high error rate of the same model (one cause)", probe_failing, error_rate, True
        ),
        _case(
            "a critical burn mutes the high error rate of the same model (one cause)", critical_burn, error_rate, True
        ),
        _case("a warning burn mutes the high error rate of the same model (one cause)", warning_burn, error_rate, True),
        _case(
            "a failing probe of another model does not mute this model's error rate",
            {**probe_failing, "model": "gpt-4o"},
            error_rate,
            False,
        ),
        _case(
            "exceeded total budget mutes the total burn-high alert",
            total_exceeded,
            {"alertname": "LLMBudgetBurnHigh", "severity": "warning", "scope": "total"},
            True,
        ),
        _case(
            "exceeded total budget does not mute a provider's forecast alert",
            total_exceeded,
            {"alertname": "LLMBudgetForecastExceeded", "severity": "warning", "scope": "provider", "provider": p},
            False,
        ),
        _case("exhausted balance mutes the low-balance alert of the same source", exhausted, balance_low, True),
        _case(
            "exhausted balance of one source does not mute another source",
            exhausted,
            {
                "alertname": "LLMBalanceRunwayShort",
                "severity": "warning",
                "provider": "moonshot",
                "source": "moonshot-balance",
                "currency": "CNY",
            },
            False,
        ),
        _case(
            "a provider incident (a third-party page) never mutes a critical burn of that provider",
            incident,
            critical_burn,
            False,
        ),
        _case(
            "a provider incident (a third-party page) never mutes that provider's failing probe",
            incident,
            probe_failing,
            False,
        ),
    ]
    if s.routing.source_problems_mute_data_alerts:
        cases += [
            _case(
                "a down source mutes its stale alert",
                down,
                {"alertname": "LLMPulseSourceStale", "severity": "warning", **src},
                True,
            ),
            _case("a down source mutes the spend alerts computed from its data", down, {**spike, **src}, True),
            _case(
                "a stale source mutes the balance alerts computed from its data",
                {"alertname": "LLMPulseSourceStale", "severity": "warning", **deepseek},
                balance_low,
                True,
            ),
            _case(
                "a down source does not mute another source's alerts",
                down,
                {**spike, "provider": p, "source": "openai-usage-2"},
                False,
            ),
            _case(
                "a down source does not mute an aggregate without source label (equal labels missing on one side only)",
                down,
                spike,
                False,
            ),
        ]
    if s.routing.incident_mutes_api_alerts:
        cases += [
            _case("a provider incident mutes that provider's error-rate alert", incident, error_rate, True),
            _case(
                "a provider incident mutes that provider's latency alert",
                incident,
                {"alertname": "LLMAPIHighLatencyP99", "severity": "warning", "quantile": "0.99", **_SAMPLE},
                True,
            ),
            _case(
                "a provider incident does not mute another provider",
                {**incident, "provider": other, "source": "anthropic-status"},
                error_rate,
                False,
            ),
            _case(
                "a provider incident does not mute a dead key",
                incident,
                {"alertname": "LLMAPIAuthFailure", "severity": "critical", "code": "401", **_SAMPLE},
                False,
            ),
        ]
    return cases


def template_data(s: BundleConfig) -> dict[str, Any]:
    """An Alertmanager notification (webhook payload shape) to render the templates with in tests."""
    firing = next(a for a in alert_rules(s, include_disabled=True) if a.name == "LLMAPIHighErrorRate")
    annotations = firing.annotations(s)
    annotations = {
        k: v.replace("{{ $value | humanizePercentage }}", "7.5%")
        .replace("{{ $labels.provider }}", "openai")
        .replace("{{ $labels.model }}", "gpt-4o-mini")
        .replace("{{ $labels.source }}", "openai-probe")
        for k, v in annotations.items()
    }
    labels = {"alertname": firing.name, "severity": firing.severity, **_SAMPLE, "job": s.prometheus.job}
    return {
        "receiver": "warning",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2026-01-15T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "a1b2c3d4e5f60718",
            },
            {
                "status": "resolved",
                "labels": {**labels, "model": "gpt-4o"},
                "annotations": annotations,
                "startsAt": "2026-01-15T09:00:00Z",
                "endsAt": "2026-01-15T09:30:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "0718a1b2c3d4e5f6",
            },
        ],
        "groupLabels": {"alertname": firing.name, "provider": "openai"},
        "commonLabels": {
            "alertname": firing.name,
            "severity": firing.severity,
            "provider": "openai",
            "source": "openai-probe",
            "job": s.prometheus.job,
        },
        "commonAnnotations": {"summary": firing.summary},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="LLMAPIHighErrorRate", provider="openai"}',
        "truncatedAlerts": 0,
    }
