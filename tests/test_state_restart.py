"""Month-to-date counters never decrease, restarts included: the high-water marks live in a state file.

Unit tests check the state file itself (atomic, 0600, corrupt files ignored with a log line, non-finite numbers
refused, another month or another source not applied); the end-to-end test restarts the real exporter after the
simulated provider revised its totals downward and reads /metrics: with a state directory the counters keep their
higher values and the revision is counted; without one they drop (what Prometheus would read as a reset).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Metrics, exporter, run_cli
from usage_sums import FrozenSimulator, exported, frozen_simulator

from exporter import contract
from exporter.poller import MonthToDateGuard
from exporter.samples import MetricSet
from exporter.state import MonthMarks, SourceState, decode, encode, prepare_dir

sim = pytest.fixture(frozen_simulator, name="sim")
DEC = datetime(2026, 12, 7, 12, tzinfo=UTC)


def _ms(**values: float) -> MetricSet:
    ms = MetricSet()
    for project, value in values.items():
        ms.set(contract.COST_USD, value, project=project, line_item="x")
    ms.set(contract.BALANCE, 5.0, currency="USD", kind="total")
    return ms


def _cost(ms: MetricSet, project: str) -> float | None:
    return ms.get(contract.COST_USD, project=project, line_item="x")


# --- the state file --------------------------------------------------------------------------------------------------
def test_marks_restored_from_the_state_file_keep_the_higher_value_and_count_the_revision(tmp_path: Path) -> None:
    state = SourceState(tmp_path, "openai")
    first = MonthToDateGuard(state.load())
    first.apply(_ms(a=100.0, b=7.0), DEC)
    assert state.save(first.marks())

    restarted = MonthToDateGuard(SourceState(tmp_path, "openai").load())  # a new process reads the file
    revised = _ms(a=90.0, b=7.0)
    assert restarted.apply(revised, DEC) == {"llmpulse_cost_usd_total": 1}
    assert _cost(revised, "a") == 100.0 and _cost(revised, "b") == 7.0

    without_state = _ms(a=90.0, b=7.0)
    assert MonthToDateGuard().apply(without_state, DEC) == {}
    assert _cost(without_state, "a") == 90.0  # what a restart without state exported: a decrease


def test_a_state_file_of_last_month_does_not_apply(tmp_path: Path) -> None:
    state = SourceState(tmp_path, "openai")
    guard = MonthToDateGuard()
    guard.apply(_ms(a=500.0), datetime(2026, 11, 30, 23, tzinfo=UTC))
    state.save(guard.marks())
    december = _ms(a=2.0)
    assert MonthToDateGuard(state.load()).apply(december, DEC) == {}
    assert _cost(december, "a") == 2.0


def test_the_state_file_is_written_atomically_and_private(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    prepare_dir(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    state = SourceState(directory, "openai")
    guard = MonthToDateGuard()
    guard.apply(_ms(a=1.5), DEC)
    assert state.save(guard.marks())
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == ["openai.mtd.json"], "no temporary file left behind"
    doc = json.loads(state.path.read_text())
    assert doc["month"] == "2026-12" and doc["source"] == "openai"
    assert doc["series"] == [
        {
            "metric": "llmpulse_cost_usd_total",
            "labels": {"project": "a", "line_item": "x"},
            "high": 1.5,
            "reported": 1.5,
        }
    ]
    assert decode(encode("openai", guard.marks()), "openai") == guard.marks()


CORRUPT = {
    "garbage": b"\x00\xff not json",
    "truncated": b'{"format": 1, "source": "openai", "month": "2026-12", "series": [{"metric": ',
    "nan": json.dumps(
        {
            "format": 1,
            "source": "openai",
            "month": "2026-12",
            "series": [{"metric": "llmpulse_cost_usd_total", "labels": {"project": "a", "line_item": "x"}}],
        }
    )
    .replace('"line_item": "x"}', '"line_item": "x"}, "high": NaN, "reported": 1')
    .encode(),
    "negative": json.dumps(
        {
            "format": 1,
            "source": "openai",
            "month": "2026-12",
            "series": [
                {
                    "metric": "llmpulse_cost_usd_total",
                    "labels": {"project": "a", "line_item": "x"},
                    "high": -5,
                    "reported": 1,
                }
            ],
        }
    ).encode(),
    "other-source": json.dumps({"format": 1, "source": "anthropic", "month": "2026-12", "series": []}).encode(),
    "bad-month": json.dumps({"format": 1, "source": "openai", "month": "December", "series": []}).encode(),
    "a-list": b"[]",
}


@pytest.mark.parametrize("content", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_state_file_is_logged_and_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    state = SourceState(tmp_path, "openai")
    state.path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="exporter.state"):
        assert state.load() is None
    assert "state file" in caplog.text and "ignored" in caplog.text
    guard = MonthToDateGuard(None)
    fresh = _ms(a=3.0)
    assert guard.apply(fresh, DEC) == {} and _cost(fresh, "a") == 3.0
    assert state.save(guard.marks())  # and the next save replaces it
    assert state.load() == guard.marks()


def test_a_special_file_in_place_of_the_state_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = SourceState(tmp_path, "openai")
    os.symlink("/dev/zero", state.path)
    with caplog.at_level(logging.WARNING, logger="exporter.state"):
        assert state.load() is None
    assert "not a regular file" in caplog.text


def test_unknown_metrics_and_changed_labels_are_skipped(tmp_path: Path) -> None:
    doc = {
        "format": 1,
        "source": "openai",
        "month": "2026-12",
        "series": [
            {"metric": "llmpulse_gone_total", "labels": {}, "high": 1, "reported": 1},
            {"metric": "llmpulse_cost_usd_total", "labels": {"project": "a"}, "high": 1, "reported": 1},
            {
                "metric": "llmpulse_cost_usd_total",
                "labels": {"project": "b", "line_item": "x"},
                "high": 2,
                "reported": 2,
            },
        ],
    }
    marks = decode(json.dumps(doc).encode(), "openai")
    assert list(marks.high.values()) == [2.0]


def test_a_failing_save_is_logged_once_and_does_not_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = SourceState(tmp_path / "missing", "openai")
    with caplog.at_level(logging.WARNING, logger="exporter.state"):
        assert state.save(MonthMarks("2026-12")) is False
        assert state.save(MonthMarks("2026-12")) is False
    assert caplog.text.count("cannot write state file") == 1


# --- through the real exporter ---------------------------------------------------------------------------------------
def _source(sim_url: str) -> dict[str, Any]:
    return {
        "type": "openai",
        "name": "src",
        "base_url": sim_url,
        "api_key_env": "LLMPULSE_DEMO_KEY",
        "interval": "1s",
        "timeout": "1s",
        "page_size": 3,
    }


def _cost_total(m: Metrics) -> float:
    return m.total("llmpulse_cost_usd_total", source="src")


def _first_good(proc: Any) -> Metrics:
    return proc.wait_for(lambda m: m.get("llmpulse_source_up", source="src") == 1, what="a good poll")


@pytest.mark.parametrize("how", ["flag", "config"])
def test_a_restart_after_a_downward_revision_keeps_the_counters(sim: FrozenSimulator, tmp_path: Path, how: str) -> None:
    state_dir = tmp_path / "state"
    config: dict[str, Any] = {"sources": [_source(sim.url)]}
    args: list[str] = []
    if how == "flag":
        args = ["--state-dir", str(state_dir)]
    else:
        config["state_dir"] = str(state_dir)
    with exporter(config, tmp_path, args=args) as proc:
        before = exported(_first_good(proc), "src")
        proc.wait_for(lambda m: (state_dir / "src.mtd.json").exists(), what="state file written")
    # While the exporter is down, the provider revises the month downward.
    requests.post(f"{sim.url}/_sim/usage", json={"revise": 0.9}, timeout=5).raise_for_status()
    with exporter(config, tmp_path, args=args) as proc:
        after = _first_good(proc)
        assert exported(after, "src") == before, "every month-to-date counter keeps its value across the restart"
        revisions = after.total("llmpulse_source_revisions_total", source="src", metric="llmpulse_cost_usd_total")
        assert revisions >= 1, "the revision found after the restart is counted"
    # Without the state directory, the same restart exports the lower values: the decrease this prevents.
    with exporter({"sources": [_source(sim.url)]}, tmp_path) as proc:
        assert _cost_total(_first_good(proc)) < sum(v for (n, _), v in before.items() if n == "llmpulse_cost_usd_total")


def test_an_unusable_state_dir_is_exit_2_with_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = tmp_path / "config.yml"
    config.write_text(
        f"state_dir: {blocker / 'sub'}\nsources:\n  - {{type: statuspage, name: s, base_url: 'http://127.0.0.1:9'}}\n"
    )
    proc = run_cli("serve", "--config", str(config), "--listen", "127.0.0.1:0", timeout=30)
    assert proc.returncode == 2
    assert f"{config}: state_dir: cannot use" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(
        "serve", "--config", str(tmp_path / "none.yml"), "--state-dir", str(blocker), "--listen", "127.0.0.1:0"
    )
    assert proc.returncode == 2


def test_a_corrupt_state_file_does_not_stop_the_exporter(sim: FrozenSimulator, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "src.mtd.json").write_bytes(b"{ corrupt")
    with exporter({"sources": [_source(sim.url)]}, tmp_path, args=["--state-dir", str(state_dir)]) as proc:
        _first_good(proc)
        proc.wait_for(
            lambda m: json.loads((state_dir / "src.mtd.json").read_text())["source"] == "src",
            what="state file rewritten",
        )
        assert "ignored" in proc.log()
