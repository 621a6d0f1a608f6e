"""Simulated provider status pages: ``GET /status/{page}/api/v2/summary.json`` (and ``.../status.json``), in the
Atlassian Statuspage shape that incident.io pages also serve (see provider-apis.md section 5).

Pages (a status-page source's ``base_url`` is ``<simulator>/status/<page>``):

- ``openai``: incident.io's Atlassian-compatible JSON as status.openai.com serves it (recorded 2026-09-04): only
  ``page`` (ULID id, URL with a trailing slash, no ``time_zone``), ``status`` and ``components`` (ULID ids, no
  ``group``/``group_id``, "Login" twice); **no** ``incidents`` and no ``scheduled_maintenances`` lists (an opened
  incident shows in the indicator and the components only). ``shape: "legacy"`` serves the older grouped
  answer: groups ("APIs", "ChatGPT", "Sora") whose children carry ``group_id``, an ``incidents`` list with
  ``incident_updates[].body`` null, ``Z`` timestamps.
- ``anthropic``: the Claude page (Atlassian): page name "Claude", components named with their host in
  parentheses ("Claude API (api.anthropic.com)", "Claude Console (platform.claude.com)", "Claude Code", ...),
  UTC timestamps with milliseconds. ``shape: "legacy"`` serves the 2025 page: "Anthropic", "Claude API",
  "claude.ai", "Claude Code", timestamps with a local offset (``-07:00``).
- ``deepseek``: Atlassian, Chinese component names ("API 服务"), an upcoming scheduled maintenance.

All components are operational and no incident is open until changed. The indicator follows the worst of the open
incidents' impact and the components' states (degraded_performance -> minor, partial_outage -> major,
major_outage -> critical, under_maintenance -> maintenance) unless it is set explicitly.

Admin (fault switches are the shared ones under the provider key ``statuspage``; their error pages are HTML, as a
CDN sends them; ``POST /_sim/reset`` restores every page):

- ``GET /_sim/status``: each page's summary as served now.
- ``POST /_sim/status`` ``{"<page>": {...}}``, validated as a whole (a 400 changes nothing), keys:
  ``indicator`` (none | minor | major | critical | maintenance, or null to derive it again),
  ``components`` (``{"<name, Group / Name, or id>": "<status>"}``; a name used in several groups changes them
  all), ``incident`` (``{"impact": "major", "name": "...", "status": "investigating", "components": [...]}``:
  opens one more unresolved incident), ``resolve`` (true: resolve every open incident), ``operational`` (true:
  every component back to operational, indicator derived), ``broken`` (false, true or "html": answer 200 with
  an HTML page instead of JSON; "shape": JSON of another shape, as after a platform migration; "empty": an empty
  200 body; "challenge": a CloudFront 405 HTML challenge, as status.claude.com has answered some clients since
  2026-09-17), ``shape`` ("current" or "legacy", see the pages above). Components can be named by id, full name,
  the part of the name before " (", the legacy name or ``Group / Name``. Example: ``{"openai": {"indicator": "major", "components": {"Chat Completions": "major_outage"},
  "incident": {"impact": "major", "name": "Elevated errors on Chat Completions"}}}``.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, RootModel, StrictBool, model_validator

from exporter.httpserver import Request, Response
from exporter.simulator.admin import AdminModel
from exporter.simulator.admin import validate as admin_validate
from exporter.simulator.common import stable_random, with_faults

COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
INDICATORS = ("none", "minor", "major", "critical", "maintenance")
IMPACTS = ("none", "minor", "major", "critical")
INCIDENT_STATES = ("investigating", "identified", "monitoring")
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
    "maintenance": "Service Under Maintenance",
}
_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
_FROM_COMPONENT = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
BROKEN_MODES = ("html", "shape", "empty", "challenge")
SHAPES = ("current", "legacy")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass
class Component:
    id: str
    name: str
    group_id: str | None = None
    is_group: bool = False
    children: list[str] = field(default_factory=list)
    legacy_name: str = ""  # the name in the page's legacy shape, if it differs
    current_only: bool = False  # not on the page in its legacy shape

    def shown_name(self, shape: str) -> str:
        return self.legacy_name if shape == "legacy" and self.legacy_name else self.name

    def refs(self) -> set[str]:
        """Names an admin request may use for this component."""
        short = self.name.partition(" (")[0]
        return {self.id, self.name, short, *([self.legacy_name] if self.legacy_name else [])}


@dataclass
class PageSpec:
    name: str
    page_id: str
    url: str
    platform: str  # "incident.io" or "atlassian": shapes ids, timestamps and update bodies
    components: list[Component]
    tz_offset: str = "Z"  # how the page writes its timestamps
    legacy_name: str = ""  # page name in the legacy shape
    legacy_tz_offset: str = "Z"
    legacy_url: str = ""
    legacy_page_id: str = ""


def _ulid(seed: str) -> str:
    """A stable ULID-like id (incident.io style); the prefix dates it to 2025-02-25 like OpenAI's components."""
    return "01JMXB" + "".join(CROCKFORD[int(stable_random(0, seed, i) * 32)] for i in range(20))


