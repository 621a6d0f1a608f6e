"""Estimated cost in the real exporter: llmpulse_cost_estimated_usd_total equals token counts times prices computed
by the test itself (from the shipped prices.yaml, a price file and the config), for usage sources and for an
http_json source; tokens of unpriced models go to llmpulse_unpriced_tokens_total, never into the cost."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from helpers import ROOT, Metrics, exporter
from test_http_json_exporter import ENV, example, langfuse_answer

PRICES = yaml.safe_load((ROOT / "exporter" / "pricing" / "prices.yaml").read_text())["models"]
TOKEN_TYPES = ("input", "cached_input", "cache_write_input", "output")


def per_million(entry: dict[str, Any], rate: float = 1.0) -> dict[str, float]:
    """USD per token type for a price entry as the test reads it (cache prices default to the input price)."""
    return {
        "input": entry["input"] * rate,
        "output": entry["output"] * rate,
        "cached_input": entry.get("cached_input", entry["input"]) * rate,
        "cache_write_input": entry.get("cache_write_input", entry["input"]) * rate,
    }


def cost(tokens: dict[str, float], price: dict[str, float], surge: float = 1.0) -> float:
    uncached = tokens.get("input", 0) - tokens.get("cached_input", 0) - tokens.get("cache_write_input", 0)
    return (
        math.fsum(
            (
                uncached * price["input"],
                tokens.get("cached_input", 0) * price["cached_input"],
                tokens.get("cache_write_input", 0) * price["cache_write_input"],
                tokens.get("output", 0) * price["output"],
            )
        )
        / 1e6
        * surge
    )


def exported_tokens(m: Metrics, source: str) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in m.find("llmpulse_usage_tokens_total", source=source):
        out[(labels["project"], labels["model"])][labels["token_type"]] += value
    return out


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_usage_sources_get_estimated_cost_from_the_builtin_table(simulator: Any, tmp_path: Path) -> None:
    common = {"base_url": simulator.url, "interval": "2s", "timeout": "2s", "api_key_env": "LLMPULSE_DEMO_KEY"}
    surge = 1.1
    cfg = {
        "sources": [{"type": "openai", "name": "oa", **common}, {"type": "anthropic", "name": "an", **common}],
        "pricing": {"surge_multiplier": surge},
    }
    # what the matching rules must resolve the simulators' dated model names to
    entry_of = {
        "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
        "gpt-4o-2024-08-06": "gpt-4o",
        "o3-mini-2025-01-31": "o3-mini",
        "gpt-4o-audio-preview-2024-12-17": "gpt-4o-audio-preview",
        "text-embedding-3-small": "text-embedding-3-small",
        "omni-moderation-latest": "omni-moderation",
        "claude-sonnet-4-20250514": "claude-sonnet-4",
        "claude-3-5-haiku-20241022": "claude-3-5-haiku",
        "claude-opus-4-1-20250805": "claude-opus-4-1",
    }
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(
            lambda m: (
                m.find("llmpulse_cost_estimated_usd_total", source="oa")
                and m.find("llmpulse_cost_estimated_usd_total", source="an")
            ),
            what="estimated cost",
        )
        for source in ("oa", "an"):
            tokens = exported_tokens(m, source)
            assert tokens, source
            for (project, model), by_type in tokens.items():
                assert model in entry_of, f"the simulator serves a model this test does not know: {model}"
                want = cost(by_type, per_million(PRICES[entry_of[model]]), surge)
                got = m.get("llmpulse_cost_estimated_usd_total", source=source, project=project, model=model)
                assert close(got, want), (source, project, model, got, want)
                # what caching saved: cached tokens at (input price - cached price)
                price = per_million(PRICES[entry_of[model]])
                saved = by_type.get("cached_input", 0) * (price["input"] - price["cached_input"]) / 1e6 * surge
                got_saved = m.get(
                    "llmpulse_cache_savings_estimated_usd_total", source=source, project=project, model=model
                )
                assert close(got_saved, saved), (source, project, model, got_saved, saved)
            # audio tokens have no price: reported as unpriced, never folded into the cost
            for labels, value in m.find("llmpulse_unpriced_tokens_total", source=source):
                assert labels["token_type"] not in TOKEN_TYPES
                assert value == sum(
                    v
                    for (_, mod), t in tokens.items()
                    if mod == labels["model"]
                    for tt, v in t.items()
                    if tt == labels["token_type"]
                )
        # where the provider reports cost too, the two can be compared (same order of magnitude here)
        reported = m.total("llmpulse_cost_usd_total", source="an")
        estimated = m.total("llmpulse_cost_estimated_usd_total", source="an")
        assert reported > 0 and 0.3 < estimated / reported < 3


def test_models_without_a_price_go_to_unpriced_tokens(simulator: Any, tmp_path: Path) -> None:
    common = {"base_url": simulator.url, "interval": "2s", "timeout": "2s", "api_key_env": "LLMPULSE_DEMO_KEY"}
    price = {"input": 0.15, "cached_input": 0.075, "output": 0.6}
    cfg = {
        "sources": [{"type": "openai", "name": "oa", **common}],
        "pricing": {"builtin": False, "models": {"gpt-4o-mini": price}},
    }
    with exporter(cfg, tmp_path) as proc:
        m = proc.wait_for(lambda m: m.find("llmpulse_unpriced_tokens_total", source="oa"), what="unpriced tokens")
        tokens = exported_tokens(m, "oa")
        priced = {k for k in tokens if k[1] == "gpt-4o-mini-2024-07-18"}
        assert priced and len(priced) < len(tokens)
        unpriced_expected: dict[tuple[str, str], float] = defaultdict(float)
        for (project, model), by_type in tokens.items():
            got = m.get("llmpulse_cost_estimated_usd_total", source="oa", project=project, model=model)
            if (project, model) in priced:
                assert close(got, cost(by_type, {**price, "cache_write_input": price["input"]}))
            else:
                assert got is None, f"{model} must not be counted as $0"
            for token_type, value in by_type.items():
                # every token of an unpriced model; audio tokens of a priced model when there are any
                if (project, model) not in priced or (token_type not in TOKEN_TYPES and value):
                    unpriced_expected[(model, token_type)] += value
        unpriced = {
            (lab["model"], lab["token_type"]): v for lab, v in m.find("llmpulse_unpriced_tokens_total", source="oa")
        }
        assert unpriced == unpriced_expected
        assert "has no entry in the price table" in proc.log()


def test_http_json_token_metrics_are_priced_with_a_price_file_and_exchange_rate(simulator: Any, tmp_path: Path) -> None:
    cfg = example("http_json-langfuse.yml", simulator.url)
    (tmp_path / "my-prices.yaml").write_text(
        "models:\n  my-finetuned-llama: {input: 2.0, output: 6.0, currency: CNY}\n"
    )
    cfg["pricing"] = {"file": "my-prices.yaml", "surge_multiplier": 1.25}  # relative to the config file
    rate = cfg["exchange_rates"]["CNY"]
    builtin_entry = {
        "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
        "claude-sonnet-4-20250514": "claude-sonnet-4",
        "deepseek-chat": "deepseek-chat",
    }

    def expected() -> tuple[dict[str, float], dict[tuple[str, str], float]]:
        tokens: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for day in langfuse_answer(simulator.url):
            for usage in day["usage"]:
                tokens[usage["model"] or ""]["input"] += usage["inputUsage"]
                tokens[usage["model"] or ""]["output"] += usage["outputUsage"]
        costs, unpriced = {}, {}
        for model, by_type in tokens.items():
            if model in builtin_entry:
                costs[model] = cost(by_type, per_million(PRICES[builtin_entry[model]]), 1.25)
            elif model == "my-finetuned-llama":
                costs[model] = cost(by_type, per_million({"input": 2.0, "output": 6.0}, rate), 1.25)
            else:
                unpriced.update({(model, t): v for t, v in by_type.items()})
        return costs, unpriced

    def matches(m: Metrics) -> bool:
        costs, unpriced = expected()
        got_costs = {lab["model"]: v for lab, v in m.find("llmpulse_cost_estimated_usd_total", source="langfuse")}
        got_unpriced = {
            (lab["model"], lab["token_type"]): v
            for lab, v in m.find("llmpulse_unpriced_tokens_total", source="langfuse")
        }
        return (
            set(got_costs) == set(costs)
            and all(close(got_costs[k], v) for k, v in costs.items())
            and got_unpriced == unpriced
        )

    with exporter(cfg, tmp_path, env=ENV) as proc:
        m = proc.wait_for(matches, timeout=30, what="estimated cost == tokens x prices")
        assert {lab["project"] for lab, _ in m.find("llmpulse_cost_estimated_usd_total", source="langfuse")} == {""}
        assert ("", "input") in {
            (lab["model"], lab["token_type"]) for lab, _ in m.find("llmpulse_unpriced_tokens_total", source="langfuse")
        }
        assert f"models priced (builtin {len(PRICES)}, file 1), surge x1.25" in proc.log()
