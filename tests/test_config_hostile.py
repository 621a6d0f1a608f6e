"""Config that cannot hurt, case by case: credentials pasted into *_env keys are never echoed, special and
oversized files are refused, non-finite and negative numbers are refused, all with exit 2 and file/key/reason."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import run_cli

from exporter.config import ConfigError, load_config

# Credentials that look like environment variable names: a Coze personal access token, a hex token, a signing
# secret, and an integer-looking one (a type error must not quote it either).
LOOKS_LIKE_A_NAME = [
    "pat_Xk3D9qLmN2vB7wR4tY8uI1oP6aS5dF0gH",
    "a3f9c2e8b7d14f6a9e0c3b5d8f1a2e4c7b9d0f3a6c8e1b4d7f0a2c5e8b1d4f7a",
    "SECa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6",
]


def _config(value: str, key: str = "api_key_env") -> str:
    return f"sources:\n  - {{type: deepseek, name: ds, {key}: {value}}}\n"


@pytest.mark.parametrize("value", [*LOOKS_LIKE_A_NAME, "12345678901234567890123"])
def test_check_config_and_serve_never_echo_a_value_of_an_env_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(_config(value))
    for args in (["check-config", str(path)], ["serve", "--config", str(path), "--listen", "127.0.0.1:0"]):
        proc = run_cli(*args, timeout=30)
        assert proc.returncode == 2, proc.stderr
        out = proc.stdout + proc.stderr
        assert value not in out
        assert f"{path}: sources[0].api_key_env: " in out


def test_env_values_in_other_sections_are_not_echoed_either(tmp_path: Path) -> None:
    secret = LOOKS_LIKE_A_NAME[0]
    text = (
        f"events: {{token_env: {secret}}}\n"
        f"relay: {{token_env: {secret}, bots: [{{name: b, type: wecom, webhook_url_env: {secret}}}]}}\n"
        f"probes:\n  - {{name: p, type: coze, base_url: 'https://api.coze.cn', bot_id: '1', api_key_env: {secret}}}\n"
        f"sources:\n  - {{type: http_json, name: h, base_url: 'http://127.0.0.1:1', auth: {{type: basic, "
        f"username_env: {secret}}}, api_key_env: {secret}, metrics: [{{name: llmpulse_x, path: a}}]}}\n"
    )
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert secret not in message
    for key in (
        "events.token_env",
        "relay.bots[0].webhook_url_env",
        "probes[0].api_key_env",
        "sources[0].auth.username_env",
    ):
        assert key in message, message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("exchange_rates: {CNY: .nan}\n", "exchange_rates.CNY"),
        ("exchange_rates: {CNY: .inf}\n", "exchange_rates.CNY"),
        ("exchange_rates: {CNY: -0.14}\n", "exchange_rates"),
        ("pricing: {models: {m: {input: .nan, output: 1}}}\n", "pricing.models.m.input"),
        ("pricing: {models: {m: {input: -1, output: 1}}}\n", "pricing.models.m.input"),
        ("pricing: {surge_multiplier: .inf}\n", "pricing.surge_multiplier"),
        ("bundle: {budget: {monthly_budget_usd: .inf}}\n", "bundle.budget.monthly_budget_usd"),
        ("bundle: {budget: {monthly_budget_usd: 1e999}}\n", "bundle.budget.monthly_budget_usd"),
        ("bundle: {balance: {low: {USD: .nan}}}\n", "bundle.balance.low"),
        (
            "sources:\n  - {type: http_json, name: h, base_url: 'http://127.0.0.1:1', auth: {type: none}, "
            "metrics: [{name: llmpulse_x_total, type: counter, path: a, scale: -1}]}\n",
            "sources[0].metrics[0]",
        ),
        (
            "sources:\n  - {type: http_json, name: h, base_url: 'http://127.0.0.1:1', auth: {type: none}, "
            "metrics: [{name: llmpulse_x, path: a, value_map: {ok: .nan}}]}\n",
            "sources[0].metrics[0].value_map.ok",
        ),
    ],
)
def test_non_finite_and_negative_numbers_are_refused(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text)
    proc = run_cli("check-config", str(path), timeout=30) if "nan}" in text and "CNY" in text else None
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: {key}" in str(info.value), str(info.value)
    if proc is not None:
        assert proc.returncode == 2 and f"{path}: {key}" in proc.stderr


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "directory", "big", "latin1", "utf16"])
def test_special_and_oversized_key_files_are_refused(tmp_path: Path, special: str) -> None:
    target = {"/dev/zero": "/dev/zero", "/dev/urandom": "/dev/urandom"}.get(special, str(tmp_path / special))
    if special == "fifo":
        os.mkfifo(target)
    elif special == "directory":
        os.mkdir(target)
    elif special == "big":
        Path(target).write_bytes(b"k" * (1024 * 1024))
    elif special == "latin1":
        Path(target).write_bytes("clé".encode("latin-1"))
    elif special == "utf16":
        Path(target).write_bytes("sk-key".encode("utf-16"))
    path = tmp_path / "config.yml"
    path.write_text(_config(f"'{target}'", "api_key_file"))
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.monotonic() - started < 2
    assert f"{path}: sources[0].api_key_file: " in str(info.value)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_special_config_or_ca_file_is_refused(tmp_path: Path, special: str) -> None:
    target = "/dev/zero" if special == "/dev/zero" else str(tmp_path / "fifo")
    if special == "fifo":
        os.mkfifo(target)
    proc = run_cli("check-config", target, timeout=30)
    assert proc.returncode == 2 and f"{target}: config file is not a regular file" in proc.stderr
    path = tmp_path / "config.yml"
    path.write_text(f"probes:\n  - {{name: p, type: http, base_url: 'https://127.0.0.1:1', tls_ca_file: '{target}'}}\n")
    with pytest.raises(ConfigError, match=r"probes\[0\]: .*not a regular file"):
        load_config(path)


def test_deep_nesting_and_self_reference_are_refused(tmp_path: Path) -> None:
    for name, text in {
        "deep": "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "self": "sources: &s [*s]\n",
        "too-big": "x: '" + "y" * (300 * 1024) + "'\n",
    }.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert time.monotonic() - started < 1, name
        assert str(info.value).startswith(f"{path}: "), str(info.value)


def test_a_huge_placeholder_offset_is_a_config_error(tmp_path: Path) -> None:
    """${now-99999999999999d} would be a date before year 1 (an OverflowError): it is refused with its key."""
    path = tmp_path / "config.yml"
    path.write_text(
        "sources:\n  - {type: http_json, name: h, base_url: 'http://127.0.0.1:1', auth: {type: none}, "
        "params: {from: '${now-99999999999999d}'}, metrics: [{name: llmpulse_x, path: a}]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: sources[0].params: " in str(info.value) and "offset is more than" in str(info.value)