def _atlassian_id(seed: str) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[int(stable_random(0, seed, i) * 36)] for i in range(12))


def _grouped(groups: list[tuple[str, str, list[tuple[str, str]]]]) -> list[Component]:
    out: list[Component] = []
    for group_name, group_id, children in groups:
        kids = [Component(cid, name, group_id=group_id) for name, cid in children]
        out.append(Component(group_id, group_name, is_group=True, children=[k.id for k in kids]))
        out.extend(kids)
    return out


def _openai() -> PageSpec:
    def kid(group: str, name: str) -> tuple[str, str]:
        return name, _ulid(f"openai:{group}:{name}")

    groups = [
        (
            "APIs",
            "01K5H8S53SY1KMS4GQMNMQM1K5",
            [
                kid("APIs", n)
                for n in (
                    "Responses",
                    "Chat Completions",
                    "Realtime",
                    "Batch",
                    "Files",
                    "Embeddings",
                    "Fine-tuning",
                    "Moderations",
                    "Audio",
                    "Image Generation",
                )
            ],
        ),
        (
            "ChatGPT",
            _ulid("openai:group:ChatGPT"),
            [("Conversations", "01JMXBNJXGV1T5GT2M9XA83XNG")]
            + [kid("ChatGPT", n) for n in ("Login", "Voice mode", "Deep Research", "File uploads")],
        ),
        ("Sora", _ulid("openai:group:Sora"), [kid("Sora", n) for n in ("Video generation", "Login")]),
    ]
    return PageSpec(
        "OpenAI",
        "01JMDK9XYNY6RXSED6SDWW50WY",
        "https://status.openai.com/",
        "incident.io",
        _grouped(groups),
        legacy_url="https://status.openai.com",
        legacy_page_id="01JMXB0000OPENAISTATUS0000",
    )


def _anthropic() -> PageSpec:
    comps = [
        Component("k8w3r06qmzrp", "Claude API (api.anthropic.com)", legacy_name="Claude API"),
        Component("rwppv331jlwc", "claude.ai"),
        Component("0qbwn08sd68x", "Claude Console (platform.claude.com)", current_only=True),
        Component("yyzkbfz2thpt", "Claude Code"),
        Component("3k4p5c2vfhwd", "Claude Cowork", current_only=True),
        Component("x1g6yq3j0t8n", "Claude for Government", current_only=True),
    ]
    return PageSpec(
        "Claude",
        "tymt9n04zgry",
        "https://status.claude.com",
        "atlassian",
        comps,
        "Z",
        legacy_name="Anthropic",
        legacy_tz_offset="-07:00",
    )


def _deepseek() -> PageSpec:
    comps = [Component("j4n367d9mh3x", "API 服务"), Component(_atlassian_id("deepseek:web"), "网页对话服务")]
    return PageSpec(
        "DeepSeek",
        _atlassian_id("deepseek:page"),
        "https://status.deepseek.com",
        "atlassian",
        comps,
        "+08:00",
        legacy_tz_offset="+08:00",
    )


SPECS = {"openai": _openai(), "anthropic": _anthropic(), "deepseek": _deepseek()}


@dataclass
class PageState:
    statuses: dict[str, str]  # component id -> status
    indicator: str | None = None  # None: derived
    incidents: list[dict[str, Any]] = field(default_factory=list)  # open ones
    broken: str = ""
    shape: str = "current"


def default_states() -> dict[str, PageState]:
    return {
        name: PageState({c.id: "operational" for c in spec.components if not c.is_group})
        for name, spec in SPECS.items()
    }


# --- rendering ------------------------------------------------------------------------------------------------------
def _ts(when: datetime, offset: str) -> str:
    """A timestamp the way the page writes them: ``...Z`` or a local offset such as ``-07:00``."""
    if offset == "Z":
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    local = when.astimezone(UTC) + sign * timedelta(hours=hours, minutes=minutes)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}{offset}"


