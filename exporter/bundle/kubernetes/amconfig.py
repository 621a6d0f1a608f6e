"""The AlertmanagerConfig (Prometheus Operator, v1alpha1): the bundle's route tree, inhibitions and the receivers
that an Operator-managed Alertmanager can use as they are.

What fits: the routes and inhibit rules of ``alertmanager/alertmanager.yml`` (same matchers, timings, grouping),
webhooks (``receivers.webhooks``), the relay's chat bots (the default relay URL becomes the exporter's Service:
:mod:`.topology`) and the Watchdog's
dead man's switch. What does not: e-mail, Slack and WeCom format their messages with llmpulse's templates
(``alertmanager/templates``), which an AlertmanagerConfig cannot ship; load them into your Alertmanager
(kube-prometheus-stack: ``alertmanager.templateFiles``) and add those receivers there (docs/kubernetes.md).

Files become Secret keys: a ``bearer_token_file`` is read from the key of that file's name in the Secret
``bundle.kubernetes.alertmanager_secret``, which the user creates.

The Operator adds a ``namespace="<this namespace>"`` matcher to the route and inhibit rules; the alerts carry it
when Prometheus sets ``enforcedNamespaceLabel`` (or set the Alertmanager's ``alertmanagerConfigMatcherStrategy`` to
None): docs/kubernetes.md.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from exporter.bundle import alertmanager as am
from exporter.bundle.kubernetes.meta import metadata
from exporter.bundle.kubernetes.topology import kubernetes_topology
from exporter.bundle.settings import BundleConfig

API_VERSION = "monitoring.coreos.com/v1alpha1"
_MATCHER = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)"(.*)"$')
_TIMING_KEYS = {"group_wait": "groupWait", "group_interval": "groupInterval", "repeat_interval": "repeatInterval"}


def matcher(text: str) -> dict[str, str]:
    """``severity=~"info|none"`` -> ``{name: severity, value: info|none, matchType: =~}``."""
    m = _MATCHER.match(text)
    if not m:
        raise ValueError(f"cannot express the matcher {text!r} in an AlertmanagerConfig")
    return {"name": m.group(1), "value": m.group(3), "matchType": m.group(2)}


def route(tree: dict[str, Any]) -> dict[str, Any]:
    """A route of alertmanager.yml (snake_case, matcher strings) in the AlertmanagerConfig's spelling."""
    out: dict[str, Any] = {"receiver": tree["receiver"]}
    if "group_by" in tree:
        out["groupBy"] = list(tree["group_by"])
    if "matchers" in tree:
        out["matchers"] = [matcher(m) for m in tree["matchers"]]
    out.update({camel: tree[key] for key, camel in _TIMING_KEYS.items() if key in tree})
    if tree.get("routes"):
        out["routes"] = [route(child) for child in tree["routes"]]
    return out


def inhibit_rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "sourceMatch": [matcher(m) for m in rule["source_matchers"]],
        "targetMatch": [matcher(m) for m in rule["target_matchers"]],
        "equal": list(rule["equal"]),
    }


def _webhook(s: BundleConfig, url: str, send_resolved: bool, max_alerts: int, token_file: str | None) -> dict[str, Any]:
    hook: dict[str, Any] = {"url": url, "sendResolved": send_resolved}
    if max_alerts:
        hook["maxAlerts"] = max_alerts
    if token_file:
        secret = {"name": s.kubernetes.alertmanager_secret, "key": posixpath.basename(token_file)}
        hook["httpConfig"] = {"authorization": {"type": "Bearer", "credentials": secret}}
    return hook


def _webhooks(s: BundleConfig, severity: str) -> list[dict[str, Any]]:
    rc = s.receivers
    hooks = [
        _webhook(s, w.url, w.send_resolved, w.max_alerts, w.bearer_token_file)
        for w in rc.webhooks
        if severity in w.severities
    ]
    relay = kubernetes_topology(s.kubernetes).localize(rc.relay.url)
    hooks += [
        _webhook(s, f"{relay}/relay/{b.target}/{b.name}", b.send_resolved, 0, rc.relay.bearer_token_file)
        for b in rc.relay.bots
        if severity in b.severities
    ]
    return hooks


def receivers(s: BundleConfig) -> list[dict[str, Any]]:
    """The receivers of alertmanager.yml by the same names, each with the webhooks it takes (maybe none)."""
    out = []
    for severity in ("critical", "warning", "info"):
        hooks = _webhooks(s, severity)
        out.append({"name": severity, **({"webhookConfigs": hooks} if hooks else {})})
    watchdog: dict[str, Any] = {"name": "watchdog"}
    if s.receivers.watchdog_url:
        watchdog["webhookConfigs"] = [_webhook(s, s.receivers.watchdog_url, False, 0, None)]
    out.append(watchdog)
    return out


def left_out(s: BundleConfig) -> list[str]:
    """Receivers of the bundle that the AlertmanagerConfig leaves out (they need llmpulse's templates)."""
    rc = s.receivers
    return (
        [f"email {e.name}" for e in rc.email]
        + [f"slack {c.name}" for c in rc.slack]
        + [f"wecom {c.name}" for c in rc.wecom]
    )


def alertmanager_config(s: BundleConfig) -> dict[str, Any]:
    k = s.kubernetes
    return {
        "apiVersion": API_VERSION,
        "kind": "AlertmanagerConfig",
        "metadata": metadata(k, k.name, component="alerting"),
        "spec": {
            "route": route(am.route_tree(s)),
            "inhibitRules": [inhibit_rule(rule) for rule in am.inhibit_rules(s)],
            "receivers": receivers(s),
        },
    }
