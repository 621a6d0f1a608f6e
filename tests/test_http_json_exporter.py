"""The real exporter polling the simulated analytics APIs through the shipped http_json examples: exported values
equal what the simulator serves (fetched independently by the test), a field renamed upstream is counted while the
rest is still served, and an error answered with HTTP 200 takes the source down without losing its data."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml
from helpers import ROOT, Metrics, exporter

from exporter.simulator import DEMO_KEY

EXAMPLES = ROOT / "examples"
ENV = {"BOT_ANALYTICS_TOKEN": DEMO_KEY, "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": DEMO_KEY}
Expected = dict[tuple[str, frozenset[tuple[str, str]]], float]


def example(name: str, sim_url: str) -> dict[str, Any]:
    """A shipped example, pointed at the test's simulator and polled every second."""
    cfg = yaml.safe_load((EXAMPLES / name).read_text())
    for src in cfg["sources"]:
        src.update(base_url=sim_url, interval="1s", timeout="1s")
    return cfg


def both_examples(sim_url: str) -> dict[str, Any]:
    bot, lf = example("http_json-bot-analytics.yml", sim_url), example("http_json-langfuse.yml", sim_url)
    return {"sources": bot["sources"] + lf["sources"], "exchange_rates": lf["exchange_rates"]}


def month_start() -> datetime:
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# --- what the simulator serves, computed by the test ------------------------------------------------------------------
def served_bot(sim_url: str) -> Expected:
    today = datetime.now(UTC).date()
    answer = requests.get(
        f"{sim_url}/analytics/bots/support-bot/metrics",
        params={"start_date": month_start().date().isoformat(), "end_date": today.isoformat()},
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        timeout=5,
    ).json()
    rows = answer["data"]["metrics"]
    newest = rows[-1]
    labels = frozenset({"bot": "support-bot"}.items())
    out: Expected = {("llmpulse_bot_messages_total", labels): sum(r["total_messages"] for r in rows)}
    for name, field, scale in (
        ("llmpulse_bot_today_messages", "total_messages", 1),
        ("llmpulse_bot_today_success_ratio", "success_rate", 1),
        ("llmpulse_bot_today_avg_response_time_seconds", "avg_response_time_ms", 0.001),
        ("llmpulse_bot_today_active_users", "active_users", 1),
    ):
        if field in newest:  # a field the simulator was told to drop is not served
            out[(name, labels)] = newest[field] * scale
    return out


def langfuse_answer(sim_url: str) -> list[dict[str, Any]]:
    since = month_start().isoformat().replace("+00:00", "Z")
    resp = requests.get(
        f"{sim_url}/api/public/metrics/daily",
        params={"fromTimestamp": since, "limit": 50},
        auth=("pk-lf-test", DEMO_KEY),
        timeout=5,
    )
    resp.raise_for_status()
    body = resp.json()
    assert body["meta"]["totalPages"] <= 1
    return list(body["data"])


def served_langfuse(sim_url: str) -> Expected:
    days = langfuse_answer(sim_url)
    today = datetime.now(UTC).date().isoformat()
    out: Expected = {
        ("llmpulse_langfuse_traces_total", frozenset()): sum(d["countTraces"] for d in days),
        ("llmpulse_langfuse_observations_total", frozenset()): sum(d["countObservations"] for d in days),
        ("llmpulse_langfuse_cost_usd_total", frozenset()): math.fsum(d["totalCost"] for d in days),
        ("llmpulse_langfuse_today_traces", frozenset()): sum(d["countTraces"] for d in days if d["date"] == today),
    }
    for field, name in (
        ("totalCost", "llmpulse_langfuse_model_cost_usd_total"),
        ("inputUsage", "llmpulse_langfuse_input_tokens_total"),
        ("outputUsage", "llmpulse_langfuse_output_tokens_total"),
    ):
        for day in days:
            for usage in day["usage"]:
                key = (name, frozenset({"model": usage["model"] or ""}.items()))
                out[key] = out.get(key, 0.0) + usage[field]
    return out


def differences(m: Metrics, source: str, expected: Expected) -> list[str]:
    got = {
        (name, frozenset((k, v) for k, v in labels.items() if k not in ("provider", "source"))): value
        for name, labels, value in m.samples
        if labels.get("source") == source and name in {n for n, _ in expected}
    }
    problems = [
        f"{key}: exported {got.get(key)} != served {want}"
        for key, want in expected.items()
        if key not in got or not math.isclose(got[key], want, rel_tol=1e-9, abs_tol=1e-9)
    ]
    problems += [f"{key}: exported but not served" for key in set(got) - set(expected)]
    return problems


def wait_equal(proc: Any, checks: dict[str, Callable[[], Expected]]) -> Metrics:
    """Compare with freshly fetched answers on each try (today's row grows every 5 minutes)."""
    last: list[str] = []

    def equal(m: Metrics) -> bool:
        last[:] = [p for source, served in checks.items() for p in differences(m, source, served())]
        return not last

    try:
        return proc.wait_for(equal, timeout=30, what="exported == served")
    except AssertionError:
        raise AssertionError("\n".join(last[:20])) from None