def derived_indicator(state: PageState) -> str:
    if state.indicator:
        return state.indicator
    worst = "none"
    for status in state.statuses.values():
        candidate = _FROM_COMPONENT[status]
        if _RANK[candidate] > _RANK[worst]:
            worst = candidate
    for incident in state.incidents:
        if _RANK[incident["impact"]] > _RANK[worst]:
            worst = incident["impact"]
    return worst


def _group_status(spec: PageSpec, state: PageState, comp: Component) -> str:
    order = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
    kids = [state.statuses[k] for k in comp.children]
    return max(kids, key=order.index) if kids else "operational"


def summary(name: str, state: PageState, now: float) -> dict[str, Any]:
    """The summary.json the page serves now, in the state's shape."""
    spec = SPECS[name]
    legacy = state.shape == "legacy"
    compat = spec.platform == "incident.io" and not legacy  # incident.io's current compat JSON: no groups
    offset = spec.legacy_tz_offset if legacy else spec.tz_offset
    created = datetime(2025, 2, 25, 14, 48, 27, 56000, tzinfo=UTC)
    when = datetime.fromtimestamp(now, UTC)
    components = []
    shown = [c for c in spec.components if not (legacy and c.current_only) and not (compat and c.is_group)]
    for pos, comp in enumerate(shown, start=1):
        status = _group_status(spec, state, comp) if comp.is_group else state.statuses[comp.id]
        item: dict[str, Any] = {
            "id": comp.id,
            "name": comp.shown_name(state.shape),
            "status": status,
            "created_at": _ts(created, offset),
            "updated_at": _ts(when - timedelta(minutes=pos), offset),
            "position": pos,
            "description": None,
            "showcase": not comp.is_group,
            "start_date": None,
        }
        if not compat:
            item |= {
                "group_id": comp.group_id,
                "page_id": spec.page_id,
                "group": comp.is_group,
                "only_show_if_degraded": False,
                **({"components": list(comp.children)} if comp.is_group else {}),
            }
        components.append(item)
    indicator = derived_indicator(state)
    page: dict[str, Any] = {
        "id": (spec.legacy_page_id or spec.page_id) if legacy else spec.page_id,
        "name": (spec.legacy_name or spec.name) if legacy else spec.name,
        "url": (spec.legacy_url or spec.url) if legacy else spec.url,
        "updated_at": _ts(when, offset),
    }
    if not compat:
        page["time_zone"] = "Etc/UTC"
    data: dict[str, Any] = {"page": page, "components": components}
    if not compat:
        data["incidents"] = [_render_incident(spec, inc, state.shape) for inc in state.incidents]
        data["scheduled_maintenances"] = _maintenances(name, spec, when)
    data["status"] = {"indicator": indicator, "description": DESCRIPTIONS[indicator]}
    return data


def _render_incident(spec: PageSpec, inc: dict[str, Any], shape: str) -> dict[str, Any]:
    opened = datetime.fromtimestamp(inc["opened"], UTC)
    offset = spec.legacy_tz_offset if shape == "legacy" else spec.tz_offset
    affected = [
        {"code": c.id, "name": c.shown_name(shape), "old_status": "operational", "new_status": inc["component_status"]}
        for c in spec.components
        if c.id in inc["components"]
    ]
    # incident.io's compat JSON often has no update text; Atlassian pages always do.
    body = None if spec.platform == "incident.io" else f"We are investigating: {inc['name']}."
    return {
        "id": inc["id"],
        "name": inc["name"],
        "status": inc["status"],
        "impact": inc["impact"],
        "created_at": _ts(opened, offset),
        "updated_at": _ts(opened, offset),
        "monitoring_at": None,
        "resolved_at": None,
        "started_at": _ts(opened, offset),
        "shortlink": f"https://stspg.io/{inc['id'][-7:].lower()}",
        "page_id": spec.page_id,
        "incident_updates": [
            {
                "id": inc["id"] + "u1",
                "incident_id": inc["id"],
                "status": inc["status"],
                "body": body,
                "created_at": _ts(opened, offset),
                "updated_at": _ts(opened, offset),
                "display_at": _ts(opened, offset),
                "affected_components": affected,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        ],
        "components": [
            {"id": c.id, "name": c.shown_name(shape), "status": inc["component_status"]}
            for c in spec.components
            if c.id in inc["components"]
        ],
    }


def _maintenances(name: str, spec: PageSpec, when: datetime) -> list[dict[str, Any]]:
    if name != "deepseek":
        return []
    start = (when + timedelta(days=3)).replace(hour=2, minute=0, second=0, microsecond=0)
    return [
        {
            "id": _atlassian_id("deepseek:maint"),
            "name": "API 服务例行维护 (Routine API maintenance)",
            "status": "scheduled",
            "impact": "maintenance",
            "scheduled_for": _ts(start, spec.tz_offset),
            "scheduled_until": _ts(start + timedelta(hours=1), spec.tz_offset),
            "incident_updates": [],
            "components": [{"id": "j4n367d9mh3x", "name": "API 服务", "status": "operational"}],
        }
    ]


CHALLENGE_HTML = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<html><head><title>ERROR: The request could '
    b"not be satisfied</title></head><body><h1>405 ERROR</h1><h2>The request could not be satisfied.</h2>"
    b"<p>This distribution is not configured to allow the HTTP request method that was used for this request, or "
    b"the client did not pass the challenge.</p><p>Generated by cloudfront (CloudFront)</p></body></html>\n"
)
BROKEN_HTML = (
    b'<!DOCTYPE html>\n<html><head><title>Status</title></head><body>\n<div id="app">Loading status'
    b'\xe2\x80\xa6</div>\n<script src="/static/app.js"></script>\n</body></html>\n'
)


