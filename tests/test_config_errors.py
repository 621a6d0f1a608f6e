"""A bad config is rejected with one line per problem that names the file, the key path and what is wrong, and no
credential is ever echoed.

The cases are files in tests/testdata/config/, each starting with its expectation (``# key:`` the key path,
``# reason:`` a part of the message); they are checked in-process, as ``check-config`` and ``serve`` load a
config. One CLI test per command checks the exit status 2 and that nothing starts.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from helpers import ROOT, free_port, run_cli

from exporter.config import ConfigError, load_config, require_something_to_do

CASES_DIR = ROOT / "tests" / "testdata" / "config"
SECRET = "sk-admin-Zq8Wv3Kp1Lm6Nb4Xc7Tr2Yh9SECRET"
GOOD_SOURCE = "  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY}\n"


def _expectation(path: Path) -> tuple[str, str]:
    head = dict(re.findall(r"^# (key|reason):[ ]?(.*)$", path.read_text(encoding="utf-8"), re.M))
    assert "reason" in head, f"{path.name}: the first lines must say '# key: ...' and '# reason: ...'"
    return head.get("key", ""), head["reason"]


def _check(path: Path) -> str:
    """The error text ``check-config`` would print for ``path`` (fails the test if the config is accepted)."""
    with pytest.raises(ConfigError) as err:
        require_something_to_do(load_config(path))
    return str(err.value)


CASE_FILES = sorted(CASES_DIR.glob("*.yml"))


def test_there_are_cases() -> None:
    assert len(CASE_FILES) >= 20


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_a_bad_config_is_rejected_with_file_key_path_and_reason(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMPULSE_TEST_UNSET_VAR", "")
    key, reason = _expectation(path)
    text = _check(path)
    lines = text.splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), text
    prefix = f"{path}: {key}" if key else f"{path}: "
    assert any(line.startswith(prefix) and reason in line for line in lines), text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, intervall: 1s}\n"
        "  - {type: anthropic, name: b, api_key_env: LLMPULSE_DEMO_KEY, timeout: soon}\n"
    )
    text = _check(cfg)
    assert "sources[0].intervall" in text and "sources[1].timeout" in text


def test_check_config_exits_2_and_prints_the_problems(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, intervall: 1s}\n")
    result = run_cli("check-config", str(cfg))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{cfg}: sources[0].intervall: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_good_config_passes(tmp_path: Path) -> None:
    cfg = tmp_path / "good.yml"
    key = tmp_path / "anthropic.key"
    key.write_text(SECRET + "\n")
    cfg.write_text(
        "sources:\n" + GOOD_SOURCE + "  - {type: anthropic, name: b, api_key_file: anthropic.key, "
        "group_by: [project, model, api_key], interval: 5m, timeout: 30s, page_size: 7, "
        "project_names: true, labels: {team: platform}}\n"
    )
    result = run_cli("check-config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "OK (2 sources, 0 probes" in result.stdout and SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "source",
    [
        "{type: openai, name: a, api_key: %s}",  # pasted inline (an unknown key)
        "{type: openai, name: a, api_key_env: %s}",  # pasted instead of the variable's name
        "{type: openai, name: a, api_key_file: %s}",  # pasted instead of a file name
        "{type: openai, name: a, api_key_env: OA_KEY, interval: nope, labels: {x: %s}}",  # elsewhere in a bad config
    ],
)
def test_errors_never_echo_a_credential(tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OA_KEY", SECRET)
    cfg = tmp_path / "bad.yml"
    cfg.write_text("sources:\n  - " + source.replace("%s", SECRET) + "\n")
    text = _check(cfg)
    assert "Zq8Wv3Kp1Lm6Nb4Xc7Tr2Yh9" not in text


def test_serve_with_a_bad_config_exits_2_without_listening(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, intervall: 1s}\n")
    port = free_port()
    result = run_cli("serve", "--config", str(cfg), "--listen", f"127.0.0.1:{port}", timeout=30)
    assert result.returncode == 2
    assert f"{cfg}: sources[0].intervall: unknown key" in result.stderr
    assert "listening" not in result.stderr
    with socket.socket() as s:  # nothing was bound: the port is still free
        s.bind(("127.0.0.1", port))


def test_serve_with_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nope.yml"), "--listen", "127.0.0.1:0", timeout=30)
    assert result.returncode == 2
    assert "nope.yml" in result.stderr and "cannot read config file" in result.stderr
