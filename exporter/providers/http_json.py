"""``http_json``: poll any JSON endpoint and map its fields to gauges and counters (json_exporter style).

For analytics APIs llmpulse has no module for: a bot platform's daily metrics, Langfuse's daily metrics, an in-house
gateway's stats. One request per poll (``base_url`` + ``path``, method, params, headers, optional JSON body, auth),
then each configured metric reads its values by path (see :mod:`exporter.json_mapping`).

Decisions a user can rely on:

- **Families** are defined by the config (``families_for``), labelled ``provider``, ``source`` and the configured
  label names. Counters must end in ``_total`` and gauges must not (rejected at config time, never renamed behind
  the user's back); names of built-in llmpulse metrics are rejected too.
- **No date labels.** A per-day array is reduced (``select: last`` for the newest day, ``sum`` over a month...):
  a ``date`` label would create a new series every day, forever, and put a timestamp where Prometheus keeps its
  own. Label names such as ``date`` are refused at config time, and a label *value* that is a date drops the
  metric from the poll (counted as missing, logged).
- **Missing fields.** A metric whose path (or label path) is absent from the answer, or whose value is not a
  number, is counted in ``llmpulse_http_json_missing_values_total{metric}`` (once per poll) and logged when the
  problem first appears; the other metrics are still served. If *no* metric can be read at all, the answer is not
  the expected shape (typically an error envelope sent with HTTP 200) and the poll fails: the source goes down and
  keeps its last good data. ``expect: {code: 0}`` makes that check explicit.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from exporter import contract
from exporter import json_mapping as jm
from exporter.config import HttpJsonSource
from exporter.contract import Family
from exporter.http import ApiClient, ApiError, error_detail
from exporter.providers.base import ProviderBase
from exporter.samples import MetricSet

log = logging.getLogger(__name__)


def families_for(source: HttpJsonSource) -> list[Family]:
    """The families of an http_json source's ``metrics:`` (registered with the exposition at start)."""
    return [m.family for m in source.metrics]


def _compare(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or expected is None or isinstance(actual, bool):
        return actual is expected or (actual == expected and type(actual) is type(expected))
    if isinstance(expected, int | float):
        try:
            return jm.to_number(actual) == float(expected)
        except ValueError:
            return False
    return str(actual) == str(expected) if actual is not None else False


class HttpJsonProvider(ProviderBase[HttpJsonSource]):
    """Polls one JSON endpoint; the config's metrics say what to export."""

    month_to_date = False  # counters are whatever the upstream API says; Prometheus handles their resets

    def __init__(self, config: HttpJsonSource) -> None:
        super().__init__(config)
        self.families = {m.name: m.family for m in config.metrics}
        self.label_paths = {
            m.name: {name: jm.compile_path(p, label=True) for name, p in sorted(m.labels.items())}
            for m in config.metrics
        }
        self.missing = dict.fromkeys(self.families, 0.0)  # cumulative, exported on every successful poll
        self._last_problem: dict[str, str] = {}

    # -- request -------------------------------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        cfg = self.config
        out = {str(k): str(v) for k, v in cfg.headers.items()}
        key = cfg.api_key
        if cfg.auth.type == "bearer":
            out["Authorization"] = f"Bearer {key}"
        elif cfg.auth.type == "header":
            out[cfg.auth.header] = f"{cfg.auth.prefix}{key}"
        elif cfg.auth.type == "basic":
            pair = f"{cfg.auth.resolved_username}:{key}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return out

    def request_parts(self, now: datetime) -> tuple[str, dict[str, str], Any]:
        """Path, params and body of this poll's request, placeholders expanded in the source's time zone."""
        cfg = self.config
        local = jm.now_in(cfg.timezone, now)
        params = {k: jm.expand(str(v), local) for k, v in cfg.params.items()}
        body = jm.expand_all(cfg.body, local) if cfg.body is not None else None
        return jm.expand(cfg.path, local), params, body

    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        path, params, body = self.request_parts(now)
        resp = client.request(self.config.method, path, params=params or None, json_body=body)
        doc = client.decode(resp, path or "/")
        self.check_expect(doc, resp.text)
        return self.map_answer(doc, now)

    def check_expect(self, doc: Any, text: str) -> None:
        """Fail the poll when the answer does not carry the configured success markers (``expect``)."""
        for path, want in self.config.expect.items():
            got = jm._lookup(doc, [s for s in jm.compile_path(path).steps if isinstance(s, jm.Key | jm.Index)])
            if got is jm._UNSET or not _compare(got, want):
                shown = "missing" if got is jm._UNSET else repr(got)[:80]
                raise ApiError(
                    "invalid_response", f"answer {path} is {shown}, expected {want!r}: {error_detail(text)}"[:300]
                )

    # -- mapping -------------------------------------------------------------------------------------------------
    def map_answer(self, doc: Any, now: datetime) -> MetricSet:
        """Samples for one answer; counts problems; raises if nothing at all could be read."""
        local = jm.now_in(self.config.timezone, now)
        ms = MetricSet()
        unreadable: list[str] = []
        for metric in self.config.metrics:
            path = jm.compile_path(jm.expand(metric.path, local))
            labels = self.label_paths[metric.name]
            mapped = jm.map_metric(
                doc, path, labels, select=metric.select, scale=metric.scale, value_map=metric.value_map or None
            )
            if not mapped.matched:
                unreadable.append(f"{metric.name}: {mapped.problems[0] if mapped.problems else 'no match'}")
            self._record(metric.name, mapped.problems)
            family = self.families[metric.name]
            names = list(labels)
            for values, number in mapped.series.items():
                ms.set(family, number, **dict(zip(names, values, strict=True)))
        if len(unreadable) == len(self.config.metrics):
            raise ApiError(
                "invalid_response",
                "no configured metric could be read from the answer (an error "
                "envelope, or the API changed): " + "; ".join(unreadable[:3]),
            )
        for name, count in self.missing.items():
            ms.set(contract.HTTP_JSON_MISSING, count, metric=name)
        return ms

    def _record(self, metric: str, problems: Iterable[str]) -> None:
        problems = list(problems)
        if not problems:
            if self._last_problem.pop(metric, None):
                log.info("source=%s metric=%s reads again", self.config.name, metric)
            return
        self.missing[metric] += 1
        text = "; ".join(problems[:3])
        if self._last_problem.get(metric) != text:
            self._last_problem[metric] = text
            log.warning("source=%s metric=%s could not be mapped completely: %s", self.config.name, metric, text)


PROVIDER = HttpJsonProvider