def broken_answer(mode: str) -> Response:
    if mode == "shape":  # what a page answers after moving platform (a Cloudflare-style v3 summary, say)
        return Response.json({"success": True, "result": {"status": {"indicator": "none"}, "components": None}})
    if mode == "empty":
        return Response(200, b"", {}, "application/json")
    if mode == "challenge":
        return Response(405, CHALLENGE_HTML, {"Server": "CloudFront", "X-Cache": "Error from cloudfront"}, "text/html")
    return Response(200, BROKEN_HTML, {}, "text/html; charset=utf-8")


def html_error(status: int, req: Request | None = None) -> Response:
    body = f"<html><head><title>{status}</title></head><body><h1>{status} Service Unavailable</h1></body></html>"
    return Response(status, body.encode(), {}, "text/html; charset=utf-8")


# --- admin ----------------------------------------------------------------------------------------------------------
def _one_of(values: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"expected one of {', '.join(values)}")
        return value

    return AfterValidator(check)


ComponentStatus = Annotated[str, _one_of(COMPONENT_STATUSES)]


class IncidentChanges(AdminModel):
    """An incident to open on a page (its components by id, name or ``Group / name``)."""

    impact: Annotated[str, _one_of(IMPACTS)] = "minor"
    status: Annotated[str, _one_of(INCIDENT_STATES)] = "investigating"  # an open incident
    name: Annotated[str, Field(min_length=1, pattern=r"\S")] | None = None
    components: list[str] = Field(default_factory=list)
    component_status: ComponentStatus = "partial_outage"


class PageChanges(AdminModel):
    """What ``/_sim/status`` may change on one page."""

    indicator: Annotated[str, _one_of(INDICATORS)] | None = None  # null: computed from the components
    components: dict[str, ComponentStatus] | None = None
    incident: IncidentChanges | None = None
    resolve: StrictBool | None = None
    operational: StrictBool | None = None
    broken: StrictBool | Annotated[str, _one_of(BROKEN_MODES)] | None = None
    shape: Annotated[str, _one_of(SHAPES)] | None = None  # current (2026) or legacy answer shape


class StatusChanges(RootModel[dict[str, PageChanges]]):
    """``/_sim/status``: page -> changes."""

    @model_validator(mode="after")
    def _known_pages(self) -> StatusChanges:
        if not self.root:
            raise ValueError('expected changes, e.g. {"openai": {"indicator": "major"}}')
        unknown = sorted(set(self.root) - set(SPECS))
        if unknown:
            raise ValueError(f"unknown page(s) {unknown}; pages: {', '.join(SPECS)}")
        return self


def _resolve_components(spec: PageSpec, ref: str, where: str) -> list[str]:
    ids = [c.id for c in spec.components if not c.is_group and ref in c.refs()]
    groups = {c.id: c.name for c in spec.components if c.is_group}
    ids += [
        c.id for c in spec.components if not c.is_group and c.group_id and ref == f"{groups.get(c.group_id)} / {c.name}"
    ]
    if not ids:
        names = sorted({c.name for c in spec.components if not c.is_group})
        raise ValueError(f"{where}: no component {ref!r}; components: {', '.join(names)}")
    return ids


