"""Independent expectations for the usage/cost tests: fetch the simulator's raw JSON pages like any API client
and sum them per series, without any exporter code, following the mapping the docs promise.

The exported values must equal these sums. Everything here is deliberately written from the provider docs
(provider-apis.md) and docs/usage-and-cost.md, not from exporter.providers, so a mapping bug cannot cancel out.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from helpers import Metrics

from exporter.simulator import Simulator

DEMO_KEY = "llmpulse-demo-key"
OPENAI_AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
ANTHROPIC_AUTH = {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"}
OPENAI_USAGE = ("completions", "embeddings", "moderations", "images", "audio_speeches", "audio_transcriptions")
OPENAI_FIELDS = {"project": "project_id", "model": "model", "api_key": "api_key_id", "user": "user_id"}
ANTHROPIC_FIELDS = {"project": "workspace_id", "model": "model", "api_key": "api_key_id"}
USAGE_FAMILIES = (
    "llmpulse_usage_requests_total",
    "llmpulse_usage_tokens_total",
    "llmpulse_usage_units_total",
    "llmpulse_cost_usd_total",
)

Series = tuple[str, frozenset[tuple[str, str]]]


def month_start() -> datetime:
    now = datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class FrozenSimulator:
    """A simulator whose clock stands still, so its data cannot change while a test compares values.

    The clock is now, but at least 3.5 days into the month: the exporter asks for the month so far (from the real
    month start, with no end), so it gets those days whatever the time of month, and every stream of the simulated
    organizations has had traffic by then (at 00:05 on the 1st only the busy ones have).
    """

    def __init__(self, **kwargs: Any) -> None:
        frozen = max(time.time(), month_start().timestamp() + 3.5 * 86400)
        self.server = Simulator(seed=42, clock=lambda: frozen, **kwargs).serve("127.0.0.1", 0)
        self.url = self.server.url

    def faults(self, spec: dict[str, Any]) -> None:
        requests.post(f"{self.url}/_sim/faults", json=spec, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sim/faults", timeout=5).raise_for_status()

    def requests_log(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/_sim/usage", timeout=5).json()["requests"])

    def stop(self) -> None:
        self.server.stop()


def frozen_simulator() -> Iterator[FrozenSimulator]:
    """A :class:`FrozenSimulator` for one test. A module that compares numbers makes it its simulator fixture with
    ``simulator = pytest.fixture(frozen_simulator, name="simulator")``, overriding conftest's moving clock."""
    running = FrozenSimulator()
    try:
        yield running
    finally:
        running.stop()


