"""A bad config is rejected by ``check-config`` and by ``serve`` with exit status 2 and one line per problem that
names the file, the key path and what is wrong; nothing starts, and no credential is ever echoed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from helpers import free_port, run_cli

SECRET = "sk-admin-Zq8Wv3Kp1Lm6Nb4Xc7Tr2Yh9SECRET"
GOOD_SOURCE = "  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY}\n"

CASES = [
    pytest.param(
        "sources:\n  - type: openai\n    name: a\n    api_key_env: LLMPULSE_DEMO_KEY\n    intervall: 30s\n",
        "sources[0].intervall",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, page_size: lots}\n",
        "sources[0].page_size",
        "valid integer",
        id="wrong-type",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, project_names: maybe}\n",
        "sources[0].project_names",
        "boolean",
        id="wrong-type-bool",
    ),
    pytest.param(
        "sources:\n" + GOOD_SOURCE + "  - {type: anthropic, name: a, api_key_env: LLMPULSE_DEMO_KEY}\n",
        "sources[1].name",
        "duplicate name 'a'",
        id="duplicate-source-name",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_TEST_UNSET_VAR}\n",
        "sources[0].api_key_env",
        "the environment variable it names is not set or is empty",
        id="missing-credential-env",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a}\n", "sources[0]", "missing credential", id="no-credential-at-all"
    ),
    pytest.param(
        "sources:\n  - {type: anthropic, name: a, api_key_file: does-not-exist.key}\n",
        "sources[0].api_key_file",
        "cannot read",
        id="unreadable-api-key-file",
    ),
    pytest.param("sources:\n  - type: openai\n    name: [a\n", "line 4", "invalid YAML", id="invalid-yaml"),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, interval: 5 minutes}\n",
        "sources[0].interval",
        "invalid duration '5 minutes'",
        id="bad-duration",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, timeout: 30}\n",
        "sources[0].timeout",
        "a unit is required",
        id="duration-without-unit",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, interval: 10s, timeout: 20s}\n",
        "sources[0]",
        "must not exceed interval",
        id="timeout-over-interval",
    ),
    pytest.param(
        "sources:\n  - {type: anthropic, name: a, api_key_env: LLMPULSE_DEMO_KEY, group_by: [user]}\n",
        "sources[0].group_by",
        "no per-user breakdown",
        id="anthropic-has-no-user",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, group_by: [team]}\n",
        "sources[0].group_by[0]",
        "'project', 'model', 'api_key' or 'user'",
        id="unknown-group-by",
    ),
    pytest.param(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, page_size: 32}\n",
        "sources[0].page_size",
        "less than or equal to 31",
        id="page-size-over-api-limit",
    ),
    pytest.param(
        "sources:\n  - {type: opneai, name: a, api_key_env: LLMPULSE_DEMO_KEY}\n",
        "sources[0]",
        "unknown type 'opneai'",
        id="unknown-source-type",
    ),
    pytest.param("- just\n- a list\n", "", "top level must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "key_path", "reason"), CASES)
def test_check_config_rejects_with_file_key_path_and_reason(
    tmp_path: Path, text: str, key_path: str, reason: str
) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text(text)
    result = run_cli("check-config", str(cfg), env={"LLMPULSE_TEST_UNSET_VAR": ""})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(cfg))]
    assert lines, result.stderr
    assert any(f"{cfg}: {key_path}" in line and reason in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text(
        "sources:\n  - {type: openai, name: a, api_key_env: LLMPULSE_DEMO_KEY, intervall: 1s}\n"
        "  - {type: anthropic, name: b, api_key_env: LLMPULSE_DEMO_KEY, timeout: soon}\n"
    )
    result = run_cli("check-config", str(cfg))
    assert result.returncode == 2
    assert "sources[0].intervall" in result.stderr and "sources[1].timeout" in result.stderr


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
    assert "OK" in result.stdout and SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "source",
    [
        "{type: openai, name: a, api_key: %s}",  # pasted inline (an unknown key)
        "{type: openai, name: a, api_key_env: %s}",  # pasted instead of the variable's name
        "{type: openai, name: a, api_key_file: %s}",  # pasted instead of a file name
        "{type: openai, name: a, api_key_env: OA_KEY, interval: nope, labels: {x: %s}}",  # elsewhere in a bad config
    ],
)
def test_errors_never_echo_a_credential(tmp_path: Path, source: str) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("sources:\n  - " + source.replace("%s", SECRET) + "\n")
    result = run_cli("check-config", str(cfg), env={"OA_KEY": SECRET})
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert "Zq8Wv3Kp1Lm6Nb4Xc7Tr2Yh9" not in result.stdout + result.stderr


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
