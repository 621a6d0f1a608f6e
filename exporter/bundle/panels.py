"""Grafana panel factories with the house defaults (grafana-foundation-sdk's ``default_timeseries()`` habit).

Every factory takes a title, a description and a unit, because every panel must have them (the lint tests check
it), and returns the panel as plain JSON-ready data with the templated datasource. Layout (``gridPos``) and ids
are assigned later by :func:`layout`, so a board module only says what goes next to what.

Only current panel types are used: timeseries, stat, gauge, bargauge, table, heatmap and state-timeline (the
Angular ``graph``/``singlestat``/``table-old`` panels are removed in Grafana 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DATASOURCE_UID = "llmpulse-prometheus"
ALERTMANAGER_UID = "llmpulse-alertmanager"
#: Panels and targets reference the dashboard's datasource variable, never a fixed uid (panel-datasource-rule).
DS = {"type": "prometheus", "uid": "${datasource}"}

Panel = dict[str, Any]
Step = tuple[str, float | None]

GREEN_ONLY: list[Step] = [("green", None)]


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel. ``instant`` for tables, bar gauges and range totals (one value per series)."""

    expr: str
    legend: str = "__auto"
    instant: bool = False
    fmt: str = "time_series"
    interval: str = ""

    def json(self, ref_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "datasource": DS,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.fmt,
            "instant": self.instant,
            "legendFormat": self.legend,
            "range": not self.instant,
            "refId": ref_id,
        }
        if self.interval:
            data["interval"] = self.interval
        return data


def target(expr: str, legend: str = "__auto", **kwargs: Any) -> Target:
    return Target(expr, legend, **kwargs)


def thresholds(steps: Sequence[Step]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def value_text(mapping: dict[float, tuple[str, str]]) -> list[dict[str, Any]]:
    """Value mappings ``{value: (text, color)}`` in one mapping object (Grafana's "value" type)."""
    options = {
        floatkey(v): {"color": c, "index": i, "text": text} for i, (v, (text, c)) in enumerate(sorted(mapping.items()))
    }
    return [{"options": options, "type": "value"}]


def range_text(start: float | None, end: float | None, text: str, color: str) -> dict[str, Any]:
    return {
        "options": {"from": start, "result": {"color": color, "index": 0, "text": text}, "to": end},
        "type": "range",
    }


def floatkey(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _panel(
    kind: str,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Target],
    *,
    steps: Sequence[Step] = GREEN_ONLY,
    color_mode: str = "thresholds",
    mappings: list[Any] | None = None,
    decimals: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    custom: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    overrides: list[Any] | None = None,
    links: list[Any] | None = None,
    interval: str = "",
    transformations: list[Any] | None = None,
) -> Panel:
    if not title or not description or not unit:
        raise ValueError(f"panel {title!r}: title, description and unit are required")
    defaults: dict[str, Any] = {
        "color": {"mode": color_mode},
        "mappings": mappings or [],
        "thresholds": thresholds(steps),
        "unit": unit,
    }
    if custom is not None:
        defaults["custom"] = custom
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    panel: Panel = {
        "datasource": DS,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "targets": [tg.json(chr(ord("A") + i)) for i, tg in enumerate(targets)],
        "title": title,
        "type": kind,
    }
    if links:
        panel["links"] = links
    if interval:
        panel["interval"] = interval
    if transformations:
        panel["transformations"] = transformations
    return panel


def _reduce(calcs: str = "lastNotNull") -> dict[str, Any]:
    return {"calcs": [calcs], "fields": "", "values": False}


def stat(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Target],
    *,
    graph: bool = False,
    text_mode: str = "auto",
    **kw: Any,
) -> Panel:
    options = {
        "colorMode": "value",
        "graphMode": "area" if graph else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": _reduce(),
        "showPercentChange": False,
        "textMode": text_mode,
        "wideLayout": True,
    }
    return _panel("stat", title, description, unit, targets, options=options, **kw)


def gauge(title: str, description: str, unit: str, targets: Sequence[Target], **kw: Any) -> Panel:
    options = {
        "minVizHeight": 75,
        "minVizWidth": 75,
        "orientation": "auto",
        "reduceOptions": _reduce(),
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
        "sizing": "auto",
    }
    return _panel("gauge", title, description, unit, targets, options=options, **kw)


def bargauge(title: str, description: str, unit: str, targets: Sequence[Target], **kw: Any) -> Panel:
    options = {
        "displayMode": "gradient",
        "maxVizHeight": 300,
        "minVizHeight": 16,
        "minVizWidth": 8,
        "namePlacement": "auto",
        "orientation": "horizontal",
        "reduceOptions": _reduce(),
        "showUnfilled": True,
        "sizing": "auto",
        "valueMode": "color",
    }
    return _panel("bargauge", title, description, unit, targets, options=options, **kw)


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Target],
    *,
    stack: bool = False,
    bars: bool = False,
    fill: int = 10,
    threshold_line: bool = False,
    soft_max: float | None = None,
    legend_calcs: Sequence[str] = ("lastNotNull", "max"),
    **kw: Any,
) -> Panel:
    custom: dict[str, Any] = {
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        "axisSoftMin": 0,
        "barAlignment": 0,
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 80 if bars else (60 if stack else fill),
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "pointSize": 4,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "line+area" if threshold_line else "off"},
    }
    if soft_max is not None:
        custom["axisSoftMax"] = soft_max
    options = {
        "legend": {"calcs": list(legend_calcs), "displayMode": "table", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    kw.setdefault("color_mode", "palette-classic")
    if threshold_line:
        kw.setdefault("steps", [("transparent", None)])
    return _panel("timeseries", title, description, unit, targets, custom=custom, options=options, **kw)


def table(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Target],
    *,
    columns: dict[str, str],
    per_column: dict[str, dict[str, Any]] | None = None,
    sort_by: str | None = None,
    descending: bool = True,
    **kw: Any,
) -> Panel:
    """A table of instant queries merged on their labels. ``columns`` renames ``Value #A``... and labels (in
    order; anything not named is hidden); ``per_column`` sets field properties such as a unit per column."""
    names = list(columns)
    organize = {
        "excludeByName": {"Time": True},
        "includeByName": {name: True for name in names},
        "indexByName": {name: i for i, name in enumerate(names)},
        "renameByName": {name: label for name, label in columns.items() if label != name},
    }
    overrides = [
        {
            "matcher": {"id": "byName", "options": columns.get(name, name)},
            "properties": [{"id": key, "value": value} for key, value in sorted(props.items())],
        }
        for name, props in (per_column or {}).items()
    ]
    options: dict[str, Any] = {
        "cellHeight": "sm",
        "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
        "showHeader": True,
    }
    if sort_by:
        options["sortBy"] = [{"desc": descending, "displayName": sort_by}]
    targets = [Target(tg.expr, tg.legend, instant=True, fmt="table") for tg in targets]
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    return _panel(
        "table",
        title,
        description,
        unit,
        targets,
        custom=custom,
        options=options,
        overrides=overrides,
        transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": organize}],
        **kw,
    )


def heatmap(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Target],
    *,
    y_unit: str = "short",
    buckets: bool = True,
    **kw: Any,
) -> Panel:
    """A heatmap of pre-bucketed data: Prometheus histogram buckets (``buckets``) or one row per series."""
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {
            "exponent": 0.5,
            "fill": "dark-orange",
            "mode": "scheme",
            "reverse": False,
            "scale": "exponential",
            "scheme": "Oranges",
            "steps": 64,
        },
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
        "legend": {"show": True},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": buckets},
        "yAxis": {"axisPlacement": "left", "reverse": False, "unit": y_unit},
    }
    custom = {"hideFrom": {"legend": False, "tooltip": False, "viz": False}, "scaleDistribution": {"type": "linear"}}
    targets = [
        Target(tg.expr, tg.legend, fmt="heatmap" if buckets else "time_series", interval=tg.interval) for tg in targets
    ]
    return _panel("heatmap", title, description, unit, targets, custom=custom, options=options, **kw)


def state_timeline(title: str, description: str, unit: str, targets: Sequence[Target], **kw: Any) -> Panel:
    options = {
        "alignValue": "left",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "mergeValues": True,
        "rowHeight": 0.9,
        "showValue": "auto",
        "tooltip": {"mode": "single", "sort": "none"},
    }
    custom = {"fillOpacity": 70, "hideFrom": {"legend": False, "tooltip": False, "viz": False}, "lineWidth": 0}
    return _panel("state-timeline", title, description, unit, targets, custom=custom, options=options, **kw)


def link(title: str, uid: str) -> dict[str, Any]:
    """A panel link to a sibling dashboard that keeps the time range and the variables."""
    return {"title": title, "url": f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}"}


# --------------------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------------------

GRID_WIDTH = 24

Row = tuple[int, Sequence[tuple[Panel, int]]]


def layout(rows: Sequence[Row]) -> list[Panel]:
    """Place rows of ``(panel, width)`` on Grafana's 24-column grid, top to bottom; number panels from 1."""
    panels: list[Panel] = []
    y = 0
    for height, cells in rows:
        if sum(w for _, w in cells) > GRID_WIDTH:
            raise ValueError(f"row at y={y} is wider than {GRID_WIDTH}")
        x = 0
        for panel, width in cells:
            placed = dict(panel, gridPos={"h": height, "w": width, "x": x, "y": y}, id=len(panels) + 1)
            panels.append(placed)
            x += width
        y += height
    return panels


def even(height: int, panels: Sequence[Panel]) -> Row:
    """A row of panels sharing the width evenly (the last one takes the remainder)."""
    width = GRID_WIDTH // len(panels)
    widths = [width] * (len(panels) - 1) + [GRID_WIDTH - width * (len(panels) - 1)]
    return height, list(zip(panels, widths, strict=True))
