"""/events with two replicas, as the Kubernetes Service routes it: each client's posts go to one replica
(sessionAffinity ClientIP), different clients to different replicas.

Two exporter replicas behind one Prometheus (the generated rules); one client posts its users' calls and sessions to
replica ``a``, another client to replica ``b``. What the dashboards show must be the whole traffic: the calls and
sessions summed over both replicas, and the distinct users of both clients (disjoint users, each counted by the one
replica that saw all of that client's events).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import Prom, wait_for
from replicas_support import deployment, vector

from exporter.bundle.dashboards import panel_queries, substitute
from exporter.demo import DEMO_ENV
from exporter.hll import standard_error

pytestmark = pytest.mark.e2e


def _client_events(app: str, users: int, calls_each: int) -> list[dict[str, Any]]:
    now = time.time()
    events: list[dict[str, Any]] = []
    for u in range(users):
        common = {"app": app, "channel": "web", "user_id": f"{app}-user-{u}", "session_id": f"{app}-s-{u}"}
        events.append({**common, "event": "session_start", "timestamp": now - 60})
        events += [
            {**common, "model": "deepseek-chat", "status": "success", "duration_ms": 800, "timestamp": now - 30}
            for _ in range(calls_each)
        ]
        events.append({**common, "event": "session_end", "timestamp": now})
    return events


def _post(url: str, events: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {DEMO_ENV['LLMPULSE_DEMO_EVENTS_TOKEN']}"}
    for i in range(0, len(events), 500):
        resp = requests.post(f"{url}/events", json=events[i : i + 500], headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text


def _panel(title: str, window: str) -> str:
    (expr,) = {
        q.expr for q in panel_queries() if q.panel == title and f'window="{window}"' in q.expr and "sum(" in q.expr
    }
    return substitute(expr)


def test_events_spread_over_replicas_keep_counts_and_distinct_users(tmp_path: Path) -> None:
    clients = {"a": ("support-bot", 30, 3), "b": ("sales-bot", 20, 2)}
    with deployment(tmp_path, replicas=["a", "b"], prometheus={"prom": ["a", "b"]}) as d:
        prom = Prom(d.url("prom"))
        for replica, (app, users, calls_each) in clients.items():
            _post(d.url(replica), _client_events(app, users, calls_each))
        calls = sum(users * calls_each for _, users, calls_each in clients.values())
        users = sum(users for _, users, _ in clients.values())

        def scraped() -> bool:
            got = vector(prom, "sum(llmpulse_events_calls_total)", time.time())
            return got.get((), 0.0) == calls

        wait_for(scraped, 60, f"{calls} calls over both replicas")
        at = time.time()
        assert vector(prom, "sum(llmpulse_events_sessions_started_total)", at) == {(): float(users)}
        # The dashboards' distinct-user panels (1 h and 24 h): every user once, within the sketch's error.
        for window in ("1h", "1d"):
            shown = vector(prom, _panel(f"Distinct users ({'1 h' if window == '1h' else '24 h'})", window), at)
            assert abs(shown[()] - users) <= 3 * standard_error() * users + 1, (window, shown, users)
        by_app = vector(prom, 'max by (app) (llmpulse_events_distinct_users{window="1d"})', at)
        for app, app_users, _ in clients.values():
            assert abs(by_app[(("app", app),)] - app_users) <= 1, by_app
