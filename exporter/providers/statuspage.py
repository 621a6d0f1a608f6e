"""Provider status pages: ``GET {base_url}/api/v2/summary.json`` (Atlassian Statuspage, and the compatible JSON
that incident.io pages such as status.openai.com still serve). No key needed.

Exported, one-hot so a panel or alert needs no value mapping:

- ``llmpulse_status_indicator{indicator}`` over none, minor, major, critical, maintenance, unknown;
- ``llmpulse_status_component{component, status}`` over operational, degraded_performance, partial_outage,
  major_outage, under_maintenance, unknown, for every leaf component (group containers are skipped: their status is
  their children's; a child whose name is not unique on the page is labelled ``Group / Name``);
- ``llmpulse_status_incidents_open{impact}``: unresolved incidents by impact, with a 0 for every impact so alerts
  and panels have a baseline.

A page that cannot be read (timeout, 5xx, an HTML page instead of JSON, JSON of another shape, as after a
platform migration) is its own state, not an outage: :meth:`StatuspageProvider.on_failure` publishes
``indicator="unknown"`` = 1 and every known component at ``status="unknown"`` = 1 (all outage states 0, no
incident counts), and the poller sets ``llmpulse_source_up`` to 0. Timestamps (a mix of ``Z`` and offsets) and
``incident_updates[].body`` (null on incident.io pages) are never needed, so they cannot break parsing.

Only ``page``, ``status`` and ``components`` are required: incident.io's compatible summary (status.openai.com)
has no ``incidents``, no ``scheduled_maintenances``, no component groups and no ``page.time_zone``. Without an
``incidents`` list the page says nothing about incidents, so no ``llmpulse_status_incidents_open`` series is
exported for it (an absent series, not a false 0).

A page hidden behind a CDN or bot challenge (status.claude.com has answered some clients with a CloudFront 405
HTML page since 2026-09-17) fails with reason ``blocked``: 403/405 with a body that is not JSON, or a 2xx HTML
challenge page. Another host serving the same page (anthropic.statuspage.io for Claude) is the fix.

Component filters match the way people write them: case-insensitively, and a name such as
``Claude API (api.anthropic.com)`` also answers to its part before `` (``, ``Claude API``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter import contract
from exporter.config import StatuspageSource
from exporter.http import ApiClient, ApiError
from exporter.providers.base import ProviderBase, json_object, require
from exporter.samples import MetricSet

log = logging.getLogger(__name__)

PATH = "/api/v2/summary.json"
INDICATORS = ("none", "minor", "major", "critical", "maintenance", "unknown")
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
    "unknown",
)
IMPACTS = ("none", "minor", "major", "critical")
RESOLVED_STATES = frozenset({"resolved", "postmortem", "completed"})
# When one label stands for several components (duplicate names in one group), the worst status wins.
_SEVERITY = {
    "operational": 0,
    "under_maintenance": 1,
    "unknown": 2,
    "degraded_performance": 3,
    "partial_outage": 4,
    "major_outage": 5,
}
GROUP_SEPARATOR = " / "
#: Markers of a CDN or bot challenge page served instead of the JSON (CloudFront, Cloudflare, Akamai...).
CHALLENGE_MARKERS = ("challenge", "captcha", "cloudfront", "cf-chl", "attention required", "access denied")
BLOCKED_STATUSES = frozenset({403, 405})


@dataclass
class Summary:
    """What a summary.json says, reduced to bounded values."""

    indicator: str
    components: dict[str, str]
    incidents: dict[str, int] | None  # None: the page has no incidents list (incident.io compat)
    unmatched: list[str] = field(default_factory=list)  # filter entries that matched no component


@dataclass
class _Component:
    id: str
    name: str
    status: str
    group: str  # the group's name, or "" for a top-level component


def _components(items: list[Any]) -> list[_Component]:
    groups: dict[str, str] = {}
    leaves: list[tuple[dict[str, Any], str]] = []
    for i, item in enumerate(items):
        at = f"{PATH}: components[{i}]"
        name = require(item, "name", str, at)
        if item.get("group") is True:
            groups[str(item.get("id", ""))] = name
            continue
        leaves.append((item, at))
    out = []
    for item, at in leaves:
        status = require(item, "status", str, at)
        group_id = item.get("group_id")
        out.append(
            _Component(
                id=str(item.get("id", "")),
                name=item["name"].strip(),
                status=status if status in COMPONENT_STATUSES else "unknown",
                group=groups.get(str(group_id), "") if group_id else "",
            )
        )
    return out


def _label(comp: _Component, duplicated: set[str]) -> str:
    if comp.name in duplicated and comp.group:
        return f"{comp.group}{GROUP_SEPARATOR}{comp.name}"
    return comp.name


def short_name(name: str) -> str:
    """A component name without its parenthesised suffix: ``Claude API (api.anthropic.com)`` -> ``Claude API``."""
    head, sep, _ = name.partition(" (")
    return head.strip() if sep and head.strip() else name


def _selected(comp: _Component, label: str, wanted: dict[str, str]) -> list[str]:
    """The filter entries (casefolded) that select this component: its name or the name's part before `` (``,
    its label, its group or its id."""
    keys = {comp.name.casefold(), short_name(comp.name).casefold(), label.casefold(), comp.id.casefold()}
    if comp.group:
        keys.add(comp.group.casefold())
    return [w for w in wanted if w in keys]


def parse_summary(data: Any, wanted: Sequence[str] = ()) -> Summary:
    """Parse a summary.json answer. ``wanted`` (component names, ``Group / Name`` labels, group names or ids)
    limits the components; empty means all. Raises ApiError('invalid_response') on a page of another shape.

    Required: ``page``, ``status.indicator`` and ``components`` (each with ``name`` and ``status``); everything
    else (``incidents``, ``scheduled_maintenances``, groups, time zone) is optional."""
    data = json_object(data, PATH)
    require(data, "page", dict, PATH)
    status = require(data, "status", dict, PATH)
    indicator = require(status, "indicator", str, f"{PATH}: status")
    if indicator not in INDICATORS:
        log.warning("status page indicator %r is not one of %s; exported as unknown", indicator[:40], INDICATORS)
        indicator = "unknown"
    comps = _components(require(data, "components", list, PATH))
    incidents_raw = require(data, "incidents", list, PATH) if data.get("incidents") is not None else None

    names = [c.name for c in comps]
    duplicated = {n for n in names if names.count(n) > 1}
    wanted_keys = {w.strip().casefold(): w for w in wanted if w.strip()}
    matched: set[str] = set()
    components: dict[str, str] = {}
    for comp in comps:
        label = _label(comp, duplicated)
        if wanted_keys:
            hits = _selected(comp, label, wanted_keys)
            if not hits:
                continue
            matched.update(hits)
        previous = components.get(label)
        if previous is None or _SEVERITY[comp.status] > _SEVERITY[previous]:
            components[label] = comp.status

    unmatched = [orig for key, orig in wanted_keys.items() if key not in matched]
    if incidents_raw is None:
        return Summary(indicator, components, None, unmatched)
    incidents = dict.fromkeys(IMPACTS, 0)
    for i, incident in enumerate(incidents_raw):
        at = f"{PATH}: incidents[{i}]"
        if not isinstance(incident, dict):
            raise ApiError("invalid_response", f"{at} is a {type(incident).__name__}, not an object")
        state = incident.get("status")
        if (isinstance(state, str) and state in RESOLVED_STATES) or incident.get("resolved_at"):
            continue
        impact = incident.get("impact")
        impact = impact if isinstance(impact, str) and impact in IMPACTS else "unknown"
        incidents[impact] = incidents.get(impact, 0) + 1
    return Summary(indicator, components, incidents, unmatched)


def _one_hot(
    ms: MetricSet, family: contract.Family, label: str, states: Iterable[str], current: str, **labels: str
) -> None:
    for state in states:
        ms.set(family, 1.0 if state == current else 0.0, **labels, **{label: state})


def summary_metrics(summary: Summary) -> MetricSet:
    ms = MetricSet()
    _one_hot(ms, contract.STATUS_INDICATOR, "indicator", INDICATORS, summary.indicator)
    for name, status in summary.components.items():
        _one_hot(ms, contract.STATUS_COMPONENT, "status", COMPONENT_STATUSES, status, component=name)
    for impact, count in (summary.incidents or {}).items():
        if impact in IMPACTS or count:
            ms.set(contract.STATUS_INCIDENTS_OPEN, float(count), impact=impact)
    return ms


def unknown_metrics(components: Iterable[str]) -> MetricSet:
    """The "page unreadable" state: indicator and every known component at unknown, no outage, no incidents."""
    ms = MetricSet()
    _one_hot(ms, contract.STATUS_INDICATOR, "indicator", INDICATORS, "unknown")
    for name in components:
        _one_hot(ms, contract.STATUS_COMPONENT, "status", COMPONENT_STATUSES, "unknown", component=name)
    return ms


def looks_like_challenge(content_type: str, body: str) -> bool:
    """True for an HTML page that is a CDN or bot challenge rather than a status page (or its error page)."""
    if "json" in content_type.lower():
        return False
    text = body[:4096].casefold()
    return any(marker in text for marker in CHALLENGE_MARKERS)


def fetch_summary(client: ApiClient, path: str) -> Any:
    """GET the summary; a challenge or an HTML refusal becomes ``ApiError('blocked')`` naming what to do."""
    hint = "the page is behind a CDN or bot challenge; use another host that serves it (see docs/sources.md)"
    try:
        resp = client.request("GET", path)
    except ApiError as exc:
        if exc.status in BLOCKED_STATUSES and "json" not in exc.content_type.lower():
            raise ApiError("blocked", f"{exc}; {hint}"[:300], status=exc.status) from None
        raise
    if looks_like_challenge(resp.headers.get("Content-Type", ""), resp.text):
        raise ApiError("blocked", f"GET {path}: HTTP {resp.status_code} challenge page instead of JSON; {hint}"[:300])
    return client.decode(resp, path)


class StatuspageProvider(ProviderBase[StatuspageSource]):
    def __init__(self, config: StatuspageSource) -> None:
        super().__init__(config)
        # Components to report as unknown when the page cannot be read: the last ones seen, or the filter.
        self.known_components: list[str] = list(config.components)
        self._warned_unmatched: tuple[str, ...] = ()

    def _path(self) -> str:
        # Someone pasting the full .../api/v2/summary.json URL as base_url gets what they meant.
        return "" if self.config.url.endswith(".json") else PATH

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        summary = parse_summary(fetch_summary(client, self._path()), self.config.components)
        unmatched = tuple(summary.unmatched)
        if unmatched != self._warned_unmatched:
            self._warned_unmatched = unmatched
            if unmatched:
                self.note = f"components filter entries match nothing on the page: {', '.join(unmatched)}"[:300]
                log.warning("source=%s %s", self.config.name, self.note)
            else:
                self.note = ""
        if summary.components or not self.config.components:
            self.known_components = list(summary.components)
        return summary_metrics(summary)

    def on_failure(self, error: ApiError) -> MetricSet | None:
        return unknown_metrics(self.known_components)


PROVIDER = StatuspageProvider
