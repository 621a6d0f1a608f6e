"""http_json config validation: every bad definition is refused at config time with file, key path and reason
(exit 2, nothing started), and the shipped worked examples pass check-config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, run_cli

from exporter.config import ConfigError, parse_config
from exporter.providers.http_json import families_for

EXAMPLES = ROOT / "examples"
EXAMPLE_ENV = {
    "BOT_ANALYTICS_TOKEN": "llmpulse-demo-key",
    "LANGFUSE_PUBLIC_KEY": "pk-lf-demo",
    "LANGFUSE_SECRET_KEY": "llmpulse-demo-key",
}


def source(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http_json",
        "name": "an",
        "base_url": "http://127.0.0.1:9",
        "api_key_env": "LLMPULSE_DEMO_KEY",
        "metrics": [{"name": "llmpulse_x", "path": "data.value"}],
    }
    base.update(over)
    return base


def metric(**over: Any) -> dict[str, Any]:
    return {"name": "llmpulse_x", "path": "data.value", **over}


BAD: list[tuple[dict[str, Any], str]] = [
    (source(metrics=[metric(type="counter")]), "sources[0].metrics[0].name: counter names must end in _total"),
    (source(metrics=[metric(name="llmpulse_x_total")]), "sources[0].metrics[0].name: _total is for counters"),
    (source(metrics=[metric(name="llmpulse_balance")]), "sources[0].metrics[0].name: llmpulse_balance is a built-in"),
    (source(metrics=[metric(name="llmpulse_api_call_duration_seconds_count")]), "is a built-in"),
    (source(metrics=[metric(name="x_value")]), "sources[0].metrics[0].name: String should match pattern"),
    (source(metrics=[metric(path="data[")]), "sources[0].metrics[0].path: invalid path 'data[' at position"),
    (source(metrics=[metric(path="rows[*].n")]), "sources[0].metrics[0].select: 'all' over a list"),
    (source(metrics=[metric(path="rows[*].n", select="avg")]), "sources[0].metrics[0].select: Input should be"),
    (source(metrics=[metric(labels={"date": "date"})]), "sources[0].metrics[0].labels: label 'date': date labels"),
    (source(metrics=[metric(labels={"provider": "p"})]), "label 'provider' is reserved"),
    (source(metrics=[metric(labels={"le": "x"})]), "label 'le' is reserved"),
    (source(metrics=[metric(labels={"bad-name": "x"})]), "invalid label name 'bad-name'"),
    (source(metrics=[metric(labels={"m": "rows[*].m"})]), "a label reads one value"),
    (source(metrics=[metric(token_type="input")]), "token_type: token metrics must be counters with a model label"),
    (source(metrics=[metric(path="data.metrics[?date==${tomorrow}].n", select="sum")]), "unknown placeholder"),
    (source(metrics=[metric(), metric()]), "sources[0].metrics[1].name: llmpulse_x is defined twice"),
    (
        source(labels={"bot": "b"}, metrics=[metric(labels={"bot": "b"})]),
        "sources[0].metrics[0].labels: ['bot'] also set as static labels",
    ),
    (source(metrics=[]), "sources[0].metrics: List should have at least 1 item"),
    (source(base_url=""), "sources[0].base_url: base_url is required"),
    (source(path="analytics"), "sources[0].path: path must be empty or start with /"),
    (source(params={"from": "${now:rfc}"}), "sources[0].params: unknown placeholder"),
    (source(headers={"Authorization": "Bearer x"}), "sources[0].headers: header 'Authorization' carries a credential"),
    (source(auth={"type": "basic"}), "sources[0].auth: auth type basic needs username"),
    (source(auth={"type": "bearer", "username": "u"}), "apply to auth type basic only"),
    (source(auth={"type": "oauth"}), "sources[0].auth.type: Input should be"),
    (source(api_key_env=None), "missing credential"),
    (source(timezone="Mars/Olympus"), "sources[0].timezone: unknown time zone 'Mars/Olympus'"),
    (source(expect={"data[*].code": 0}), "sources[0].expect: expect path 'data[*].code' must name one field"),
    (source(method="PUT"), "sources[0].method: Input should be 'GET' or 'POST'"),
    (source(metrics=[metric(select="last", lables={})]), "sources[0].metrics[0].lables: unknown key"),
]


@pytest.mark.parametrize("src, fragment", BAD, ids=[f[1][:50] for f in BAD])
def test_bad_http_json_definitions_are_refused_with_key_path_and_reason(src: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": [src]}, "cfg.yml")
    expected = f"cfg.yml: {fragment}" if fragment.startswith("sources") else fragment
    assert expected in str(err.value), str(err.value)
    assert all(line.startswith("cfg.yml: ") for line in str(err.value).splitlines())


def test_one_metric_name_across_sources_needs_one_definition() -> None:
    a = source(name="a", metrics=[metric(help="one thing")])
    b = source(name="b", metrics=[metric(help="another thing")])
    with pytest.raises(
        ConfigError,
        match=r"sources\[1\].metrics\[0\].name: llmpulse_x is also defined by "
        r"sources\[0\]",
    ):
        parse_config({"sources": [a, b]}, "cfg.yml")
    same = parse_config({"sources": [a, source(name="b", metrics=[metric(help="one thing")])]}, "cfg.yml")
    assert families_for(same.sources[0]) == families_for(same.sources[1])  # one family, two source labels


def test_defaults_and_families_of_a_minimal_source() -> None:
    cfg = parse_config(
        {
            "sources": [
                source(
                    auth={"type": "none"},
                    api_key_env=None,
                    metrics=[
                        metric(labels={"zone": "z", "channel": "c"}),
                        metric(name="llmpulse_y_total", type="counter", path="rows[*].n", select="sum"),
                    ],
                )
            ]
        }
    )
    src = cfg.sources[0]
    assert (src.provider, src.method, src.timezone, src.max_series, src.interval) == (
        "http_json",
        "GET",
        "UTC",
        1000,
        300.0,
    )
    fams = families_for(src)
    assert [(f.name, f.type, f.labels) for f in fams] == [
        ("llmpulse_x", "gauge", ("provider", "source", "channel", "zone")),
        ("llmpulse_y_total", "counter", ("provider", "source")),
    ]


def test_check_config_exits_2_with_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"sources": [source(metrics=[metric(type="counter")])]}))
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}: sources[0].metrics[0].name: counter names must end in _total" in result.stderr
    served = run_cli("serve", "--config", str(path), "--listen", "127.0.0.1:0", timeout=30)
    assert served.returncode == 2 and "sources[0].metrics[0].name" in served.stderr  # nothing started


@pytest.mark.parametrize("example", ["http_json-bot-analytics.yml", "http_json-langfuse.yml"])
def test_worked_examples_pass_check_config(example: str) -> None:
    result = run_cli("check-config", str(EXAMPLES / example), env=EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert "OK (1 source," in result.stdout