def pages(
    url: str, params: list[tuple[str, Any]], headers: dict[str, str], cursor: str = "page"
) -> Iterator[dict[str, Any]]:
    """Every page of a paginated endpoint; fails on a repeated cursor."""
    seen: set[str] = set()
    token: str | None = None
    while True:
        resp = requests.get(url, params=[*params, *([(cursor, token)] if token else [])], headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        yield page
        if not page["has_more"]:
            return
        token = page["next_page"]
        assert token and token not in seen
        seen.add(token)


def _label(value: Any, null_as: str) -> str:
    return null_as if value is None else str(value)


def openai_expected(
    sim_url: str,
    group_by: Sequence[str] = ("project", "model"),
    limit: int = 7,
    window: tuple[datetime, datetime] | None = None,
) -> dict[Series, Decimal]:
    """Month-to-date sums from the simulator's OpenAI pages (plain repeated ``group_by`` keys); with ``window``,
    the sums over ``[start, end)`` instead."""
    start = int((window[0] if window else month_start()).timestamp())
    end = [("end_time", int(window[1].timestamp()))] if window else []
    sums: dict[Series, Decimal] = defaultdict(Decimal)

    def labels_of(result: dict[str, Any]) -> dict[str, str]:
        # Real grouped results may lack a dimension key altogether; absent reads like null.
        out = {
            "project": _label(result.get("project_id"), "unknown") if "project" in group_by else "all",
            "model": _label(result.get("model"), "unknown") if "model" in group_by else "all",
        }
        for word in ("api_key", "user"):
            if word in group_by:
                out[word] = _label(result.get(OPENAI_FIELDS[word]), "unknown")
        return out

    def add(name: str, value: Any, **labels: str) -> None:
        sums[(name, frozenset(labels.items()))] += Decimal(repr(value)) if isinstance(value, float) else Decimal(value)

    fields = [OPENAI_FIELDS[w] for w in group_by]
    for endpoint in OPENAI_USAGE:
        params = [
            ("start_time", start),
            *end,
            ("bucket_width", "1d"),
            ("limit", limit),
            *[("group_by", f) for f in fields],
        ]
        for page in pages(f"{sim_url}/v1/organization/usage/{endpoint}", params, OPENAI_AUTH):
            for bucket in page["data"]:
                for r in bucket["results"]:
                    lab = labels_of(r)
                    add("llmpulse_usage_requests_total", r["num_model_requests"], **lab)
                    if endpoint == "completions":
                        add("llmpulse_usage_tokens_total", r["input_tokens"], token_type="input", **lab)
                        add(
                            "llmpulse_usage_tokens_total",
                            r.get("input_cached_tokens", 0),
                            token_type="cached_input",
                            **lab,
                        )
                        add(
                            "llmpulse_usage_tokens_total",
                            r.get("input_cache_write_tokens", 0),
                            token_type="cache_write_input",
                            **lab,
                        )
                        add("llmpulse_usage_tokens_total", r["output_tokens"], token_type="output", **lab)
                        add(
                            "llmpulse_usage_tokens_total",
                            r.get("input_audio_tokens", 0) + r.get("input_cached_audio_tokens", 0),
                            token_type="input_audio",
                            **lab,
                        )
                        add(
                            "llmpulse_usage_tokens_total",
                            r.get("output_audio_tokens", 0),
                            token_type="output_audio",
                            **lab,
                        )
                    elif endpoint in ("embeddings", "moderations"):
                        add("llmpulse_usage_tokens_total", r["input_tokens"], token_type="input", **lab)
                    else:
                        unit = {"images": "images", "audio_speeches": "characters", "audio_transcriptions": "seconds"}[
                            endpoint
                        ]
                        add("llmpulse_usage_units_total", r[unit], unit=unit, **lab)
    cost_fields = ["project_id", "line_item", *(["api_key_id"] if "api_key" in group_by else [])]
    params = [("start_time", start), *end, ("limit", limit), *[("group_by", f) for f in cost_fields]]
    for page in pages(f"{sim_url}/v1/organization/costs", params, OPENAI_AUTH):
        for bucket in page["data"]:
            for r in bucket["results"]:
                assert r["amount"]["currency"] == "usd"
                lab = {
                    "project": _label(r.get("project_id"), "unknown"),
                    "line_item": _label(r.get("line_item"), "unknown"),
                }
                if "api_key" in group_by:
                    lab["api_key"] = _label(r.get("api_key_id"), "unknown")
                add("llmpulse_cost_usd_total", r["amount"]["value"], **lab)
    return dict(sums)


def anthropic_expected(
    sim_url: str,
    group_by: Sequence[str] = ("project", "model"),
    limit: int = 7,
    window: tuple[datetime, datetime] | None = None,
) -> dict[Series, Decimal]:
    """Month-to-date sums from the simulator's Anthropic pages; cost cents converted to dollars. With ``window``,
    the sums over ``[start, end)`` instead."""
    start = (window[0] if window else month_start()).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = [("ending_at", window[1].strftime("%Y-%m-%dT%H:%M:%SZ"))] if window else []
    sums: dict[Series, Decimal] = defaultdict(Decimal)
    fields = [ANTHROPIC_FIELDS[w] for w in group_by]
    params = [
        ("starting_at", start),
        *end,
        ("bucket_width", "1d"),
        ("limit", limit),
        *[("group_by[]", f) for f in fields],
    ]
    for page in pages(f"{sim_url}/v1/organizations/usage_report/messages", params, ANTHROPIC_AUTH):
        for bucket in page["data"]:
            for r in bucket["results"]:
                lab = {
                    "project": _label(r["workspace_id"], "default") if "project" in group_by else "all",
                    "model": _label(r["model"], "unknown") if "model" in group_by else "all",
                }
                if "api_key" in group_by:
                    lab["api_key"] = _label(r["api_key_id"], "console")
                writes = sum(Decimal(v) for v in r["cache_creation"].values())
                read = Decimal(r["cache_read_input_tokens"])
                tokens = {
                    "input": Decimal(r["uncached_input_tokens"]) + writes + read,
                    "cached_input": read,
                    "cache_write_input": writes,
                    "output": Decimal(r["output_tokens"]),
                }
                for token_type, value in tokens.items():
                    sums[("llmpulse_usage_tokens_total", frozenset({**lab, "token_type": token_type}.items()))] += value
                for unit, value in r["server_tool_use"].items():
                    sums[("llmpulse_usage_units_total", frozenset({**lab, "unit": unit}.items()))] += Decimal(value)
    params = [
        ("starting_at", start),
        *end,
        ("limit", min(limit, 31)),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
    ]
    for page in pages(f"{sim_url}/v1/organizations/cost_report", params, ANTHROPIC_AUTH):
        for bucket in page["data"]:
            for r in bucket["results"]:
                assert r["currency"] == "USD" and isinstance(r["amount"], str)
                lab = {"project": _label(r["workspace_id"], "default"), "line_item": r["description"]}
                sums[("llmpulse_cost_usd_total", frozenset(lab.items()))] += Decimal(r["amount"]) / 100
    return dict(sums)


def exported(metrics: Metrics, source: str) -> dict[Series, float]:
    """The usage/cost series one source exports, without provider/source labels."""
    out: dict[Series, float] = {}
    for name, labels, value in metrics.samples:
        if name in USAGE_FAMILIES and labels.get("source") == source:
            rest = {k: v for k, v in labels.items() if k not in ("provider", "source")}
            out[(name, frozenset(rest.items()))] = value
    return out


def wait_equal(proc: Any, source: str, expected: Callable[[], dict[Series, Decimal]]) -> None:
    """Scrape until the exporter's numbers for ``source`` equal ``expected()`` (the sums of the simulator's pages),
    i.e. until it has polled; fail listing the differences, not the whole exposition."""
    last: list[str] = []

    def equal(m: Metrics) -> bool:
        last[:] = mismatches(m, source, expected())
        return not last

    try:
        proc.wait_for(equal, timeout=30, what="exported == simulated sums")
    except AssertionError:
        raise AssertionError("\n".join(last[:20])) from None


def mismatches(metrics: Metrics, source: str, expected: dict[Series, Decimal]) -> list[str]:
    """Differences between exported and expected series (empty = equal, same series set)."""
    return compare_series(exported(metrics, source), expected)


def compare_series(got: dict[Series, float], expected: dict[Series, Decimal], what: str = "exported") -> list[str]:
    """Differences between series values read somewhere (``what``) and the expected exact sums."""
    problems = []
    for key in sorted(set(got) | set(expected), key=repr):
        if key not in got:
            problems.append(f"missing {key}")
        elif key not in expected:
            problems.append(f"unexpected {key} = {got[key]}")
        elif got[key] != pytest.approx(float(expected[key]), rel=1e-9, abs=1e-9):
            problems.append(f"{key}: {what} {got[key]} != expected {expected[key]}")
    return problems
