"""Unit tests of the price table and the pricing enricher: matching rules, merging, bad price files, the cost
formula, currency conversion, unpriced tokens. Exporter-level checks are in test_pricing_exporter.py."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import contract
from exporter.config import ConfigError, parse_config
from exporter.pricing import Pricing, build_enricher, token_counts
from exporter.pricing.table import PriceTableError, load_table
from exporter.samples import MetricSet

BUILTIN = Path(__file__).resolve().parent.parent / "exporter" / "pricing" / "prices.yaml"


def builtin_yaml() -> dict[str, Any]:
    return yaml.safe_load(BUILTIN.read_text())["models"]


# --- the shipped table -----------------------------------------------------------------------------------------------
def test_the_builtin_table_covers_the_providers_and_every_entry_is_complete() -> None:
    raw = builtin_yaml()
    names = {n.lower() for n in raw}
    for expected in (
        "gpt-4o-mini",
        "gpt-4.1",
        "o3",
        "claude-sonnet-4",
        "claude-3-5-haiku",
        "deepseek-chat",
        "deepseek-reasoner",
        "kimi-k2-0905-preview",
        "moonshot-v1-8k",
        "qwen-plus",
        "qwen-max",
        "deepseek-ai/deepseek-v3",
        "qwen/qwen2.5-72b-instruct",
    ):
        assert expected in names, expected
    for name, entry in raw.items():
        assert entry["input"] >= 0 and entry["output"] >= 0, name
        assert entry.get("currency", "USD") in ("USD", "CNY"), name
    # Chinese providers keep their published currency
    assert raw["qwen-plus"]["currency"] == "CNY" and raw["moonshot-v1-8k"]["currency"] == "CNY"
    assert len(load_table()) == len(raw)


# --- matching --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reported, entry",
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a snapshot with its own price keeps it
        ("openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-3-5-sonnet@20241022", "claude-3-5-sonnet"),
        ("openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-3.7-sonnet:beta", "claude-3-7-sonnet"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("deepseek/deepseek-chat", "deepseek-chat"),
        ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3"),
        ("Pro/deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"),
        ("gpt-4-0613", "gpt-4"),
        ("qwen-plus-2025-07-28", "qwen-plus"),
        ("omni-moderation-latest", "omni-moderation"),
    ],
)
def test_reported_names_match_their_entry(reported: str, entry: str) -> None:
    price = load_table().lookup(reported)
    assert price is not None and price.name == entry


@pytest.mark.parametrize(
    "reported",
    [
        "gpt-4o-mini-search-preview",  # no longest-prefix guessing
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",  # fine-tunes are priced differently
        "my-finetuned-llama",
        "",
        "gpt-4o-mini-tts",  # another model of the family, not a snapshot
    ],
)
def test_names_without_a_sure_match_are_unpriced(reported: str) -> None:
    assert load_table().lookup(reported) is None


def test_openrouter_free_variants_cost_nothing() -> None:
    price = load_table().lookup("deepseek/deepseek-r1:free")
    assert price is not None and price.input == price.output == 0


# --- merging and bad files -------------------------------------------------------------------------------------------
def test_file_then_inline_entries_replace_whole_builtin_entries(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "models:\n  GPT-4o-mini: {input: 1, output: 2}\n  my-llm: {input: 3, output: 4, currency: CNY}\n"
    )
    table = load_table(file=tmp_path / "p.yaml", inline={"my-llm": {"input": 5, "output": 6}})
    mini = table.lookup("gpt-4o-mini-2024-07-18")
    assert mini is not None and (mini.input, mini.cached_input, mini.output) == (1, 1, 2)  # cache defaults to input
    mine = table.lookup("my-llm")
    assert mine is not None and (mine.input, mine.currency, mine.origin) == (5, "USD", "config")
    assert load_table(builtin=False, inline={"x": {"input": 1, "output": 1}}).lookup("gpt-4o") is None


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("models:\n  m: {input: -1, output: 2}\n", "models.m.input: Input should be greater than or equal to 0"),
        ("models:\n  m: {input: 1}\n", "models.m.output: Field required"),
        ("models:\n  m: {input: 1, output: 1, currency: yuan}\n", "models.m.currency"),
        ("models:\n  m: {input: 1, output: 1, price: 3}\n", "models.m.price: unknown key"),
        ("models:\n  m: 3\n", "models.m: expected a mapping"),
        ("models:\n  m: {input: 1, output: 1}\n  M: {input: 1, output: 1}\n", "models.M: duplicate"),
        ("models:\n  m: {input: 1, output: 1}\n  m: {input: 2, output: 1}\n", "duplicate key 'm'"),
        ("prices:\n  m: {input: 1, output: 1}\n", "prices: unknown key"),
        ("models: [1, 2]\n", "models: expected a mapping"),
        ("models: {m: {input: 1, output: 1}\n", "invalid YAML"),
    ],
)
def test_bad_price_files_name_file_key_and_reason(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(content)
    with pytest.raises(PriceTableError) as err:
        load_table(file=path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_a_bad_price_file_is_a_config_error_at_its_key(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("models:\n  m: {input: one, output: 1}\n")
    with pytest.raises(ConfigError) as err:
        parse_config({"pricing": {"file": "mine.yaml"}}, "cfg.yml", tmp_path)
    text = str(err.value)
    assert text.startswith(f"cfg.yml: pricing.file: {tmp_path / 'mine.yaml'}: models.m.input:"), text
    with pytest.raises(ConfigError, match=r"pricing.file: cannot read price file"):
        parse_config({"pricing": {"file": "nope.yaml"}}, "cfg.yml", tmp_path)
    with pytest.raises(ConfigError, match=r"pricing.models.m.input"):
        parse_config({"pricing": {"models": {"m": {"input": -2, "output": 1}}}}, "cfg.yml", tmp_path)


# --- cost -------------------------------------------------------------------------------------------------------------
def pricing(models: dict[str, Any], rates: dict[str, float] | None = None, surge: float = 1.0) -> Pricing:
    return Pricing(load_table(builtin=False, inline=models), rates or {}, surge)


def test_estimate_prices_uncached_cached_written_and_output_tokens_separately() -> None:
    p = pricing({"m": {"input": 2.0, "cached_input": 0.5, "cache_write_input": 2.5, "output": 8.0}})
    tokens = {"input": 1_000_000, "cached_input": 300_000, "cache_write_input": 100_000, "output": 50_000}
    expected = (600_000 * 2.0 + 300_000 * 0.5 + 100_000 * 2.5 + 50_000 * 8.0) / 1e6
    assert p.estimate("m", tokens) == pytest.approx(expected)
    assert p.estimate("m", {"input": 10, "output": 20}) == pytest.approx((10 * 2.0 + 20 * 8.0) / 1e6)
    assert p.estimate("unknown", {"input": 10}) is None


def test_surge_multiplier_and_exchange_rates_apply(caplog: pytest.LogCaptureFixture) -> None:
    p = pricing({"cny-model": {"input": 7.0, "output": 14.0, "currency": "CNY"}}, {"CNY": 0.14}, surge=1.5)
    assert p.estimate("cny-model", {"input": 1e6, "output": 1e6}) == pytest.approx((7.0 + 14.0) * 0.14 * 1.5)
    no_rate = pricing({"cny-model": {"input": 7.0, "output": 14.0, "currency": "CNY"}})
    with caplog.at_level(logging.WARNING, logger="exporter.pricing"):
        assert no_rate.estimate("cny-model", {"input": 1e6}) is None
        assert no_rate.estimate("cny-model", {"input": 1e6}) is None
    notes = [r.getMessage() for r in caplog.records if "CNY" in r.getMessage()]
    assert len(notes) == 1 and "exchange_rates" in notes[0]  # said once, clearly


def test_free_models_need_no_exchange_rate() -> None:
    p = pricing({"free-cny": {"input": 0, "output": 0, "currency": "CNY"}})
    assert p.estimate("free-cny", {"input": 5, "output": 5}) == 0.0


def test_more_cached_than_input_never_gives_a_negative_cost() -> None:
    p = pricing({"m": {"input": 1.0, "cached_input": 0.1, "output": 1.0}})
    assert p.estimate("m", {"input": 100, "cached_input": 300}) == pytest.approx(300 * 0.1 / 1e6)


# --- the enricher ----------------------------------------------------------------------------------------------------
class _Source:
    type = "openai"


def test_enricher_adds_estimated_cost_per_project_model_and_unpriced_tokens() -> None:
    p = pricing({"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}})
    ms = MetricSet()
    for project in ("p1", "p2"):
        ms.set(contract.USAGE_TOKENS, 1000, project=project, model="gpt-4o-mini-2024-07-18", token_type="input")
        ms.set(contract.USAGE_TOKENS, 400, project=project, model="gpt-4o-mini-2024-07-18", token_type="cached_input")
        ms.set(contract.USAGE_TOKENS, 200, project=project, model="gpt-4o-mini-2024-07-18", token_type="output")
        ms.set(contract.USAGE_TOKENS, 30, project=project, model="gpt-4o-mini-2024-07-18", token_type="input_audio")
    # optional breakdown labels are summed away
    ms.set(contract.USAGE_TOKENS, 50, project="p1", model="mystery", token_type="input", api_key="k1")
    ms.set(contract.USAGE_TOKENS, 70, project="p2", model="mystery", token_type="input", api_key="k2")
    p(ms, _Source())
    per_project = (600 * 0.15 + 400 * 0.075 + 200 * 0.6) / 1e6
    assert ms.get(contract.COST_ESTIMATED_USD, project="p1", model="gpt-4o-mini-2024-07-18") == pytest.approx(
        per_project
    )
    assert ms.get(contract.COST_ESTIMATED_USD, project="p2", model="gpt-4o-mini-2024-07-18") == pytest.approx(
        per_project
    )
    assert ms.get(contract.COST_ESTIMATED_USD, project="p1", model="mystery") is None  # never a silent $0
    assert ms.get(contract.UNPRICED_TOKENS, model="mystery", token_type="input") == 120
    assert ms.get(contract.UNPRICED_TOKENS, model="gpt-4o-mini-2024-07-18", token_type="input_audio") == 60
    assert ms.get(contract.UNPRICED_TOKENS, model="gpt-4o-mini-2024-07-18", token_type="output_audio") is None


def test_zero_audio_tokens_of_a_priced_model_add_no_series() -> None:
    p = pricing({"m": {"input": 1.0, "output": 1.0}})
    ms = MetricSet()
    ms.set(contract.USAGE_TOKENS, 10, project="p", model="m", token_type="input")
    ms.set(contract.USAGE_TOKENS, 0, project="p", model="m", token_type="input_audio")
    ms.set(contract.USAGE_TOKENS, 0, project="p", model="unknown", token_type="input")
    p(ms, _Source())
    assert ms.series(contract.UNPRICED_TOKENS) == {(("model", "unknown"), ("token_type", "input")): 0.0}


def test_enricher_reads_token_type_metrics_of_http_json_sources() -> None:
    cfg = parse_config(
        {
            "sources": [
                {
                    "type": "http_json",
                    "name": "lf",
                    "base_url": "http://127.0.0.1:1",
                    "auth": {"type": "none"},
                    "metrics": [
                        {
                            "name": "llmpulse_lf_in_total",
                            "type": "counter",
                            "path": "d[*].i",
                            "select": "sum",
                            "labels": {"model": "m"},
                            "token_type": "input",
                        },
                        {
                            "name": "llmpulse_lf_out_total",
                            "type": "counter",
                            "path": "d[*].o",
                            "select": "sum",
                            "labels": {"model": "m"},
                            "token_type": "output",
                        },
                    ],
                }
            ]
        }
    )
    source = cfg.sources[0]
    from exporter.providers.http_json import families_for

    fam_in, fam_out = families_for(source)
    ms = MetricSet()
    ms.set(fam_in, 2000, model="deepseek-chat")
    ms.set(fam_out, 1000, model="deepseek-chat")
    assert token_counts(ms, source) == {("", "deepseek-chat"): {"input": 2000, "output": 1000}}
    p = pricing({"deepseek-chat": {"input": 0.28, "output": 0.42}})
    p(ms, source)
    assert ms.get(contract.COST_ESTIMATED_USD, project="", model="deepseek-chat") == pytest.approx(
        (2000 * 0.28 + 1000 * 0.42) / 1e6
    )


def test_build_enricher_uses_the_validated_table_and_is_off_without_any_price() -> None:
    cfg = parse_config(
        {
            "exchange_rates": {"CNY": 0.14},
            "pricing": {"surge_multiplier": 2, "models": {"x": {"input": 1, "output": 1}}},
        }
    )
    enricher = build_enricher(cfg)
    assert enricher is not None and enricher.surge_multiplier == 2 and enricher.rates == {"CNY": 0.14}
    assert enricher.estimate("x", {"input": 1e6}) == pytest.approx(2.0)
    assert enricher.estimate("gpt-4o", {"input": 1e6}) == pytest.approx(5.0)  # builtin still there
    assert build_enricher(parse_config({"pricing": {"builtin": False}})) is None