def validate(body: Any) -> dict[str, dict[str, Any]]:
    """Check a whole admin request; returns page -> normalised changes. Raises BadBody (a ValueError)."""
    out: dict[str, dict[str, Any]] = {}
    for page, c in admin_validate(StatusChanges, body).root.items():
        spec = SPECS[page]
        norm: dict[str, Any] = {}
        if "indicator" in c.model_fields_set:
            norm["indicator"] = c.indicator
        if c.components is not None:
            statuses: dict[str, str] = {}
            for ref, status in c.components.items():
                for cid in _resolve_components(spec, ref, f"{page}.components"):
                    statuses[cid] = status
            norm["components"] = statuses
        if c.incident is not None:
            inc = c.incident
            norm["incident"] = {
                "impact": inc.impact,
                "status": inc.status,
                "name": (inc.name or f"Elevated error rates ({inc.impact})").strip(),
                "components": [
                    cid
                    for ref in inc.components
                    for cid in _resolve_components(spec, ref, f"{page}.incident.components")
                ],
                "component_status": inc.component_status,
            }
        for flag in ("resolve", "operational"):
            if getattr(c, flag) is not None:
                norm[flag] = getattr(c, flag)
        if c.broken is not None:
            norm["broken"] = "html" if c.broken is True else (c.broken or "")
        if c.shape is not None:
            norm["shape"] = c.shape
        out[page] = norm
    return out


def apply(states: dict[str, PageState], changes: dict[str, dict[str, Any]], now: float) -> dict[str, PageState]:
    out = copy.deepcopy(states)
    for page, c in changes.items():
        st = out[page]
        if c.get("operational"):
            st.statuses = dict.fromkeys(st.statuses, "operational")
            st.indicator = None
        if "indicator" in c:
            st.indicator = c["indicator"]
        if c.get("resolve"):
            # Resolving brings the components the incidents took down back (as a status page operator does).
            for incident in st.incidents:
                for cid in incident["components"]:
                    st.statuses[cid] = "operational"
            st.incidents = []
        if "incident" in c:
            serial = len(st.incidents) + 1
            ident = (_ulid if SPECS[page].platform == "incident.io" else _atlassian_id)(f"{page}:inc:{now}:{serial}")
            st.incidents.append({"id": ident, "opened": now, **c["incident"]})
            for cid in c["incident"]["components"]:
                st.statuses[cid] = c["incident"]["component_status"]
        st.statuses.update(c.get("components", {}))  # explicit states win over what an incident implies
        if "broken" in c:
            st.broken = c["broken"]
        if "shape" in c:
            st.shape = c["shape"]
    return out


def register(sim: Any) -> None:
    lock = threading.Lock()
    box = {"pages": default_states()}

    def reset() -> None:
        with lock:
            box["pages"] = default_states()

    sim.resetters.append(reset)
    r = sim.router

    def current(page: str) -> PageState | None:
        with lock:
            return box["pages"].get(page)

    @r.route("GET", "/status/{page}/api/v2/summary.json")
    @with_faults(sim, "statuspage", html_error)
    def summary_json(req: Request) -> Response:
        state = current(req.params["page"])
        if state is None:
            return Response(404, b"<html><body>Page not found</body></html>", {}, "text/html; charset=utf-8")
        if state.broken:
            return broken_answer(state.broken)
        return Response.json(summary(req.params["page"], state, sim.clock()))

    @r.route("GET", "/status/{page}/api/v2/status.json")
    @with_faults(sim, "statuspage", html_error)
    def status_json(req: Request) -> Response:
        state = current(req.params["page"])
        if state is None:
            return Response(404, b"<html><body>Page not found</body></html>", {}, "text/html; charset=utf-8")
        if state.broken:
            return broken_answer(state.broken)
        full = summary(req.params["page"], state, sim.clock())
        return Response.json({"page": full["page"], "status": full["status"]})

    @r.route("GET", "/_sim/status")
    def get_status(req: Request) -> Response:
        with lock:
            pages = box["pages"]
        now = sim.clock()
        return Response.json(
            {name: {"broken": st.broken or False, "summary": summary(name, st, now)} for name, st in pages.items()}
        )

    @r.route("POST", "/_sim/status")
    def set_status(req: Request) -> Response:
        try:
            changes = validate(req.json())
        except (ValueError, UnicodeDecodeError) as exc:
            return Response.json({"error": str(exc)}, 400)
        with lock:
            box["pages"] = apply(box["pages"], changes, sim.clock())
            pages = box["pages"]
        now = sim.clock()
        return Response.json(
            {
                name: {"broken": pages[name].broken or False, "summary": summary(name, pages[name], now)}
                for name in changes
            }
        )