# --- tests ------------------------------------------------------------------------------------------------------------
def test_worked_examples_export_exactly_what_the_simulator_serves(simulator: Any, tmp_path: Path) -> None:
    with exporter(both_examples(simulator.url), tmp_path, env=ENV) as proc:
        m = wait_equal(
            proc, {"support-bot": lambda: served_bot(simulator.url), "langfuse": lambda: served_langfuse(simulator.url)}
        )
        assert m.types["llmpulse_bot_today_messages"] == "gauge"
        assert m.types["llmpulse_bot_messages"] == "counter"  # the parser strips _total from counter families
        assert m.helps["llmpulse_bot_today_messages"].startswith("Messages handled by the bot so far")
        lab = m.find("llmpulse_bot_today_messages")[0][0]
        assert lab == {"provider": "bot_platform", "source": "support-bot", "bot": "support-bot"}
        assert m.value("llmpulse_source_up", source="support-bot") == 1
        assert m.value("llmpulse_source_up", source="langfuse") == 1
        assert m.total("llmpulse_http_json_missing_values_total") == 0
        # the null model of Langfuse is an empty label value, not a dropped row
        assert m.get("llmpulse_langfuse_input_tokens_total", source="langfuse", model="") is not None
        # no date ever becomes a label
        assert not any(k in ("date", "day") for _, labels, _ in m.samples for k in labels)


def test_post_with_a_json_body_and_header_auth(simulator: Any, tmp_path: Path) -> None:
    cfg = example("http_json-bot-analytics.yml", simulator.url)
    src = cfg["sources"][0]
    src.update(
        method="POST",
        auth={"type": "header", "header": "X-Api-Key"},
        body={"start_date": src.pop("params")["start_date"], "end_date": "${today}"},
    )
    with exporter(cfg, tmp_path, env=ENV) as proc:
        wait_equal(proc, {"support-bot": lambda: served_bot(simulator.url)})


def test_a_field_renamed_upstream_is_counted_and_the_rest_is_still_served(simulator: Any, tmp_path: Path) -> None:
    rt = "llmpulse_bot_today_avg_response_time_seconds"
    with exporter(example("http_json-bot-analytics.yml", simulator.url), tmp_path, env=ENV) as proc:
        wait_equal(proc, {"support-bot": lambda: served_bot(simulator.url)})
        requests.post(
            f"{simulator.url}/_sim/analytics", json={"drop_fields": ["avg_response_time_ms"]}, timeout=5
        ).raise_for_status()

        def renamed(m: Metrics) -> bool:
            return m.value("llmpulse_http_json_missing_values_total", metric=rt) >= 2 and not m.find(rt)

        m = proc.wait_for(renamed, what="missing field counted and its series gone")
        assert m.value("llmpulse_source_up", source="support-bot") == 1
        served = served_bot(simulator.url)
        assert rt not in {name for name, _ in served} and len(served) == 4
        assert differences(m, "support-bot", served) == []
        assert m.total("llmpulse_http_json_missing_values_total") == m.value(
            "llmpulse_http_json_missing_values_total", metric=rt
        )  # only that metric
        assert "avg_response_time_ms" in proc.log() and "no field" in proc.log()

        requests.post(f"{simulator.url}/_sim/analytics", json={"drop_fields": []}, timeout=5).raise_for_status()
        counted = m.value("llmpulse_http_json_missing_values_total", metric=rt)
        m = wait_equal(proc, {"support-bot": lambda: served_bot(simulator.url)})
        assert m.value("llmpulse_http_json_missing_values_total", metric=rt) >= counted  # a counter, kept


def test_an_error_answered_with_http_200_takes_the_source_down_and_keeps_its_data(
    simulator: Any, tmp_path: Path
) -> None:
    cfg = both_examples(simulator.url)
    bad_bot = {**cfg["sources"][0], "name": "wrong-key", "api_key_env": "WRONG_KEY", "labels": {}}
    cfg["sources"].append(bad_bot)
    with exporter(cfg, tmp_path, env={**ENV, "WRONG_KEY": "not-a-key"}) as proc:
        before = wait_equal(
            proc, {"support-bot": lambda: served_bot(simulator.url), "langfuse": lambda: served_langfuse(simulator.url)}
        )
        assert before.value("llmpulse_source_up", source="wrong-key") == 0
        assert before.value("llmpulse_source_poll_errors_total", source="wrong-key", reason="http_4xx") >= 1
        kept = {
            name: before.value(name, source="support-bot")
            for name in ("llmpulse_bot_messages_total", "llmpulse_bot_today_messages")
        }
        simulator.faults({"analytics": {"error_rate": 1.0, "error_status": 200}})

        def down(m: Metrics) -> bool:
            return all(m.value("llmpulse_source_up", source=s) == 0 for s in ("support-bot", "langfuse")) and all(
                m.value("llmpulse_source_poll_errors_total", source=s, reason="invalid_response") >= 1
                for s in ("support-bot", "langfuse")
            )

        m = proc.wait_for(down, what="both sources down on a 200 error envelope")
        for name, value in kept.items():
            assert m.value(name, source="support-bot") == value  # last good data still served
        assert m.get("llmpulse_langfuse_traces_total", source="langfuse") is not None
        assert m.total("llmpulse_http_json_missing_values_total", source="support-bot") == 0  # expect: code 0 failed
        status = requests.get(f"{proc.url}/", timeout=5).text
        assert "answer code is 5000, expected 0" in status  # the reason is on the landing page
        simulator.clear_faults()
        proc.wait_for(
            lambda m: (
                m.value("llmpulse_source_up", source="support-bot") == 1
                and m.value("llmpulse_source_up", source="langfuse") == 1
            ),
            what="sources back up",
        )
