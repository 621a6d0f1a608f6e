"""Recorded answers in, exact exposition out (json_exporter's pattern), for every provider.

``tests/testdata/<provider>/<case>.json`` holds the answers a provider's endpoints gave, each written from a
documented or recorded fact (its ``about`` says where the shape comes from), and the source config that polls them;
``<case>.prom`` is the exact exposition those answers must produce (or, for a case with ``"error"``, what the
source publishes after that failed poll). One table-driven test runs every case through the real HTTP client (a
transport adapter serves the answers, so status handling and JSON decoding are the real ones), the provider's
parser and the exposition renderer, compares the bytes, and lets ``promtool check metrics`` lint them.

After a deliberate change of output, regenerate with ``LLMPULSE_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and
review the diff of the .prom files like code.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3
from pydantic import TypeAdapter
from requests.adapters import BaseAdapter, HTTPAdapter

from exporter import contract
from exporter.config import SourceConfig
from exporter.exposition import family_header, render_metricset
from exporter.http import ApiClient, ApiError
from exporter.providers import provider_class
from exporter.samples import MetricSet

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(TESTDATA.glob("*/*.json"))
UPDATE = os.environ.get("LLMPULSE_UPDATE_GOLDEN") == "1"
KEYLESS = ("statuspage",)


class RecordedAnswers(BaseAdapter):
    """A requests transport that answers from a case's recorded answers: the first one whose path matches and
    whose ``query`` (if any) is contained in the request's query. An unmatched request fails the test."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.asked: list[str] = []
        self._build = HTTPAdapter()  # only for build_response: a requests.Response around a urllib3 response

    def _find(self, path: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        for answer in self.answers:
            want = answer.get("query", {})
            if answer["path"] == path and all(query.get(k) == [str(v)] for k, v in want.items()):
                return answer
        raise AssertionError(f"no recorded answer for {path} {dict(query)}")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        query = parse_qs(parts.query, keep_blank_values=True)
        self.asked.append(parts.path + ("?" + parts.query if parts.query else ""))
        answer = self._find(parts.path, query)
        body = answer["body"]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        content_type = answer.get("content_type", "text/plain" if isinstance(body, str) else "application/json")
        # A real urllib3 response over the bytes, so the client reads it as it reads a socket (in bounded pieces).
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data),
            headers={"Content-Type": content_type, "Content-Length": str(len(data))},
            status=int(answer.get("status", 200)),
            preload_content=False,
            decode_content=True,
        )
        return self._build.build_response(request, raw)

    def close(self) -> None:
        pass


def exposition(ms: MetricSet, base: dict[str, str]) -> str:
    """What /metrics shows for one source's data: families in contract order, each with HELP and TYPE."""
    chunks = render_metricset(ms, base)
    out = []
    for family in contract.FAMILIES.values():
        if chunks.get(family):
            out.append((family_header(family) + chunks[family]).decode())
    return "".join(out)


def run_case(case: dict[str, Any]) -> tuple[str, list[str]]:
    raw = dict(case["source"])
    if raw["type"] not in KEYLESS:
        raw.setdefault("api_key_env", "LLMPULSE_DEMO_KEY")
    source = TypeAdapter(SourceConfig).validate_python(raw)
    provider = provider_class(source.type)(source)
    adapter = RecordedAnswers(case["answers"])
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    client = ApiClient(source.url, headers=provider.headers(), retries=0, session=session, secrets=(source.api_key,))
    now = datetime.fromisoformat(case.get("now", "2026-12-07T11:00:00+00:00"))
    base = {"provider": source.provider, "source": source.name}
    try:
        ms = provider.poll(client, now)
    except ApiError as exc:
        assert case.get("error") == exc.reason, f"poll failed with {exc.reason}: {exc}"
        fallback = provider.on_failure(exc)
        return (exposition(fallback, base) if fallback is not None else ""), adapter.asked
    assert not case.get("error"), f"expected the poll to fail with {case['error']}"
    return exposition(ms, base), adapter.asked


def test_every_provider_has_recorded_cases() -> None:
    from exporter.providers import PROVIDER_MODULES

    covered = {json.loads(p.read_text())["source"]["type"] for p in CASES}
    assert covered >= set(PROVIDER_MODULES) - {"http_json"}, set(PROVIDER_MODULES) - covered


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_recorded_answers_give_the_golden_exposition(path: Path) -> None:
    case = json.loads(path.read_text())
    assert case.get("about"), "say where the answer's shape comes from"
    text, asked = run_case(case)
    golden = path.with_suffix(".prom")
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden.name}; run with LLMPULSE_UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text()
    for part in case.get("asks", []):  # a path, or a piece of a query such as the cursor of page 2
        assert any(part in a for a in asked), f"{part} was not asked; asked: {asked}"
    for path_refused in case.get("never_asks", []):
        assert not any(a.startswith(path_refused) for a in asked), f"{path_refused} must not be asked"
    if text and shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr
